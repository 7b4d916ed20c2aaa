package tmuxcli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTargets(t *testing.T) {
	for _, tc := range []struct{ in, pane, session string }{
		{"web", "=web:", "=web"},
		{"%12", "%12", "%12"},
		{"a-b_c", "=a-b_c:", "=a-b_c"},
	} {
		if got := Target(tc.in); got != tc.pane {
			t.Errorf("Target(%q) = %q, want %q", tc.in, got, tc.pane)
		}
		if got := sessionTarget(tc.in); got != tc.session {
			t.Errorf("sessionTarget(%q) = %q, want %q", tc.in, got, tc.session)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"a", "web-1", "A_b", "%3"} {
		if err := ValidateTarget(ok); err != nil {
			t.Errorf("ValidateTarget(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a:b", "-x", "a;", "%", "%x", "a b", strings.Repeat("a", 101)} {
		if err := ValidateTarget(bad); err == nil {
			t.Errorf("ValidateTarget(%q) = nil, want an error", bad)
		}
	}
	if err := ValidateName("%3"); err == nil {
		t.Error("ValidateName accepts a pane id as a session name")
	}
	if err := ValidateSocket("a;b"); err == nil {
		t.Error("ValidateSocket accepts a ';'")
	}
}

func TestArg(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ls", "ls"},
		{"ls;", `ls\;`},
		{";", `\;`},
		{`a\;`, `a\\;`},
		{"a;b", "a;b"},
		{"", ""},
	} {
		if got := arg(tc.in); got != tc.want {
			t.Errorf("arg(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Server
		want []string
	}{
		{"defaults", Server{}, []string{"tmux", "-u", "-f", "/dev/null", "-L", "dockerbridge", "ls"}},
		{"custom", Server{Bin: "/opt/tmux", Socket: "x", Config: "/etc/t.conf"}, []string{"/opt/tmux", "-u", "-f", "/etc/t.conf", "-L", "x", "ls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.s.Argv("ls")); diff != "" {
				t.Errorf("Argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    NewOptions
		want []string
	}{
		{
			name: "defaults: history and remain-on-exit come before the pane exists",
			o:    NewOptions{Name: "s"},
			want: []string{
				"set-option", "-g", "history-limit", "50000", ";",
				"set-option", "-g", "remain-on-exit", "on", ";",
				"set-option", "-g", "status", "off", ";",
				"new-session", "-d", "-P", "-F", "#{pane_id}", "-s", "s", "-x", "200", "-y", "50",
				"-e", "PROMPT_COMMAND=" + hookScript(),
			},
		},
		{
			name: "everything, with a command and an env value ending in ';'",
			o:    NewOptions{Name: "py", Command: "python3 -q;", Width: 80, Height: 24, History: 7, Env: []string{"A=1", "B=x;"}},
			want: []string{
				"set-option", "-g", "history-limit", "7", ";",
				"set-option", "-g", "remain-on-exit", "on", ";",
				"set-option", "-g", "status", "off", ";",
				"new-session", "-d", "-P", "-F", "#{pane_id}", "-s", "py", "-x", "80", "-y", "24",
				"-e", "PROMPT_COMMAND=" + hookScript(), "-e", "A=1", "-e", `B=x\;`, "--", `python3 -q\;`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, NewArgs(tc.o)); diff != "" {
				t.Errorf("NewArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"plain", LiteralArgs("=s:", "ls -l"), []string{"send-keys", "-t", "=s:", "-l", "--", "ls -l"}},
		{"trailing ;", LiteralArgs("=s:", "echo hi;"), []string{"send-keys", "-t", "=s:", "-l", "--", `echo hi\;`}},
		{"trailing \\;", LiteralArgs("=s:", `find . -exec true {} \;`), []string{"send-keys", "-t", "=s:", "-l", "--", `find . -exec true {} \\;`}},
		{"a key name is text", LiteralArgs("=s:", "Enter"), []string{"send-keys", "-t", "=s:", "-l", "--", "Enter"}},
		{"leading dash", LiteralArgs("%3", "-la"), []string{"send-keys", "-t", "%3", "-l", "--", "-la"}},
		{"paste", pasteArgs("=s:", "db-1"), []string{"load-buffer", "-b", "db-1", "-", ";", "paste-buffer", "-p", "-d", "-b", "db-1", "-t", "=s:"}},
		{"enter", enterArgs("=s:"), []string{"send-keys", "-t", "=s:", "--", "Enter"}},
		{"keys", KeysArgs("=s:", 0, "C-c", "Escape", "Up"), []string{"send-keys", "-t", "=s:", "--", "C-c", "Escape", "Up"}},
		{"keys repeated", KeysArgs("=s:", 3, "Tab"), []string{"send-keys", "-t", "=s:", "-N", "3", "--", "Tab"}},
		{"key ;", KeysArgs("=s:", 1, ";"), []string{"send-keys", "-t", "=s:", "--", `\;`}},
		{"kill", killArgs("s"), []string{"kill-session", "-t", "=s"}},
		{"kill pane id", killArgs("%4"), []string{"kill-session", "-t", "%4"}},
		{"ls", listArgs(), []string{"run-shell", "true", ";", "list-panes", "-a", "-F", listFormat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNeedsPaste(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"ls", false},
		{strings.Repeat("x", pasteThreshold), false},
		{strings.Repeat("x", pasteThreshold+1), true},
		{"a\nb", true},
		{"a\r", true},
		{"", false},
	} {
		if got := NeedsPaste(tc.text); got != tc.want {
			t.Errorf("NeedsPaste(%d bytes %.10q) = %v, want %v", len(tc.text), tc.text, got, tc.want)
		}
	}
}

func TestCaptureArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    CaptureOptions
		want []string
	}{
		{"screen", CaptureOptions{}, []string{"capture-pane", "-p", "-t", "=s:", "-J"}},
		{"lines", CaptureOptions{Lines: 30}, []string{"capture-pane", "-p", "-t", "=s:", "-J", "-S", "-30"}},
		{"all with colours", CaptureOptions{All: true, ANSI: true}, []string{"capture-pane", "-p", "-t", "=s:", "-J", "-e", "-S", "-", "-E", "-"}},
		{"rows", CaptureOptions{Rows: true}, []string{"capture-pane", "-p", "-t", "=s:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, captureArgs("=s:", tc.o)); diff != "" {
				t.Errorf("captureArgs (-want +got):\n%s", diff)
			}
		})
	}
	want := []string{"if-shell", "-F", "-t", "=s:", "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", "=s:", screenFormat, ";", "capture-pane", "-p", "-t", "=s:", "-J"}
	if diff := cmp.Diff(want, ScreenArgs("=s:", CaptureOptions{})); diff != "" {
		t.Errorf("ScreenArgs (-want +got):\n%s", diff)
	}
}

func TestRunArgs(t *testing.T) {
	want := []string{
		"set-hook", "-p", "-t", "=s:", "pane-died", "wait-for -S db-7", ";",
		"load-buffer", "-b", "db-7", "-", ";",
		"set-option", "-p", "-t", "=s:", "@db_prompt", "1", ";",
		"if-shell", "-t", "=s:", notAtPrompt, "set-option -p -t =s: @db_prompt 0", ";",
		"if-shell", "-F", "-t", "=s:",
		"#{&&:#{!=:#{pane_dead},1},#{&&:#{==:#{@db_prompt},1},#{m/r:" + shellPattern + ",#{pane_current_command}}}}",
		"paste-buffer -p -d -b db-7 -t =s: ; send-keys -t =s: Enter",
		"display-message -p -t =s: 'dockerbridge-busy: #{pane_dead} #{@db_prompt} #{pane_current_command}' ; delete-buffer -b db-7 ; wait-for -S db-7", ";",
		"wait-for", "db-7", ";",
		"set-hook", "-p", "-u", "-t", "=s:", "pane-died", ";",
		"if-shell", "-F", "-t", "=s:", "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", "=s:", screenFormat, ";",
		"capture-pane", "-p", "-t", "=s:", "-J", "-S", "-2000",
	}
	if diff := cmp.Diff(want, runArgs("=s:", "db-7", 2000)); diff != "" {
		t.Errorf("runArgs (-want +got):\n%s", diff)
	}
}

func TestRunScript(t *testing.T) {
	got := markerScript("echo 'a';", "db-7", signalCommand("", "dockerbridge", "db-7"))
	want := ` printf '%s-%s\n' DBS db-7` +
		`; __db_t=$(trap -p EXIT 2>/dev/null); trap '__db_rc=$?; printf '\''\n%s-%s %s exit\n'\'' DBE db-7 "$__db_rc"; (tmux -L dockerbridge wait-for -S db-7 &)' EXIT` +
		`; command eval 'echo '\''a'\'';'` +
		`; __db_rc=$?; case ${BASH_VERSION-}$(trap -p EXIT 2>/dev/null) in '' | *'DBE db-7'*) eval "${__db_t:-trap - EXIT}";; esac` +
		`; printf '\n%s-%s %s\n' DBE db-7 "$__db_rc"; (tmux -L dockerbridge wait-for -S db-7 &)`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("markerScript (-want +got):\n%s", diff)
	}
	// The markers must never appear in the echo of the typed line.
	if strings.Contains(got, startMarker("db-7")) || strings.Contains(got, strings.TrimSpace(endMarker("db-7"))) {
		t.Errorf("the script contains its own markers: %s", got)
	}
	if got := signalCommand("/opt/my tmux", "s", "db-1"); got != `('/opt/my tmux' -L s wait-for -S db-1 &)` {
		t.Errorf("signalCommand = %s", got)
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", "abc"},
		{"", "''"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
	} {
		if got := ShellQuote(tc.in); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseRun(t *testing.T) {
	echo := "$  printf '%s-%s\\n' DBS db-1; ... DBE db-1 ..."
	for _, tc := range []struct {
		name  string
		lines []string
		want  runParse
	}{
		{"output with a final newline", []string{echo, "DBS-db-1", "a", "b", "", "DBE-db-1 0", "$ "}, runParse{"a\nb\n", 0, true, true, false}},
		{"output without a final newline", []string{echo, "DBS-db-1", "abc", "DBE-db-1 3", "$ "}, runParse{"abc", 3, true, true, false}},
		{"no output", []string{echo, "DBS-db-1", "", "DBE-db-1 0", "$"}, runParse{"", 0, true, true, false}},
		{"an earlier run's markers are not this one's", []string{"DBS-db-0", "old", "", "DBE-db-0 0", "DBS-db-1", "new", "", "DBE-db-1 1"}, runParse{"new\n", 1, true, true, false}},
		{"still running", []string{echo, "DBS-db-1", "partial", "", ""}, runParse{"partial\n", -1, true, false, false}},
		{"start scrolled away", []string{"tail", "", "DBE-db-1 0"}, runParse{"tail\n", 0, false, true, false}},
		{"trailing spaces are output", []string{"DBS-db-1", "a  ", "", "DBE-db-1 0"}, runParse{"a  \n", 0, true, true, false}},
		{"the command ended the shell", []string{"DBS-db-1", "exit", "", "DBE-db-1 4 exit", "Pane is dead"}, runParse{"exit\n", 4, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseRun(tc.lines, "db-1")); diff != "" {
				t.Errorf("parseRun (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseScreen(t *testing.T) {
	out := "4\t2\t10\t200\t50\t0\t0\t\t%3\tpython3\n>>> 1\n1\n>>> \n\n"
	got, err := ParseScreen(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Screen{CursorX: 4, CursorY: 2, HistorySize: 10, Width: 200, Height: 50, PaneID: "%3", Command: "python3",
		Lines: []string{">>> 1", "1", ">>> ", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseScreen (-want +got):\n%s", diff)
	}
	got, err = ParseScreen("0\t0\t0\t80\t24\t1\t1\t3\t%1\tmy prog\twith\ttabs\n")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Alternate || !got.Dead || got.DeadStatus != 3 || got.Command != "my prog\twith\ttabs" || got.Lines != nil {
		t.Errorf("ParseScreen of a dead pane = %+v", got)
	}
	for _, bad := range []string{"", "1\t2\n", "x\t0\t0\t80\t24\t0\t0\t\t%1\tsh\n"} {
		if _, err := ParseScreen(bad); err == nil {
			t.Errorf("ParseScreen(%q) = nil error", bad)
		}
	}
}

func TestParseList(t *testing.T) {
	seven := 7
	got, err := parseList("a\t%0\t100\t0\t\t200x50\tbash\nb\t%1\t101\t1\t7\t80x24\tpython3\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pane{
		{Name: "a", PaneID: "%0", PID: 100, Size: "200x50", Command: "bash"},
		{Name: "b", PaneID: "%1", PID: 101, Dead: true, ExitStatus: &seven, Size: "80x24", Command: "python3"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseList (-want +got):\n%s", diff)
	}
	if got, err := parseList(""); err != nil || len(got) != 0 || got == nil {
		t.Errorf("parseList(\"\") = %#v, %v; want an empty list", got, err)
	}
	if _, err := parseList("a\t%0\n"); err == nil {
		t.Error("parseList accepts a short line")
	}
}

func TestTrimBlankAndText(t *testing.T) {
	if diff := cmp.Diff([]string{"a", "", "b"}, TrimBlank([]string{"a", "", "b", "  ", ""})); diff != "" {
		t.Errorf("TrimBlank (-want +got):\n%s", diff)
	}
	if got := Text([]string{"a", "b"}); got != "a\nb\n" {
		t.Errorf("Text = %q", got)
	}
	if got := Text(nil); got != "" {
		t.Errorf("Text(nil) = %q", got)
	}
}

func TestAtPrompt(t *testing.T) {
	screen := func(cmd string, x, y int, lines ...string) Screen {
		return Screen{CursorX: x, CursorY: y, Command: cmd, Lines: lines}
	}
	for _, tc := range []struct {
		name string
		snap Screen
		want bool
	}{
		{"bash prompt", screen("bash", 12, 1, "out", "user@host:~$ ", ""), true},
		{"root prompt", screen("bash", 10, 0, "bash-5.2# "), true},
		{"login shell", screen("-zsh", 2, 0, "% "), true},
		{"a $ in output, cursor on the next line", screen("bash", 0, 1, "cost $5 $", ""), false},
		{"a command prints '$ ' and runs on", screen("sleep", 2, 0, "$ "), false},
		{"text after the cursor", screen("bash", 2, 0, "$ ls"), false},
		{"a shell on the alternate screen is a program", Screen{CursorX: 2, Command: "bash", Alternate: true, Lines: []string{"$ "}}, false},
		{"dead", Screen{CursorX: 2, Command: "bash", Dead: true, Lines: []string{"$ "}}, false},
		{"cursor below the capture", screen("bash", 2, 5, "$ "), false},
		{"no prompt character", screen("bash", 5, 0, "hello"), false},
		{"wide runes before the cursor", screen("bash", 6, 0, "日本 $ "), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := atPrompt(tc.snap, DefaultPrompt); got != tc.want {
				t.Errorf("atPrompt = %v, want %v", got, tc.want)
			}
		})
	}
	custom := regexp.MustCompile(`>>> $`)
	if !atPrompt(Screen{CursorX: 4, Command: "sh", Lines: []string{">>> "}}, custom) {
		t.Error("a custom prompt pattern is not used")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		want   error
	}{
		{"no server running on /tmp/tmux-1000/dockerbridge", ErrNoSession},
		{"error connecting to /tmp/tmux-1000/dockerbridge (No such file or directory)", ErrNoSession},
		{"can't find session: web", ErrNoSession},
		{"can't find pane: %9", ErrNoSession},
		{"no such pane: =nosuch:", ErrNoSession},
		{"duplicate session: web", ErrDuplicate},
		// A server whose last session was just killed, still shutting down.
		{"no current target", ErrNoSession},
		{"no current session", ErrNoSession},
		{"no sessions", ErrNoSession},
		{"lost server", ErrNoSession},
		{"unknown command: frob", nil},
	} {
		if got := classify(tc.stderr); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.stderr, got, tc.want)
		}
	}
}

func TestVerbOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"capture-pane", "-p"}, "capture-pane"},
		{NewArgs(NewOptions{Name: "s"}), "new-session"},
		{runArgs("=s:", "db-1", 10), "load-buffer"},
		{[]string{"set-option", "-g", "x", "y"}, "set-option"},
		{nil, "tmux"},
	} {
		if got := verbOf(tc.args); got != tc.want {
			t.Errorf("verbOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
