package main

// The fakes of the hermetic scenarios in testdata/script. fakedocker is a
// stateful docker CLI: it keeps containers in a JSON file, answers the
// subcommands dockerbridge uses with docker's own texts and exit codes, and
// runs exec'd commands on the host with /workspace mapped to the mount
// source. fakehost answers id and getent from a passwd file. Both log the
// argv they get, so scripts can compare exact calls. The script commands at
// the end set up and inspect their state. testdata/script/README.md
// documents all of them, and where the emulation stops.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Docker's own texts, recorded from docker CLI 28.2 against engine 20.10.
// Scripts that need another engine's wording replay it with fakeresp.
const (
	fakeMsgNoSuchContainer = "Error response from daemon: No such container: %s"
	fakeMsgNotRunning      = "Error response from daemon: Container %s is not running"
	fakeMsgConflict        = `docker: Error response from daemon: Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`
	fakeMsgNoImageLocal    = "Unable to find image '%s' locally"
	fakeMsgPullDenied      = "docker: Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
	fakeMsgDaemonDown      = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	fakeMsgStartFailed     = "Error: failed to start containers: %s"
	fakeMsgExecNotFound    = `OCI runtime exec failed: exec failed: unable to start container process: exec: "%s": executable file not found in $PATH: unknown`
	// docker run appends this to its own errors.
	fakeMsgRunHelp = "\nRun 'docker run --help' for more information"
)

// The environment of the sandbox image, before docker run's -e.
var fakeImageEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

// fakeContainer is one container of the fake engine.
type fakeContainer struct {
	Seq      int               `json:"seq"`
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	User     string            `json:"user,omitempty"`
	Env      []string          `json:"env,omitempty"`
	Workdir  string            `json:"workdir,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Mounts   []fakeMount       `json:"mounts,omitempty"`
	Cmd      []string          `json:"cmd,omitempty"`
	Init     bool              `json:"init,omitempty"`
	Network  string            `json:"network,omitempty"`
	Restart  string            `json:"restart,omitempty"`
	Memory   string            `json:"memory,omitempty"`
	CPUs     string            `json:"cpus,omitempty"`
	Running  bool              `json:"running"`
	Created  time.Time         `json:"created"`
	Started  time.Time         `json:"started"`  // zero: never started
	Finished time.Time         `json:"finished"` // zero: never stopped
	ExitCode int               `json:"exit_code"`
	// ExecPids are the host processes of the execs in flight: docker's
	// ExecIDs lists those that are still alive.
	ExecPids []int `json:"exec_pids,omitempty"`
}

type fakeMount struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"read_only,omitempty"`
}

// fakeState is the whole fake engine, kept in $FAKEDOCKER_STATE/state.json.
type fakeState struct {
	Seq        int              `json:"seq"`
	Containers []*fakeContainer `json:"containers"`
}

// cannedResponse replaces fakedocker's answer to the next call of Verb.
// With Apply, the call still takes effect first (a racing creator's run).
type cannedResponse struct {
	Verb   string `json:"verb"`
	Apply  bool   `json:"apply,omitempty"`
	Exit   int    `json:"exit"`
	Stderr string `json:"stderr,omitempty"`
}

// fakeDir holds the fake engine's files; the lock serialises concurrent
// docker calls, as the daemon would.
type fakeDir string

func (d fakeDir) path(name string) string { return filepath.Join(string(d), name) }

