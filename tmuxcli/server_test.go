package tmuxcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dockerbridge/dockercli"
)

// call is one invocation a fakeRunner received, global flags stripped.
type call struct {
	Args     []string
	Stdin    string
	Blocking bool
}

// fakeRunner answers each tmux call with reply and records it.
type fakeRunner struct {
	mu    sync.Mutex
	calls []call
	reply func(n int, c call) (stdout, stderr string, code int)
	// block makes a call wait for its context when it returns true.
	block func(c call) bool
	// noBash makes the watcher fail to start, as where bash is missing.
	noBash bool
	// watchers counts the watcher processes started.
	watchers int
	// procs answers the state calls (n counts them) with the proc line;
	// nil: they fail, as where bash is missing.
	procs  func(n int) string
	nprocs int
	// replied counts the calls reply answered.
	replied int
}

func (f *fakeRunner) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	if len(c.Args) > 5 && c.Args[0] == "bash" && c.Args[1] == "-c" && c.Args[3] == "dockerbridge-state" {
		return f.state(c)
	}
	if len(c.Args) > 5 && c.Args[0] == "bash" && c.Args[1] == "-c" {
		return f.watch(ctx, c)
	}
	got := call{Args: c.Args[6:], Blocking: c.Blocking}
	if c.Stdin != nil {
		b, err := io.ReadAll(c.Stdin)
		if err != nil {
			return -1, err
		}
		got.Stdin = string(b)
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, got)
	f.mu.Unlock()
	if f.block != nil && f.block(got) {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	if f.reply == nil {
		return 0, nil
	}
	f.mu.Lock()
	f.replied++
	f.mu.Unlock()
	out, errText, code := f.reply(n, got)
	if c.Stdout != nil {
		_, _ = io.WriteString(c.Stdout, out)
	}
	if c.Stderr != nil {
		_, _ = io.WriteString(c.Stderr, errText)
	}
	return code, nil
}

// state plays the state script: the proc line, then a pane line and the
// screen.
func (f *fakeRunner) state(c dockercli.Cmd) (int, error) {
	f.mu.Lock()
	n := f.nprocs
	f.nprocs++
	f.mu.Unlock()
	if f.procs == nil {
		_, _ = io.WriteString(c.Stderr, "bash: No such file or directory\n")
		return 127, nil
	}
	_, _ = io.WriteString(c.Stdout, f.procs(n)+"\n41\t0\t\t997\t/dev/pts/1\t%1\tbash\n$ \n")
	return 0, nil
}

// watch plays the watcher: the screen call in its argv, answered by reply,
// once per interval until the context ends.
func (f *fakeRunner) watch(ctx context.Context, c dockercli.Cmd) (int, error) {
	f.mu.Lock()
	f.watchers++
	f.mu.Unlock()
	if f.noBash {
		_, _ = io.WriteString(c.Stderr, "bash: No such file or directory\n")
		return 127, nil
	}
	if c.Args[2] != watchScript || c.Args[3] != "dockerbridge-watch" {
		return -1, fmt.Errorf("unexpected watcher argv %q", c.Args)
	}
	iv, err := time.ParseDuration(c.Args[4] + "s")
	if err != nil {
		return -1, err
	}
	inner := dockercli.Cmd{Args: c.Args[5:]}
	for {
		var out, errb strings.Builder
		inner.Stdout, inner.Stderr = &out, &errb
		code, err := f.Run(ctx, inner)
		if err != nil {
			return code, err
		}
		if code != 0 {
			_, _ = io.WriteString(c.Stderr, errb.String())
			return code, nil
		}
		_, _ = io.WriteString(c.Stdout, out.String()+recordSep)
		if err := sleep(ctx, iv); err != nil {
			return -1, err
		}
	}
}

func (f *fakeRunner) argv() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var a [][]string
	for _, c := range f.calls {
		a = append(a, c.Args)
	}
	return a
}

