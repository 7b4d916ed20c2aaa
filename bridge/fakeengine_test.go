package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// fakeEngine is an in-process docker: a dockercli.Runner that interprets the
// argv it gets, keeps the containers it has made, and records every call.
// Commands exec'd in a running container run for real on the host, under
// bash, in ws, with "/workspace" in their argv rewritten to ws: the file
// scripts are constant text, so they are tested as they are.
type fakeEngine struct {
	t  *testing.T
	ws string // the host directory that stands in for /workspace

	// noSuchText is what exec prints for a missing container: docker 20.10's
	// CLI wording unless a test picks the daemon's.
	noSuchText string
	// notRunningText is what exec prints for a stopped container; %s is its id.
	notRunningText string
	// images are the images that exist.
	images map[string]bool

	mu         sync.Mutex
	containers map[string]*fakeContainer
	calls      [][]string
	runs       int      // successful docker runs
	kills      []string // exec ids that the kill script was run for
	killRoots  []string // the wrapper pids it was run for
	injects    []*inject
	// beforeExec, when set, sees each exec before it runs.
	beforeExec func(execCall)
	// beforeRun, when set, runs before each docker run is interpreted.
	beforeRun func()
	runDelay  time.Duration
	// realKills runs the kill script itself on the host. It reads every
	// process's environment with a grep each, which takes seconds on a
	// busy host, so by default the fake does the same in Go.
	realKills bool
}

type fakeContainer struct {
	name      string
	id        string
	running   bool
	labels    map[string]string
	startedAt time.Time
	created   time.Time
	execs     int // execs in flight, as docker's ExecIDs counts them
}

// inject makes calls whose verb matches fail with stderr and code: times
// calls, or every one when times is 0.
type inject struct {
	verb   string
	code   int
	stderr string
	times  int
	used   int
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
	e := &fakeEngine{
		t:              t,
		ws:             ws,
		noSuchText:     "Error: No such container: %s\n",
		notRunningText: "Error response from daemon: Container %s is not running\n",
		images:         map[string]bool{DefaultImage: true},
		containers:     map[string]*fakeContainer{},
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, in := range e.injects {
			if in.used == 0 || (in.times > 0 && in.used < in.times) {
				t.Errorf("injected failure of %q used %d times, want %d", in.verb, in.used, max(in.times, 1))
			}
		}
	})
	return e
}

// fail makes the next times calls of verb fail (every call when times is 0).
func (e *fakeEngine) fail(verb string, times, code int, stderr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.injects = append(e.injects, &inject{verb: verb, times: times, code: code, stderr: stderr})
}

// add makes a container as if an earlier docker run had.
func (e *fakeEngine) add(name string, running bool, startedAt time.Time, labels ...string) *fakeContainer {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &fakeContainer{name: name, id: newFakeID(), running: running, labels: map[string]string{}, startedAt: startedAt, created: startedAt}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		c.labels[k] = v
	}
	e.containers[name] = c
	return c
}

func (e *fakeEngine) container(name string) (fakeContainer, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[name]
	if !ok {
		return fakeContainer{}, false
	}
	return *c, true
}

// summary is each call in short: the verb, and for an exec the program
// ("exec bash", "exec mkdir").
func (e *fakeEngine) summary() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, a := range e.calls {
		v := verbOf(a)
		if v == "exec" {
			if x := parseExec(a); len(x.command) > 0 {
				v += " " + x.command[0]
			}
		}
		out = append(out, v)
	}
	return out
}

func (e *fakeEngine) callsOf(verb string) [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out [][]string
	for _, a := range e.calls {
		if verbOf(a) == verb {
			out = append(out, a)
		}
	}
	return out
}

func verbOf(a []string) string {
	if len(a) >= 2 && a[0] == "container" {
		return a[0] + " " + a[1]
	}
	if len(a) > 0 {
		return a[0]
	}
	return ""
}

