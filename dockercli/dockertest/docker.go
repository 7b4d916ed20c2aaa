package dockertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"dockerbridge/dockercli"
	"encoding/csv"
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
)

// Main is the fake docker as a program, for testscript's RunMain: the
// engine lives in $FAKEDOCKER_STATE, each call is logged to $FAKEDOCKER_LOG,
// and FAKEDOCKER_DAEMON_DOWN=1 and FAKEDOCKER_NO_IMAGE=1 inject faults.
func Main() int {
	if os.Getenv("FAKEDOCKER_STATE") == "" {
		fmt.Fprintln(os.Stderr, "fakedocker: FAKEDOCKER_STATE is not set")
		return 125
	}
	e := &Engine{
		Dir:          os.Getenv("FAKEDOCKER_STATE"),
		Log:          os.Getenv("FAKEDOCKER_LOG"),
		Work:         os.Getenv("WORK"),
		DaemonDown:   os.Getenv("FAKEDOCKER_DAEMON_DOWN") == "1",
		DownContexts: strings.FieldsFunc(os.Getenv("FAKEDOCKER_DOWN_CONTEXTS"), func(r rune) bool { return r == ',' }),
		NoImage:      os.Getenv("FAKEDOCKER_NO_IMAGE") == "1",
	}
	code, err := e.Run(context.Background(), dockercli.Cmd{
		Args: append([]string{"docker"}, os.Args[1:]...), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakedocker: %v\n", err)
		return 125
	}
	return code
}

// appendLog writes one line per call: each argv element in Go's %q, so
// spaces, quotes and newlines in an element never blur its boundaries.
func appendLog(path string, args []string) error {
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

// dockerCall is one invocation of the fake docker.
type dockerCall struct {
	e              *Engine
	ctx            context.Context
	dir            stateDir
	stdin          io.Reader
	stdout, stderr io.Writer
	now            time.Time
}

func (d *dockerCall) main(args []string) int {
	// Global flags before the subcommand.
	dockerContext := ""
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--context" && len(args) > 1:
			dockerContext, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "--context="):
			dockerContext, args = strings.TrimPrefix(args[0], "--context="), args[1:]
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
	if (verb == "container" || verb == "network" || verb == "image") && len(rest) > 0 {
		verb, rest = verb+" "+rest[0], rest[1:]
	}
	// Each context other than the default is an engine of its own, with
	// its own containers.
	d.dir = stateDir(contextDir(string(d.dir), dockerContext))
	if d.e.DaemonDown || slices.Contains(d.e.DownContexts, dockerContext) {
		if verb == "run" {
			fmt.Fprintln(d.stderr, "docker: "+msgDaemonDown+"\n"+msgRunHelp)
			return 125
		}
		fmt.Fprintln(d.stderr, msgDaemonDown)
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

func (d *dockerCall) dispatch(verb string, args []string) int {
	switch verb {
	case "run":
		if d.e.BeforeRun != nil {
			d.e.BeforeRun()
		}
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
	case "info":
		return d.info(args)
	case "version":
		return d.version(args)
	case "exec", "container exec":
		if d.e.BeforeExec != nil {
			d.e.BeforeExec(args)
		}
		return d.exec(args)
	case "network create":
		return d.networkCreate(args)
	case "network connect":
		return d.networkConnect(args)
	case "network rm":
		return d.networkRm(args)
	case "network ls":
		return d.networkLs(args)
	case "image inspect":
		return d.imageInspect(args)
	case "import":
		return d.imp(args)
	case "logs":
		return d.logs(args)
	}
	fmt.Fprintf(d.stderr, "fakedocker: %q is not emulated\n", verb)
	return 125
}

// flagError is docker's answer to a bad flag: its text, a pointer to the
// help, and exit 125.
func (d *dockerCall) flagError(verb string, err error) int {
	fmt.Fprintf(d.stderr, "%v\nSee 'docker %s --help'.\n", err, verb)
	return 125
}

// flagSet is a command line split the way docker's flag parser does:
// flags (with their values) up to the first non-flag argument.
type flagSet struct {
	values map[string][]string // canonical flag name -> values, in order
	rest   []string
}

func (p flagSet) has(name string) bool { return len(p.values[name]) > 0 }

func (p flagSet) last(name string) string {
	v := p.values[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// flagSpec maps every accepted spelling to a canonical name; boolean flags
// take no value.
type flagSpec struct {
	names map[string]string
	bools map[string]bool
}

// parse fails with docker's own text for an unknown flag or a missing value.
func (s flagSpec) parse(args []string) (flagSet, error) {
	p := flagSet{values: map[string][]string{}}
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

var runFlags = flagSpec{
	names: map[string]string{
		"-d": "detach", "--detach": "detach", "--name": "name", "-u": "user", "--user": "user",
		"-e": "env", "--env": "env", "-v": "volume", "--volume": "volume", "-w": "workdir",
		"--workdir": "workdir", "--network": "network", "--net": "network", "--restart": "restart",
		"-m": "memory", "--memory": "memory", "--cpus": "cpus", "-l": "label", "--label": "label",
		"--init": "init", "--rm": "rm", "-i": "interactive", "-t": "tty",
		"--read-only": "read-only", "--cap-drop": "cap-drop", "--security-opt": "security-opt",
		"--pids-limit": "pids-limit", "--tmpfs": "tmpfs", "--cap-add": "cap-add", "--ulimit": "ulimit",
		"--add-host": "add-host", "--mount": "mount", "--log-driver": "log-driver", "--log-opt": "log-opt",
		"--sysctl": "sysctl",
	},
	bools: map[string]bool{"detach": true, "init": true, "rm": true, "interactive": true, "tty": true, "read-only": true},
}

// run emulates "docker run -d": create and start in one step.
func (d *dockerCall) run(args []string) int {
	f, err := runFlags.parse(args)
	if err != nil {
		return d.flagError("run", err)
	}
	if len(f.rest) == 0 {
		fmt.Fprintln(d.stderr, "docker: 'docker run' requires at least 1 argument\n"+msgRunHelp)
		return 125
	}
	if !f.has("detach") {
		fmt.Fprintln(d.stderr, "fakedocker: run without -d is not emulated")
		return 125
	}
	image := f.rest[0]
	if d.e.NoImage || len(d.e.Images) > 0 && !slices.Contains(d.e.Images, image) {
		repo := image
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		fmt.Fprintf(d.stderr, msgNoImageLocal+"\n", image)
		fmt.Fprintln(d.stderr, fmt.Sprintf(msgPullDenied, repo)+"\n"+msgRunHelp)
		return 125
	}
	c := &Container{
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
		m, err := ParseVolume(v)
		if err != nil {
			fmt.Fprintf(d.stderr, "docker: Error response from daemon: %v.\n%s\n", err, msgRunHelp)
			return 125
		}
		// Docker creates a missing bind source; the fake does so only
		// under $WORK, so that no scenario litters the host.
		if _, err := os.Stat(m.Source); err != nil && !underWork(m.Source, d.e.Work) {
			fmt.Fprintf(d.stderr, "fakedocker: bind source %s does not exist, and the fake creates one only under $WORK\n", m.Source)
			return 125
		}
		if err := os.MkdirAll(m.Source, 0o755); err != nil {
			fmt.Fprintf(d.stderr, "docker: Error response from daemon: %v.\n%s\n", err, msgRunHelp)
			return 125
		}
		c.Mounts = append(c.Mounts, m)
	}
	for _, v := range f.values["mount"] {
		m, err := ParseMount(v)
		if err != nil {
			fmt.Fprintf(d.stderr, "invalid argument %q for \"--mount\" flag: %v\nSee 'docker run --help'.\n", v, err)
			return 125
		}
		// Unlike -v, --mount never creates a missing bind source.
		if _, err := os.Stat(m.Source); err != nil {
			fmt.Fprintf(d.stderr, "docker: Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: %s.\n%s\n", m.Source, msgRunHelp)
			return 125
		}
		c.Mounts = append(c.Mounts, m)
	}
	var conflict *Container
	missingNet := ""
	err = d.dir.update(func(st *engineState) error {
		if c.Name != "" {
			if conflict = st.byName(c.Name); conflict != nil {
				return nil
			}
		}
		if n := c.Network; n != "" && !slices.Contains(builtinNetworks, n) {
			net := st.network(n)
			if net == nil {
				missingNet = n
				return nil
			}
			net.Members = append(net.Members, c.Name)
		}
		st.add(c)
		return nil
	})
	if missingNet != "" {
		fmt.Fprintf(d.stderr, "docker: Error response from daemon: network %s not found.\n%s\n", missingNet, msgRunHelp)
		return 125
	}
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	if conflict != nil {
		fmt.Fprintln(d.stderr, fmt.Sprintf(msgConflict, c.Name, conflict.ID)+"\n"+msgRunHelp)
		return 125
	}
	fmt.Fprintln(d.stdout, c.ID)
	return 0
}

// underWork reports whether p lies in the script's $WORK.
func underWork(p, work string) bool {
	return work != "" && strings.HasPrefix(filepath.Clean(p)+"/", filepath.Clean(work)+"/")
}

// ParseVolume reads a bind mount "SRC:DST[:ro|rw]". Named volumes are not
// emulated.
func ParseVolume(v string) (Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Mount{}, fmt.Errorf("invalid volume specification: '%s'", v)
	}
	m := Mount{Source: parts[0], Destination: parts[1]}
	if !filepath.IsAbs(m.Source) {
		return Mount{}, fmt.Errorf("fakedocker: named volume %q is not emulated", m.Source)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return Mount{}, fmt.Errorf("invalid mode: %s", parts[2])
		}
	}
	return m, nil
}

// ParseMount reads a --mount value of type bind, as docker's CSV.
func ParseMount(v string) (Mount, error) {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return Mount{}, err
	}
	var m Mount
	for _, f := range fields {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "type":
			if val != "bind" {
				return Mount{}, fmt.Errorf("fakedocker: mount type %q is not emulated", val)
			}
		case "source", "src":
			m.Source = val
		case "target", "dst", "destination":
			m.Destination = val
		case "readonly", "ro":
			m.ReadOnly = val == "" || val == "true" || val == "1"
		default:
			return Mount{}, fmt.Errorf("unexpected key '%s' in '%s'", k, f)
		}
	}
	if m.Source == "" || m.Destination == "" || !filepath.IsAbs(m.Source) {
		return Mount{}, errors.New("fakedocker: want an absolute source and a target")
	}
	return m, nil
}

// InspectView is the part of docker's container JSON the fake fills in;
// --format templates run over it, as docker's do.
type InspectView struct {
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
	Mounts []InspectMount
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

type InspectMount struct {
	Type        string
	Source      string
	Destination string
	Mode        string
	RW          bool
	Propagation string
}

// dockerTime is how the engine prints times; the zero time is docker's
// "0001-01-01T00:00:00Z" for a container never started.
func dockerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (c *Container) status() string {
	switch {
	case c.Running:
		return "running"
	case c.Started.IsZero():
		return "created"
	}
	return "exited"
}

func (c *Container) view() InspectView {
	var v InspectView
	v.ID = c.ID
	v.Created = dockerTime(c.Created)
	if len(c.Cmd) > 0 {
		v.Path, v.Args = c.Cmd[0], c.Cmd[1:]
	}
	v.State.Status = c.status()
	v.State.Running = c.Running
	if c.Running {
		v.State.Pid = 1000 + c.Seq
	}
	v.State.ExitCode = c.ExitCode
	v.State.StartedAt = dockerTime(c.Started)
	v.State.FinishedAt = dockerTime(c.Finished)
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
		v.Mounts = append(v.Mounts, InspectMount{"bind", m.Source, m.Destination, mode, !m.ReadOnly, "rprivate"})
	}
	v.HostConfig.NetworkMode = c.Network
	v.HostConfig.RestartPolicy.Name = c.Restart
	v.HostConfig.Memory = parseBytes(c.Memory)
	if cpus, err := strconv.ParseFloat(c.CPUs, 64); err == nil {
		v.HostConfig.NanoCpus = int64(cpus * 1e9)
	}
	if c.Init {
		v.HostConfig.Init = &c.Init
	}
	v.Config.Hostname = c.ID[:12]
	v.Config.User = c.User
	v.Config.Env = append(append([]string{}, ImageEnv...), c.Env...)
	v.Config.Cmd = c.Cmd
	v.Config.Image = c.Image
	v.Config.WorkingDir = c.Workdir
	v.Config.Labels = map[string]string{} // docker prints {} for none
	maps.Copy(v.Config.Labels, c.Labels)
	return v
}

func parseBytes(s string) int64 {
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

// templateFuncs are the template functions docker adds.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

var inspectFlags = flagSpec{
	names: map[string]string{"-f": "format", "--format": "format", "-s": "size", "--size": "size"},
	bools: map[string]bool{"size": true},
}

// inspect emulates "docker container inspect": every container found is
// printed, each missing one is an error line, and any miss exits 1.
func (d *dockerCall) inspect(args []string) int {
	f, err := inspectFlags.parse(args)
	if err != nil {
		return d.flagError("container inspect", err)
	}
	if len(f.rest) == 0 {
		fmt.Fprintln(d.stderr, `"docker container inspect" requires at least 1 argument.`)
		return 1
	}
	var tmpl *template.Template
	if format := f.last("format"); format != "" {
		if tmpl, err = template.New("").Funcs(templateFuncs).Parse(format); err != nil {
			fmt.Fprintf(d.stderr, "template parsing error: %v\n", err)
			return 1
		}
	}
	st, err := d.dir.load()
	if err != nil {
		fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
		return 125
	}
	var found []InspectView
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
			found = []InspectView{}
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
		fmt.Fprintf(d.stderr, d.e.noSuch()+"\n", ref)
	}
	if len(missing) > 0 {
		return 1
	}
	return 0
}

// psRow is the context of docker ps's --format templates: the same method
// names as docker's, so the same templates work.
type psRow struct {
	c     *Container
	trunc bool
	now   time.Time
}

func (r psRow) ID() string {
	if r.trunc {
		return r.c.ID[:12]
	}
	return r.c.ID
}
func (r psRow) Names() string { return r.c.Name }
func (r psRow) Image() string { return r.c.Image }
func (r psRow) State() string { return r.c.status() }
func (r psRow) Command() string {
	cmd := strings.Join(r.c.Cmd, " ")
	if r.trunc && len(cmd) > 20 {
		cmd = cmd[:19] + "…"
	}
	return strconv.Quote(cmd)
}

// CreatedAt is Go's time.String, as docker prints it; the fake prints UTC
// so that scripts do not depend on the machine's zone.
func (r psRow) CreatedAt() string  { return r.c.Created.UTC().Truncate(time.Second).String() }
func (r psRow) RunningFor() string { return humanDuration(r.now.Sub(r.c.Created)) + " ago" }
func (r psRow) Label(k string) string {
	return r.c.Labels[k]
}
func (r psRow) Labels() string {
	var kv []string
	for k, v := range r.c.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
func (r psRow) Status() string {
	switch r.c.status() {
	case "running":
		return "Up " + humanDuration(r.now.Sub(r.c.Started))
	case "created":
		return "Created"
	}
	return fmt.Sprintf("Exited (%d) %s ago", r.c.ExitCode, humanDuration(r.now.Sub(r.c.Finished)))
}

// humanDuration is go-units' HumanDuration, which docker ps uses.
func humanDuration(d time.Duration) string {
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

var psFlags = flagSpec{
	names: map[string]string{
		"-a": "all", "--all": "all", "-f": "filter", "--filter": "filter", "--no-trunc": "no-trunc",
		"--format": "format", "-q": "quiet", "--quiet": "quiet",
	},
	bools: map[string]bool{"all": true, "no-trunc": true, "quiet": true},
}

// ps emulates "docker ps": label filters must all hold, name filters are
// unanchored regexps of which one must match (docker's rule, which is why
// the original's name=luzia- also caught "not-luzia-x"), newest first.
func (d *dockerCall) ps(args []string) int {
	f, err := psFlags.parse(args)
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
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		fmt.Fprintf(d.stderr, "template parsing error: %v\n", err)
		return 1
	}
	var labels []labelFilter
	var names []*regexp.Regexp
	for _, fl := range f.values["filter"] {
		kind, value, _ := strings.Cut(fl, "=")
		switch kind {
		case "label":
			k, v, hasValue := strings.Cut(value, "=")
			labels = append(labels, labelFilter{k, v, hasValue})
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
	list := append([]*Container{}, st.Containers...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Seq > list[j].Seq })
	for _, c := range list {
		if !c.Running && !f.has("all") || !matchLabels(c, labels) || !matchName(c, names) {
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, psRow{c: c, trunc: !f.has("no-trunc"), now: d.now}); err != nil {
			fmt.Fprintf(d.stderr, "template: %v\n", err)
			return 1
		}
		fmt.Fprintln(d.stdout, buf.String())
	}
	return 0
}

// labelFilter is "label=KEY" (any value) or "label=KEY=VALUE".
type labelFilter struct {
	key, value string
	hasValue   bool
}

func matchLabels(c *Container, want []labelFilter) bool {
	for _, f := range want {
		v, ok := c.Labels[f.key]
		if !ok || (f.hasValue && v != f.value) {
			return false
		}
	}
	return true
}

func matchName(c *Container, res []*regexp.Regexp) bool {
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
func (d *dockerCall) start(args []string) int {
	f, err := flagSpec{}.parse(args)
	if err != nil {
		return d.flagError("start", err)
	}
	var failed []string
	err = d.dir.update(func(st *engineState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			if c == nil {
				fmt.Fprintf(d.stderr, d.e.noSuch()+"\n", ref)
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
		fmt.Fprintf(d.stderr, msgStartFailed+"\n", strings.Join(failed, ", "))
		return 1
	}
	return 0
}

var stopFlags = flagSpec{
	names: map[string]string{"-t": "time", "--time": "time", "-s": "signal", "--signal": "signal"},
}

// stop emulates "docker stop": it prints each name it stopped (a stopped
// one too); missing ones are error lines and exit 1.
func (d *dockerCall) stop(args []string) int {
	f, err := stopFlags.parse(args)
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
	err = d.dir.update(func(st *engineState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			if c == nil {
				fmt.Fprintf(d.stderr, d.e.noSuch()+"\n", ref)
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

var rmFlags = flagSpec{
	names: map[string]string{"-f": "force", "--force": "force", "-v": "volumes", "--volumes": "volumes"},
	bools: map[string]bool{"force": true, "volumes": true},
}

// rm emulates "docker rm": with -f a running container is killed first,
// and a missing one is still reported on stderr but does not fail the call.
func (d *dockerCall) rm(args []string) int {
	f, err := rmFlags.parse(args)
	if err != nil {
		return d.flagError("rm", err)
	}
	code := 0
	err = d.dir.update(func(st *engineState) error {
		for _, ref := range f.rest {
			c := st.find(ref)
			switch {
			case c == nil:
				fmt.Fprintf(d.stderr, d.e.noSuch()+"\n", ref)
				if !f.has("force") {
					code = 1
				}
			case c.Running && !f.has("force"):
				fmt.Fprintf(d.stderr, "Error response from daemon: You cannot remove a running container %s. Stop the container before attempting removal or force remove\n", c.ID)
				code = 1
			default:
				st.remove(c)
				st.detach(c.Name)
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

var execFlags = flagSpec{
	names: map[string]string{
		"-i": "interactive", "--interactive": "interactive", "-t": "tty", "--tty": "tty",
		"-d": "detach", "--detach": "detach", "-e": "env", "--env": "env", "-u": "user",
		"--user": "user", "-w": "workdir", "--workdir": "workdir",
	},
	bools: map[string]bool{"interactive": true, "tty": true, "detach": true},
}

// exec emulates "docker exec" by running the command on the host, in the
// container's mount sources: see hostView.
func (d *dockerCall) exec(args []string) int {
	f, err := execFlags.parse(args)
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
		fmt.Fprintf(d.stderr, d.e.noSuch()+"\n", ref)
		return 1
	case !c.Running:
		fmt.Fprintf(d.stderr, d.e.notRunning()+"\n", c.ID)
		return 1
	}
	mounts := c.Mounts
	if len(argv) > 2 && argv[1] == "-c" && strings.Contains(argv[2], "/proc") {
		view, stop, err := d.procView(c)
		if err != nil {
			fmt.Fprintf(d.stderr, "fakedocker: %v\n", err)
			return 125
		}
		defer os.RemoveAll(view)
		defer stop()
		mounts = append(mounts, Mount{Source: view, Destination: "/proc"})
	}
	hv, err := newHostView(mounts)
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
	env := append([]string{}, ImageEnv...)
	env = append(env, "HOSTNAME="+c.ID[:12])
	for _, e := range append(append([]string{}, c.Env...), f.values["env"]...) {
		k, v, _ := strings.Cut(e, "=")
		if p, ok := hv.path(v); ok {
			v = p
		}
		env = append(env, k+"="+v)
	}
	prog, ok := lookPath(argv[0], env)
	if !ok {
		// Docker prints this on stdout, with a carriage return.
		fmt.Fprintf(d.stdout, msgExecNotFound+"\r\n", argv[0])
		return 126
	}
	cmd := exec.Command(prog, hv.args(argv)[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Dir = dir
	cmd.Env = env
	if f.has("interactive") {
		cmd.Stdin = d.stdin
	}
	// The client's streams: once the client is gone (ctx ends), the
	// command runs on in the container, but its output goes nowhere.
	out, errOut := &detachable{w: d.stdout}, &detachable{w: d.stderr}
	stdout, stderr := hv.reverse(out), hv.reverse(errOut)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 500 * time.Millisecond
	// The engine lists the exec in ExecIDs from before the command starts
	// until it ends: first by a placeholder pid (this process), then by
	// the command's own.
	setPid := func(from, to int) {
		_ = d.dir.update(func(st *engineState) error {
			if c := st.find(ref); c != nil {
				if i := slices.Index(c.ExecPids, from); i >= 0 {
					c.ExecPids = slices.Delete(c.ExecPids, i, i+1)
				}
				if to != 0 {
					c.ExecPids = append(c.ExecPids, to)
				}
			}
			return nil
		})
	}
	setPid(0, os.Getpid())
	if err = cmd.Start(); err != nil {
		setPid(os.Getpid(), 0)
	} else {
		setPid(os.Getpid(), cmd.Process.Pid)
		d.e.started(cmd.Process)
		done := make(chan error, 1)
		d.e.execs.Add(1)
		go func() {
			defer d.e.execs.Done()
			err := cmd.Wait()
			setPid(cmd.Process.Pid, 0)
			done <- err
		}()
		select {
		case err = <-done:
		case <-d.ctx.Done():
			out.detach()
			errOut.detach()
			return -1
		}
	}
	stdout.Flush()
	stderr.Flush()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command ended; a child of its own kept the streams open.
		err = nil
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			return code
		}
	}
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

var versionFlags = flagSpec{names: map[string]string{"-f": "format", "--format": "format"}}

// version emulates "docker version --format": the engine answers, so a
// command's own exit 255 is not taken for a lost daemon.
func (d *dockerCall) version(args []string) int {
	f, err := versionFlags.parse(args)
	if err != nil {
		return d.flagError("version", err)
	}
	if f.last("format") == "" || len(f.rest) > 0 {
		fmt.Fprintln(d.stderr, "fakedocker: version without --format is not emulated")
		return 125
	}
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(f.last("format"))
	if err != nil {
		fmt.Fprintf(d.stderr, "template parsing error: %v\n", err)
		return 1
	}
	type version struct{ Version, APIVersion, Os, Arch string }
	goos, arch, _ := strings.Cut(Platform, "/")
	v := struct{ Client, Server version }{version{"28.2.2", "1.41", goos, arch}, version{"20.10.24", "1.41", goos, arch}}
	if err := tmpl.Execute(d.stdout, v); err != nil {
		fmt.Fprintf(d.stderr, "template: %v\n", err)
		return 1
	}
	fmt.Fprintln(d.stdout)
	return 0
}

// The engine's size, as docker info gives it.
const (
	InfoNCPU     = 4
	InfoMemTotal = 8 << 30
)

// info answers docker info for the one format the bridge asks.
func (d *dockerCall) info(args []string) int {
	if len(args) != 2 || args[0] != "--format" || args[1] != `{{.NCPU}}{{"\t"}}{{.MemTotal}}` {
		fmt.Fprintf(d.stderr, "fakedocker: info %q not emulated\n", args)
		return 125
	}
	fmt.Fprintf(d.stdout, "%d\t%d\n", InfoNCPU, InfoMemTotal)
	return 0
}
