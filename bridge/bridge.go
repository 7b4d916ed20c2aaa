package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"dockerbridge/bridge/egress"
	"dockerbridge/dockercli"
)

// Defaults shared with the original Python bridge. A zero Config field takes
// them, and the CLI shows them as its flags' defaults.
const (
	DefaultImage   = "luzia-sandbox:latest"
	DefaultPrefix  = "luzia-"
	DefaultTimeout = 300 * time.Second
	DefaultIdle    = 10 * time.Minute
	DefaultMemory  = "2g"
	DefaultCPUs    = "2"
	DefaultNetwork = "host"
	DefaultRestart = "unless-stopped"
	Workspace      = "/workspace"
	ProjectLabel   = "luzia.project"
	CreatedLabel   = "luzia.created"
	// DefaultOutputCap bounds each captured stream of an exec.
	DefaultOutputCap = 10 << 20
)

// Config is everything that shapes a project's container. Zero values take
// the defaults of the original.
type Config struct {
	Project string
	// HostPath is the host directory mounted at /workspace; "" = the
	// project user's home. A relative one is made absolute.
	HostPath string
	Image    string
	Prefix   string // container name prefix
	Timeout  time.Duration
	Mounts   []string // extra -v values; a relative source is made absolute
	Env      []string // extra -e values
	Memory   string
	CPUs     string
	Network  string
	Restart  string
	NoInit   bool
	Extra    []string // extra docker run flags, already split
	// Hardening narrows what the container's processes may do (see
	// Hardened).
	Hardening dockercli.Hardening
	// AllowOutside lets file operations reach paths outside /workspace.
	AllowOutside bool
	OutputCap    int
	// RemoteEngine says that host paths are on the engine's machine, not
	// this one: they are then neither checked nor stat'ed here. New sets it
	// too when the docker client's context or the environment names a
	// remote engine.
	RemoteEngine bool
	// Warn receives warnings (the uid fallback); nil discards them.
	Warn io.Writer

	// Egress, when set, holds --egress allow=... values: the container
	// then reaches out only through a proxy that applies them.
	Egress []string
	// EgressImage is an image whose entrypoint is dockerbridge, for the
	// proxy; "" makes one from EgressBinary or this program.
	EgressImage string
	// EgressBinary is a static Linux build of dockerbridge for the proxy.
	EgressBinary string
	// EgressOutside is the proxy's network to the outside; "" = bridge.
	EgressOutside string
	// EgressHosts are NAME:IP entries for the proxy's /etc/hosts.
	EgressHosts []string
}

// Bridge is one project's container.
type Bridge struct {
	cfg    Config
	docker *dockercli.Client
	sys    dockercli.Runner // runs id and getent on the host
	state  *State

	// In a fleet: the engine the container is on, whether this call
	// placed it there (it is yet to be made), and whether the caller
	// pinned the engine.
	fleet  *Fleet
	engine string
	placed bool
	pin    bool
	egress egress.Policy
}

// containerName reports whether s follows docker's rule for container
// names, [a-zA-Z0-9][a-zA-Z0-9_.-]*. It is checked by hand: every call
// checks it, and compiling the pattern cost each start more than that.
func containerName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !alnum(c) && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return s != ""
}

// alnum reports whether c is an ASCII letter or digit.
func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ErrNoProject reports a Config without a project.
var ErrNoProject = errors.New("no project given")

// ValidateProject checks a project name against docker's container name rule.
func ValidateProject(project string) error {
	if project == "" {
		return ErrNoProject
	}
	if len(project) > 200 || !containerName(project) {
		return fmt.Errorf("invalid project name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", project)
	}
	return nil
}

// envName reports whether s follows the shell's rule for a variable name,
// [A-Za-z_][A-Za-z0-9_]*.
func envName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if c != '_' && !alnum(c) || i == 0 && '0' <= c && c <= '9' {
			return false
		}
	}
	return s != ""
}

// ValidateEnv checks KEY=VALUE settings of an environment: a bad one is an
// *EnvError.
func ValidateEnv(env []string) error {
	for _, e := range env {
		name, _, ok := strings.Cut(e, "=")
		if !ok || !envName(name) {
			return &EnvError{Setting: e}
		}
	}
	return nil
}

// EnvRule is what an environment setting must look like.
const EnvRule = "want KEY=VALUE, with KEY made of letters, digits and '_', not starting with a digit"

// EnvError is an environment setting that is not KEY=VALUE with a variable
// name for KEY.
type EnvError struct{ Setting string }

func (e *EnvError) Error() string {
	return fmt.Sprintf("invalid environment setting %q: %s", e.Setting, EnvRule)
}

