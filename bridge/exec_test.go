package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dockerbridge/dockercli"

	"github.com/google/go-cmp/cmp"
)

const (
	daemonDownText = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
	socketDenied   = `Got permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/json": dial unix /var/run/docker.sock: connect: permission denied` + "\n"
)

var execIDRE = regexp.MustCompile(`^` + ExecIDVar + `=[0-9a-f]{24}$`)

// A running container takes exactly one docker call, whose argv is the exec
// and nothing else.
func TestExecWarm(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	got, err := b.Exec(t.Context(), "echo hi; echo oops >&2; exit 3", ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := ExecResult{Output: "hi\n", Error: "oops\n", ExitCode: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	calls := e.callsOf("exec")
	if diff := cmp.Diff([]string{"exec bash"}, e.summary()); diff != "" {
		t.Fatalf("docker calls (-want +got):\n%s", diff)
	}
	argv := calls[0]
	if len(argv) != 13 || !execIDRE.MatchString(argv[2]) {
		t.Fatalf("exec argv %q: want an exec id as the one -e", argv)
	}
	wantArgv := []string{"exec", "-e", argv[2], "luzia-x", "bash", "-c", wrapScript, "dockerbridge", argv[8], "--",
		"bash", "-c", "echo hi; echo oops >&2; exit 3"}
	if diff := cmp.Diff(wantArgv, argv); diff != "" {
		t.Errorf("exec argv (-want +got):\n%s", diff)
	}
}

// Lazy start: a missing container is created, a stopped one started, and
// the exec retried once; the retried docker error never reaches the
// caller's stderr, in either engine's wording.
func TestExecLazyStart(t *testing.T) {
	tests := []struct {
		name           string
		existing       *bool // nil: no container; else running or not
		noSuchText     string
		notRunningText string
		want           []string
	}{
		{
			name:       "cold",
			noSuchText: "Error: No such container: %s",
			want:       []string{"exec bash", "container inspect", "run", "exec mkdir", "exec bash"},
		},
		{
			name: "cold, daemon wording",
			want: []string{"exec bash", "container inspect", "run", "exec mkdir", "exec bash"},
		},
		{
			name:     "stopped, engine before 25",
			existing: new(bool),
			want:     []string{"exec bash", "container inspect", "start", "exec mkdir", "exec bash"},
		},
		{
			name:           "stopped, engine 25 and later",
			existing:       new(bool),
			notRunningText: "Error response from daemon: container %s is not running",
			want:           []string{"exec bash", "container inspect", "start", "exec mkdir", "exec bash"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t)
			if tt.noSuchText != "" {
				e.NoSuchContainer = tt.noSuchText
			}
			if tt.notRunningText != "" {
				e.NotRunning = tt.notRunningText
			}
			if tt.existing != nil {
				e.add("luzia-x", *tt.existing, time.Now().Add(-time.Hour), ProjectLabel+"=x")
			}
			b := newTestBridge(t, e)
			var stdout, stderr bytes.Buffer
			got, err := b.Exec(t.Context(), "echo out; echo err >&2", ExecOptions{Stdout: &stdout, Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ExecResult{Success: true}, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if stdout.String() != "out\n" || stderr.String() != "err\n" {
				t.Errorf("stdout %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), "out\n", "err\n")
			}
			if diff := cmp.Diff(tt.want, e.summary()); diff != "" {
				t.Errorf("docker calls (-want +got):\n%s", diff)
			}
			c, ok := e.Container("luzia-x")
			if !ok || !c.Running || c.Labels[ProjectLabel] != "x" {
				t.Errorf("container after exec: %+v, exists %v; want it running with %s=x", c, ok, ProjectLabel)
			}
			if fi, err := os.Stat(filepath.Join(e.ws, ".tmp")); err != nil || !fi.IsDir() {
				t.Errorf("/workspace/.tmp not made: %v", err)
			}
		})
	}
}

// Another process created the container between our inspect and our run:
// the conflict means reuse, not failure.
func TestExecRunConflictReuses(t *testing.T) {
	e := newFakeEngine(t)
	var once sync.Once
	e.beforeRun = func() {
		once.Do(func() { e.add("luzia-x", false, time.Now(), ProjectLabel+"=x") })
	}
	b := newTestBridge(t, e)
	got, err := b.Exec(t.Context(), "echo ok", ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ExecResult{Success: true, Output: "ok\n"}, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	want := []string{"exec bash", "container inspect", "run", "start", "exec mkdir", "exec bash"}
	if diff := cmp.Diff(want, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	if c, _ := e.Container("luzia-x"); c.Seq != 1 {
		t.Errorf("container %+v, want the other process's first one, reused", c)
	}
}

// Docker's own failures are errors, never the command's exit code, and
// never reach the command's stderr.
func TestExecDockerFailures(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*fakeEngine)
		configure func(*Config)
		kind      error
		msg       string
		calls     []string
	}{
		{
			name:  "daemon down",
			setup: func(e *fakeEngine) { e.fail("exec", 0, 1, daemonDownText) },
			kind:  dockercli.ErrDaemon,
			msg:   "Cannot connect to the Docker daemon",
			calls: []string{"exec bash"},
		},
		{
			name:  "socket not permitted",
			setup: func(e *fakeEngine) { e.fail("exec", 0, 1, socketDenied) },
			kind:  dockercli.ErrDaemon,
			msg:   "permission denied while trying to connect to the Docker daemon socket",
			calls: []string{"exec bash"},
		},
		{
			name:  "daemon goes down after the exec",
			setup: func(e *fakeEngine) { e.fail("container inspect", 0, 1, daemonDownText) },
			kind:  dockercli.ErrDaemon,
			msg:   "Cannot connect to the Docker daemon",
			calls: []string{"exec bash", "container inspect"},
		},
		{
			name:      "missing image",
			configure: func(c *Config) { c.Image = "nope:latest" },
			kind:      dockercli.ErrNoSuchImage,
			msg:       "image nope:latest not found",
			calls:     []string{"exec bash", "container inspect", "run"},
		},
		{
			name: "run fails otherwise: the half-made container is removed",
			setup: func(e *fakeEngine) {
				e.fail("run", 1, 125, "docker: Error response from daemon: driver failed programming external connectivity.\n")
			},
			msg:   "driver failed programming external connectivity",
			calls: []string{"exec bash", "container inspect", "run", "rm"},
		},
		{
			name:  "still missing after the start",
			setup: func(e *fakeEngine) { e.add("luzia-x", false, time.Now()); e.fail("start", 0, 0, "") },
			kind:  dockercli.ErrNotRunning,
			msg:   "is not running",
			calls: []string{"exec bash", "container inspect", "start", "exec mkdir", "container inspect", "exec bash"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			var configure []func(*Config)
			if tt.configure != nil {
				configure = append(configure, tt.configure)
			}
			b := newTestBridge(t, e, configure...)
			var stdout, stderr bytes.Buffer
			_, err := b.Exec(t.Context(), "echo never", ExecOptions{Stdout: &stdout, Stderr: &stderr})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q, want one line containing %q", err, tt.msg)
			}
			if stdout.Len()+stderr.Len() != 0 {
				t.Errorf("the command's streams got stdout %q, stderr %q; want nothing", stdout.String(), stderr.String())
			}
			if diff := cmp.Diff(tt.calls, e.summary()); diff != "" {
				t.Errorf("docker calls (-want +got):\n%s", diff)
			}
		})
	}
}

// A command's own stderr, even when it looks like docker's, is the
// command's: it passes through whole and in order, the command runs once,
// and its exit code stands.
func TestExecCommandStderrPassesThrough(t *testing.T) {
	tests := []struct {
		name    string
		command string
		stderr  string
		code    int
	}{
		{"error line", `echo "Error: file not found" >&2; echo second >&2; exit 1`, "Error: file not found\nsecond\n", 1},
		{"error split across writes", `printf Err >&2; sleep 0.1; printf 'or: split\n' >&2; echo tail >&2; exit 2`, "Error: split\ntail\n", 2},
		{"a service of its own not running", `echo "Error: the dev server is not running" >&2; exit 1`, "Error: the dev server is not running\n", 1},
		{"docker-like text, success", `echo "Error: No such container: other" >&2`, "Error: No such container: other\n", 0},
		{"no newline at the end", `printf 'Error: x' >&2; exit 3`, "Error: x", 3},
		{"long first line", `head -c 20000 /dev/zero | tr '\0' E >&2; exit 1`, strings.Repeat("E", 20000), 1},
	}
	for _, tt := range tests {
		for _, streamed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, streamed %v", tt.name, streamed), func(t *testing.T) {
				e := newFakeEngine(t)
				e.add("luzia-x", true, time.Now())
				b := newTestBridge(t, e)
				var stderr bytes.Buffer
				opt := ExecOptions{}
				if streamed {
					opt.Stderr = &stderr
				}
				got, err := b.Exec(t.Context(), tt.command, opt)
				if err != nil {
					t.Fatal(err)
				}
				gotStderr := got.Error
				if streamed {
					gotStderr = stderr.String()
				}
				if gotStderr != tt.stderr {
					t.Errorf("stderr = %q, want %q", gotStderr, tt.stderr)
				}
				if got.ExitCode != tt.code || got.Success != (tt.code == 0) {
					t.Errorf("exit code %d, success %v; want %d", got.ExitCode, got.Success, tt.code)
				}
				if diff := cmp.Diff([]string{"exec bash"}, e.summary()); diff != "" {
					t.Errorf("docker calls (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestExecExitCodes(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	for _, tt := range []struct {
		command string
		code    int
	}{
		{"true", 0}, {"false", 1}, {"exit 2", 2}, {"exit 42", 42}, {"exit 126", 126},
		{"dockerbridge-no-such-command", 127}, {"exit 255", 255},
	} {
		got, err := b.Exec(t.Context(), tt.command, ExecOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.command, err)
		}
		if got.ExitCode != tt.code || got.Success != (tt.code == 0) {
			t.Errorf("%s: exit code %d, success %v; want %d", tt.command, got.ExitCode, got.Success, tt.code)
		}
	}
}

// Output beyond the cap keeps its head and tail and says so.
func TestExecOutputCap(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e, func(c *Config) { c.OutputCap = 10 })
	got, err := b.Exec(t.Context(), "printf 0123456789abcdefghij", ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := ExecResult{Success: true, Output: "01234\n[dockerbridge: 10 bytes omitted]\nfghij", Truncated: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

// Stdin reaches the command, also after a cold start retried the exec.
func TestExecStdinAfterColdStart(t *testing.T) {
	e := newFakeEngine(t)
	b := newTestBridge(t, e)
	in, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString("line one\nline two\n")
	in.Seek(0, 0)
	defer in.Close()
	got, err := b.Exec(t.Context(), "wc -l", ExecOptions{Stdin: in})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got.Output) != "2" {
		t.Errorf("output %q, want 2 lines counted", got.Output)
	}
	for _, a := range e.callsOf("exec") {
		if x := parseExec(a); x.command[0] == "bash" && !x.interactive {
			t.Errorf("exec %q without -i", a)
		}
	}
}

// execIDs collects the exec id of every bash exec.
func execIDs(e *fakeEngine) *[]string {
	var mu sync.Mutex
	ids := &[]string{}
	e.beforeExec = func(x execCall) {
		if len(x.command) > 2 && x.command[0] == "bash" && x.command[2] != killScript {
			for _, v := range x.env {
				if id, ok := strings.CutPrefix(v, ExecIDVar+"="); ok {
					mu.Lock()
					*ids = append(*ids, id)
					mu.Unlock()
				}
			}
		}
	}
	return ids
}

// leftBehind lists the pids of processes that still carry exec id. The
// kill has been sent; a dying process may take a moment to go.
func leftBehind(t *testing.T, id string) []string {
	t.Helper()
	want := []byte(ExecIDVar + "=" + id + "\x00")
	var pids []string
	for range 100 {
		pids = nil
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			env, err := os.ReadFile(filepath.Join(d, "environ"))
			if err == nil && bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
				pids = append(pids, filepath.Base(d))
			}
		}
		if len(pids) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pids
}

// A timeout gives the original's dict, and the kill exec carries the exec
// id of the exec it ends, so that what the command left running goes too.
// The kill script runs as it is, over the container's processes.
func TestExecTimeout(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	ids := execIDs(e)
	b := newTestBridge(t, e)
	got, err := b.Exec(t.Context(), "echo started; sleep 30 & wait", ExecOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := ExecResult{Output: "started\n", Error: "Command timed out after 1s", ExitCode: -1, TimedOut: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if len(*ids) != 1 {
		t.Fatalf("exec ids %q, want one", *ids)
	}
	if kills, _ := e.kills(); !cmp.Equal(*ids, kills) {
		t.Errorf("kill execs for %q, want %q", kills, *ids)
	}
	if diff := cmp.Diff([]string{"exec bash", "exec bash"}, e.summary()); diff != "" {
		t.Errorf("docker calls (-want +got):\n%s", diff)
	}
	if pids := leftBehind(t, (*ids)[0]); len(pids) > 0 {
		t.Errorf("processes of the exec left running: %v", pids)
	}
}

// cancelOn is a writer that cancels once it has seen text.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	text   string
	cancel func()
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.text) {
		w.cancel()
	}
	return len(p), nil
}

func TestExecInterrupted(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	ids := execIDs(e)
	b := newTestBridge(t, e)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got, err := b.Exec(ctx, "echo started; sleep 30 & wait", ExecOptions{Stdout: &cancelOn{text: "started\n", cancel: cancel}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if got.ExitCode != -1 || got.Success {
		t.Errorf("result %+v, want exit code -1", got)
	}
	if len(*ids) != 1 {
		t.Fatalf("exec ids %q, want one", *ids)
	}
	if kills, _ := e.kills(); !cmp.Equal(*ids, kills) {
		t.Errorf("kill execs for %q, want %q", kills, *ids)
	}
	if pids := leftBehind(t, (*ids)[0]); len(pids) > 0 {
		t.Errorf("processes of the exec left running: %v", pids)
	}
}

// Concurrent cold starts of one project all succeed, and the state-dir lock
// lets exactly one of them run the container: no conflict is even seen.
func TestExecConcurrentColdStart(t *testing.T) {
	e := newFakeEngine(t)
	e.runDelay = 50 * time.Millisecond
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	results := make([]ExecResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		b := newTestBridgeState(t, e, st) // one bridge each, as separate processes have
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.Exec(t.Context(), "echo ok", ExecOptions{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].Output != "ok\n" || !results[i].Success {
			t.Errorf("caller %d: %+v, %v", i, results[i], errs[i])
		}
	}
	if runs := len(e.callsOf("run")); runs != 1 {
		t.Errorf("%d docker runs, want exactly one", runs)
	}
	if n := len(e.Containers()); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
}

// Without a shared state directory (two hosts' worth of callers, or two
// users), the conflict handling alone still gives every caller success and
// one container.
func TestExecConcurrentColdStartSeparateState(t *testing.T) {
	e := newFakeEngine(t)
	e.runDelay = 50 * time.Millisecond
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		b := newTestBridge(t, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res ExecResult
			res, errs[i] = b.Exec(t.Context(), "echo ok", ExecOptions{})
			if errs[i] == nil && res.Output != "ok\n" {
				errs[i] = fmt.Errorf("output %q", res.Output)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	// No container is ever removed, so each successful run left one.
	if n := len(e.Containers()); n != 1 {
		t.Errorf("%d containers, want 1: one successful run", n)
	}
}

// startWriter, fed a byte at a time: what comes before the start mark is
// held back whole, the mark is stripped, and the command's bytes after it
// pass through whole and in order, whatever they say.
func TestStartWriter(t *testing.T) {
	mark := startMark + "4242\x00"
	tests := []struct {
		name, in          string
		wantOut, wantHeld string
		wantStart         bool
	}{
		{"docker's error, no start", "Error: No such container: luzia-x\n", "", "Error: No such container: luzia-x\n", false},
		{"OCI text on stdout", "OCI runtime exec failed: exec: \"bash\": executable file not found in $PATH: unknown\r\n", "", "OCI runtime exec failed: exec: \"bash\": executable file not found in $PATH: unknown\r\n", false},
		{"command says docker's words", mark + "Error: No such container: foo\n", "Error: No such container: foo\n", "", true},
		{"warning before the start", "WARNING: x\n" + mark + "out", "out", "", true},
		{"a mark in the command's output stays", mark + mark + "y", mark + "y", "", true},
		{"an unfinished mark is no start", startMark + "12", "", startMark + "12", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, pre bytes.Buffer
			st := &started{}
			h := &startWriter{w: &out, st: st, pre: &pre}
			for i := range len(tt.in) {
				h.Write([]byte{tt.in[i]})
			}
			if out.String() != tt.wantOut {
				t.Errorf("passed %q, want %q", out.String(), tt.wantOut)
			}
			if string(h.held()) != tt.wantHeld {
				t.Errorf("held %q, want %q", h.held(), tt.wantHeld)
			}
			if st.is() != tt.wantStart {
				t.Errorf("started = %v, want %v", st.is(), tt.wantStart)
			}
			if tt.wantStart && st.pidOf() != "4242" {
				t.Errorf("pid = %q, want 4242", st.pidOf())
			}
		})
	}
}

// The container's env reaches each exec, and the call's own values win.
func TestMergeEnv(t *testing.T) {
	for _, tc := range []struct {
		base, over, want []string
	}{
		{nil, nil, nil},
		{nil, []string{"A=1"}, []string{"A=1"}},
		{[]string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{[]string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=1", "B=3", "C=4"}},
		{[]string{"A=1", "A=2"}, []string{"B=x=y"}, []string{"A=2", "B=x=y"}},
	} {
		if diff := cmp.Diff(tc.want, mergeEnv(tc.base, tc.over)); diff != "" {
			t.Errorf("mergeEnv(%q, %q) (-want +got):\n%s", tc.base, tc.over, diff)
		}
	}
}

// The kill of a command run as another user runs as that user: the
// container's user could not signal its processes.
func TestExecTimeoutKillsAsCallUser(t *testing.T) {
	e := newFakeEngine(t)
	e.add("luzia-x", true, time.Now())
	b := newTestBridge(t, e)
	if _, err := b.Exec(t.Context(), "sleep 30", ExecOptions{Timeout: time.Second, User: "root"}); err != nil {
		t.Fatal(err)
	}
	var kills int
	for _, args := range e.Calls() {
		if len(args) > 0 && args[0] == "exec" && slices.Contains(args, killScript) {
			kills++
			if i := slices.Index(args, "--user"); i < 0 || args[i+1] != "root" {
				t.Errorf("kill exec %q runs as the container's user, want --user root", args[:2])
			}
		}
	}
	if kills != 1 {
		t.Errorf("%d kill execs, want 1", kills)
	}
}
