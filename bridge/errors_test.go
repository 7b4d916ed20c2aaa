package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
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
