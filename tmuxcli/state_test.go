package tmuxcli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dockerbridge/dockercli"
)

func TestStateArgs(t *testing.T) {
	s := &Server{Socket: "sock"}
	got := stateArgs(s.Argv(stateTmuxArgs(Target("agent"))...))
	want := []string{"bash", "-c", stateScript, "dockerbridge-state",
		"tmux", "-u", "-f", "/dev/null", "-L", "sock",
		"if-shell", "-F", "-t", "=agent:", "#{pane_dead}", "run-shell true", ";",
		"display-message", "-p", "-t", "=agent:", stateFormat, ";",
		"capture-pane", "-p", "-J", "-t", "=agent:", "-S", "-100"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state argv (-want +got):\n%s", diff)
	}
}

func TestParseState(t *testing.T) {
	out := "proc\t1000\t42\tSS\tn_tty_read\t/dev/pts/1\tbash\n" +
		"41\t0\t\t997\t/dev/pts/1\t%3\tbash\n" +
		"$ echo hi\nhi\n$ \n"
	got, err := parseState(out)
	if err != nil {
		t.Fatal(err)
	}
	want := stateRaw{Now: 1000, FgPgid: "42", States: "SS", Wchan: "n_tty_read", Fd0: "/dev/pts/1",
		FgComm: "bash", Activity: 997, TTY: "/dev/pts/1", PaneID: "%3", Command: "bash",
		Lines: []string{"$ echo hi", "hi", "$ "}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "x\n", "proc\t1\t2\t3\t4\t5\t6\nshort\n"} {
		if _, err := parseState(bad); err == nil {
			t.Errorf("parseState(%q): no error", bad)
		}
	}
}

