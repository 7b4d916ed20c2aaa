package tmuxcli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunHookArgs(t *testing.T) {
	got := runHookArgs("=s:", "db-1", "db-2", "SCRIPT;", 100)
	want := []string{
		"set-hook", "-p", "-t", "=s:", "pane-died", "wait-for -S db-1", ";",
		"set-option", "-p", "-u", "-t", "=s:", "@db_typed", ";",
		"set-option", "-p", "-u", "-t", "=s:", "@db_exit", ";",
		"load-buffer", "-b", "db-1", "-", ";",
		"set-buffer", "-b", "db-2", `SCRIPT\;`, ";",
		"set-option", "-p", "-t", "=s:", "@db_prompt", "1", ";",
		"if-shell", "-t", "=s:", notAtPrompt, "set-option -p -t =s: @db_prompt 0", ";",
		"if-shell", "-F", "-t", "=s:", hookCond, "set-option -p -t =s: @db_typed hook ; set-option -p -t =s: @db_run db-1 ; delete-buffer -b db-2 ; send-keys -t =s: C-x C-^ ; paste-buffer -p -d -b db-1 -t =s: ; send-keys -t =s: C-x C-] Enter", ";",
		"if-shell", "-F", "-t", "=s:", scriptCond, "set-option -p -t =s: @db_typed script ; delete-buffer -b db-1 ; paste-buffer -p -d -b db-2 -t =s: ; send-keys -t =s: Enter", ";",
		"if-shell", "-F", "-t", "=s:", untypedCond, "display-message -p -t =s: '" + busyMarker + " #{pane_dead} #{@db_prompt} #{pane_current_command}' ; delete-buffer -b db-1 ; delete-buffer -b db-2 ; wait-for -S db-1", ";",
		"wait-for", "db-1", ";",
		"set-hook", "-p", "-u", "-t", "=s:", "pane-died", ";",
		"display-message", "-p", "-t", "=s:", "dockerbridge-run:#{@db_typed}\t#{@db_rc}\t#{@db_exit}\t#{@db_ps1}", ";",
		"if-shell", "-F", "-t", "=s:", "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", "=s:", screenFormat, ";",
		"capture-pane", "-p", "-t", "=s:", "-J", "-S", "-100",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseTyped(t *testing.T) {
	tests := []struct {
		name, prompt, command string
		lines                 []string
		open                  bool
		want                  string
		found                 bool
	}{
		{"before the next prompt", "$ ", "echo hi", []string{"old", "$ echo hi", "hi", ""}, false, "hi\n", true},
		{"with the next prompt", "$ ", "echo hi", []string{"$ echo hi", "hi", "$ "}, false, "hi\n", true},
		{"no final line break", "$ ", "printf x", []string{"$ printf x", "x$ "}, false, "x", true},
		{"no final line break, before the prompt", "$ ", "printf x", []string{"$ printf x", "x"}, true, "x", true},
		{"typed after such output", "$ ", "echo b", []string{"$ printf a", "a$ echo b", "b"}, false, "b\n", true},
		{"no output", "$ ", "true", []string{"$ true", "$ "}, false, "", true},
		{"the last typed line wins", "$ ", "echo a", []string{"$ echo a", "a", "$ echo a", "a"}, false, "a\n", true},
		{"several lines", "$ ", "cat <<E\nx\nE", []string{"$ cat <<E", "x", "E", "x", "$ "}, false, "x\n", true},
		{"unknown prompt", "", "echo hi", []string{"any> echo hi", "hi"}, false, "hi\n", true},
		{"redrawn over output", "$ ", "echo b", []string{"$ printf abc", "abecho bc$ ", "b"}, false, "b\n", true},
		{"not there", "$ ", "echo hi", []string{"other"}, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := parseTyped(tt.lines, tt.prompt, tt.command, tt.open)
			if got != tt.want || found != tt.found {
				t.Errorf("got %q, %v; want %q, %v", got, found, tt.want, tt.found)
			}
		})
	}
}

func TestHookable(t *testing.T) {
	for cmd, want := range map[string]bool{
		"echo hi":          true,
		"# only a comment": true,
		"echo (":           true,
		"a\nb":             true,
		"":                 false,
		" \t":              false,
		"echo a \\":        false,
	} {
		if got := hookable(cmd); got != want {
			t.Errorf("hookable(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// The hook goes into every pane's environment without its comments, and
// binds the key run presses.
func TestHookScript(t *testing.T) {
	if strings.Contains(hookScript(), "\n#") || strings.HasPrefix(hookScript(), "#") {
		t.Errorf("the hook keeps a comment:\n%s", hookScript())
	}
	if !strings.Contains(hookScript(), `bind -m emacs -x '"\C-x\C-]": __db_claim'`) || claimKeys != "C-x C-]" {
		t.Errorf("the hook binds another key than claimKeys %q", claimKeys)
	}
}
