package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/dockercli/dockertest"
)

// fakeEngine is dockertest's engine with what bridge's tests look for:
// commands exec'd in a running container run on the host in ws, which
// stands for /workspace, and the file scripts run as they are.
type fakeEngine struct {
	*dockertest.Engine
	t  *testing.T
	ws string // the host directory that stands in for /workspace

	// beforeExec, when set, sees each exec before it runs.
	beforeExec func(execCall)
	// beforeRun, when set, runs before each docker run is interpreted.
	beforeRun func()
	runDelay  time.Duration
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	ws, err := os.MkdirTemp("", "dbws")
	if err != nil {
		t.Fatal(err)
	}
	// realpath in the scripts resolves symlinks; so must the workspace.
	ws, err = filepath.EvalSymlinks(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ws) })
	e := &fakeEngine{Engine: dockertest.New(t), t: t, ws: ws}
	e.Work = ws
	e.Images = []string{DefaultImage}
	e.BeforeExec = func(args []string) {
		if e.beforeExec != nil {
			e.beforeExec(parseExec(append([]string{"exec"}, args...)))
		}
	}
	e.BeforeRun = func() {
		if e.beforeRun != nil {
			e.beforeRun()
		}
		if e.runDelay > 0 {
			time.Sleep(e.runDelay) // widens the window a racing creator would need
		}
	}
	return e
}

// fail makes the next times calls of verb fail (every call when times is 0).
func (e *fakeEngine) fail(verb string, times, code int, stderr string) {
	e.t.Helper()
	if err := e.Answer(dockertest.Canned{Verb: verb, Exit: code, Stderr: stderr, Times: times, Always: times == 0}); err != nil {
		e.t.Fatal(err)
	}
}

// add makes a container as if an earlier docker run had, with ws mounted
// at /workspace.
func (e *fakeEngine) add(name string, running bool, startedAt time.Time, labels ...string) {
	e.t.Helper()
	c := dockertest.Default(name, e.ws, startedAt)
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		c.Labels[k] = v
	}
	c.Started, c.Finished, c.ExitCode = startedAt, startedAt, 143
	if running {
		c.Start(startedAt)
	}
	if err := e.Add(c); err != nil {
		e.t.Fatal(err)
	}
}

// summary is each call in short: the verb, and for an exec the program
// ("exec bash", "exec mkdir").
func (e *fakeEngine) summary() []string {
	var out []string
	for _, a := range e.Calls() {
		v := dockertest.Verb(a)
		if v == "exec" {
			if x := parseExec(a); len(x.command) > 0 {
				v += " " + x.command[0]
			}
		}
		out = append(out, v)
	}
	return out
}

func (e *fakeEngine) callsOf(verb string) [][]string { return e.CallsOf(verb) }

// kills are the kill script's execs: the exec id and the wrapper pid each
// was run for.
func (e *fakeEngine) kills() (ids, roots []string) {
	for _, a := range e.CallsOf("exec") {
		if c := parseExec(a).argv; len(c) >= 6 && c[0] == "bash" && c[2] == killScript {
			ids, roots = append(ids, c[4]), append(roots, c[5])
		}
	}
	return ids, roots
}

// execCall is a docker exec argv taken apart.
type execCall struct {
	interactive bool
	container   string
	env         []string
	command     []string // the program the call runs, the door's wrapper taken off
	argv        []string // the container argv as docker got it
	// wrapped is whether the door's wrapper ran it; deadline and needs are
	// the wrapper's arguments.
	wrapped  bool
	deadline string
	needs    []string
}

// unwrap takes the door's wrapper off a container argv.
func unwrap(x *execCall) {
	c := x.command
	if len(c) < 5 || c[0] != "bash" || c[1] != "-c" || c[2] != wrapScript {
		return
	}
	x.wrapped, x.deadline = true, c[4]
	rest := c[5:]
	i := slices.Index(rest, "--")
	if i < 0 {
		return
	}
	x.needs, x.command = rest[:i], rest[i+1:]
}

func parseExec(args []string) execCall {
	var x execCall
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "-i":
			x.interactive = true
		case "-e", "--user", "-w":
			i++
			if a == "-e" && i < len(args) {
				x.env = append(x.env, args[i])
			}
		default:
			x.container, x.command, x.argv = a, args[i+1:], args[i+1:]
			unwrap(&x)
			return x
		}
	}
	return x
}

// hostIDs answers id -u/-g for the project user on the host.
type hostIDs struct{ uid, gid string }

func (h hostIDs) Run(_ context.Context, c dockercli.Cmd) (int, error) {
	var v string
	switch {
	case len(c.Args) == 3 && c.Args[0] == "id" && c.Args[1] == "-u":
		v = h.uid
	case len(c.Args) == 3 && c.Args[0] == "id" && c.Args[1] == "-g":
		v = h.gid
	}
	if v == "" {
		return 1, nil
	}
	if c.Stdout != nil {
		fmt.Fprintln(c.Stdout, v)
	}
	return 0, nil
}

// newTestBridge is project x's bridge on e, with its own state directory.
func newTestBridge(t *testing.T, e *fakeEngine, configure ...func(*Config)) *Bridge {
	t.Helper()
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newTestBridgeState(t, e, st, configure...)
}

func newTestBridgeState(t *testing.T, e *fakeEngine, st *State, configure ...func(*Config)) *Bridge {
	t.Helper()
	cfg := Config{Project: "x", HostPath: e.ws}
	for _, f := range configure {
		f(&cfg)
	}
	b, err := New(cfg, &dockercli.Client{Runner: e}, hostIDs{"1000", "1000"}, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