// newFake is a server on f. As with cli/cli's run stubs, a reply or proc
// stub that no call used fails the test: the test did not take the path it
// claims.
func newFake(t testing.TB, f *fakeRunner) *Server {
	t.Helper()
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.reply != nil && f.replied == 0 {
			t.Error("fakeRunner: the reply stub was never used")
		}
		if f.procs != nil && f.nprocs == 0 {
			t.Error("fakeRunner: the procs stub was never used")
		}
	})
	n := 0
	return &Server{Runner: f, ids: func() string { n++; return fmt.Sprintf("db-%d", n) }}
}

// state renders a screen reply.
func state(cmd string, x, y int, screen ...string) string {
	return fmt.Sprintf("%d\t%d\t0\t200\t50\t0\t0\t\t%%1\t%s\n", x, y, cmd) + Text(screen)
}

func TestSendChoosesLiteralOrPaste(t *testing.T) {
	big := strings.Repeat("x", pasteThreshold+1)
	for _, tc := range []struct {
		name  string
		text  string
		o     SendOptions
		want  [][]string
		stdin string
	}{
		{
			name: "one short line: typed, then Enter on its own",
			text: "ls;",
			want: [][]string{LiteralArgs("=s:", "ls;"), enterArgs("=s:")},
		},
		{
			name: "no enter",
			text: "Enter",
			o:    SendOptions{NoEnter: true},
			want: [][]string{{"send-keys", "-t", "=s:", "-l", "--", "Enter"}},
		},
		{
			name:  "several lines: pasted",
			text:  "a\nb\n",
			want:  [][]string{pasteArgs("=s:", "db-1"), enterArgs("=s:")},
			stdin: "a\nb\n",
		},
		{
			name:  "long: pasted",
			text:  big,
			o:     SendOptions{NoEnter: true},
			want:  [][]string{pasteArgs("=s:", "db-1")},
			stdin: big,
		},
		{
			name: "nothing but Enter",
			want: [][]string{enterArgs("=s:")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{}
			if err := newFake(t, f).Send(context.Background(), "s", tc.text, tc.o); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.argv()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if got := f.calls[0].Stdin; got != tc.stdin {
				t.Errorf("stdin = %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), tc.stdin, len(tc.stdin))
			}
		})
	}
}

func TestVerifyEnterRetries(t *testing.T) {
	// The screen changes only after the third Enter.
	f := &fakeRunner{}
	enters := 0
	f.reply = func(n int, c call) (string, string, int) {
		// A call that presses Enter reports the screen from before it.
		changed := enters >= 3
		if c.Args[len(c.Args)-1] == "Enter" {
			enters++
		}
		if changed {
			return state("bash", 2, 1, "$ x", "$ "), "", 0
		}
		return state("bash", 3, 0, "$ x"), "", 0
	}
	if err := newFake(t, f).Send(context.Background(), "s", "x", SendOptions{VerifyEnter: true}); err != nil {
		t.Fatal(err)
	}
	if enters != 3 {
		t.Errorf("Enter pressed %d times, want 3", enters)
	}

	// A screen that never changes: four presses, then an error.
	f = &fakeRunner{reply: func(int, call) (string, string, int) { return state("bash", 3, 0, "$ x"), "", 0 }}
	err := newFake(t, f).Send(context.Background(), "s", "x", SendOptions{VerifyEnter: true})
	if err == nil || !strings.Contains(err.Error(), `the program did not take the input: "x" is still on its input line after 4 presses of Enter`) {
		t.Errorf("err = %v, want the input not taken", err)
	}
}

// A screen that changes is not a program that took the input: a spinner
// above the input line keeps turning while the typed text stays on it.
func TestVerifyEnterWantsTheInputTaken(t *testing.T) {
	spin := 0
	f := &fakeRunner{reply: func(int, call) (string, string, int) {
		spin++
		return state("agent", 14, 2, "thinking "+strconv.Itoa(spin), "", "> fix the bug"), "", 0
	}}
	err := newFake(t, f).Send(context.Background(), "s", "fix the bug", SendOptions{VerifyEnter: true})
	if err == nil || !strings.Contains(err.Error(), `"fix the bug" is still on its input line after 4 presses`) {
		t.Errorf("err = %v, want the input not taken", err)
	}

	// The input line is cleared (the cursor stays on it): taken, at the
	// first press.
	enters := 0
	f = &fakeRunner{reply: func(_ int, c call) (string, string, int) {
		cleared := enters > 0
		if c.Args[len(c.Args)-1] == "Enter" {
			enters++
		}
		if cleared {
			return state("agent", 2, 2, "thinking", "", "> "), "", 0
		}
		return state("agent", 14, 2, "thinking", "", "> fix the bug"), "", 0
	}}
	if err := newFake(t, f).Send(context.Background(), "s", "fix the bug", SendOptions{VerifyEnter: true}); err != nil || enters != 1 {
		t.Errorf("cleared input line: err %v after %d presses, want none after 1", err, enters)
	}
}

func TestNoSessionIsOneLine(t *testing.T) {
	for _, stderr := range []string{"can't find session: web\n", "no server running on /tmp/tmux-0/dockerbridge\n"} {
		f := &fakeRunner{reply: func(int, call) (string, string, int) { return "", stderr, 1 }}
		s := newFake(t, f)
		for name, err := range map[string]error{
			"send":    s.Send(context.Background(), "web", "x", SendOptions{}),
			"keys":    s.Keys(context.Background(), "web", 0, "C-c"),
			"kill":    s.Kill(context.Background(), "web"),
			"capture": func() error { _, err := s.Capture(context.Background(), "web", CaptureOptions{}); return err }(),
			"run": func() error {
				_, err := s.Run(context.Background(), "web", "true", RunOptions{Timeout: time.Second})
				return err
			}(),
		} {
			if err == nil || err.Error() != "tmux: no session web" || !errors.Is(err, ErrNoSession) {
				t.Errorf("%s with %q: err = %v, want tmux: no session web", name, stderr, err)
			}
		}
	}
	f := &fakeRunner{reply: func(int, call) (string, string, int) { return "", "no server running on /tmp/x\n", 1 }}
	panes, err := newFake(t, f).List(context.Background())
	if err != nil || panes == nil || len(panes) != 0 {
		t.Errorf("List with no server = %#v, %v; want an empty list", panes, err)
	}
	f = &fakeRunner{reply: func(int, call) (string, string, int) { return "", "duplicate session: web\n", 1 }}
	_, _, err = newFake(t, f).New(context.Background(), NewOptions{Name: "web"}, 0)
	if err == nil || err.Error() != "tmux: session web already exists" {
		t.Errorf("New of a taken name: %v", err)
	}
}

func TestCallDeadline(t *testing.T) {
	f := &fakeRunner{block: func(call) bool { return true }}
	s := newFake(t, f)
	s.CallTimeout = 50 * time.Millisecond
	err := s.Keys(context.Background(), "s", 0, "C-c")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("a hung tmux call: err = %v, want ErrTimeout", err)
	}
}

