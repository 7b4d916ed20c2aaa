package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"dockerbridge/dockercli"
	"dockerbridge/tmuxcli"
)

func TestTmuxExecSpec(t *testing.T) {
	tmuxArgv := []string{"tmux", "-u", "-L", "s", "ls"}
	for _, tc := range []struct {
		name string
		cmd  dockercli.Cmd
		want dockercli.ExecSpec
	}{
		{
			name: "no stdin",
			cmd:  dockercli.Cmd{Args: tmuxArgv},
			want: dockercli.ExecSpec{Env: []string{"LANG=C.UTF-8"}, Command: tmuxArgv},
		},
		{
			name: "stdin makes it interactive",
			cmd:  dockercli.Cmd{Args: tmuxArgv, Stdin: strings.NewReader("x")},
			want: dockercli.ExecSpec{Interactive: true, Env: []string{"LANG=C.UTF-8"}, Command: tmuxArgv},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, TmuxExecSpec(tc.cmd)); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// The wrapper's deadline ends the program in the container a little after
// the host has given up, and it checks the programs the call needs.
func TestWrap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9500*time.Millisecond)
	defer cancel()
	got := wrap(ctx, call{argv: []string{"tmux", "ls"}, needs: []string{"tmux"}})
	want := []string{"bash", "-c", wrapScript, "dockerbridge", "12", "tmux", "--", "tmux", "ls"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wrap (-want +got):\n%s", diff)
	}
	if got := wrap(context.Background(), call{argv: []string{"true"}}); got[4] != "0" {
		t.Errorf("no deadline gives the wrapper %q, want 0", got[4])
	}
}

// A tmux call on a project with no container starts it, like exec, and the
// retried call carries the same argv: docker exec, the locale, the
// in-container timeout, the tmux global flags. "true" stands in for tmux.
func TestTmuxLazyStart(t *testing.T) {
	e := newFakeEngine(t)
	b := newTestBridge(t, e)
	s := b.Tmux("dbtest")
	s.Bin = "true"
	panes, err := s.List(t.Context())
	if err != nil || len(panes) != 0 {
		t.Fatalf("List = %v, %v", panes, err)
	}
	if diff := cmp.Diff([]string{"exec true", "container inspect", "run", "exec mkdir", "exec true"}, e.summary()); diff != "" {
		t.Fatalf("docker calls (-want +got):\n%s", diff)
	}
	execs := e.callsOf("exec")
	last := execs[len(execs)-1]
	if diff := cmp.Diff(execs[0], last); diff != "" {
		t.Errorf("the retried exec differs from the first (-first +retry):\n%s", diff)
	}
	want := []string{"exec", "-e", "LANG=C.UTF-8", "luzia-x", "bash", "-c", wrapScript, "dockerbridge", "12", "true", "--",
		"true", "-u", "-f", "/dev/null", "-L", "dbtest", "run-shell", "true", ";", "list-panes", "-a", "-F"}
	if len(last) < len(want) || !slices.Equal(want[:8], last[:8]) || !slices.Equal(want[9:], last[9:len(want)]) {
		t.Errorf("exec argv = %q, want %q (the deadline in seconds aside)", last, want)
	}
}

// A paste's stdin survives the retry of a cold start whole.
func TestTmuxPasteAfterColdStart(t *testing.T) {
	e := newFakeEngine(t)
	b := newTestBridge(t, e)
	dir := t.TempDir()
	fake := filepath.Join(dir, "tmux")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ncat > \""+dir+"/stdin\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := b.Tmux("dbtest")
	s.Bin = fake
	text := strings.Repeat("0123456789abcdef\n", 6400) // 100 KB
	if err := s.Send(t.Context(), "s", text, tmuxcli.SendOptions{NoEnter: true}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(text)) {
		t.Errorf("pasted %d bytes, want %d", len(got), len(text))
	}
	x := parseExec(e.callsOf("exec")[len(e.callsOf("exec"))-1])
	if !x.interactive {
		t.Error("a paste's docker exec has no -i")
	}
}