// New returns the bridge for cfg.Project. It starts nothing.
func New(cfg Config, docker *dockercli.Client, sys dockercli.Runner, state *State) (*Bridge, error) {
	if err := ValidateProject(cfg.Project); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.HostPath = absPath(cfg.HostPath)
	// The proxy image is made in a directory of its own, where a relative
	// path would name another file.
	cfg.EgressBinary = absPath(cfg.EgressBinary)
	cfg.Mounts = slices.Clone(cfg.Mounts)
	for i, m := range cfg.Mounts {
		cfg.Mounts[i] = mountSource(m)
	}
	if docker != nil && remoteEngine(docker.Context) {
		cfg.RemoteEngine = true
	}
	if !containerName(cfg.Prefix + cfg.Project) {
		return nil, fmt.Errorf("invalid container prefix %q", cfg.Prefix)
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if strings.HasPrefix(cfg.Image, "-") {
		return nil, fmt.Errorf("invalid image %q", cfg.Image)
	}
	for _, m := range cfg.Mounts {
		if strings.HasPrefix(m, "-") || !strings.Contains(m, ":") {
			return nil, fmt.Errorf("invalid mount %q: want SRC:DST[:ro]", m)
		}
	}
	if err := ValidateEnv(cfg.Env); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.OutputCap <= 0 {
		cfg.OutputCap = DefaultOutputCap
	}
	if cfg.Memory == "" {
		cfg.Memory = DefaultMemory
	}
	if cfg.CPUs == "" {
		cfg.CPUs = DefaultCPUs
	}
	if cfg.Network == "" {
		cfg.Network = DefaultNetwork
	}
	if cfg.Restart == "" {
		cfg.Restart = DefaultRestart
	}
	if cfg.Warn == nil {
		cfg.Warn = io.Discard
	}
	policy, err := egress.ParsePolicy(cfg.Egress)
	if err != nil {
		return nil, err
	}
	if !policy.Empty() {
		switch {
		case cfg.Network == NoNetwork:
			return nil, errors.New("--egress and --no-network contradict each other: choose one")
		case cfg.Network != "host":
			return nil, fmt.Errorf("--egress and --network %s contradict each other: egress puts the container on a network of its own", cfg.Network)
		}
		if cfg.EgressOutside == "" {
			cfg.EgressOutside = DefaultEgressNetwork
		}
		for _, h := range cfg.EgressHosts {
			if name, ip, ok := strings.Cut(h, ":"); !ok || name == "" || ip == "" || strings.HasPrefix(h, "-") {
				return nil, fmt.Errorf("invalid --egress-host %q: want NAME:IP", h)
			}
		}
		if strings.HasPrefix(cfg.EgressImage, "-") || strings.HasPrefix(cfg.EgressOutside, "-") {
			return nil, errors.New("invalid --egress-image or --egress-network: starts with '-'")
		}
		cfg.Network = cfg.Prefix + cfg.Project + EgressNetSuffix
	}
	return &Bridge{cfg: cfg, docker: docker, sys: sys, state: state, egress: policy}, nil
}

// absPath makes a host path absolute: docker takes a bare name for a named
// volume, and would silently mount an empty one.
func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// mountSource makes the source of a mount SRC:DST[:ro] absolute when it is a
// relative path: docker takes a relative source for the name of a volume,
// and would silently mount an empty one. A bare name that is no file or
// directory here stays a volume name, as docker's -v has it.
func mountSource(m string) string {
	src, rest, ok := strings.Cut(m, ":")
	if !ok || src == "" || filepath.IsAbs(src) {
		return m
	}
	if _, err := os.Lstat(src); err != nil && !strings.ContainsAny(src, "/") && src != "." && src != ".." {
		return m
	}
	return absPath(src) + ":" + rest
}

// remoteEngine reports whether the engine may run on another machine, whose
// paths this one cannot see: a Docker context other than the default, or a
// DOCKER_HOST that is not a local socket.
func remoteEngine(context string) bool {
	if context == "" {
		context = os.Getenv("DOCKER_CONTEXT")
	}
	if context != "" && context != "default" {
		return true
	}
	host := os.Getenv("DOCKER_HOST")
	return host != "" && !strings.HasPrefix(host, "unix://")
}

// Name is the container's name.
func (b *Bridge) Name() string { return b.cfg.Prefix + b.cfg.Project }

// Config returns the effective configuration.
func (b *Bridge) Config() Config { return b.cfg }

// hostOutput runs a host command (id, getent) and returns its trimmed stdout.
func (b *Bridge) hostOutput(ctx context.Context, args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	code, err := b.sys.Run(ctx, dockercli.Cmd{Args: args, Stdout: &out})
	if err != nil || code != 0 {
		return "", false
	}
	return strings.TrimSpace(out.String()), true
}

// userSpec resolves uid:gid like `id -u`/`id -g` of the project. A project
// with no user on the host runs as the owner of the directory it mounts, so
// that the files it writes can be written and keep their owner; only when
// that cannot be read either does it fall back to 1000, as the original did.
func (b *Bridge) userSpec(ctx context.Context, path string) string {
	uid, okU := b.hostOutput(ctx, "id", "-u", b.cfg.Project)
	gid, okG := b.hostOutput(ctx, "id", "-g", b.cfg.Project)
	numeric := func(v string) bool { return v != "" && strings.Trim(v, "0123456789") == "" }
	var spec string
	switch {
	case okU && okG && numeric(uid) && numeric(gid):
		spec = uid + ":" + gid
	default:
		if fi, err := b.statLocal(path); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				spec = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
				fmt.Fprintf(b.cfg.Warn, "dockerbridge: no user %s on this host: running as %s, the owner of %s\n", b.cfg.Project, spec, path)
				break
			}
		}
		spec = "1000:1000"
		fmt.Fprintf(b.cfg.Warn, "dockerbridge: warning: no user %s on this host, and the owner of %s cannot be read here: running as 1000:1000 (create the user %s, or give --path a directory owned by the uid its files should have)\n", b.cfg.Project, path, b.cfg.Project)
	}
	if strings.HasPrefix(spec, "0:") {
		fmt.Fprintf(b.cfg.Warn, "dockerbridge: warning: %s runs as uid 0: the agent is root inside the container, and what it writes is root's (use a project user, or a --path owned by one)\n", b.Name())
	}
	return spec
}