func TestRunParsesItsOwnChannel(t *testing.T) {
	f := &fakeRunner{reply: func(n int, c call) (string, string, int) {
		return state("bash", 2, 6, "$ echo", "DBS-db-0", "stale", "", "DBE-db-0 9", "DBS-db-1", "hi", "", "DBE-db-1 3", "$ "), "", 0
	}}
	res, err := newFake(t, f).Run(context.Background(), "s", "echo hi; exit 3", RunOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := RunResult{Output: "hi\n", ExitCode: 3, Status: StatusCompleted, Channel: "db-1"}
	res.ElapsedMS = 0
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	// The command is piped as it is; the script, for a shell without the
	// hook, goes in a second buffer.
	script := markerScript("echo hi; exit 3", "db-1", "(tmux -L dockerbridge wait-for -S db-1 &)")
	if diff := cmp.Diff([][]string{runHookArgs("=s:", "db-1", "db-2", script, DefaultScrollback)}, f.argv()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if want := "echo hi; exit 3"; f.calls[0].Stdin != want {
		t.Errorf("stdin = %q, want %q", f.calls[0].Stdin, want)
	}
	// The run waits on its channel: it tells the runner that it blocks.
	if !f.calls[0].Blocking {
		t.Error("run's call is not marked as blocking")
	}
	g := &fakeRunner{}
	if _, err := newFake(t, g).List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(g.calls) != 1 || g.calls[0].Blocking {
		t.Error("list's call is marked as blocking")
	}
}

func TestRunLongOutputTakesEverything(t *testing.T) {
	f := &fakeRunner{reply: func(n int, c call) (string, string, int) {
		if n == 0 {
			return state("bash", 2, 3, "tail of it", "", "DBE-db-1 0", "$ "), "", 0
		}
		return state("bash", 2, 3, "DBS-db-1", "head", "tail of it", "", "DBE-db-1 0", "$ "), "", 0
	}}
	res, err := newFake(t, f).Run(context.Background(), "s", "x", RunOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "head\ntail of it\n" || res.Truncated {
		t.Errorf("result = %+v", res)
	}
	if got := f.argv()[1]; !strings.Contains(strings.Join(got, " "), "-S - -E -") {
		t.Errorf("second call = %q, want a capture of everything", got)
	}
}

func TestRunBusyTypesNothing(t *testing.T) {
	f := &fakeRunner{reply: func(int, call) (string, string, int) {
		return busyMarker + " 0 1 vim\n" + state("vim", 0, 0, "~"), "", 0
	}}
	_, err := newFake(t, f).Run(context.Background(), "s", "ls", RunOptions{Timeout: time.Second})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "is running vim") {
		t.Errorf("err = %v, want ErrNotShell naming vim", err)
	}
}

// A bash that tmux shows as the pane's foreground, but away from its prompt
// (in a read builtin): nothing typed, one line that says so.
func TestRunAwayFromPrompt(t *testing.T) {
	f := &fakeRunner{reply: func(int, call) (string, string, int) {
		return busyMarker + " 0 0 bash\n" + state("bash", 0, 0, "name? "), "", 0
	}}
	_, err := newFake(t, f).Run(context.Background(), "s", "ls", RunOptions{Timeout: time.Second})
	want := "tmux: session s is not at a shell prompt: bash is reading the terminal or running a program (send types into it; wait-shell waits for the prompt)"
	if !errors.Is(err, ErrBusy) || err.Error() != want {
		t.Errorf("err = %v, want ErrBusy: %s", err, want)
	}
}

func TestRunShellExited(t *testing.T) {
	f := &fakeRunner{reply: func(int, call) (string, string, int) {
		return "0\t3\t0\t200\t50\t0\t1\t7\t%1\tbash\n" + Text([]string{"$ x", "DBS-db-1", "bye", "", "Pane is dead (status 7, Mon)"}), "", 0
	}}
	res, err := newFake(t, f).Run(context.Background(), "s", "echo bye; exit 7", RunOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 || !res.ShellExited || res.Output != "bye\n" || res.Status != StatusCompleted {
		t.Errorf("result = %+v", res)
	}
}

func TestRunTimeoutKeepsOutputSoFar(t *testing.T) {
	f := &fakeRunner{
		block: func(c call) bool { return c.Args[0] == "set-hook" },
		reply: func(int, call) (string, string, int) { return state("sleep", 0, 3, "$ x", "DBS-db-1", "begun"), "", 0 },
	}
	res, err := newFake(t, f).Run(context.Background(), "s", "echo begun; sleep 9", RunOptions{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusTimeout || res.ExitCode != -1 || res.Output != "begun\n" {
		t.Errorf("result = %+v", res)
	}
}

func TestWaitIdleWaitsForTheLastChange(t *testing.T) {
	// The screen grows for the first 8 polls, then stays.
	f := &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		lines := []string{}
		for i := 0; i <= min(n, 8); i++ {
			lines = append(lines, fmt.Sprintf("line %d", i))
		}
		return state("prog", 0, len(lines), lines...), "", 0
	}
	start := time.Now()
	res, err := newFake(t, f).WaitIdle(context.Background(), "s", WaitOptions{Timeout: 10 * time.Second, Interval: 20 * time.Millisecond, Idle: 100 * time.Millisecond})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || !strings.HasSuffix(res.Content, "line 8\n") {
		t.Errorf("result = %+v, want idle with the last line", res)
	}
	// The screen last changes at poll 9, and idleness needs one more look
	// after that change. A loaded machine makes polls slower than the
	// interval, so the count past that point depends on the clock.
	if res.Polls < 10 {
		t.Errorf("idle after %d polls: the screen still changed at poll 9", res.Polls)
	}
	// Never more than one call per interval (plus the first).
	if max := int(elapsed/(20*time.Millisecond)) + 1; res.Polls > max {
		t.Errorf("%d polls in %s: more than one per 20ms interval", res.Polls, elapsed)
	}
}

func TestWaitIdleIgnoresMaskedText(t *testing.T) {
	f := &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		return state("prog", 0, 1, fmt.Sprintf("working %c", `|/-\`[n%4]), ""), "", 0
	}
	o := WaitOptions{Timeout: 400 * time.Millisecond, Interval: 10 * time.Millisecond, Idle: 60 * time.Millisecond}
	res, err := newFake(t, f).WaitIdle(context.Background(), "s", o)
	if err != nil || res.OK {
		t.Fatalf("a spinner is idle without --ignore: %+v, %v", res, err)
	}
	o.Ignore = regexp.MustCompile(`(?m)[|/\\-]$`)
	res, err = newFake(t, f).WaitIdle(context.Background(), "s", o)
	if err != nil || !res.OK {
		t.Fatalf("a masked spinner is not idle: %+v, %v", res, err)
	}
}

func TestWaitPrompt(t *testing.T) {
	f := &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		if n < 3 {
			return state("python3", 0, 1, ">>> 1+1"), "", 0
		}
		return state("python3", 4, 2, ">>> 1+1", "2", ">>> "), "", 0
	}
	res, err := newFake(t, f).WaitPrompt(context.Background(), "s", regexp.MustCompile(`(?m)^>>> $`), WaitOptions{Timeout: 5 * time.Second, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Match != ">>> " || res.Polls != 4 {
		t.Errorf("result = %+v", res)
	}
	if got := f.argv()[0]; !strings.Contains(strings.Join(got, " "), "-S -100") {
		t.Errorf("poll = %q, want recent history included", got)
	}

	// --changed: the prompt on the screen when the wait begins does not count.
	f = &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		if n < 2 {
			return state("python3", 4, 0, ">>> "), "", 0
		}
		return state("python3", 4, 1, ">>> x", ">>> "), "", 0
	}
	res, err = newFake(t, f).WaitPrompt(context.Background(), "s", regexp.MustCompile(`(?m)^>>> $`), WaitOptions{Timeout: 5 * time.Second, Interval: 5 * time.Millisecond, Changed: true})
	if err != nil || !res.OK || res.Polls != 3 {
		t.Errorf("--changed: %+v, %v; want a match on the third poll", res, err)
	}

	// A timeout is a result, not an error.
	f = &fakeRunner{reply: func(int, call) (string, string, int) { return state("python3", 0, 0, "busy"), "", 0 }}
	res, err = newFake(t, f).WaitPrompt(context.Background(), "s", regexp.MustCompile(`>>> $`), WaitOptions{Timeout: 30 * time.Millisecond, Interval: 10 * time.Millisecond})
	if err != nil || res.OK || res.Content != "busy\n" {
		t.Errorf("timeout: %+v, %v", res, err)
	}
}

func TestWaitShellNeedsASettledPrompt(t *testing.T) {
	// Poll 0: output with '$' while sleep runs; 1: a '$ ' at the cursor
	// while bash is in the foreground between two commands; 2: changed
	// again; 3 and 4: a real prompt, unchanged.
	screens := []string{
		state("sleep", 0, 1, "cost $5 $", ""),
		state("bash", 2, 1, "cost $5 $", "$ "),
		state("bash", 0, 2, "cost $5 $", "$ ", ""),
		state("bash", 7, 3, "cost $5 $", "$ ", "done", "user$ "),
		state("bash", 7, 3, "cost $5 $", "$ ", "done", "user$ "),
	}
	f := &fakeRunner{reply: func(n int, c call) (string, string, int) { return screens[min(n, len(screens)-1)], "", 0 }}
	res, err := newFake(t, f).WaitShell(context.Background(), "s", WaitOptions{Timeout: 5 * time.Second, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Polls != 5 || res.Match != "user$" {
		t.Errorf("result = %+v, want the prompt on poll 5", res)
	}
}

// A script that printed '$ ' and has not yet started its next command
// looks like a prompt, on a screen that holds still while the machine is
// loaded: the shell is in the foreground but busy. /proc tells: wait-shell
// answers only once the shell is blocked reading the pane's terminal and
// the screen held still across that look.
func TestWaitShellConfirmsTheShellReads(t *testing.T) {
	busy := state("bash", 2, 1, "cost $5 $", "$ ")
	prompt := state("bash", 7, 2, "cost $5 $", "$ ", "user$ ")
	screens := []string{busy, busy, busy, busy, busy, prompt, prompt, prompt}
	f := &fakeRunner{
		reply: func(n int, c call) (string, string, int) { return screens[min(n, len(screens)-1)], "", 0 },
		procs: func(n int) string {
			switch n {
			case 0: // the script runs: the shell is on the CPU
				return "proc\t1000\t41\tR\t0\t/dev/pts/1\tbash"
			case 1: // it forked, and waits for a child not yet in the foreground
				return "proc\t1000\t41\tS\tdo_wait\t/dev/pts/1\tbash"
			}
			return "proc\t1000\t41\tS\tpoll_schedule_timeout.constprop.0\t/dev/pts/1\tbash"
		},
	}
	res, err := newFake(t, f).WaitShell(context.Background(), "s", WaitOptions{Timeout: 5 * time.Second, Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Match != "user$" || f.nprocs != 3 {
		t.Errorf("result = %+v after %d state calls, want the prompt after 3", res, f.nprocs)
	}

	// Where /proc cannot tell (no bash for the state call), the settled
	// screen is the answer.
	f = &fakeRunner{reply: func(int, call) (string, string, int) { return busy, "", 0 }}
	res, err = newFake(t, f).WaitShell(context.Background(), "s", WaitOptions{Timeout: 5 * time.Second, Interval: 5 * time.Millisecond})
	if err != nil || !res.OK || res.Polls != 2 {
		t.Errorf("without /proc: %+v, %v; want the prompt on the second look", res, err)
	}
}

func TestWaitOnDeadPaneFails(t *testing.T) {
	f := &fakeRunner{reply: func(int, call) (string, string, int) {
		return "0\t1\t0\t200\t50\t0\t1\t2\t%1\tbash\n" + Text([]string{"boom"}), "", 0
	}}
	_, err := newFake(t, f).WaitShell(context.Background(), "s", WaitOptions{Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited with status 2") {
		t.Errorf("err = %v", err)
	}
}

func TestNewWaitsUntilDrawn(t *testing.T) {
	f := &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		switch {
		case n == 0:
			return "%4\n", "", 0
		case n < 3:
			return state("python3", 0, 0), "", 0
		}
		return state("python3", 4, 0, ">>> "), "", 0
	}
	pane, drawn, err := newFake(t, f).New(context.Background(), NewOptions{Name: "py", Command: "python3"}, 5*time.Second)
	if err != nil || pane != "%4" || !drawn {
		t.Fatalf("New = %q, %v, %v", pane, drawn, err)
	}
	if got := f.argv(); len(got) != 4 || got[1][3] != "%4" {
		t.Errorf("calls = %q, want creation then polls of %%4 until drawn", got)
	}
}

// A pane whose terminal has closed is dead before tmux has reaped its
// program: New waits for the status instead of reporting 0.
func TestNewWaitsForTheDeadStatus(t *testing.T) {
	f := &fakeRunner{}
	f.reply = func(n int, c call) (string, string, int) {
		switch {
		case n == 0:
			return "%4\n", "", 0
		case n < 3:
			return "0\t0\t0\t200\t50\t0\t1\t\t%4\tsh\n", "", 0
		}
		return "0\t0\t0\t200\t50\t0\t1\t6\t%4\tsh\n", "", 0
	}
	_, dead, err := newFake(t, f).New(context.Background(), NewOptions{Name: "b", Command: "sh -c 'exit 6'"}, 5*time.Second)
	if !dead || err == nil || !strings.Contains(err.Error(), "exited with status 6") {
		t.Fatalf("New = %v, %v; want the status 6 tmux reports once it has reaped the program", dead, err)
	}
}

// TestRunScriptInRealShells runs the script markerScript builds through bash
// and sh (no tmux: the signal is an echo) for the shapes of command that
// break other controllers.
func TestRunScriptInRealShells(t *testing.T) {
	for _, sh := range []string{"bash", "sh"} {
		if _, err := exec.LookPath(sh); err != nil {
			t.Fatalf("%s is needed: %v", sh, err)
		}
		for _, tc := range []struct {
			name, command, out string
			code               int
			exited             bool
		}{
			{"exit ends the shell: the trap reports", "echo bye; exit 4", "bye\n", 4, true},
			{"set -e ends the shell", "set -e; false", "", 1, true},
			{"an EXIT trap of the command's own stays", "trap 'echo own trap' EXIT", "", 0, false},
			{"exit code", "false", "", 1, false},
			{"exit code 3", "(exit 3)", "", 3, false},
			{"heredoc", "cat <<EOF\nx $((1+1))\nEOF", "x 2\n", 0, false},
			{"quoted heredoc", "cat <<'EOF'\n$HOME 'q'\nEOF", "$HOME 'q'\n", 0, false},
			{"comment on the last line", "echo a # a comment", "a\n", 0, false},
			{"comment line last", "echo a\n# only a comment", "a\n", 0, false},
			{"trailing ;", "echo a;", "a\n", 0, false},
			{"set -u", "set -u; echo ${UNSET_X:-ok}", "ok\n", 0, false},
			{"single quotes", `echo 'it'"'"'s'`, "it's\n", 0, false},
			{"no final newline", "printf abc", "abc", 0, false},
			{"unclosed quote", `echo "oops`, "", 2, false},
		} {
			t.Run(sh+"/"+tc.name, func(t *testing.T) {
				script := markerScript(tc.command, "db-x", "echo SIGNALLED") + "\n"
				cmd := exec.Command(sh)
				cmd.Stdin = strings.NewReader(script)
				b, _ := cmd.CombinedOutput()
				got := string(b)
				if !strings.Contains(got, "SIGNALLED\n") {
					t.Fatalf("no signal after the command; output:\n%s", got)
				}
				// bash keeps an EXIT trap the command set; dash, whose
				// traps cannot be read back, loses it.
				if ownTrap := strings.HasSuffix(got, "own trap\n"); strings.Contains(tc.command, "own trap") && ownTrap != (sh == "bash") {
					t.Errorf("the command's own EXIT trap ran at exit: %v; output:\n%s", ownTrap, got)
				}
				lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
				p := parseRun(lines, "db-x")
				if !p.Start || !p.End {
					t.Fatalf("markers missing; output:\n%s", got)
				}
				if p.Code != tc.code || p.Exited != tc.exited {
					t.Errorf("exit code %d (shell exited %v), want %d (%v); output:\n%s", p.Code, p.Exited, tc.code, tc.exited, got)
				}
				out := p.Output
				if tc.code != 2 && out != tc.out {
					t.Errorf("output %q, want %q", out, tc.out)
				}
			})
		}
	}
}

func TestWatchArgs(t *testing.T) {
	want := []string{"bash", "-c", watchScript, "dockerbridge-watch", "0.25", "tmux", "-u", "ls"}
	if diff := cmp.Diff(want, watchArgs(250*time.Millisecond, []string{"tmux", "-u", "ls"})); diff != "" {
		t.Errorf("watchArgs (-want +got):\n%s", diff)
	}
}

// A whole wait is one watcher process; without bash it falls back to one
// call per look.
func TestWaitUsesOneWatcher(t *testing.T) {
	for _, noBash := range []bool{false, true} {
		f := &fakeRunner{noBash: noBash, reply: func(n int, c call) (string, string, int) {
			if n < 3 {
				return state("prog", 0, 1, fmt.Sprint(n)), "", 0
			}
			return state("prog", 0, 1, "done"), "", 0
		}}
		res, err := newFake(t, f).WaitIdle(context.Background(), "s", WaitOptions{Timeout: 5 * time.Second, Interval: 10 * time.Millisecond, Idle: 50 * time.Millisecond})
		if err != nil || !res.OK || res.Content != "done\n" {
			t.Fatalf("noBash %v: %+v, %v", noBash, res, err)
		}
		if f.watchers != 1 {
			t.Errorf("noBash %v: %d watchers, want 1", noBash, f.watchers)
		}
		if got := len(f.argv()); got != res.Polls {
			t.Errorf("noBash %v: %d screen calls for %d polls", noBash, got, res.Polls)
		}
	}
}

// A session that goes away during a wait ends it with one clear line.
func TestWaitSessionGone(t *testing.T) {
	f := &fakeRunner{reply: func(n int, c call) (string, string, int) {
		if n < 2 {
			return state("prog", 0, 1, "x"), "", 0
		}
		return "", "can't find session: s\n", 1
	}}
	_, err := newFake(t, f).WaitIdle(context.Background(), "s", WaitOptions{Timeout: 5 * time.Second, Interval: 10 * time.Millisecond, Idle: time.Second})
	if err == nil || err.Error() != "tmux: no session s" {
		t.Errorf("err = %v, want tmux: no session s", err)
	}
}

// The real watcher script under bash: screens arrive once per interval,
// and the loop ends as soon as the wait stops, because its stdin closes.
func TestWatcherInBash(t *testing.T) {
	dir := t.TempDir()
	fake := dir + "/tmux"
	script := "#!/bin/sh\necho $$ >> " + dir + "/pids\nprintf '0\\t1\\t0\\t80\\t24\\t0\\t0\\t\\t%%1\\tprog\\n'\ndate +%s%N\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Runner: dockercli.OSRunner{}, Bin: fake}
	n := 0
	err := s.watch(context.Background(), "=s:", time.Now().Add(10*time.Second), 20*time.Millisecond, CaptureOptions{}, func(snap Screen, _ time.Time) bool {
		n++
		if len(snap.Lines) != 1 || snap.Command != "prog" {
			t.Errorf("screen %d = %+v", n, snap)
		}
		return n == 5
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d screens, want 5", n)
	}
	// Once the wait has returned, nothing looks any more.
	runs := func() int {
		b, err := os.ReadFile(dir + "/pids")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	before := runs()
	time.Sleep(300 * time.Millisecond)
	if after := runs(); after != before || before < 5 {
		t.Errorf("the fake tmux ran %d times by the end of the wait and %d times 300ms later; want at least 5, then no more", before, after)
	}
}

// A wait whose deadline comes before its first look still looks once, so a
// timeout always reports a screen, and a match on that look counts.
func TestWaitLooksAtLeastOnce(t *testing.T) {
	for _, screen := range []string{"busy", ">>> "} {
		first := true
		f := &fakeRunner{
			block: func(call) bool {
				b := first
				first = false
				return b
			},
			reply: func(int, call) (string, string, int) { return state("python3", 0, 0, screen), "", 0 },
		}
		res, err := newFake(t, f).WaitPrompt(context.Background(), "s", regexp.MustCompile(`(?m)^>>> $`), WaitOptions{Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if want := screen == ">>> "; res.OK != want || res.Content != screen+"\n" || res.Polls != 1 {
			t.Errorf("screen %q: %+v, want matched %v after one look", screen, res, want)
		}
	}
}
