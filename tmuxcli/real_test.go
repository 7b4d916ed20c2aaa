package tmuxcli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// The tests in this file drive the host's real tmux (what --local does).
// The container's tmux is driven by testdata/real/tmux_*.txtar and
// bridge's benchmark.

// requireProgram is requireEngine's rule for a host program: a missing one
// skips the test, except under CI (or DOCKERBRIDGE_REAL_ENGINE), where it
// fails it.
func requireProgram(tb testing.TB, name string) {
	tb.Helper()
	_, err := exec.LookPath(name)
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
		tb.Fatalf("%s is required (CI or DOCKERBRIDGE_REAL_ENGINE set): %v; run scripts/setup", name, err)
	}
	tb.Skipf("no %s; run scripts/setup (never skipped under CI=true)", name)
}

// realServer is a private tmux server on the host with a socket of its own,
// killed when the test ends.
func realServer(tb testing.TB) *Server {
	tb.Helper()
	// -short is the hermetic run: no host tmux, unless CI or
	// DOCKERBRIDGE_REAL_ENGINE asks for the real programs.
	if testing.Short() && os.Getenv("CI") == "" && os.Getenv("DOCKERBRIDGE_REAL_ENGINE") == "" {
		tb.Skip("host tmux: -short skips it (never under CI=true or DOCKERBRIDGE_REAL_ENGINE)")
	}
	requireProgram(tb, "tmux")
	requireProgram(tb, "bash")
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &Server{Runner: dockercli.OSRunner{}, Socket: fmt.Sprintf("dbtest-%x", b)}
	tb.Cleanup(func() { removeServer(s.Socket) })
	return s
}

// removeServer kills a test's tmux server and removes its socket, which
// tmux leaves behind.
func removeServer(socket string) {
	_ = exec.Command("tmux", "-L", socket, "kill-server").Run()
	dir := os.Getenv("TMUX_TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	_ = os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), socket))
}

// newShell starts bash with no rc files and a fixed prompt.
func newShell(tb testing.TB, s *Server, name string) {
	tb.Helper()
	o := NewOptions{Name: name, Command: "bash --norc --noprofile", Env: []string{"LC_ALL=C.UTF-8"}}
	if _, drawn, err := s.New(context.Background(), o, 10*time.Second); err != nil || !drawn {
		tb.Fatalf("new %s: drawn %v, %v", name, drawn, err)
	}
	// bash takes no PS1 from the environment; the screen starts clean.
	if err := s.Send(context.Background(), name, "PS1='$ '; clear", SendOptions{}); err != nil {
		tb.Fatal(err)
	}
	if r, err := s.WaitShell(context.Background(), name, WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		tb.Fatalf("the shell of %s shows no prompt: %+v, %v", name, r, err)
	}
}

func TestRealRun(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	for _, tc := range []struct {
		name, command, out string
		code               int
	}{
		{"exit code 0", "echo hi", "hi\n", 0},
		{"exit code 3", "echo three; (exit 3)", "three\n", 3},
		{"heredoc", "cat <<EOF\nline $((1+1))\n  indented\nEOF", "line 2\n  indented\n", 0},
		{"quoted heredoc", "cat <<'EOF'\n$HOME `x`\nEOF", "$HOME `x`\n", 0},
		{"ending in ;", "echo semi;", "semi\n", 0},
		{"ending in \\;", `find /dev/null -maxdepth 0 -exec echo found {} \;`, "found /dev/null\n", 0},
		{"comment on the last line", "echo c # a comment", "c\n", 0},
		{"set -u", "set -u; echo ${UNSET_VAR:-fallback}; set +u", "fallback\n", 0},
		{"unbound under set -u", "set -u; echo $UNSET_VAR; set +u", "bash: UNSET_VAR: unbound variable\n", 1},
		{"no final newline", "printf abc", "abc", 0},
		{"quotes", `echo "it's" '"quoted"'`, "it's \"quoted\"\n", 0},
		{"a line longer than the pane", "printf 'x%.0s' $(seq 1 450); echo", strings.Repeat("x", 450) + "\n", 0},
		{"multi-line", "a=1\nb=2\necho $((a+b))", "3\n", 0},
		{"unicode", "echo 'héllo ✓'", "héllo ✓\n", 0},
		{"only a comment", "# nothing to run", "", 0},
		{"a syntax error", "echo (", "bash: syntax error near unexpected token `newline'\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Run(ctx, "sh", tc.command, RunOptions{Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusCompleted || res.ExitCode != tc.code || res.Output != tc.out {
				t.Errorf("run %q = %+v, want output %q and exit code %d", tc.command, res, tc.out, tc.code)
			}
		})
	}
	// The shell is still usable and state persists between runs.
	if _, err := s.Run(ctx, "sh", "cd /tmp; export DBX=kept", RunOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(ctx, "sh", "echo $PWD $DBX", RunOptions{Timeout: 10 * time.Second})
	if err != nil || res.Output != "/tmp kept\n" {
		t.Errorf("state across runs: %+v, %v", res, err)
	}
	// exit ends the shell: the pane-died hook ends the wait with its code.
	res, err = s.Run(ctx, "sh", "exit 4", RunOptions{Timeout: 20 * time.Second})
	if err != nil || !res.ShellExited || res.ExitCode != 4 {
		t.Errorf("exit 4: %+v, %v", res, err)
	}
	_, err = s.Run(ctx, "sh", "true", RunOptions{Timeout: 5 * time.Second})
	if !errors.Is(err, ErrNotShell) {
		t.Errorf("run in a dead pane: %v, want ErrNotShell", err)
	}
}