// statLocal stats a host path, unless the engine is remote: then its paths
// are on another machine, and this one knows nothing of them.
func (b *Bridge) statLocal(path string) (os.FileInfo, error) {
	if b.cfg.RemoteEngine {
		return nil, errRemote
	}
	return os.Stat(path)
}

var errRemote = errors.New("the engine is remote")

// checkPath refuses a workspace that does not exist: docker would create it
// owned by root, and every write as the project user would then fail.
func (b *Bridge) checkPath(path string) error {
	fi, err := b.statLocal(path)
	switch {
	case errors.Is(err, errRemote):
		return nil
	case err != nil:
		return &WorkspaceError{Path: path, Err: err}
	case !fi.IsDir():
		return &WorkspaceError{Path: path, Err: syscall.ENOTDIR}
	}
	return nil
}

// WorkspaceError is a host directory that cannot be the workspace: Err is
// fs.ErrNotExist for a missing one, syscall.ENOTDIR for a file.
type WorkspaceError struct {
	Path string
	Err  error
}

func (e *WorkspaceError) Error() string {
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("workspace %s does not exist", e.Path)
	case errors.Is(e.Err, syscall.ENOTDIR):
		return fmt.Sprintf("workspace %s is not a directory", e.Path)
	}
	return fmt.Sprintf("workspace %s: %v", e.Path, e.Err)
}

func (e *WorkspaceError) Unwrap() error { return e.Err }

// NoHomeError is a project with no user on the host, so no home to mount,
// and no Config.HostPath.
type NoHomeError struct{ Project string }

func (e *NoHomeError) Error() string {
	return fmt.Sprintf("project user %q not found and no host path given", e.Project)
}

// hostPath is the directory to mount: --path, else the project user's home.
func (b *Bridge) hostPath(ctx context.Context) (string, error) {
	if b.cfg.HostPath != "" {
		return b.cfg.HostPath, nil
	}
	line, ok := b.hostOutput(ctx, "getent", "passwd", b.cfg.Project)
	fields := strings.Split(line, ":")
	if !ok || len(fields) < 7 || fields[5] == "" {
		return "", &NoHomeError{Project: b.cfg.Project}
	}
	return fields[5], nil
}

// Identity is what the host says of a project's container: the directory
// it mounts at /workspace and the uid:gid it runs as.
type Identity struct {
	Path string
	User string
}

// Identity looks the project up on the host: the directory is HostPath,
// else the project user's home (getent); the user is the project user's
// uid:gid (id), else the directory's owner. What it falls back on, it says
// on Config.Warn.
func (b *Bridge) Identity(ctx context.Context) (Identity, error) {
	path, err := b.hostPath(ctx)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Path: path, User: b.userSpec(ctx, path)}, nil
}

// RunSpec is the docker run of the project's container for id, labelled as
// made at now: the original's flags and values, plus --init. It runs
// nothing.
func (b *Bridge) RunSpec(id Identity, now time.Time) dockercli.RunSpec {
	env := []string{
		"HOME=" + Workspace,
		"npm_config_cache=" + Workspace + "/.npm",
		"TMPDIR=" + Workspace + "/.tmp",
		"TEMP=" + Workspace + "/.tmp",
		"TMP=" + Workspace + "/.tmp",
	}
	labels := []string{
		ProjectLabel + "=" + b.cfg.Project,
		CreatedLabel + "=" + now.Format("2006-01-02T15:04:05.000000"),
	}
	if !b.egress.Empty() {
		env = append(env, b.proxyEnv()...)
		labels = append(labels, EgressLabel+"="+b.egress.String())
	}
	return dockercli.RunSpec{
		Name:      b.Name(),
		User:      id.User,
		Env:       append(env, b.cfg.Env...),
		Mounts:    append([]string{id.Path + ":" + Workspace}, b.cfg.Mounts...),
		Workdir:   Workspace,
		Network:   b.cfg.Network,
		Restart:   b.cfg.Restart,
		Memory:    b.cfg.Memory,
		CPUs:      b.cfg.CPUs,
		Init:      !b.cfg.NoInit,
		Labels:    append(labels, settingsLabels(b.settings(id.Path))...),
		Extra:     b.cfg.Extra,
		Hardening: b.cfg.Hardening,
		Image:     b.cfg.Image,
		Command:   []string{"tail", "-f", "/dev/null"},
	}
}
