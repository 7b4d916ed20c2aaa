package dockertest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// Engine is the fake engine. Its state lives in Dir, so that the program
// (Main) and an in-process Runner share one model, and calls from many
// processes or goroutines serialise on its lock as the daemon's would.
type Engine struct {
	// Dir holds state.json, canned.json and the lock.
	Dir string
	// Log, when set, gets one line per call: the argv after "docker", each
	// element quoted with %q.
	Log string
	// Work is the only place a missing bind source may be created.
	Work string
	// DaemonDown makes every call fail as with no daemon; NoImage makes run
	// fail as for an image that no registry has.
	DaemonDown, NoImage bool
	// DownContexts are the docker contexts whose engine is down: calls
	// through them fail as with no daemon. Every other context is an
	// engine of its own, its state under Dir/contexts/NAME.
	DownContexts []string
	// Images, when set, are the only images run finds.
	Images []string
	// NoSuchContainer and NotRunning, when set, replace the engine's
	// wording of a missing container (%s is the name) and of a stopped one
	// (%s is its id): engines and CLIs of other versions word them so.
	NoSuchContainer, NotRunning string

	// BeforeRun, when set, runs before each docker run does its work.
	BeforeRun func()
	// BeforeExec, when set, sees each docker exec's argv (after "exec")
	// before it does its work.
	BeforeExec func(args []string)

	mu    sync.Mutex
	calls [][]string
	procs []*os.Process
	// execs are the execs whose command still runs, a client gone or not.
	execs sync.WaitGroup
}

// New is an in-process engine in a temporary directory. When the test
// ends, a canned answer no call used fails it, and the commands its execs
// left running are killed.
func New(t testing.TB) *Engine {
	t.Helper()
	e := &Engine{Dir: t.TempDir()}
	e.Work = e.Dir
	t.Cleanup(func() {
		e.mu.Lock()
		for _, p := range e.procs {
			_ = p.Kill()
		}
		e.mu.Unlock()
		// Their last state update must land before the directory goes.
		e.execs.Wait()
		unused, err := e.Unused()
		if err != nil {
			t.Error(err)
		}
		for _, r := range unused {
			t.Errorf("canned docker answer never used (or used less than promised): %s -> exit %d, stderr %q", r.Verb, r.Exit, r.Stderr)
		}
	})
	return e
}

// Run implements dockercli.Runner: it answers argv "docker ...". Like
// dockercli.OSRunner, it returns ctx's error once ctx has ended; a command
// an exec started then runs on, as it would in a container.
func (e *Engine) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	if len(c.Args) == 0 || c.Args[0] != "docker" {
		return -1, fmt.Errorf("dockertest: argv %q: want docker first", c.Args)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	args := slices.Clone(c.Args[1:])
	e.mu.Lock()
	e.calls = append(e.calls, args)
	e.mu.Unlock()
	if err := appendLog(e.Log, args); err != nil {
		return -1, err
	}
	d := &dockerCall{
		e:      e,
		ctx:    ctx,
		dir:    stateDir(e.Dir),
		stdin:  c.Stdin,
		stdout: orDiscard(c.Stdout),
		stderr: orDiscard(c.Stderr),
		now:    time.Now().UTC(),
	}
	if d.stdin == nil {
		d.stdin = eof{}
	}
	code := d.main(args)
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("docker: %w", err)
	}
	return code, nil
}

// Context is the engine that calls through the docker context name reach,
// for arranging and inspecting its containers (Add, Container, Containers).
func (e *Engine) Context(name string) *Engine {
	return &Engine{Dir: contextDir(e.Dir, name), Work: e.Work}
}

// contextDir is where the engine of a docker context keeps its state: each
// context other than the default is an engine of its own.
func contextDir(dir, name string) string {
	if name == "" || name == "default" {
		return dir
	}
	return filepath.Join(dir, "contexts", name)
}