// A signal left over from an earlier command does not end a later wait: the
// first command times out and signals its own channel later; the second,
// slower one still gets its whole output and exit code.
// Runs keep reporting their own command when the machine is busy: each of
// many back-to-back runs, into a session made a moment before, into one that
// is still running a line sent to it, returns its own output and status,
// never an earlier prompt's, and the screen shows only the commands and
// their output.
func TestRealRunUnderLoad(t *testing.T) {
	s := realServer(t)
	ctx := context.Background()
	for range 2 * runtime.NumCPU() {
		burn := exec.Command("sh", "-c", "while :; do :; done")
		if err := burn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = burn.Process.Kill(); _ = burn.Wait() })
	}
	check := func(name, command, out string, code int) {
		t.Helper()
		res, err := s.Run(ctx, name, command, RunOptions{Timeout: 60 * time.Second})
		if err != nil || res.Status != StatusCompleted || res.Output != out || res.ExitCode != code {
			t.Fatalf("run %s %q = %+v, %v; want %q, exit code %d", name, command, res, err, out, code)
		}
	}
	for i := range 3 {
		// No wait for the prompt: the first prompt's hook may run after
		// the run typed.
		name := fmt.Sprintf("fresh%d", i)
		o := NewOptions{Name: name, Command: "bash --norc --noprofile", Env: []string{"LC_ALL=C.UTF-8", "PS1=$ "}}
		if _, _, err := s.New(ctx, o, 0); err != nil {
			t.Fatal(err)
		}
		check(name, fmt.Sprintf("echo fresh-%d; (exit %d)", i, i+1), fmt.Sprintf("fresh-%d\n", i), i+1)
	}
	newShell(t, s, "sh")
	for i := range 40 {
		check("sh", fmt.Sprintf("echo run-%d; (exit %d)", i, i%7), fmt.Sprintf("run-%d\n", i), i%7)
	}
	// A line sent just before the run, still running in the shell itself
	// (a builtin loop) when the run types: its prompt is not the run's.
	if err := s.Send(ctx, "sh", "x=0; while ((x < 200000)); do ((x++)); done; echo looped", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	check("sh", "echo mine; (exit 9)", "mine\n", 9)
	c, err := s.Capture(ctx, "sh", CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Content, "$ echo run-39; (exit 4)\nrun-39\n") || regexp.MustCompile(`DBS|DBE|db-|__db|printf|wait-for|trap|eval`).MatchString(c.Content) {
		t.Errorf("the screen shows more than the commands and their output:\n%s", c.Content)
	}
}

// A shell other than bash (busybox's ash) has no hook: run types its marker
// script there, and still reports the command's own output and status.
func TestRealRunBusybox(t *testing.T) {
	s := realServer(t)
	requireProgram(t, "busybox")
	ctx := context.Background()
	o := NewOptions{Name: "bb", Command: "busybox sh", Env: []string{"PS1=bb$ "}}
	if _, drawn, err := s.New(ctx, o, 10*time.Second); err != nil || !drawn {
		t.Fatalf("new: drawn %v, %v", drawn, err)
	}
	if r, err := s.WaitShell(ctx, "bb", WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("no prompt: %+v, %v", r, err)
	}
	for i := range 3 {
		res, err := s.Run(ctx, "bb", fmt.Sprintf("echo bb-%d; (exit %d)", i, i+4), RunOptions{Timeout: 20 * time.Second})
		if err != nil || res.Output != fmt.Sprintf("bb-%d\n", i) || res.ExitCode != i+4 {
			t.Errorf("run %d = %+v, %v", i, res, err)
		}
	}
}

