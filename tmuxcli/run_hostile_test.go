package tmuxcli

import (
	"os/exec"
	"strings"
	"testing"
)

// Commands holding control characters that act on their way through a
// terminal: C-c, C-z and C-\ are the terminal's signals even inside a
// paste, and ESC [201~ ends a bracketed paste early, so that the rest is
// taken as keys. None of them may be typed as it is.
var controlCommands = map[string]string{
	"interrupt":   "printf '%s\\n' 'a\x03b'",
	"suspend":     "printf '%s\\n' 'a\x1ab'",
	"quit":        "printf '%s\\n' 'a\x1cb'",
	"paste end":   "printf '%s\\n' 'x\x1b[201~y'",
	"delete":      "printf '%s\\n' 'a\x7fb'",
	"with quotes": "printf '%s\\n' \"it's \x03 \\\\ %d\"",
}

func TestControlCharactersAreNeverTyped(t *testing.T) {
	for name, cmd := range controlCommands {
		if hookable(cmd) {
			t.Errorf("%s: hookable(%q): typed as it is", name, cmd)
		}
		script := markerScript(cmd, "db-x", "echo SIGNALLED")
		for i := 0; i < len(script); i++ {
			if c := script[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
				t.Errorf("%s: the run script types byte %#x: %q", name, c, script)
				break
			}
		}
	}
}

// What the escaped command does is what the command says, in bash and sh.
func TestControlCharactersRunAsWritten(t *testing.T) {
	for _, sh := range []string{"bash", "sh"} {
		for name, cmd := range controlCommands {
			want, err := exec.Command(sh, "-c", cmd).Output()
			if err != nil {
				t.Fatalf("%s -c %q: %v", sh, cmd, err)
			}
			got, _ := exec.Command(sh, "-c", markerScript(cmd, "db-x", "echo SIGNALLED")).CombinedOutput()
			p := parseRun(strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"), "db-x")
			if !p.End || p.Code != 0 || p.Output != string(want) {
				t.Errorf("%s/%s: output %q (code %d), want %q", sh, name, p.Output, p.Code, want)
			}
		}
	}
}