// Calls are the argv of every call so far, "docker" taken off.
func (e *Engine) Calls() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// CallsOf are the calls of one verb ("run", "container inspect", ...).
func (e *Engine) CallsOf(verb string) [][]string {
	var out [][]string
	for _, a := range e.Calls() {
		if Verb(a) == verb {
			out = append(out, a)
		}
	}
	return out
}

// Verb is a call's subcommand: "exec", or "container inspect", "network
// create", "image inspect".
func Verb(args []string) string {
	for len(args) >= 2 && args[0] == "--context" {
		args = args[2:]
	}
	if len(args) >= 2 && (args[0] == "container" || args[0] == "network" || args[0] == "image") {
		return args[0] + " " + args[1]
	}
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// Add puts a container in the engine as if an earlier docker run had made
// it; Default gives the one dockerbridge's own run makes.
func (e *Engine) Add(c *Container) error {
	return stateDir(e.Dir).update(func(st *engineState) error {
		if st.byName(c.Name) != nil {
			return fmt.Errorf("dockertest: container %s exists", c.Name)
		}
		st.add(c)
		return nil
	})
}

// Container is the container named name, as the engine has it now.
func (e *Engine) Container(name string) (Container, bool) {
	st, err := stateDir(e.Dir).load()
	if err != nil {
		return Container{}, false
	}
	if c := st.byName(name); c != nil {
		return *c, true
	}
	return Container{}, false
}

// Containers are all the engine's containers, by name.
func (e *Engine) Containers() []Container {
	st, err := stateDir(e.Dir).load()
	if err != nil {
		return nil
	}
	var out []Container
	for _, c := range st.Containers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Answer queues a canned answer.
func (e *Engine) Answer(r Canned) error {
	d := stateDir(e.Dir)
	return d.locked(func() error {
		var queue []Canned
		if err := d.loadJSON("canned.json", &queue); err != nil {
			return err
		}
		return d.saveJSON("canned.json", append(queue, r))
	})
}

// Unused lists the canned answers that no call took as often as promised.
func (e *Engine) Unused() ([]Canned, error) {
	return unusedCanned(e.Dir)
}

// Default is the container dockerbridge's default docker run makes for
// name, created at now and not started, with hostPath (when given) mounted
// at /workspace, its working directory.
func Default(name, hostPath string, now time.Time) *Container {
	c := &Container{
		Name:   name,
		Image:  "luzia-sandbox:latest",
		User:   "1000:1000",
		Labels: map[string]string{},
		Env: []string{"HOME=/workspace", "npm_config_cache=/workspace/.npm",
			"TMPDIR=/workspace/.tmp", "TEMP=/workspace/.tmp", "TMP=/workspace/.tmp"},
		Cmd:     []string{"tail", "-f", "/dev/null"},
		Init:    true,
		Network: "host",
		Restart: "unless-stopped",
		Memory:  "2g",
		CPUs:    "2",
		Created: now,
	}
	if hostPath != "" {
		c.Mounts = append(c.Mounts, Mount{Source: hostPath, Destination: "/workspace"})
		c.Workdir = "/workspace"
	}
	return c
}

// Start marks c running since t.
func (c *Container) Start(t time.Time) {
	c.Running, c.Started, c.ExitCode = true, t, 0
}

// Execs counts the execs in flight, as docker's ExecIDs lists them.
func (c Container) Execs() int { return len(c.view().ExecIDs) }

func (e *Engine) noSuch() string     { return cmp.Or(e.NoSuchContainer, msgNoSuchContainer) }
func (e *Engine) notRunning() string { return cmp.Or(e.NotRunning, msgNotRunning) }

// started records a command an exec started, to end it with the test.
func (e *Engine) started(p *os.Process) {
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// eof is an empty stdin.
type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

// detachable is a client's stream: after detach, what the command still
// writes goes nowhere, as once the docker client is gone.
type detachable struct {
	mu   sync.Mutex
	w    io.Writer
	gone bool
}

func (d *detachable) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gone {
		return len(p), nil
	}
	return d.w.Write(p)
}

func (d *detachable) detach() {
	d.mu.Lock()
	d.gone = true
	d.mu.Unlock()
}
