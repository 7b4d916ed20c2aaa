package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"dockerbridge/bridge"
)

// A bad session name, --size, --wait, --set-env, --env or --timeout is
// refused as it is parsed: exit 2 and one line naming the argument, before any project,
// docker or tmux is needed.
func TestBadValuesAreUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tmux", "new", "a.b"}, `dockerbridge: <name>: invalid session name "a.b": use letters, digits, '_' and '-' (see dockerbridge --help)`},
		{[]string{"tmux", "send", "a:b", "hi"}, `dockerbridge: <name>: invalid session "a:b": give a session name (letters, digits, '_', '-') or a pane id such as %3 (see dockerbridge --help)`},
		{[]string{"tmux", "--socket", "a/b", "ls"}, `dockerbridge: --socket: invalid socket name "a/b": use letters, digits, '_', '.' and '-' (see dockerbridge --help)`},
		{[]string{"tmux", "new", "x", "--size", "80"}, `dockerbridge: --size: invalid size "80": want WIDTHxHEIGHT, such as 200x50 (see dockerbridge --help)`},
		{[]string{"tmux", "new", "x", "--size", "1x50"}, `dockerbridge: --size: invalid size "1x50": want WIDTHxHEIGHT, such as 200x50 (see dockerbridge --help)`},
		{[]string{"task", "--agent", "a", "--wait", "sometimes"}, `dockerbridge: --wait: invalid wait "sometimes": want idle, exit or prompt:REGEX (see dockerbridge --help)`},
		{[]string{"task", "--agent", "a", "--wait", "prompt:"}, `dockerbridge: --wait: invalid wait prompt: give a regular expression after prompt: (see dockerbridge --help)`},
		{[]string{"task", "--agent", " ", "--session", "s"}, `dockerbridge: --agent: must not be empty (see dockerbridge --help)`},
		{[]string{"task", "--agent", "a", "--session", "a b"}, `dockerbridge: --session: invalid session name "a b": use letters, digits, '_' and '-' (see dockerbridge --help)`},
		{[]string{"job", "wait", "a;b"}, `dockerbridge: <name>: invalid job name "a;b": use letters, digits, '_' and '-' (see dockerbridge --help)`},
		{[]string{"exec", "-e", "NOVALUE", "true"}, `dockerbridge: exec: invalid --set-env "NOVALUE": want KEY=VALUE, with KEY made of letters, digits and '_', not starting with a digit (see dockerbridge --help)`},
		{[]string{"--env", "1X=y", "start"}, `dockerbridge: invalid --env "1X=y": want KEY=VALUE, with KEY made of letters, digits and '_', not starting with a digit (see dockerbridge --help)`},
		{[]string{"--timeout", "0", "exec", "true"}, `dockerbridge: --timeout: want a positive duration, such as 30s or 5m, not 0s (see dockerbridge --help)`},
		{[]string{"--timeout", "1us", "exec", "true"}, `dockerbridge: --timeout: want at least 1ms, not 1µs (see dockerbridge --help)`},
	} {
		var stdout, stderr bytes.Buffer
		// No project and a docker that cannot run: the value alone fails.
		t.Setenv("DOCKERBRIDGE_PROJECT", "")
		args := append([]string{"--docker", "/nonexistent/docker"}, tt.args...)
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		if code != 2 || stderr.String() != tt.want+"\n" || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit 2 and %q", tt.args, code, stderr.String(), stdout.String(), tt.want)
		}
	}
}

// A --timeout not given is each command's own default; one given is
// every command's.
func TestTimeoutDefaults(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"exec", "true"}, bridge.DefaultTimeout},
		{[]string{"job", "wait", "j"}, bridge.DefaultTimeout},
		{[]string{"tmux", "run", "s", "true"}, bridge.DefaultTimeout},
		{[]string{"tmux", "wait-prompt", "s", "x"}, 10 * time.Second},
		{[]string{"tmux", "wait-shell", "s"}, 30 * time.Second},
		{[]string{"tmux", "wait-idle", "s"}, 60 * time.Second},
		{[]string{"task", "--agent", "a"}, bridge.DefaultTaskTimeout},
		{[]string{"--timeout", "7s", "tmux", "wait-idle", "s"}, 7 * time.Second},
		{[]string{"task", "--agent", "a", "--timeout", "2h"}, 2 * time.Hour},
		{[]string{"--timeout", "1ms", "exec", "true"}, time.Millisecond},
	} {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out}
		exited := false
		g, kctx, err := parse(tt.args, &out, &out, func(int) { exited = true })
		if err != nil || exited {
			t.Fatalf("%q: %v %s", tt.args, err, out.String())
		}
		a.g = g
		a.setup(kctx)
		if a.timeout != tt.want {
			t.Errorf("%q: timeout %s, want %s", tt.args, a.timeout, tt.want)
		}
	}
}

// The hints that name the CLI's flags and commands are written here, from
// what bridge's errors carry, and read as they always have.
func TestMessageHints(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("read: ../x: %w", bridge.ErrOutside), "read: ../x: path is outside /workspace (use --allow-outside)"},
		{fmt.Errorf("read bin: %w", bridge.ErrNotUTF8), "read bin: file is not valid UTF-8 text (read it without --json for the raw bytes)"},
		{fmt.Errorf("snapshot diff 9: %w", bridge.ErrNoSnapshot), "snapshot diff 9: no such snapshot (see: dockerbridge snapshot ls)"},
		{fmt.Errorf("snapshot diff: invalid snapshot id \"zz\": %w", bridge.ErrSnapshotID), `snapshot diff: invalid snapshot id "zz": give a snapshot's number or a commit id (see: dockerbridge snapshot ls)`},
		{&bridge.RestoreError{Undo: 4, Err: errors.New("snapshot restore 2: failed")}, "snapshot restore 2: failed (the state before it is snapshot 4: dockerbridge snapshot restore 4)"},
		{&bridge.WorkspaceError{Path: "/w/x", Err: fs.ErrNotExist}, "workspace /w/x does not exist: create it (mkdir -p /w/x) or correct --path"},
		{&bridge.WorkspaceError{Path: "/w/f", Err: syscall.ENOTDIR}, "workspace /w/f is not a directory"},
		{&bridge.NoHomeError{Project: "p"}, `project user "p" not found and no --path given: pass --path DIR to choose the directory mounted at /workspace`},
		{bridge.ErrNoProject, "no project given: use --project NAME or set DOCKERBRIDGE_PROJECT"},
	} {
		if got := message(tt.err, "docker"); got != tt.want {
			t.Errorf("message(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