// A run whose context ends while it waits has its processes in the
// container killed by process tree, at once; no call carries an exec id.
func TestTmuxRunKilledOnTimeout(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	dir := t.TempDir()
	fake := filepath.Join(dir, "tmux")
	// It hangs in run's wait-for and answers any other call at once.
	script := "#!/bin/sh\ncase \"$*\" in\n*' wait-for db-'*) cat >/dev/null; exec sleep 30 ;;\n" +
		"*) printf '0\\t0\\t0\\t80\\t24\\t0\\t0\\t\\t%%1\\tsleep\\n' ;;\nesac\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := b.Tmux("dbtest")
	s.Bin = fake
	res, err := s.Run(t.Context(), "sh", "sleep 100", tmuxcli.RunOptions{Timeout: 300 * time.Millisecond})
	if err != nil || res.Status != tmuxcli.StatusTimeout {
		t.Fatalf("run = %+v, %v; want a timeout", res, err)
	}
	// The kill went by the wait's process tree: its wrapper's pid.
	_, roots := e.kills()
	if len(roots) != 1 || roots[0] == "" {
		t.Errorf("kill roots = %q, want the wait's wrapper pid", roots)
	}
	// No tmux call carries an exec id: the server would inherit it.
	for _, a := range e.callsOf("exec") {
		for _, env := range parseExec(a).env {
			if strings.HasPrefix(env, ExecIDVar+"=") {
				t.Errorf("a tmux call carries an exec id: %q", a)
			}
		}
	}
}

// requireTmux is requireEngine's rule for a local tmux: skipped only outside
// CI, and under -short, the hermetic run, which touches no host tmux.
func requireTmux(t testing.TB) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" && os.Getenv("DOCKERBRIDGE_REAL_ENGINE") == "" {
		t.Skip("host tmux: -short skips it (never under CI=true or DOCKERBRIDGE_REAL_ENGINE)")
	}
	_, err := exec.LookPath("tmux")
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
		t.Fatalf("tmux is required (CI or DOCKERBRIDGE_REAL_ENGINE set): %v; run scripts/setup", err)
	}
	t.Skip("no tmux; run scripts/setup (never skipped under CI=true)")
}

func testSocket() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "dbtest-" + hex.EncodeToString(b[:])
}

// killServer ends a test's tmux server on the host and removes its socket,
// which tmux leaves behind.
func killServer(t testing.TB, socket string) {
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-L", socket, "kill-server").Run()
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		_ = os.Remove(filepath.Join(dir, "tmux-"+strconv.Itoa(os.Getuid()), socket))
	})
}