// locked runs fn with the engine's lock held.
func (d fakeDir) locked(fn func() error) error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(d.path("lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	return fn()
}

func (d fakeDir) loadJSON(name string, v any) error {
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (d fakeDir) saveJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.path(name + ".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.path(name))
}

// load reads the state.
func (d fakeDir) load() (*fakeState, error) {
	var st fakeState
	err := d.locked(func() error { return d.loadJSON("state.json", &st) })
	return &st, err
}

// update loads the state, lets fn change it, and saves it, under the lock.
func (d fakeDir) update(fn func(*fakeState) error) error {
	return d.locked(func() error {
		var st fakeState
		if err := d.loadJSON("state.json", &st); err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		return d.saveJSON("state.json", &st)
	})
}

// take removes and returns the first canned response for verb.
func (d fakeDir) take(verb string) (*cannedResponse, error) {
	var got *cannedResponse
	err := d.locked(func() error {
		var queue []cannedResponse
		if err := d.loadJSON("canned.json", &queue); err != nil {
			return err
		}
		for i, r := range queue {
			if r.Verb == verb {
				got = &r
				return d.saveJSON("canned.json", append(queue[:i], queue[i+1:]...))
			}
		}
		return nil
	})
	return got, err
}

// find looks a container up as docker does: by name (with or without its
// leading "/"), else by a prefix of its id.
func (st *fakeState) find(ref string) *fakeContainer {
	if c := st.byName(strings.TrimPrefix(ref, "/")); c != nil {
		return c
	}
	if strings.Trim(ref, "0123456789abcdef") != "" {
		return nil
	}
	for _, c := range st.Containers {
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			return c
		}
	}
	return nil
}

func (st *fakeState) byName(name string) *fakeContainer {
	for _, c := range st.Containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (st *fakeState) remove(c *fakeContainer) {
	for i, x := range st.Containers {
		if x == c {
			st.Containers = append(st.Containers[:i], st.Containers[i+1:]...)
			return
		}
	}
}

// add gives c a sequence number and a stable id: the same script always
// sees the same ids.
func (st *fakeState) add(c *fakeContainer) {
	st.Seq++
	c.Seq = st.Seq
	if c.ID == "" {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\n%d", c.Name, c.Seq)))
		c.ID = hex.EncodeToString(sum[:])
	}
	st.Containers = append(st.Containers, c)
}

// stop stops c the way SIGTERM does: with --init, tail exits on it (143);
// without, tail is PID 1, ignores it, and is killed after the grace (137).
func (c *fakeContainer) stop(now time.Time) {
	if !c.Running {
		return
	}
	c.Running = false
	c.ExecPids = nil
	c.Finished = now
	c.ExitCode = 143
	if !c.Init {
		c.ExitCode = 137
	}
}

// fakeDocker is the fake docker CLI used by the hermetic scenarios.
func fakeDocker() int {
	d := &fakeDockerCall{
		dir:    fakeDir(os.Getenv("FAKEDOCKER_STATE")),
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		now:    time.Now().UTC(),
	}
	if d.dir == "" {
		fmt.Fprintln(os.Stderr, "fakedocker: FAKEDOCKER_STATE is not set")
		return 125
	}
	args := os.Args[1:]
	if err := fakeAppendLog(os.Getenv("FAKEDOCKER_LOG"), args); err != nil {
		fmt.Fprintf(os.Stderr, "fakedocker: %v\n", err)
		return 125
	}
	return d.main(args)
}

// fakeAppendLog writes one line per call: each argv element in Go's %q, so
// spaces, quotes and newlines in an element never blur its boundaries.
func fakeAppendLog(path string, args []string) error {
	if path == "" {
		return nil
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// One write per line: O_APPEND keeps concurrent calls' lines whole.
	if _, err := f.WriteString(strings.Join(q, " ") + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fakeDockerCall is one invocation of the fake docker.
type fakeDockerCall struct {
	dir            fakeDir
	stdin          *os.File
	stdout, stderr io.Writer
	now            time.Time
}

func (d *fakeDockerCall) main(args []string) int {
	// Global flags before the subcommand.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--context" && len(args) > 1:
			args = args[2:]
		case strings.HasPrefix(args[0], "--context="):
			args = args[1:]
		default:
			fmt.Fprintf(d.stderr, "unknown flag: %s\nSee 'docker --help'.\n", args[0])
			return 125
		}
	}
	if len(args) == 0 {
		fmt.Fprintln(d.stderr, "fakedocker: no subcommand")
		return 125
	}
	verb, rest := args[0], args[1:]
	if verb == "container" && len(rest) > 0 {
		verb, rest = "container "+rest[0], rest[1:]
	}
	if os.Getenv("FAKEDOCKER_DAEMON_DOWN") == "1" {
		if verb == "run" {
			fmt.Fprintln(d.stderr, "docker: "+fakeMsgDaemonDown+"\n"+fakeMsgRunHelp)
			return 125
		}
		fmt.Fprintln(d.stderr, fakeMsgDaemonDown)
		return 1
	}
	canned, err := d.dir.take(verb)
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: canned responses: %v\n", err)
		return 125
	}
	if canned != nil {
		if canned.Apply {
			quiet := *d
			quiet.stdout, quiet.stderr = io.Discard, io.Discard
			quiet.dispatch(verb, rest)
		}
		fmt.Fprint(d.stderr, canned.Stderr)
		return canned.Exit
	}
	return d.dispatch(verb, rest)
}

func (d *fakeDockerCall) dispatch(verb string, args []string) int {
	switch verb {
	case "run":
		return d.run(args)
	case "container inspect":
		return d.inspect(args)
	case "ps", "container ls":
		return d.ps(args)
	case "start", "container start":
		return d.start(args)
	case "stop", "container stop":
		return d.stop(args)
	case "rm", "container rm":
		return d.rm(args)
	case "exec", "container exec":
		return d.exec(args)
	}
	fmt.Fprintf(d.stderr, "fakedocker: %q is not emulated\n", verb)
	return 125
}

// flagError is docker's answer to a bad flag: its text, a pointer to the
// help, and exit 125.
func (d *fakeDockerCall) flagError(verb string, err error) int {
	fmt.Fprintf(d.stderr, "%v\nSee 'docker %s --help'.\n", err, verb)
	return 125
}

// fakeFlags is a command line split the way docker's flag parser does:
// flags (with their values) up to the first non-flag argument.
type fakeFlags struct {
	values map[string][]string // canonical flag name -> values, in order
	rest   []string
}

func (p fakeFlags) has(name string) bool { return len(p.values[name]) > 0 }

func (p fakeFlags) last(name string) string {
	v := p.values[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// fakeFlagSpec maps every accepted spelling to a canonical name; boolean flags
// take no value.
type fakeFlagSpec struct {
	names map[string]string
	bools map[string]bool
}

// parse fails with docker's own text for an unknown flag or a missing value.
func (s fakeFlagSpec) parse(args []string) (fakeFlags, error) {
	p := fakeFlags{values: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.rest = args[i+1:]
			return p, nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.rest = args[i:]
			return p, nil
		}
		name, value, hasValue := strings.Cut(a, "=")
		canon, ok := s.names[name]
		if !ok {
			return p, fmt.Errorf("unknown flag: %s", name)
		}
		switch {
		case s.bools[canon]:
			value = "true"
		case hasValue:
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			return p, fmt.Errorf("flag needs an argument: %s", name)
		}
		p.values[canon] = append(p.values[canon], value)
	}
	return p, nil
}

var fakeRunFlags = fakeFlagSpec{
	names: map[string]string{
		"-d": "detach", "--detach": "detach", "--name": "name", "-u": "user", "--user": "user",
		"-e": "env", "--env": "env", "-v": "volume", "--volume": "volume", "-w": "workdir",
		"--workdir": "workdir", "--network": "network", "--net": "network", "--restart": "restart",
		"-m": "memory", "--memory": "memory", "--cpus": "cpus", "-l": "label", "--label": "label",
		"--init": "init", "--rm": "rm", "-i": "interactive", "-t": "tty",
		"--read-only": "read-only", "--cap-drop": "cap-drop", "--security-opt": "security-opt",
		"--pids-limit": "pids-limit", "--tmpfs": "tmpfs",
	},
	bools: map[string]bool{"detach": true, "init": true, "rm": true, "interactive": true, "tty": true, "read-only": true},
}

// run emulates "docker run -d": create and start in one step.
func (d *fakeDockerCall) run(args []string) int {
	f, err := fakeRunFlags.parse(args)
	if err != nil {
		return d.flagError("run", err)
	}
	if len(f.rest) == 0 {
		fmt.Fprintln(d.stderr, "docker: 'docker run' requires at least 1 argument\n"+fakeMsgRunHelp)
		return 125
	}
	if !f.has("detach") {
		fmt.Fprintln(d.stderr, "fakedocker: run without -d is not emulated")
		return 125
	}
	image := f.rest[0]
	if os.Getenv("FAKEDOCKER_NO_IMAGE") == "1" {
		repo := image
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		fmt.Fprintf(d.stderr, fakeMsgNoImageLocal+"\n", image)
		fmt.Fprintln(d.stderr, fmt.Sprintf(fakeMsgPullDenied, repo)+"\n"+fakeMsgRunHelp)
		return 125
	}
	c := &fakeContainer{
		Name:    f.last("name"),
		Image:   image,
		User:    f.last("user"),
		Env:     f.values["env"],
		Workdir: f.last("workdir"),
		Labels:  map[string]string{},
		Cmd:     f.rest[1:],
		Init:    f.has("init"),
		Network: f.last("network"),
		Restart: f.last("restart"),
		Memory:  f.last("memory"),
		CPUs:    f.last("cpus"),
		Running: true,
		Created: d.now,
		Started: d.now,
	}
	for _, l := range f.values["label"] {
		k, v, _ := strings.Cut(l, "=")
		c.Labels[k] = v
	}
	for _, v := range f.values["volume"] {
		m, err := fakeParseVolume(v)
		if err != nil {
			fmt.Fprintf(d.stderr, "docker: Error response from daemon: %v.\n%s\n", err, fakeMsgRunHelp)
			return 125
		}
		// Docker creates a missing bind source; the fake does so only
		// under $WORK, so that no scenario litters the host.
		if _, err := os.Stat(m.Source); err != nil && !fakeUnderWork(m.Source) {
			fmt.Fprintf(d.stderr, "fakedocker: bind source %s does not exist, and the fake creates one only under $WORK\n", m.Source)
			return 125
		}
		if err := os.MkdirAll(m.Source, 0o755); err != nil {
			fmt.Fprintf(d.stderr, "docker: Error response from daemon: %v.\n%s\n", err, fakeMsgRunHelp)
			return 125
		}
		c.Mounts = append(c.Mounts, m)
	}
	var conflict *fakeContainer
	err = d.dir.update(func(st *fakeState) error {
		if c.Name != "" {
			if conflict = st.byName(c.Name); conflict != nil {
				return nil
			}
		}
		st.add(c)
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	if conflict != nil {
		fmt.Fprintln(d.stderr, fmt.Sprintf(fakeMsgConflict, c.Name, conflict.ID)+"\n"+fakeMsgRunHelp)
		return 125
	}
	fmt.Fprintln(d.stdout, c.ID)
	return 0
}

// fakeUnderWork reports whether p lies in the script's $WORK.
func fakeUnderWork(p string) bool {
	work := os.Getenv("WORK")
	return work != "" && strings.HasPrefix(filepath.Clean(p)+"/", filepath.Clean(work)+"/")
}

// fakeParseVolume reads a bind mount "SRC:DST[:ro|rw]". Named volumes are not
// emulated.
func fakeParseVolume(v string) (fakeMount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fakeMount{}, fmt.Errorf("invalid volume specification: '%s'", v)
	}
	m := fakeMount{Source: parts[0], Destination: parts[1]}
	if !filepath.IsAbs(m.Source) {
		return fakeMount{}, fmt.Errorf("fakedocker: named volume %q is not emulated", m.Source)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return fakeMount{}, fmt.Errorf("invalid mode: %s", parts[2])
		}
	}
	return m, nil
}

// fakeInspectView is the part of docker's container JSON the fake fills in;
// --format templates run over it, as docker's do.
type fakeInspectView struct {
	ID      string `json:"Id"`
	Created string
	Path    string
	Args    []string
	State   struct {
		Status     string
		Running    bool
		Paused     bool
		Restarting bool
		OOMKilled  bool
		Dead       bool
		Pid        int
		ExitCode   int
		Error      string
		StartedAt  string
		FinishedAt string
	}
	Image        string
	Name         string
	ExecIDs      []string
	RestartCount int
	HostConfig   struct {
		Binds         []string
		NetworkMode   string
		RestartPolicy struct {
			Name              string
			MaximumRetryCount int
		}
		Memory   int64
		NanoCpus int64
		Init     *bool
	}
	Mounts []fakeInspectMount
	Config struct {
		Hostname   string
		User       string
		Env        []string
		Cmd        []string
		Image      string
		WorkingDir string
		Labels     map[string]string
	}
}

type fakeInspectMount struct {
	Type        string
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}

// fakeDockerTime is how the engine prints times; the zero time is docker's
// "0001-01-01T00:00:00Z" for a container never started.
func fakeDockerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (c *fakeContainer) status() string {
	switch {
	case c.Running:
		return "running"
	case c.Started.IsZero():
		return "created"
	}
	return "exited"
}

func (c *fakeContainer) view() fakeInspectView {
	var v fakeInspectView
	v.ID = c.ID
	v.Created = fakeDockerTime(c.Created)
	if len(c.Cmd) > 0 {
		v.Path, v.Args = c.Cmd[0], c.Cmd[1:]
	}
	v.State.Status = c.status()
	v.State.Running = c.Running
	if c.Running {
		v.State.Pid = 1000 + c.Seq
	}
	v.State.ExitCode = c.ExitCode
	v.State.StartedAt = fakeDockerTime(c.Started)
	v.State.FinishedAt = fakeDockerTime(c.Finished)
	sum := sha256.Sum256([]byte(c.Image))
	v.Image = "sha256:" + hex.EncodeToString(sum[:])
	v.Name = "/" + c.Name
	for _, pid := range c.ExecPids {
		if syscall.Kill(pid, 0) == nil {
			v.ExecIDs = append(v.ExecIDs, fmt.Sprintf("%064x", pid))
		}
	}
	for _, m := range c.Mounts {
		bind := m.Source + ":" + m.Destination
		mode := ""
		if m.ReadOnly {
			bind, mode = bind+":ro", "ro"
		}
		v.HostConfig.Binds = append(v.HostConfig.Binds, bind)
		v.Mounts = append(v.Mounts, fakeInspectMount{"bind", m.Source, m.Destination, mode, !m.ReadOnly, "rprivate"})
	}
	v.HostConfig.NetworkMode = c.Network
	v.HostConfig.RestartPolicy.Name = c.Restart
	v.HostConfig.Memory = fakeParseBytes(c.Memory)
	if cpus, err := strconv.ParseFloat(c.CPUs, 64); err == nil {
		v.HostConfig.NanoCpus = int64(cpus * 1e9)
	}
	if c.Init {
		v.HostConfig.Init = &c.Init
	}
	v.Config.Hostname = c.ID[:12]
	v.Config.User = c.User
	v.Config.Env = append(append([]string{}, fakeImageEnv...), c.Env...)
	v.Config.Cmd = c.Cmd
	v.Config.Image = c.Image
	v.Config.WorkingDir = c.Workdir
	v.Config.Labels = map[string]string{} // docker prints {} for none
	maps.Copy(v.Config.Labels, c.Labels)
	return v
}

func fakeParseBytes(s string) int64 {
	if s == "" {
		return 0
	}
	mult := map[byte]int64{'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}
	unit := int64(1)
	if m, ok := mult[s[len(s)-1]|0x20]; ok {
		unit, s = m, s[:len(s)-1]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n * unit
}

// fakeTemplateFuncs are the template functions docker adds.
var fakeTemplateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

var fakeInspectFlags = fakeFlagSpec{
	names: map[string]string{"-f": "format", "--format": "format", "-s": "size", "--size": "size"},
	bools: map[string]bool{"size": true},
}

// inspect emulates "docker container inspect": every container found is
// printed, each missing one is an error line, and any miss exits 1.
func (d *fakeDockerCall) inspect(args []string) int {
	f, err := fakeInspectFlags.parse(args)
	if err != nil {
		return d.flagError("container inspect", err)
	}
	if len(f.rest) == 0 {
		fmt.Fprintln(d.stderr, `"docker container inspect" requires at least 1 argument.`)
		return 1
	}
	var tmpl *template.Template
	if format := f.last("format"); format != "" {
		if tmpl, err = template.New("").Funcs(fakeTemplateFuncs).Parse(format); err != nil {
			fmt.Fprintf(d.stderr, "template parsing error: %v\n", err)
			return 1
		}
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	var found []fakeInspectView
	var missing []string
	for _, ref := range f.rest {
		if c := st.find(ref); c != nil {
			found = append(found, c.view())
		} else {
			missing = append(missing, ref)
		}
	}
	switch {
	case tmpl == nil:
		if found == nil {
			found = []fakeInspectView{}
		}
		b, _ := json.MarshalIndent(found, "", "    ")
		fmt.Fprintln(d.stdout, string(b))
	case len(found) == 0:
		fmt.Fprintln(d.stdout) // docker prints one empty line here
	default:
		for _, v := range found {
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, v); err != nil {
				fmt.Fprintf(d.stderr, "template: %v\n", err)
				return 1
			}
			fmt.Fprintln(d.stdout, buf.String())
		}
	}
	for _, ref := range missing {
		fmt.Fprintf(d.stderr, fakeMsgNoSuchContainer+"\n", ref)
	}
	if len(missing) > 0 {
		return 1
	}
	return 0
}

// fakePsRow is the context of docker ps's --format templates: the same method
// names as docker's, so the same templates work.
type fakePsRow struct {
	c     *fakeContainer
	trunc bool
	now   time.Time
}

func (r fakePsRow) ID() string {
	if r.trunc {
		return r.c.ID[:12]
	}
	return r.c.ID
}
func (r fakePsRow) Names() string { return r.c.Name }
func (r fakePsRow) Image() string { return r.c.Image }
func (r fakePsRow) State() string { return r.c.status() }
func (r fakePsRow) Command() string {
	cmd := strings.Join(r.c.Cmd, " ")
	if r.trunc && len(cmd) > 20 {
		cmd = cmd[:19] + "…"
	}
	return strconv.Quote(cmd)
}

// CreatedAt is Go's time.String, as docker prints it; the fake prints UTC
// so that scripts do not depend on the machine's zone.
func (r fakePsRow) CreatedAt() string  { return r.c.Created.UTC().Truncate(time.Second).String() }
func (r fakePsRow) RunningFor() string { return fakeHumanDuration(r.now.Sub(r.c.Created)) + " ago" }
func (r fakePsRow) Label(k string) string {
	return r.c.Labels[k]
}
func (r fakePsRow) Labels() string {
	var kv []string
	for k, v := range r.c.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
func (r fakePsRow) Status() string {
	switch r.c.status() {
	case "running":
		return "Up " + fakeHumanDuration(r.now.Sub(r.c.Started))
	case "created":
		return "Created"
	}
	return fmt.Sprintf("Exited (%d) %s ago", r.c.ExitCode, fakeHumanDuration(r.now.Sub(r.c.Finished)))
}

// fakeHumanDuration is go-units' HumanDuration, which docker ps uses.
func fakeHumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

var fakePsFlags = fakeFlagSpec{
	names: map[string]string{
		"-a": "all", "--all": "all", "-f": "filter", "--filter": "filter", "--no-trunc": "no-trunc",
		"--format": "format", "-q": "quiet", "--quiet": "quiet",
	},
	bools: map[string]bool{"all": true, "no-trunc": true, "quiet": true},
}

// ps emulates "docker ps": label filters must all hold, name filters are
// unanchored regexps of which one must match (docker's rule, which is why
// the original's name=luzia- also caught "not-luzia-x"), newest first.
func (d *fakeDockerCall) ps(args []string) int {
	f, err := fakePsFlags.parse(args)
	if err != nil {
		return d.flagError("ps", err)
	}
	if len(f.rest) > 0 {
		fmt.Fprintln(d.stderr, `"docker ps" accepts no arguments.`)
		return 1
	}
	format := f.last("format")
	if f.has("quiet") {
		format = "{{.ID}}"
	}
	if format == "" {
		fmt.Fprintln(d.stderr, "fakedocker: ps without --format is not emulated")
		return 125
	}
	// docker's formatter turns the two-character \t and \n into the real ones.
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(format, " "))
	tmpl, err := template.New("").Funcs(fakeTemplateFuncs).Parse(format)
	if err != nil {
		fmt.Fprintf(d.stderr, "template parsing error: %v\n", err)
		return 1
	}
	var labels []fakeLabelFilter
	var names []*regexp.Regexp
	for _, fl := range f.values["filter"] {
		kind, value, _ := strings.Cut(fl, "=")
		switch kind {
		case "label":
			k, v, hasValue := strings.Cut(value, "=")
			labels = append(labels, fakeLabelFilter{k, v, hasValue})
		case "name":
			re, err := regexp.Compile(value)
			if err != nil {
				fmt.Fprintf(d.stderr, "Error response from daemon: %v\n", err)
				return 1
			}
			names = append(names, re)
		default:
			fmt.Fprintf(d.stderr, "fakedocker: ps filter %q is not emulated\n", kind)
			return 125
		}
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	list := append([]*fakeContainer{}, st.Containers...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Seq > list[j].Seq })
	for _, c := range list {
		if !c.Running && !f.has("all") || !fakeMatchLabels(c, labels) || !fakeMatchName(c, names) {
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, fakePsRow{c: c, trunc: !f.has("no-trunc"), now: d.now}); err != nil {
			fmt.Fprintf(d.stderr, "template: %v\n", err)
			return 1
		}
		fmt.Fprintln(d.stdout, buf.String())
	}
	return 0
}

// fakeLabelFilter is "label=KEY" (any value) or "label=KEY=VALUE".
type fakeLabelFilter struct {
	key, value string
	hasValue   bool
}

func fakeMatchLabels(c *fakeContainer, want []fakeLabelFilter) bool {
	for _, f := range want {
		v, ok := c.Labels[f.key]
		if !ok || (f.hasValue && v != f.value) {
			return false
		}
	}
	return true
}

func fakeMatchName(c *fakeContainer, res []*regexp.Regexp) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(c.Name) {
			return true
		}
	}
	return false
}

// start emulates "docker start": each name is printed once started (or
// already running); any missing one fails the call after the others ran.
func (d *fakeDockerCall) start(args []string) int {
	f, err := fakeFlagSpec{}.parse(args)
	if err != nil {
		return d.flagError("start", err)
	}
	var failed []string
	err = d.dir.update(func(st *fakeState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			if c == nil {
				fmt.Fprintf(d.stderr, fakeMsgNoSuchContainer+"\n", ref)
				failed = append(failed, ref)
				continue
			}
			if !c.Running {
				c.Running, c.Started, c.ExitCode = true, d.now, 0
			}
			fmt.Fprintln(d.stdout, ref)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	if len(failed) > 0 {
		fmt.Fprintf(d.stderr, fakeMsgStartFailed+"\n", strings.Join(failed, ", "))
		return 1
	}
	return 0
}

var fakeStopFlags = fakeFlagSpec{
	names: map[string]string{"-t": "time", "--time": "time", "-s": "signal", "--signal": "signal"},
}

// stop emulates "docker stop": it prints each name it stopped (a stopped
// one too); missing ones are error lines and exit 1.
func (d *fakeDockerCall) stop(args []string) int {
	f, err := fakeStopFlags.parse(args)
	if err != nil {
		return d.flagError("stop", err)
	}
	if t := f.last("time"); t != "" {
		if _, err := strconv.Atoi(t); err != nil {
			fmt.Fprintf(d.stderr, "invalid argument %q for \"-t, --time\" flag: strconv.ParseInt: parsing %q: invalid syntax\n", t, t)
			return 125
		}
	}
	code := 0
	err = d.dir.update(func(st *fakeState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			if c == nil {
				fmt.Fprintf(d.stderr, fakeMsgNoSuchContainer+"\n", ref)
				code = 1
				continue
			}
			c.stop(d.now)
			fmt.Fprintln(d.stdout, ref)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	return code
}

var fakeRmFlags = fakeFlagSpec{
	names: map[string]string{"-f": "force", "--force": "force", "-v": "volumes", "--volumes": "volumes"},
	bools: map[string]bool{"force": true, "volumes": true},
}

// rm emulates "docker rm": with -f a running container is killed first,
// and a missing one is still reported on stderr but does not fail the call.
func (d *fakeDockerCall) rm(args []string) int {
	f, err := fakeRmFlags.parse(args)
	if err != nil {
		return d.flagError("rm", err)
	}
	code := 0
	err = d.dir.update(func(st *fakeState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			switch {
			case c == nil:
				fmt.Fprintf(d.stderr, fakeMsgNoSuchContainer+"\n", ref)
				if !f.has("force") {
					code = 1
				}
			case c.Running && !f.has("force"):
				fmt.Fprintf(d.stderr, "Error response from daemon: You cannot remove a running container %s. Stop the container before attempting removal or force remove\n", c.ID)
				code = 1
			default:
				st.remove(c)
				fmt.Fprintln(d.stdout, ref)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	return code
}

var fakeExecFlags = fakeFlagSpec{
	names: map[string]string{
		"-i": "interactive", "--interactive": "interactive", "-t": "tty", "--tty": "tty",
		"-d": "detach", "--detach": "detach", "-e": "env", "--env": "env", "-u": "user",
		"--user": "user", "-w": "workdir", "--workdir": "workdir",
	},
	bools: map[string]bool{"interactive": true, "tty": true, "detach": true},
}

// exec emulates "docker exec" by running the command on the host, in the
// container's mount sources: see fakeHostView.
func (d *fakeDockerCall) exec(args []string) int {
	f, err := fakeExecFlags.parse(args)
	if err != nil {
		return d.flagError("exec", err)
	}
	if len(f.rest) < 2 {
		fmt.Fprintln(d.stderr, `"docker exec" requires at least 2 arguments.`)
		return 1
	}
	if f.has("detach") || f.has("tty") {
		fmt.Fprintln(d.stderr, "fakedocker: exec -d and -t are not emulated")
		return 125
	}
	ref, argv := f.rest[0], f.rest[1:]
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	c := st.find(ref)
	switch {
	case c == nil:
		fmt.Fprintf(d.stderr, fakeMsgNoSuchContainer+"\n", ref)
		return 1
	case !c.Running:
		fmt.Fprintf(d.stderr, fakeMsgNotRunning+"\n", c.ID)
		return 1
	}
	mounts := c.Mounts
	if len(argv) > 2 && argv[1] == "-c" && strings.Contains(argv[2], "/proc") {
		view, err := d.procView(c)
		if err != nil {
			fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
			return 125
		}
		defer os.RemoveAll(view)
		mounts = append(mounts, fakeMount{Source: view, Destination: "/proc"})
	}
	hv, err := newFakeHostView(mounts)
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	workdir := f.last("workdir")
	if workdir == "" {
		workdir = c.Workdir
	}
	if workdir == "" {
		workdir = "/"
	}
	dir, ok := hv.path(workdir)
	if !ok {
		fmt.Fprintf(d.stderr, "fakedocker: working directory %s is not under a mount of %s; give fakestate a path=DIR\n", workdir, c.Name)
		return 125
	}
	env := append([]string{}, fakeImageEnv...)
	env = append(env, "HOSTNAME="+c.ID[:12])
	for _, e := range append(append([]string{}, c.Env...), f.values["env"]...) {
		k, v, _ := strings.Cut(e, "=")
		if p, ok := hv.path(v); ok {
			v = p
		}
		env = append(env, k+"="+v)
	}
	prog, ok := fakeLookPath(argv[0], env)
	if !ok {
		// Docker prints this on stdout, with a carriage return.
		fmt.Fprintf(d.stdout, fakeMsgExecNotFound+"\r\n", argv[0])
		return 126
	}
	cmd := exec.Command(prog, hv.args(argv)[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Dir = dir
	cmd.Env = env
	if f.has("interactive") {
		cmd.Stdin = d.stdin
	}
	stdout, stderr := hv.reverse(d.stdout), hv.reverse(d.stderr)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// The engine lists the exec in ExecIDs from before the command starts
	// until it ends: first by this process, then by the command's own.
	setPid := func(from, to int) {
		_ = d.dir.update(func(st *fakeState) error {
			if c := st.find(ref); c != nil {
				c.ExecPids = slices.DeleteFunc(c.ExecPids, func(p int) bool { return p == from })
				if to != 0 {
					c.ExecPids = append(c.ExecPids, to)
				}
			}
			return nil
		})
	}
	setPid(0, os.Getpid())
	err = cmd.Start()
	if err == nil {
		setPid(os.Getpid(), cmd.Process.Pid)
		err = cmd.Wait()
		setPid(cmd.Process.Pid, 0)
	} else {
		setPid(os.Getpid(), 0)
	}
	stdout.Flush()
	stderr.Flush()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	fmt.Fprintf(d.stdout, "OCI runtime exec failed: %v: unknown\r\n", err)
	return 126
}

// procView stands in for the container's PID namespace: a directory like
// /proc whose numeric entries are only the container's processes (those
// whose environment carries its HOSTNAME, which every exec sets and children
// inherit) and whose other entries lead to the host's. A script that scans
// /proc then sees what it would in the container, not every host process.
func (d *fakeDockerCall) procView(c *fakeContainer) (string, error) {
	view, err := os.MkdirTemp(string(d.dir), "proc-")
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return "", err
	}
	mark := "HOSTNAME=" + c.ID[:12]
	for _, e := range entries {
		name := e.Name()
		if _, err := strconv.Atoi(name); err == nil {
			env, err := os.ReadFile(filepath.Join("/proc", name, "environ"))
			if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), mark) {
				continue
			}
		}
		if err := os.Symlink(filepath.Join("/proc", name), filepath.Join(view, name)); err != nil {
			return "", err
		}
	}
	return view, nil
}

// fakeLookPath finds prog on the PATH of env, as the container's runtime would.
func fakeLookPath(prog string, env []string) (string, bool) {
	if strings.Contains(prog, "/") {
		fi, err := os.Stat(prog)
		return prog, err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// fakeHostView maps container paths onto the host: each mount destination
// stands for its source. It is the fake's main approximation of a container
// (README.md): a path argument under a mount is rewritten, a "bash -c"
// script has every mount destination rewritten wherever it appears, and the
// host paths are written back as container paths in the output.
type fakeHostView struct {
	mounts []fakeMount // longest destination first
}

func newFakeHostView(mounts []fakeMount) (*fakeHostView, error) {
	hv := &fakeHostView{}
	for _, m := range mounts {
		if m.Source == m.Destination {
			continue
		}
		// realpath in the container reports paths without symlinks; so must
		// the host side, or the scripts' /workspace checks would differ.
		src, err := filepath.EvalSymlinks(m.Source)
		if err != nil {
			return nil, fmt.Errorf("mount source: %w", err)
		}
		hv.mounts = append(hv.mounts, fakeMount{Source: src, Destination: m.Destination})
	}
	sort.SliceStable(hv.mounts, func(i, j int) bool {
		return len(hv.mounts[i].Destination) > len(hv.mounts[j].Destination)
	})
	return hv, nil
}

// path maps one container path; ok is false when no mount covers it.
func (hv *fakeHostView) path(p string) (string, bool) {
	for _, m := range hv.mounts {
		if p == m.Destination {
			return m.Source, true
		}
		if rest, ok := strings.CutPrefix(p, m.Destination+"/"); ok {
			return m.Source + "/" + rest, true
		}
	}
	return p, false
}

// args maps an argv: the script of "bash -c" or "sh -c" wholesale, every
// other element only when it is itself a path under a mount.
func (hv *fakeHostView) args(argv []string) []string {
	out := make([]string, len(argv))
	shell := func(a string) bool { return filepath.Base(a) == "bash" || filepath.Base(a) == "sh" }
	for i, a := range argv {
		// The script of a shell that a wrapper runs is a script too.
		if i >= 2 && argv[i-1] == "-c" && shell(argv[i-2]) {
			for _, m := range hv.mounts {
				a = strings.ReplaceAll(a, m.Destination, m.Source)
			}
			out[i] = a
			continue
		}
		out[i], _ = hv.path(a)
	}
	return out
}

// reverse writes host paths back as container paths.
func (hv *fakeHostView) reverse(w io.Writer) *fakeReplaceWriter {
	r := &fakeReplaceWriter{w: w}
	for _, m := range hv.mounts {
		r.pairs = append(r.pairs, [2][]byte{[]byte(m.Source), []byte(m.Destination)})
	}
	return r
}

// fakeReplaceWriter replaces strings in a stream. It holds back only a tail that
// could begin a match, so output that is a prompt (the write script's "R")
// still goes out at once.
type fakeReplaceWriter struct {
	w       io.Writer
	pairs   [][2][]byte
	pending []byte
}

func (r *fakeReplaceWriter) Write(p []byte) (int, error) {
	data := append(r.pending, p...)
	r.pending = nil
	var out []byte
	for len(data) > 0 {
		at, pair := -1, [2][]byte{}
		for _, pr := range r.pairs {
			if i := bytes.Index(data, pr[0]); i >= 0 && (at < 0 || i < at) {
				at, pair = i, pr
			}
		}
		if at >= 0 {
			out = append(out, data[:at]...)
			out = append(out, pair[1]...)
			data = data[at+len(pair[0]):]
			continue
		}
		hold := 0
		for _, pr := range r.pairs {
			for k := min(len(pr[0])-1, len(data)); k > hold; k-- {
				if bytes.HasPrefix(pr[0], data[len(data)-k:]) {
					hold = k
					break
				}
			}
		}
		out = append(out, data[:len(data)-hold]...)
		r.pending = append([]byte{}, data[len(data)-hold:]...)
		break
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what was held back.
func (r *fakeReplaceWriter) Flush() {
	_, _ = r.w.Write(r.pending)
	r.pending = nil
}

// fakeHost answers id and getent for the hermetic scenarios, from the
// passwd-format file $FAKEHOST_USERS (default $WORK/passwd), in which
// "$WORK" stands for the script's work directory.
func fakeHost() int {
	args := os.Args[1:]
	logPath := os.Getenv("FAKEHOST_LOG")
	if logPath == "" && os.Getenv("WORK") != "" {
		logPath = filepath.Join(os.Getenv("WORK"), "host.log")
	}
	if err := fakeAppendLog(logPath, args); err != nil {
		fmt.Fprintf(os.Stderr, "fakehost: %v\n", err)
		return 2
	}
	usersFile := os.Getenv("FAKEHOST_USERS")
	if usersFile == "" && os.Getenv("WORK") != "" {
		usersFile = filepath.Join(os.Getenv("WORK"), "passwd")
	}
	lookup := func(name string) ([]string, bool) {
		b, err := os.ReadFile(usersFile)
		if err != nil {
			return nil, false
		}
		// Homes may live in the script's $WORK.
		text := strings.ReplaceAll(string(b), "$WORK", os.Getenv("WORK"))
		for _, line := range strings.Split(text, "\n") {
			f := strings.Split(line, ":")
			if len(f) == 7 && f[0] == name {
				return f, true
			}
		}
		return nil, false
	}
	switch {
	case len(args) == 3 && args[0] == "id" && (args[1] == "-u" || args[1] == "-g"):
		f, ok := lookup(args[2])
		if !ok {
			fmt.Fprintf(os.Stderr, "id: '%s': no such user\n", args[2])
			return 1
		}
		if args[1] == "-u" {
			fmt.Println(f[2])
		} else {
			fmt.Println(f[3])
		}
		return 0
	case len(args) == 3 && args[0] == "getent" && args[1] == "passwd":
		f, ok := lookup(args[2])
		if !ok {
			return 2 // getent's "key not found", silently
		}
		fmt.Println(strings.Join(f, ":"))
		return 0
	}
	fmt.Fprintf(os.Stderr, "fakehost: only 'id -u|-g NAME' and 'getent passwd NAME' are emulated, got %q\n", args)
	return 2
}

// Script commands for the hermetic scenarios.
var fakeCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// dockerlog prints the docker log with unstable parts masked.
	"dockerlog": fakeCmdDockerlog,
	// fakestate adds a container to the fake engine, or prints them all.
	"fakestate": fakeCmdState,
	// fakeresp queues a canned answer for the next call of a docker verb.
	"fakeresp": fakeCmdResp,
	// age dates a container's last activity back by a duration.
	"age": fakeCmdAge,
	// exitcode runs a program and requires an exact exit code.
	"exitcode": fakeCmdExitcode,
	// waitfile waits until a file exists (a background command got going).
	"waitfile": fakeCmdWaitfile,
	// pidgone checks that the processes named in pid files have ended.
	"pidgone": fakeCmdPidgone,
}

// fakeCmdDockerlog prints $FAKEDOCKER_LOG for cmp: $WORK becomes "$WORK",
// and these become placeholders: the exec id (also as the kill script's
// argument), the created label's time (only when it has the ISO form the
// original writes), and each multi-line "-c" script. With -raw it prints the
// log as it is.
func fakeCmdDockerlog(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! dockerlog")
	}
	raw := len(args) == 1 && args[0] == "-raw"
	if len(args) > 0 && !raw {
		ts.Fatalf("usage: dockerlog [-raw]")
	}
	out := ts.Stdout() // even empty, it replaces the last command's stdout
	b, err := os.ReadFile(ts.Getenv("FAKEDOCKER_LOG"))
	if errors.Is(err, os.ErrNotExist) {
		return // no docker call at all
	}
	ts.Check(err)
	if raw {
		fmt.Fprint(out, string(b))
		return
	}
	masked, err := fakeMaskLog(string(b), ts.Getenv("WORK"))
	ts.Check(err)
	fmt.Fprint(out, masked)
}

var (
	fakeCreatedRE = regexp.MustCompile(`^luzia\.created=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`)
	fakeExecIDRE  = regexp.MustCompile(`^(DOCKERBRIDGE_EXEC_ID=)?[0-9a-f]{24}$`)
)

func fakeMaskLog(log, work string) (string, error) {
	var out strings.Builder
	for _, line := range strings.SplitAfter(log, "\n") {
		if line == "" {
			continue
		}
		args, err := fakeSplitQuoted(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return "", err
		}
		for i, a := range args {
			if i > 0 {
				out.WriteByte(' ')
			}
			script := func(j int) bool { return j > 0 && args[j-1] == "-c" && strings.Contains(args[j], "\n") }
			numeric := a != "" && strings.Trim(a, "0123456789") == ""
			switch {
			case script(i):
				out.WriteString("<script>")
			case numeric && i >= 2 && args[i-1] == "dockerbridge" && script(i-2):
				// The wrapper's deadline: whole seconds left, which a slow
				// cold start can lower by one.
				out.WriteString(strconv.Quote("<T>"))
			case numeric && i >= 3 && args[i-2] == "bash" && script(i-3):
				// The kill script's second argument: the wrapper's pid.
				out.WriteString(strconv.Quote("<PID>"))
			case fakeCreatedRE.MatchString(a):
				out.WriteString(strconv.Quote("luzia.created=<ISO>"))
			case strings.HasPrefix(a, "dockerbridge.fingerprint="):
				// A hash of settings that hold $WORK: it differs each run.
				out.WriteString(strconv.Quote("dockerbridge.fingerprint=<FP>"))
			case fakeExecIDRE.MatchString(a):
				out.WriteString(strconv.Quote(a[:len(a)-24] + "<ID>"))
			default:
				if work != "" {
					a = strings.ReplaceAll(a, work, "$WORK")
				}
				out.WriteString(strconv.Quote(a))
			}
		}
		out.WriteByte('\n')
	}
	return out.String(), nil
}

// fakeSplitQuoted reads back a log line of %q elements.
func fakeSplitQuoted(line string) ([]string, error) {
	var args []string
	for line != "" {
		q, err := strconv.QuotedPrefix(line)
		if err != nil {
			return nil, fmt.Errorf("docker log line %q: %w", line, err)
		}
		a, _ := strconv.Unquote(q)
		args = append(args, a)
		line = strings.TrimPrefix(line[len(q):], " ")
	}
	return args, nil
}

// fakeCmdState with no arguments prints "NAME STATE" for each container, by
// name. Otherwise it adds one:
//
//	fakestate [-nolabels] NAME running|stopped|created [key=value...]
//
// Keys: path=DIR (mounted at /workspace, the working directory), mount=SRC:DST,
// image=, user=, label=K=V, id=, exit=N, and created= and started= as RFC 3339
// times or as negative durations from now (started=-2h). Otherwise the
// container is what dockerbridge's default docker run makes, and a name
// luzia-P gets the labels luzia.project=P and luzia.created unless -nolabels
// is given.
func fakeCmdState(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fakestate")
	}
	dir := fakeDir(ts.Getenv("FAKEDOCKER_STATE"))
	if len(args) == 0 {
		out := ts.Stdout()
		st, err := dir.load()
		ts.Check(err)
		list := append([]*fakeContainer{}, st.Containers...)
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		for _, c := range list {
			state := c.status()
			if state == "exited" {
				state = "stopped"
			}
			fmt.Fprintf(out, "%s %s\n", c.Name, state)
		}
		return
	}
	usage := "usage: fakestate [-nolabels] NAME running|stopped|created [key=value...]"
	labels := true
	if args[0] == "-nolabels" {
		labels, args = false, args[1:]
	}
	if len(args) < 2 {
		ts.Fatalf("%s", usage)
	}
	now := time.Now().UTC()
	c := &fakeContainer{
		Name:   args[0],
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
	started := now
	for _, kv := range args[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			ts.Fatalf("fakestate: %q is not key=value; %s", kv, usage)
		}
		switch k {
		case "path":
			c.Mounts = append(c.Mounts, fakeMount{Source: ts.MkAbs(v), Destination: "/workspace"})
			c.Workdir = "/workspace"
		case "mount":
			m, err := fakeParseVolume(v)
			ts.Check(err)
			c.Mounts = append(c.Mounts, m)
		case "image":
			c.Image = v
		case "user":
			c.User = v
		case "label":
			lk, lv, _ := strings.Cut(v, "=")
			c.Labels[lk] = lv
		case "id":
			c.ID = v
		case "exit":
			n, err := strconv.Atoi(v)
			ts.Check(err)
			c.ExitCode = n
		case "created", "started":
			t, err := fakeParseTime(v, now)
			if err != nil {
				ts.Fatalf("fakestate: %s: %v", k, err)
			}
			if k == "created" {
				c.Created = t
			} else {
				started = t
			}
		default:
			ts.Fatalf("fakestate: unknown key %q; %s", k, usage)
		}
	}
	if project, ok := strings.CutPrefix(c.Name, "luzia-"); ok && labels {
		c.Labels["luzia.project"] = project
		c.Labels["luzia.created"] = c.Created.Local().Format("2006-01-02T15:04:05.000000")
	}
	switch args[1] {
	case "running":
		c.Running, c.Started = true, started
	case "stopped":
		c.Started, c.Finished = started, started
		if c.ExitCode == 0 {
			c.ExitCode = 143
		}
	case "created":
	default:
		ts.Fatalf("%s", usage)
	}
	ts.Check(dir.update(func(st *fakeState) error {
		if st.byName(c.Name) != nil {
			return fmt.Errorf("fakestate: %s exists", c.Name)
		}
		st.add(c)
		return nil
	}))
}

// fakeParseTime reads an RFC 3339 time, or a negative duration from now.
func fakeParseTime(v string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(v, "-") {
		d, err := time.ParseDuration(v)
		return now.Add(d), err
	}
	return time.Parse(time.RFC3339Nano, v)
}

// fakeCmdResp queues a canned answer:
//
//	fakeresp [-apply] VERB EXIT [STDERR]
//
// The next docker call whose verb is VERB ("exec", "run", "container
// inspect", ...) prints STDERR (a line, or @FILE for a file's content) and
// exits EXIT instead of doing its work. With -apply the call's work is done
// first, silently: a run that finds the name taken by a racing creator. An
// answer still queued when the script ends fails it.
func fakeCmdResp(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fakeresp")
	}
	r := cannedResponse{}
	if len(args) > 0 && args[0] == "-apply" {
		r.Apply, args = true, args[1:]
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: fakeresp [-apply] VERB EXIT [STDERR|@FILE]")
	}
	r.Verb = args[0]
	code, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("fakeresp: exit code %q: %v", args[1], err)
	}
	r.Exit = code
	if len(args) == 3 {
		if file, ok := strings.CutPrefix(args[2], "@"); ok {
			r.Stderr = ts.ReadFile(file)
		} else {
			r.Stderr = args[2] + "\n"
		}
	}
	dir := fakeDir(ts.Getenv("FAKEDOCKER_STATE"))
	ts.Check(dir.locked(func() error {
		var queue []cannedResponse
		if err := dir.loadJSON("canned.json", &queue); err != nil {
			return err
		}
		return dir.saveJSON("canned.json", append(queue, r))
	}))
}

// fakeUnusedCanned lists the canned answers no docker call consumed.
func fakeUnusedCanned(stateDir string) ([]cannedResponse, error) {
	var queue []cannedResponse
	err := fakeDir(stateDir).loadJSON("canned.json", &queue)
	return queue, err
}

// checkCanned fails the script when a canned answer was never used: the
// scenario did not go the way it claims.
func checkCanned(env *testscript.Env) {
	queue, err := fakeUnusedCanned(env.Getenv("FAKEDOCKER_STATE"))
	if err != nil {
		env.T().Fatal(err)
	}
	for _, r := range queue {
		env.T().Log(fmt.Sprintf("fakeresp: unused: docker %s -> exit %d, stderr %q", r.Verb, r.Exit, r.Stderr))
	}
	if len(queue) > 0 {
		env.T().Fatal("fakeresp: a canned docker answer was never used: the scenario did not take the path it claims")
	}
}

// fakeCmdAge sets a container's last activity to DURATION ago:
//
//	age NAME DURATION
func fakeCmdAge(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: age NAME DURATION")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil || d < 0 {
		ts.Fatalf("age: duration %q: want a non-negative Go duration", args[1])
	}
	dir := ts.Getenv("DOCKERBRIDGE_STATE_DIR")
	ts.Check(os.MkdirAll(dir, 0o700))
	p := filepath.Join(dir, args[0]+".activity")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	ts.Check(err)
	ts.Check(f.Close())
	t := time.Now().Add(-d)
	ts.Check(os.Chtimes(p, t, t))
}

// fakeCmdExitcode runs a program like exec and requires its exit code:
//
//	exitcode N program [args...]
//
// stdout and stderr are then those of the program.
func fakeCmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		got = exitErr.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// fakeCmdWaitfile waits for a file that a background command creates once
// it is under way, so that a script can act while it is in flight:
//
//	waitfile FILE [REGEXP]
//
// With REGEXP it also waits until the file's content matches it. It gives
// up after a minute, which only a broken scenario reaches.
func fakeCmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [REGEXP]")
	}
	re := regexp.MustCompile("")
	if len(args) == 2 {
		var err error
		if re, err = regexp.Compile(args[1]); err != nil {
			ts.Fatalf("waitfile: %v", err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear (or match) within a minute", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeCmdPidgone checks that each process whose pid a file holds has ended:
//
//	pidgone FILE...
//
// A zombie has ended: its parent, a fake docker exec, is gone, and the
// machine's init may reap it late.
func fakeCmdPidgone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: pidgone FILE...")
	}
	for _, file := range args {
		pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(file)))
		if err != nil {
			ts.Fatalf("pidgone: %s: %v", file, err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		ts.Check(err)
		// The state follows the command name, which is in parentheses.
		_, rest, _ := bytes.Cut(stat, []byte(") "))
		if len(rest) == 0 || rest[0] != 'Z' {
			ts.Fatalf("pidgone: process %d (%s) is still running: %s", pid, file, stat)
		}
	}
}
