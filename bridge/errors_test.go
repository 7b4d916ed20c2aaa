package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dockerbridge/dockercli"
)

// A missing file is fs.ErrNotExist and a denied one fs.ErrPermission, as os
// reports them, wrapped or not; other kinds are neither, and each kind still
// matches its own sentinel.
func TestFileErrorIsFS(t *testing.T) {
	for _, tt := range []struct {
		err            error
		notExist, perm bool
	}{
		{ErrNotFound, true, false},
		{fmt.Errorf("read a.txt: %w", ErrNotFound), true, false},
		{&FileError{KindNotFound, "a.txt: no such file or directory"}, true, false},
		{ErrPermission, false, true},
		{fmt.Errorf("write a.txt: %w", ErrPermission), false, true},
		{ErrIsDir, false, false},
		{ErrOutside, false, false},
		{ErrTooLarge, false, false},
	} {
		if got := errors.Is(tt.err, fs.ErrNotExist); got != tt.notExist {
			t.Errorf("errors.Is(%q, fs.ErrNotExist) = %v, want %v", tt.err, got, tt.notExist)
		}
		if got := errors.Is(tt.err, fs.ErrPermission); got != tt.perm {
			t.Errorf("errors.Is(%q, fs.ErrPermission) = %v, want %v", tt.err, got, tt.perm)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", &FileError{KindNotFound, "other text"}), ErrNotFound) {
		t.Error("a not-found FileError does not match ErrNotFound")
	}
	if errors.Is(ErrNotFound, ErrPermission) {
		t.Error("ErrNotFound matches ErrPermission")
	}
}

// bridge's errors name no flag or command of the CLI: they carry the data
// (the path, the project, the snapshot to go back to), and the CLI writes
// the hints.
func TestErrorsNameNoFlag(t *testing.T) {
	b, err := New(Config{Project: "p", HostPath: "/w"}, &dockercli.Client{}, hostIDs{"1", "1"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nosuch")
	wsErr := b.checkPath(missing)
	var ws *WorkspaceError
	if !errors.As(wsErr, &ws) || ws.Path != missing || !errors.Is(wsErr, fs.ErrNotExist) {
		t.Errorf("checkPath(%s) = %v, want a *WorkspaceError for it that is fs.ErrNotExist", missing, wsErr)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.checkPath(file); !errors.As(err, &ws) || ws.Path != file || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("checkPath(%s) = %v, want a *WorkspaceError for a file", file, err)
	}
	for _, err := range []error{
		ErrOutside, ErrNotUTF8, ErrNoSnapshot, ErrNoProject, wsErr, checkSnapshotID("zz"),
		&NoHomeError{Project: "p"}, &RestoreError{Undo: 3, Err: errors.New("restore failed")},
		capError{tooLarge("a.txt", 10)},
	} {
		if msg := err.Error(); strings.Contains(msg, "--") || strings.Contains(msg, "dockerbridge ") {
			t.Errorf("%q names the CLI", msg)
		}
	}
	if !errors.Is(capError{tooLarge("a", 1)}, ErrOutputCap) || !errors.Is(capError{tooLarge("a", 1)}, ErrTooLarge) || errors.Is(tooLarge("a", 1), ErrOutputCap) {
		t.Error("a read over the output cap is not both ErrTooLarge and ErrOutputCap, or one over a given limit is ErrOutputCap")
	}
}