// The fake engine runs a container's commands on the host, so this drives a
// real tmux through the whole composition: lazy start, docker exec argv,
// locale, in-container timeout, run's stdin.
func TestTmuxThroughFakeEngine(t *testing.T) {
	requireTmux(t)
	e := newFakeEngine(t)
	b := newTestBridge(t, e)
	sock := testSocket()
	killServer(t, sock)
	s := b.Tmux(sock)
	ctx := t.Context()
	if _, _, err := s.New(ctx, tmuxcli.NewOptions{Name: "sh", Command: "bash --norc --noprofile"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(ctx, "sh", "echo \"$LANG\"; echo in-$PWD; (exit 3)", tmuxcli.RunOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := "C.UTF-8\nin-/workspace\n"; res.Output != want || res.ExitCode != 3 {
		t.Errorf("run = %+v, want output %q and exit code 3", res, want)
	}

	// A run that times out leaves no tmux client behind: the in-container
	// timeout ends it.
	res, err = s.Run(ctx, "sh", "sleep 30", tmuxcli.RunOptions{Timeout: time.Second})
	if err != nil || res.Status != tmuxcli.StatusTimeout {
		t.Fatalf("run = %+v, %v; want a timeout", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", "-L "+sock+" set-hook").Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiting tmux client is still running 10s after the timeout: pids %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Interrupt(ctx, "sh"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.WaitShell(ctx, "sh", tmuxcli.WaitOptions{Timeout: 10 * time.Second}); err != nil || !r.OK {
		t.Fatalf("wait-shell after interrupt: %+v, %v", r, err)
	}
	if err := s.Kill(ctx, "sh"); err != nil {
		t.Fatal(err)
	}
	if panes, err := s.List(ctx); err != nil || len(panes) != 0 {
		t.Errorf("ls after kill = %+v, %v", panes, err)
	}
}

// realBridge is a bridge on the real engine for a fresh project whose
// container is removed when the test ends.
func realBridge(tb testing.TB) *Bridge {
	tb.Helper()
	skipShortReal(tb)
	if err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", DefaultImage).Run(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
			tb.Fatalf("real engine required (CI or DOCKERBRIDGE_REAL_ENGINE set): %v; run scripts/setup", err)
		}
		tb.Skip("no docker engine with " + DefaultImage + "; run scripts/setup (never skipped under CI=true)")
	}
	ws := tb.TempDir()
	if err := os.Chown(ws, 1000, 1000); err != nil {
		tb.Fatalf("chown workspace: %v", err)
	}
	st, err := OpenState(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	project := "t-tmux-" + testSocket()[len("dbtest-"):]
	docker := &dockercli.Client{Runner: dockercli.OSRunner{}}
	b, err := New(Config{Project: project, HostPath: ws}, docker, dockercli.OSRunner{}, st)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", b.Name()).Run() })
	if _, err := b.Ensure(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return b
}

// countingRunner counts the calls it passes on.
type countingRunner struct {
	next  dockercli.Runner
	calls *int
}

func (c countingRunner) Run(ctx context.Context, cmd dockercli.Cmd) (int, error) {
	*c.calls++
	return c.next.Run(ctx, cmd)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkContainerTmux measures, in a real container: "run NAME true"
// against a bare "docker exec <c> bash -c true", and the time from a
// command's end (the time it prints) to run's return; the delay from the
// end of output to wait-idle's return, against --idle; and the docker execs
// a wait makes. It reports medians as custom metrics. It makes a container,
// so run it once: go test ./bridge -run '^$' -bench ContainerTmux
// -benchtime=1x.
func BenchmarkContainerTmux(b *testing.B) {
	br := realBridge(b)
	ctx := context.Background()
	s := br.Tmux("")
	if _, _, err := s.New(ctx, tmuxcli.NewOptions{Name: "bench", Command: "bash --norc --noprofile"}, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	const rounds = 9
	var raw, run, endToReturn []time.Duration
	for range rounds {
		start := time.Now()
		if out, err := exec.Command("docker", "exec", br.Name(), "bash", "-c", "true").CombinedOutput(); err != nil {
			b.Fatalf("docker exec: %v: %s", err, out)
		}
		raw = append(raw, time.Since(start))
		start = time.Now()
		res, err := s.Run(ctx, "bench", "true", tmuxcli.RunOptions{Timeout: 30 * time.Second})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("run true: %+v, %v", res, err)
		}
		run = append(run, time.Since(start))
		res, err = s.Run(ctx, "bench", "date +%s.%N", tmuxcli.RunOptions{Timeout: 30 * time.Second})
		end := time.Now()
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("run date: %+v, %v", res, err)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(res.Output), 64)
		if err != nil {
			b.Fatalf("run date: %q", res.Output)
		}
		endToReturn = append(endToReturn, end.Sub(time.Unix(0, int64(f*1e9))))
	}
	b.ReportMetric(float64(median(raw).Milliseconds()), "exec-true-ms")
	b.ReportMetric(float64(median(run).Milliseconds()), "run-true-ms")
	b.ReportMetric(float64(median(endToReturn).Milliseconds()), "run-end-to-return-ms")

	// wait-idle: the program prints for 3 s; the delay is measured from
	// the moment its last line reached the screen, which the program
	// itself records with a timestamp.
	const idle, interval = 1 * time.Second, 250 * time.Millisecond
	var delays []time.Duration
	var execs, looks, rates []float64
	for range 5 {
		calls := 0
		counted := &tmuxcli.Server{Runner: countingRunner{next: s.Runner, calls: &calls}}
		if err := s.Send(ctx, "bench", "clear; for i in $(seq 1 12); do echo tick $i; sleep 0.25; done; date +LAST=%s.%N", tmuxcli.SendOptions{}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := counted.WaitIdle(ctx, "bench", tmuxcli.WaitOptions{Timeout: 30 * time.Second, Idle: idle, Interval: interval})
		end := time.Now()
		if err != nil || !res.OK {
			b.Fatalf("wait-idle: %+v, %v", res, err)
		}
		i := strings.Index(res.Content, "LAST=")
		if i < 0 {
			b.Fatalf("wait-idle returned before the last line: %q", res.Content)
		}
		f, err := strconv.ParseFloat(strings.Fields(res.Content[i+5:])[0], 64)
		if err != nil {
			b.Fatal(err)
		}
		delays = append(delays, end.Sub(time.Unix(0, int64(f*1e9))))
		execs = append(execs, float64(calls))
		looks = append(looks, float64(res.Polls)/res.Waited.Seconds())
		rates = append(rates, float64(calls)/end.Sub(start).Seconds())
	}
	mid := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(float64(median(delays).Milliseconds()), "idle-detect-ms")
	b.ReportMetric(float64((idle + 2*interval).Milliseconds()), "idle+2intervals-ms")
	b.ReportMetric(mid(execs), "execs/wait")
	b.ReportMetric(mid(rates), "execs/s")
	b.ReportMetric(mid(looks), "looks/s")
}