func TestDecideState(t *testing.T) {
	seven := 7
	base := stateRaw{Now: 1000, Activity: 900, TTY: "/dev/pts/1", Fd0: "/dev/pts/1", PaneID: "%1",
		Command: "bash", FgComm: "bash", States: "S", Wchan: "hrtimer_nanosleep", Lines: []string{"a", "", "b", "$ ", ""}}
	with := func(f func(*stateRaw)) stateRaw { r := base; f(&r); return r }
	tests := []struct {
		name string
		raw  stateRaw
		o    StateOptions
		want PaneState
	}{
		{"dead", with(func(r *stateRaw) { r.Dead, r.Status, r.FgComm = true, 7, "" }), StateOptions{},
			PaneState{State: StateExited, Reason: "the program exited with status 7", ExitStatus: &seven, PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"prompt wins over running", with(func(r *stateRaw) { r.States = "R" }), StateOptions{Prompt: regexp.MustCompile(`(?m)^\$ $`)},
			PaneState{State: StateWaiting, Reason: "the prompt matched", PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"prompt only in the last lines", base, StateOptions{Prompt: regexp.MustCompile(`(?m)^a$`), Lines: 2},
			PaneState{State: StateIdle, Reason: "nothing printed for 1m40s", PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "b\n$ \n"}},
		{"running", with(func(r *stateRaw) { r.States, r.FgComm = "SR", "make" }), StateOptions{},
			PaneState{State: StateWorking, Reason: "make is running", PaneID: "%1", Command: "make", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"disk wait", with(func(r *stateRaw) { r.States = "D" }), StateOptions{},
			PaneState{State: StateWorking, Reason: "bash is running", PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"reads the terminal", with(func(r *stateRaw) { r.Wchan = "n_tty_read" }), StateOptions{},
			PaneState{State: StateWaiting, Reason: "bash is reading the terminal", PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"selects on the terminal", with(func(r *stateRaw) { r.Wchan, r.Activity = "poll_schedule_timeout.constprop.0", 1000 }), StateOptions{},
			PaneState{State: StateWaiting, Reason: "bash is reading the terminal", PaneID: "%1", Command: "bash", QuietMS: 0, Tail: "a\nb\n$ \n"}},
		{"reads another file", with(func(r *stateRaw) { r.Wchan, r.Fd0 = "n_tty_read", "/dev/null" }), StateOptions{},
			PaneState{State: StateIdle, Reason: "nothing printed for 1m40s", PaneID: "%1", Command: "bash", QuietMS: 100000, Tail: "a\nb\n$ \n"}},
		{"event loop that printed is working", with(func(r *stateRaw) { r.Wchan, r.Activity, r.FgComm = "ep_poll", 999, "node" }), StateOptions{},
			PaneState{State: StateWorking, Reason: "the screen changed 1s ago", PaneID: "%1", Command: "node", QuietMS: 1000, Tail: "a\nb\n$ \n"}},
		{"quiet past --idle", with(func(r *stateRaw) { r.Activity = 995 }), StateOptions{Idle: 5 * time.Second},
			PaneState{State: StateIdle, Reason: "nothing printed for 5s", PaneID: "%1", Command: "bash", QuietMS: 5000, Tail: "a\nb\n$ \n"}},
		{"unknown activity", with(func(r *stateRaw) { r.Activity = 0 }), StateOptions{},
			PaneState{State: StateIdle, Reason: "nothing printed", PaneID: "%1", Command: "bash", QuietMS: -1, Tail: "a\nb\n$ \n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, decideState(tt.raw, tt.o)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestStateScript runs the script on this host with a stand-in for tmux
// that reports one of our processes, which has no terminal, as the pane's:
// the script passes tmux's output on below its process line and finds no
// foreground group. A missing tmux is named, with exit 127.
func TestStateScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no bash: CI runs on Linux with bash and /proc, where this is never skipped")
		}
		t.Skip("no bash")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no /proc on this host: CI runs on Linux with bash and /proc, where this is never skipped")
		}
		t.Skip("no /proc on this host")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "faketmux")
	script := "#!/bin/sh\nprintf '%s\\t0\\t\\t1\\t/dev/pts/99\\t%%7\\tsleep\\nline one\\n$ \\n' " + strconv.Itoa(os.Getpid()) + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code, err := dockercli.OSRunner{}.Run(context.Background(), dockercli.Cmd{Args: stateArgs([]string{fake}), Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("script: code %d, err %v, out %q, stderr %q", code, err, out.String(), errb.String())
	}
	raw, err := parseState(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if raw.Now < time.Now().Add(-time.Hour).Unix() {
		t.Errorf("now = %d", raw.Now)
	}
	raw.Now = 0
	want := stateRaw{Activity: 1, TTY: "/dev/pts/99", PaneID: "%7", Command: "sleep", Lines: []string{"line one", "$ "}}
	if raw.FgPgid != "" {
		// A test run from a terminal: the group is that terminal's.
		want.FgPgid, want.States, want.Wchan, want.Fd0, want.FgComm = raw.FgPgid, raw.States, raw.Wchan, raw.Fd0, raw.FgComm
	}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	out.Reset()
	errb.Reset()
	code, err = dockercli.OSRunner{}.Run(context.Background(), dockercli.Cmd{Args: stateArgs([]string{filepath.Join(dir, "nosuch")}), Stdout: &out, Stderr: &errb})
	if err != nil || code != 127 || !strings.HasPrefix(errb.String(), "dockerbridge-missing ") {
		t.Errorf("missing tmux: code %d, err %v, stderr %q", code, err, errb.String())
	}
}

// What /proc says of the foreground process decides whether a settled
// prompt on the screen is a shell waiting for a line.
func TestReadingTerminal(t *testing.T) {
	base := stateRaw{FgPgid: "41", States: "S", Wchan: "poll_schedule_timeout.constprop.0", Fd0: "/dev/pts/1",
		TTY: "/dev/pts/1", FgComm: "bash"}
	with := func(f func(*stateRaw)) stateRaw { r := base; f(&r); return r }
	for _, tc := range []struct {
		name           string
		raw            stateRaw
		reading, known bool
	}{
		{"readline waits for a key", base, true, true},
		{"dash reads the terminal", with(func(r *stateRaw) { r.FgComm, r.Wchan = "sh", "wait_woken" }), true, true},
		{"the shell runs", with(func(r *stateRaw) { r.States, r.Wchan = "R", "0" }), false, true},
		{"the shell waits for a child", with(func(r *stateRaw) { r.Wchan = "do_wait" }), false, true},
		{"a forked child not yet exec'd", with(func(r *stateRaw) { r.States = "SR" }), false, true},
		{"a command in the foreground", with(func(r *stateRaw) { r.FgComm, r.Wchan = "sleep", "hrtimer_nanosleep" }), false, true},
		{"the foreground ended during the look", with(func(r *stateRaw) { r.FgComm, r.Wchan, r.Fd0 = "", "", "" }), false, true},
		{"input from elsewhere", with(func(r *stateRaw) { r.Fd0 = "/dev/null" }), false, true},
		{"another user's shell", with(func(r *stateRaw) { r.Fd0 = "" }), true, true},
		{"no /proc", stateRaw{TTY: "/dev/ttys001"}, false, false},
		{"a kernel that hides wchan", with(func(r *stateRaw) { r.Wchan = "0" }), false, false},
	} {
		reading, known := readingTerminal(tc.raw)
		if reading != tc.reading || known != tc.known {
			t.Errorf("%s: reading %v, known %v; want %v, %v", tc.name, reading, known, tc.reading, tc.known)
		}
	}
}