func TestRealStaleSignal(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	res, err := s.Run(ctx, "sh", "sleep 2; echo first", RunOptions{Timeout: 500 * time.Millisecond})
	if err != nil || res.Status != StatusTimeout {
		t.Fatalf("first run: %+v, %v; want a timeout", res, err)
	}
	// The first command ends and signals its channel, which nobody waits on.
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 20 * time.Second, Interval: 100 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("wait-shell: %+v, %v", r, err)
	}
	// And an explicit stray signal of that channel, as a late client would.
	if _, err := s.Output(ctx, "wait-for", "-S", res.Channel); err != nil {
		t.Fatal(err)
	}
	second, err := s.Run(ctx, "sh", "sleep 1; echo second; (exit 5)", RunOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if second.Channel == res.Channel || second.Output != "second\n" || second.ExitCode != 5 {
		t.Errorf("second run = %+v, want its own channel, output second and exit code 5", second)
	}
}

// On a timeout the command keeps running; interrupt stops it.
func TestRealTimeoutThenInterrupt(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	res, err := s.Run(ctx, "sh", "echo started; sleep 60", RunOptions{Timeout: time.Second})
	if err != nil || res.Status != StatusTimeout || res.ExitCode != -1 || res.Output != "started\n" {
		t.Fatalf("run = %+v, %v; want a timeout with the output so far", res, err)
	}
	if _, err := s.Run(ctx, "sh", "true", RunOptions{Timeout: 5 * time.Second}); !errors.Is(err, ErrNotShell) {
		t.Errorf("run while sleep runs: %v, want ErrNotShell", err)
	}
	if err := s.Interrupt(ctx, "sh"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("wait-shell after interrupt: %+v, %v", r, err)
	}
	if r, err := s.Run(ctx, "sh", "echo after", RunOptions{Timeout: 10 * time.Second}); err != nil || r.Output != "after\n" {
		t.Errorf("run after interrupt: %+v, %v", r, err)
	}
}