func newFakeID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run implements dockercli.Runner.
func (e *fakeEngine) Run(ctx context.Context, c dockercli.Cmd) (int, error) {
	args := c.Args
	if len(args) == 0 || args[0] != "docker" {
		e.t.Errorf("fake engine got argv %q, want docker first", args)
		return -1, fmt.Errorf("not docker")
	}
	args = args[1:]
	if len(args) >= 2 && args[0] == "--context" {
		args = args[2:]
	}
	stdout, stderr := orDiscard(c.Stdout), orDiscard(c.Stderr)
	e.mu.Lock()
	e.calls = append(e.calls, slices.Clone(args))
	for _, in := range e.injects {
		if in.verb == verbOf(args) && (in.times == 0 || in.used < in.times) {
			in.used++
			e.mu.Unlock()
			io.WriteString(stderr, in.stderr)
			return in.code, nil
		}
	}
	e.mu.Unlock()
	switch verbOf(args) {
	case "run":
		return e.run(args[1:], stdout, stderr)
	case "container inspect":
		return e.inspect(args[2:], stdout, stderr)
	case "start", "stop", "rm":
		return e.lifecycle(args[0], args[1:], stdout, stderr)
	case "ps":
		return e.ps(args[1:], stdout)
	case "exec":
		return e.exec(ctx, args, c, stdout, stderr)
	case "version":
		// The daemon answers: an exec's own 255 is not a lost daemon.
		io.WriteString(stdout, "27.0.0\n")
		return 0, nil
	}
	e.t.Errorf("fake engine: unknown call %q", args)
	return 1, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Flags of docker run that take a value.
var runValueFlags = map[string]bool{
	"--name": true, "--user": true, "-e": true, "-v": true, "-w": true, "--network": true,
	"--restart": true, "--memory": true, "--cpus": true, "--label": true, "--cap-drop": true,
	"--cap-add": true, "--security-opt": true, "--pids-limit": true, "--tmpfs": true, "--ulimit": true,
}

func (e *fakeEngine) run(args []string, stdout, stderr io.Writer) (int, error) {
	if e.beforeRun != nil {
		e.beforeRun()
	}
	if e.runDelay > 0 {
		time.Sleep(e.runDelay) // widens the window a racing creator would need
	}
	var name, image string
	labels := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			image = a
			break
		}
		if runValueFlags[a] && i+1 < len(args) {
			i++
			switch a {
			case "--name":
				name = args[i]
			case "--label":
				k, v, _ := strings.Cut(args[i], "=")
				labels[k] = v
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.images[image] {
		fmt.Fprintf(stderr, "Unable to find image '%s' locally\ndocker: Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied.\nSee 'docker run --help'.\n", image, strings.Split(image, ":")[0])
		return 125, nil
	}
	if old, ok := e.containers[name]; ok {
		fmt.Fprintf(stderr, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.\nSee 'docker run --help'.\n", name, old.id)
		return 125, nil
	}
	c := &fakeContainer{name: name, id: newFakeID(), running: true, labels: labels, startedAt: time.Now(), created: time.Now()}
	e.containers[name] = c
	e.runs++
	fmt.Fprintln(stdout, c.id)
	return 0, nil
}

type inspectJSON struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Running   bool
		StartedAt string
	}
	Config struct {
		User  string
		Image string
	}
}

func (e *fakeEngine) inspect(args []string, stdout, stderr io.Writer) (int, error) {
	format := ""
	if len(args) >= 2 && args[0] == "--format" {
		format, args = args[1], args[2:]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	code := 0
	var all []inspectJSON
	for _, name := range args {
		c, ok := e.containers[name]
		if !ok {
			fmt.Fprintf(stderr, "Error: No such container: %s\n", name)
			code = 1
			continue
		}
		started := c.startedAt.UTC().Format(time.RFC3339Nano)
		switch format {
		case "{{.State.Running}}":
			fmt.Fprintln(stdout, c.running)
		case "{{.State.Status}}":
			fmt.Fprintln(stdout, map[bool]string{true: "running", false: "exited"}[c.running])
		case "{{.State.Status}} {{.RestartCount}}":
			fmt.Fprintln(stdout, map[bool]string{true: "running", false: "exited"}[c.running], 0)
		case `{{.Name}}{{"\t"}}{{.State.StartedAt}}{{"\t"}}{{len .ExecIDs}}`:
			fmt.Fprintf(stdout, "/%s\t%s\t%d\n", c.name, started, c.execs)
		case "":
			var j inspectJSON
			j.ID, j.Name = c.id, "/"+c.name
			j.State.Running, j.State.StartedAt = c.running, started
			j.Config.User, j.Config.Image = "1000:1000", DefaultImage
			all = append(all, j)
		default:
			e.t.Errorf("fake engine: unknown inspect format %q", format)
			return 1, nil
		}
	}
	if format == "" {
		if all == nil {
			all = []inspectJSON{}
		}
		b, _ := json.MarshalIndent(all, "", "    ")
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return code, nil
}

func (e *fakeEngine) lifecycle(verb string, args []string, stdout, stderr io.Writer) (int, error) {
	if verb == "stop" && len(args) >= 2 && args[0] == "-t" {
		args = args[2:]
	}
	if verb == "rm" && len(args) >= 1 && args[0] == "-f" {
		args = args[1:]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var failed []string
	for _, name := range args {
		c, ok := e.containers[name]
		if !ok {
			fmt.Fprintf(stderr, "Error response from daemon: No such container: %s\n", name)
			failed = append(failed, name)
			continue
		}
		switch verb {
		case "start":
			if !c.running {
				c.running, c.startedAt = true, time.Now()
			}
		case "stop":
			c.running = false
		case "rm":
			delete(e.containers, name)
		}
		fmt.Fprintln(stdout, name)
	}
	if len(failed) > 0 {
		if verb == "start" {
			fmt.Fprintf(stderr, "Error: failed to start containers: %s\n", strings.Join(failed, ", "))
		}
		return 1, nil
	}
	return 0, nil
}

// ps honours -a and every label filter, exactly: "label=K" needs the key,
// "label=K=V" the key with that value.
func (e *fakeEngine) ps(args []string, stdout io.Writer) (int, error) {
	all, format := false, ""
	var filters []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-a":
			all = true
		case "--no-trunc":
		case "--filter":
			i++
			f, ok := strings.CutPrefix(args[i], "label=")
			if !ok {
				e.t.Errorf("fake engine: unknown ps filter %q", args[i])
			}
			filters = append(filters, f)
		case "--format":
			i++
			format = args[i]
		default:
			e.t.Errorf("fake engine: unknown ps flag %q", args[i])
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range e.containers {
			if !yield(n) {
				return
			}
		}
	})
next:
	for _, n := range names {
		c := e.containers[n]
		if !all && !c.running {
			continue
		}
		for _, f := range filters {
			k, v, hasValue := strings.Cut(f, "=")
			got, ok := c.labels[k]
			if !ok || (hasValue && got != v) {
				continue next
			}
		}
		switch format {
		case "{{.Names}}":
			fmt.Fprintln(stdout, c.name)
		case `{{.Names}}\t{{.State}}\t{{.Label "` + ProjectLabel + `"}}`:
			state := "exited"
			if c.running {
				state = "running"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", c.name, state, c.labels[ProjectLabel])
		case `{{.Names}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Label "` + ProjectLabel + `"}}`:
			status := "Exited (0) 1 second ago"
			if c.running {
				status = "Up 1 second"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", c.name, status, c.created.Format("2006-01-02 15:04:05 -0700 MST"), c.labels[ProjectLabel])
		default:
			e.t.Errorf("fake engine: unknown ps format %q", format)
		}
	}
	return 0, nil
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

func (e *fakeEngine) exec(ctx context.Context, args []string, c dockercli.Cmd, stdout, stderr io.Writer) (int, error) {
	x := parseExec(args)
	name, command := x.container, x.argv
	if e.beforeExec != nil {
		e.beforeExec(x)
	}
	e.mu.Lock()
	ctr, ok := e.containers[name]
	switch {
	case !ok:
		e.mu.Unlock()
		fmt.Fprintf(stderr, e.noSuchText, name)
		return 1, nil
	case !ctr.running:
		e.mu.Unlock()
		fmt.Fprintf(stderr, e.notRunningText, ctr.id)
		return 1, nil
	}
	isKill := len(command) >= 6 && command[0] == "bash" && command[2] == killScript
	if isKill {
		e.kills = append(e.kills, command[4])
		e.killRoots = append(e.killRoots, command[5])
	}
	e.mu.Unlock()
	if isKill && !e.realKills {
		if command[4] != "" {
			killByExecID(command[4])
		}
		killTree(command[5])
		return 0, nil
	}
	e.mu.Lock()
	ctr.execs++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		ctr.execs--
		e.mu.Unlock()
	}()
	argv := []string{"env", "-C", e.ws}
	for _, a := range command {
		argv = append(argv, strings.ReplaceAll(a, Workspace, e.ws))
	}
	local := dockercli.Cmd{Args: argv, Stdout: stdout, Stderr: stderr, Env: x.env}
	if x.interactive {
		local.Stdin = c.Stdin
	}
	return dockercli.OSRunner{WaitDelay: 500 * time.Millisecond}.Run(ctx, local)
}

// killByExecID kills every host process whose environment carries the exec
// id, as the kill script does in a container.
func killByExecID(id string) {
	want := []byte("\x00" + ExecIDVar + "=" + id + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// killTree kills the host process root and its descendants, as the kill
// script does in a container.
func killTree(root string) {
	rootPid, err := strconv.Atoi(root)
	if err != nil || rootPid <= 1 {
		return
	}
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		pid, _ := strconv.Atoi(filepath.Base(d))
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	for pid := range parent {
		for q, n := pid, 0; q > 1 && n < 100; q, n = parent[q], n+1 {
			if q == rootPid && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
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
	fmt.Fprintln(orDiscard(c.Stdout), v)
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
