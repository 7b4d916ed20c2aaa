package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"dockerbridge/dockercli"
)

// Defaults shared with the original Python bridge.
const (
	DefaultImage   = "luzia-sandbox:latest"
	DefaultPrefix  = "luzia-"
	DefaultTimeout = 300 * time.Second
	DefaultIdle    = 10 * time.Minute
	Workspace      = "/workspace"
	ProjectLabel   = "luzia.project"
	CreatedLabel   = "luzia.created"
	// DefaultOutputCap bounds each captured stream of an exec.
	DefaultOutputCap = 10 << 20
)

// Config is everything that shapes a project's container. Zero values take
// the defaults of the original.
type Config struct {
	Project  string
	HostPath string // host directory mounted at /workspace; "" = the project user's home
	Image    string
	Prefix   string // container name prefix
	Timeout  time.Duration
	Mounts   []string // extra -v values
	Env      []string // extra -e values
	Memory   string
	CPUs     string
	Network  string
	Restart  string
	NoInit   bool
	Extra    []string // extra docker run flags, already split
	// AllowOutside lets file operations reach paths outside /workspace.
	AllowOutside bool
	OutputCap    int
	// Warn receives warnings (the uid fallback); nil discards them.
	Warn io.Writer
}

// Bridge is one project's container.
type Bridge struct {
	cfg    Config
	docker *dockercli.Client
	sys    dockercli.Runner // runs id and getent on the host
	state  *State
}

// nameRE is docker's rule for container names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateProject checks a project name against docker's container name rule.
func ValidateProject(project string) error {
	if project == "" {
		return errors.New("no project given (use --project or DOCKERBRIDGE_PROJECT)")
	}
	if len(project) > 200 || !nameRE.MatchString(project) {
		return fmt.Errorf("invalid project name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", project)
	}
	return nil
}

// New returns the bridge for cfg.Project. It starts nothing.
func New(cfg Config, docker *dockercli.Client, sys dockercli.Runner, state *State) (*Bridge, error) {
	if err := ValidateProject(cfg.Project); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !nameRE.MatchString(cfg.Prefix + cfg.Project) {
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
	for _, e := range cfg.Env {
		if strings.HasPrefix(e, "-") || !strings.Contains(e, "=") {
			return nil, fmt.Errorf("invalid env %q: want KEY=VALUE", e)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.OutputCap <= 0 {
		cfg.OutputCap = DefaultOutputCap
	}
	if cfg.Memory == "" {
		cfg.Memory = "2g"
	}
	if cfg.CPUs == "" {
		cfg.CPUs = "2"
	}
	if cfg.Network == "" {
		cfg.Network = "host"
	}
	if cfg.Restart == "" {
		cfg.Restart = "unless-stopped"
	}
	if cfg.Warn == nil {
		cfg.Warn = io.Discard
	}
	return &Bridge{cfg: cfg, docker: docker, sys: sys, state: state}, nil
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

// userSpec resolves uid:gid like `id -u`/`id -g` of the project, falling back
// to 1000 with a warning as the original does.
func (b *Bridge) userSpec(ctx context.Context) string {
	ids := make([]string, 2)
	for i, flag := range []string{"-u", "-g"} {
		v, ok := b.hostOutput(ctx, "id", flag, b.cfg.Project)
		if !ok || v == "" || strings.Trim(v, "0123456789") != "" {
			kind := map[string]string{"-u": "UID", "-g": "GID"}[flag]
			fmt.Fprintf(b.cfg.Warn, "dockerbridge: warning: could not get %s for %s, using 1000\n", kind, b.cfg.Project)
			v = "1000"
		}
		ids[i] = v
	}
	return ids[0] + ":" + ids[1]
}

// hostPath is the directory to mount: --path, else the project user's home.
func (b *Bridge) hostPath(ctx context.Context) (string, error) {
	if b.cfg.HostPath != "" {
		return b.cfg.HostPath, nil
	}
	line, ok := b.hostOutput(ctx, "getent", "passwd", b.cfg.Project)
	fields := strings.Split(line, ":")
	if !ok || len(fields) < 7 || fields[5] == "" {
		return "", fmt.Errorf("project user %q not found and no --path given: pass --path DIR to choose the directory mounted at %s", b.cfg.Project, Workspace)
	}
	return fields[5], nil
}

// RunSpec is the docker run of the project's container: the original's
// flags and values, plus --init.
func (b *Bridge) RunSpec(ctx context.Context, now time.Time) (dockercli.RunSpec, error) {
	path, err := b.hostPath(ctx)
	if err != nil {
		return dockercli.RunSpec{}, err
	}
	env := []string{
		"HOME=" + Workspace,
		"npm_config_cache=" + Workspace + "/.npm",
		"TMPDIR=" + Workspace + "/.tmp",
		"TEMP=" + Workspace + "/.tmp",
		"TMP=" + Workspace + "/.tmp",
	}
	return dockercli.RunSpec{
		Name:    b.Name(),
		User:    b.userSpec(ctx),
		Env:     append(env, b.cfg.Env...),
		Mounts:  append([]string{path + ":" + Workspace}, b.cfg.Mounts...),
		Workdir: Workspace,
		Network: b.cfg.Network,
		Restart: b.cfg.Restart,
		Memory:  b.cfg.Memory,
		CPUs:    b.cfg.CPUs,
		Init:    !b.cfg.NoInit,
		Labels: []string{
			ProjectLabel + "=" + b.cfg.Project,
			CreatedLabel + "=" + now.Format("2006-01-02T15:04:05.000000"),
		},
		Extra:   b.cfg.Extra,
		Image:   b.cfg.Image,
		Command: []string{"tail", "-f", "/dev/null"},
	}, nil
}