// 100 KB pasted into cat arrives byte for byte.
func TestRealPaste100K(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	raw := make([]byte, 75*1024)
	_, _ = rand.Read(raw)
	var text strings.Builder
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 0 {
		n := min(100, len(enc))
		text.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	want := text.String()
	if len(want) < 100*1024 {
		t.Fatalf("test text is only %d bytes", len(want))
	}
	out := filepath.Join(t.TempDir(), "pasted")
	if err := s.Send(ctx, "sh", "echo READY; cat > "+out, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitPrompt(ctx, "sh", regexp.MustCompile(`(?m)^READY$`), WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("cat did not start: %+v, %v", r, err)
	}
	if err := s.Send(ctx, "sh", want, SendOptions{NoEnter: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Keys(ctx, "sh", 0, "C-d"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 30 * time.Second, Interval: 100 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("cat did not end: %+v, %v", r, err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256([]byte(want)) {
		t.Errorf("pasted %d bytes arrived as %d bytes with another sha256", len(want), len(got))
	}
}

// Literal text: a key name is text, a trailing ';' and '\;' stay, a leading
// '-' is no flag.
func TestRealSendLiteral(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "typed")
	if err := s.Send(ctx, "sh", "cat > "+out, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // cat is exec'd; typed-ahead input would reach it anyway
	for _, text := range []string{"Enter", "a;", `b\;`, "-x", "C-c", ";"} {
		if err := s.Send(ctx, "sh", text, SendOptions{DelayEnter: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Keys(ctx, "sh", 0, "C-d"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("cat did not end: %+v, %v", r, err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Enter\na;\nb\\;\n-x\nC-c\n;\n"; string(got) != want {
		t.Errorf("typed %q, want %q", got, want)
	}
}

// wait-prompt on a real REPL: Python's ">>> ".
func TestRealWaitPromptPython(t *testing.T) {
	s := realServer(t)
	requireProgram(t, "python3")
	ctx := context.Background()
	if _, _, err := s.New(ctx, NewOptions{Name: "py", Command: "python3 -q"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	prompt := regexp.MustCompile(`(?m)^>>> $`)
	o := WaitOptions{Timeout: 20 * time.Second, Interval: 50 * time.Millisecond}
	if r, err := s.WaitPrompt(ctx, "py", prompt, o); err != nil || !r.OK {
		t.Fatalf("no first prompt: %+v, %v", r, err)
	}
	if err := s.Send(ctx, "py", "import time; time.sleep(1); print(6*7)", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	o.Changed = true
	r, err := s.WaitPrompt(ctx, "py", regexp.MustCompile(`(?m)^42\n>>> $`), o)
	if err != nil || !r.OK {
		t.Fatalf("no 42 and prompt: %+v, %v", r, err)
	}
	// A multi-line block goes in as one paste.
	if err := s.Send(ctx, "py", "def f(x):\n    return x * 2\n", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, "py", "print(f(50))", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitPrompt(ctx, "py", regexp.MustCompile(`(?m)^100\n>>> $`), WaitOptions{Timeout: 20 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("the pasted function did not work: %+v, %v", r, err)
	}
}

// wait-idle on a program that prints for 3 s: it returns only after the
// last line. The delay after the last line is logged, never asserted.
func TestRealWaitIdle(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	if err := s.Send(ctx, "sh", "for i in $(seq 1 12); do echo tick $i; sleep 0.25; done; date +LAST=%s.%N", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	const idle, interval = time.Second, 250 * time.Millisecond
	r, err := s.WaitIdle(ctx, "sh", WaitOptions{Timeout: 30 * time.Second, Idle: idle, Interval: interval})
	end := time.Now()
	if err != nil || !r.OK {
		t.Fatalf("wait-idle: %+v, %v", r, err)
	}
	last, ok := lastStamp(r.Content)
	if !ok {
		t.Fatalf("wait-idle returned before the program stopped printing:\n%s", r.Content)
	}
	t.Logf("idle %s, interval %s: returned %s after the last line, %d looks in %s", idle, interval, end.Sub(last).Round(time.Millisecond), r.Polls, r.Waited.Round(time.Millisecond))
}

// lastStamp finds the LAST=<unix seconds> line a test program prints last.
func lastStamp(content string) (time.Time, bool) {
	m := regexp.MustCompile(`(?m)^LAST=(\d+\.\d+)$`).FindStringSubmatch(content)
	if m == nil {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(f*1e9)), true
}

// wait-shell does not fire on '$' in the output of a running command, even
// a "$ " left at the cursor between two of its steps.
func TestRealWaitShellDollars(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	cmd := `for i in $(seq 1 15); do echo "cost \$$i \$"; printf '$ '; sleep 0.2; echo; done; echo FINISHED`
	if err := s.Send(ctx, "sh", cmd, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 30 * time.Second, Interval: 50 * time.Millisecond})
	if err != nil || !r.OK {
		t.Fatalf("wait-shell: %+v, %v", r, err)
	}
	if !strings.Contains(r.Content, "FINISHED\n$") {
		t.Errorf("wait-shell fired before the command ended:\n%s", r.Content)
	}
}

// capture: the visible screen, trimmed; --json fields; the history.
func TestRealCapture(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	if _, err := s.Run(ctx, "sh", "seq 1 120", RunOptions{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// run is done when the command is; the shell draws its prompt after.
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("wait-shell after the run: %+v, %v", r, err)
	}
	c, err := s.Capture(ctx, "sh", CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines != 50 || c.HistorySize == 0 || c.AlternateScreen || !strings.HasSuffix(c.Content, "$ \n") || c.CursorY != 49 || c.CursorX != 2 {
		t.Errorf("capture = %+v", c)
	}
	all, err := s.Capture(ctx, "sh", CaptureOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(all.Content, "\n1\n2\n3\n") {
		t.Errorf("--all lacks the start of the output:\n%.300s", all.Content)
	}
	two, err := s.Capture(ctx, "sh", CaptureOptions{Lines: 2})
	// Only the command was typed: the screen ends with its output.
	if err != nil || two.Content != "120\n$ \n" {
		t.Errorf("--lines 2 = %q, %v", two.Content, err)
	}
}

// History is set before the pane exists, so it takes effect.
func TestRealHistoryBeforeCreate(t *testing.T) {
	s := realServer(t)
	ctx := context.Background()
	if _, _, err := s.New(ctx, NewOptions{Name: "h", Command: "bash --norc --noprofile", History: 123}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := s.Output(ctx, "display-message", "-p", "-t", Target("h"), "#{history_limit} #{pane_width}x#{pane_height}")
	if err != nil || strings.TrimSpace(out) != "123 200x50" {
		t.Errorf("history and size = %q, %v; want 123 200x50", out, err)
	}
}

// kill, then ls; a dead pane's exit status; no session is one line.
func TestRealKillLs(t *testing.T) {
	s := realServer(t)
	ctx := context.Background()
	newShell(t, s, "a")
	if _, _, err := s.New(ctx, NewOptions{Name: "b", Command: "sh -c 'exit 6'"}, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited with status 6") {
		t.Errorf("new of a program that exits: %v", err)
	}
	panes, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ps []Pane) []string {
		var n []string
		for _, p := range ps {
			st := "alive"
			if p.Dead && p.ExitStatus != nil {
				st = "dead " + strconv.Itoa(*p.ExitStatus)
			}
			n = append(n, p.Name+" "+st)
		}
		slices.Sort(n)
		return n
	}
	if got := names(panes); !slices.Equal(got, []string{"a alive", "b dead 6"}) {
		t.Errorf("ls = %q", got)
	}
	if err := s.Kill(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	panes, err = s.List(ctx)
	if got := names(panes); err != nil || !slices.Equal(got, []string{"b dead 6"}) {
		t.Errorf("ls after kill = %q, %v", got, err)
	}
	if err := s.Kill(ctx, "a"); err == nil || err.Error() != "tmux: no session a" {
		t.Errorf("kill again: %v", err)
	}
	if err := s.Kill(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// The server is gone with its last session.
	panes, err = s.List(ctx)
	if err != nil || len(panes) != 0 {
		t.Errorf("ls of no server = %+v, %v", panes, err)
	}
	if _, err := s.Capture(ctx, "a", CaptureOptions{}); err == nil || err.Error() != "tmux: no session a" {
		t.Errorf("capture of no server: %v", err)
	}
}

// The watcher ends with the wait: no process is left looking.
func TestRealWatcherEnds(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	if _, err := s.WaitIdle(context.Background(), "sh", WaitOptions{Timeout: 10 * time.Second, Idle: 300 * time.Millisecond, Interval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("pgrep", "-f", "dockerbridge-watch [0-9.]+ tmux -u -f /dev/null -L "+s.Socket+" ").Output()
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("watcher still running after the wait: pids %s", out)
	}
}

// BenchmarkLocalRunTrue is "run NAME true" on the host's tmux.
func BenchmarkLocalRunTrue(b *testing.B) {
	s := realServer(b)
	newShell(b, s, "sh")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if r, err := s.Run(ctx, "sh", "true", RunOptions{Timeout: 10 * time.Second}); err != nil || r.ExitCode != 0 {
			b.Fatalf("%+v, %v", r, err)
		}
	}
}

// BenchmarkLocalWaitIdle reports the delay from the last line of output to
// wait-idle's return (median of the runs) and the looks per second.
func BenchmarkLocalWaitIdle(b *testing.B) {
	s := realServer(b)
	newShell(b, s, "sh")
	ctx := context.Background()
	const idle, interval = time.Second, 250 * time.Millisecond
	var delays []time.Duration
	var looks float64
	for b.Loop() {
		if err := s.Send(ctx, "sh", "clear; for i in $(seq 1 8); do echo tick $i; sleep 0.25; done; date +LAST=%s.%N", SendOptions{}); err != nil {
			b.Fatal(err)
		}
		r, err := s.WaitIdle(ctx, "sh", WaitOptions{Timeout: 30 * time.Second, Idle: idle, Interval: interval})
		end := time.Now()
		last, ok := lastStamp(r.Content)
		if err != nil || !r.OK || !ok {
			b.Fatalf("%+v, %v", r, err)
		}
		delays = append(delays, end.Sub(last))
		looks += float64(r.Polls-1) / r.Waited.Seconds() // n looks span n-1 intervals
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Milliseconds()), "idle-detect-ms")
	b.ReportMetric(looks/float64(len(delays)), "looks/s")
}

// A bash inside read -p looks like a shell to tmux, but what is typed would
// be the read's answer: run types nothing and says so, and the read still
// gets its own answer, after which run works again.
func TestRealRunAtRead(t *testing.T) {
	s := realServer(t)
	newShell(t, s, "sh")
	ctx := context.Background()
	if err := s.Send(ctx, "sh", `read -p 'name? ' n`, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		st, err := s.State(ctx, "sh", StateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.State == StateWaiting && strings.HasSuffix(strings.TrimSpace(st.Tail), "name?") {
			break
		}
		if i == 100 {
			t.Fatalf("read -p never waited: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := s.Run(ctx, "sh", "echo typed", RunOptions{Timeout: 20 * time.Second})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "not at a shell prompt") {
		t.Fatalf("run at read -p = %+v, %v; want ErrBusy", res, err)
	}
	if err := s.Send(ctx, "sh", "bob", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitShell(ctx, "sh", WaitOptions{Timeout: 10 * time.Second, Interval: 50 * time.Millisecond}); err != nil || !r.OK {
		t.Fatalf("wait-shell after the answer: %+v, %v", r, err)
	}
	if r, err := s.Run(ctx, "sh", `echo "n=$n"`, RunOptions{Timeout: 10 * time.Second}); err != nil || r.Output != "n=bob\n" {
		t.Errorf("run after the answer = %+v, %v; want n=bob", r, err)
	}
}
