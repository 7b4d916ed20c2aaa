package tmuxcli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunOptions.Dir's command line runs the command in the directory, keeps
// the shell's own directory, and keeps heredocs, comments, a final
// backslash-free line and the exit status; checked with the host's bash.
func TestInDir(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no bash on this host: CI runs on Linux with bash and /proc, where this is never skipped")
		}
		t.Skip("no bash on this host")
	}
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		command, want string
		code          int
	}{
		{"pwd", dir + "\n", 0},
		{"pwd\n", dir + "\n", 0},
		{"pwd # a comment", dir + "\n", 0},
		{"cat <<EOF\nin $(pwd)\nEOF", "in " + dir + "\n", 0},
		{"echo a; exit 3", "a\n", 3},
		{"echo a \\\n b", "a b\n", 0},
		{"(exit 4)", "", 4},
	} {
		line := inDir(dir, tc.command)
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", line+"\nrc=$?; echo \"after $PWD\"; exit $rc")
		cmd.Dir = t.TempDir()
		out, err := cmd.Output()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if want := tc.want + "after " + cmd.Dir + "\n"; string(out) != want || code != tc.code {
			t.Errorf("%q as %q: got %q, exit %d; want %q, exit %d", tc.command, line, out, code, want, tc.code)
		}
	}
	if _, err := exec.Command(bash, "-c", inDir(filepath.Join(dir, "nope"), "echo ran")).Output(); err == nil {
		t.Errorf("a missing directory: the command ran")
	}
}
