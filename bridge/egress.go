package bridge

// Egress control: a project's container on an internal network of its own,
// which has no route out, and a proxy container on that network and an
// outside one, which lets through only what the policy allows. The proxy is
// dockerbridge itself (its proxy command) in an image made with docker
// import from a static Linux build: nothing is pulled.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"dockerbridge/bridge/egress"
	"dockerbridge/dockercli"
)

// Labels of egress-controlled containers and their networks.
const (
	// EgressLabel holds the policy, on the project's container, its proxy
	// and its internal network.
	EgressLabel = "dockerbridge.egress"
	// RoleLabel marks the proxy container.
	RoleLabel = "dockerbridge.role"
	RoleProxy = "egress-proxy"
	// ProxySuffix and EgressNetSuffix follow the container's name in the
	// names of its proxy and its internal network.
	ProxySuffix     = "-proxy"
	EgressNetSuffix = "-egress"
	// DefaultEgressNetwork is the outside network of the proxy.
	DefaultEgressNetwork = "bridge"
)

// ProxyName is the name of the container's egress proxy.
func (b *Bridge) ProxyName() string { return b.Name() + ProxySuffix }

// EgressNetwork is the name of the container's internal network.
func (b *Bridge) EgressNetwork() string { return b.Name() + EgressNetSuffix }

// Egress is the policy of this call, empty without --egress.
func (b *Bridge) EgressPolicy() egress.Policy { return b.egress }

// proxyURL is what the container's HTTP_PROXY and HTTPS_PROXY say.
func (b *Bridge) proxyURL() string {
	return "http://" + b.ProxyName() + ":" + strconv.Itoa(egress.Port)
}

// proxyEnv points every common client at the proxy. Both spellings are
// set: curl reads only the lower-case http_proxy, Go only the upper-case
// one under CGI, most others either.
func (b *Bridge) proxyEnv() []string {
	u := b.proxyURL()
	noProxy := "localhost,127.0.0.1,::1"
	return []string{
		"HTTP_PROXY=" + u, "HTTPS_PROXY=" + u, "NO_PROXY=" + noProxy,
		"http_proxy=" + u, "https_proxy=" + u, "no_proxy=" + noProxy,
	}
}

// recordedEgress is the policy the container was made with, as this state
// directory recorded it; empty when none or unknown.
func (b *Bridge) recordedEgress() egress.Policy {
	seen, ok := b.state.loadSeen(b.Name())
	if !ok || seen.Settings == nil || seen.Settings.Egress == "" {
		return egress.Policy{}
	}
	p, err := egress.ParsePolicy([]string{seen.Settings.Egress})
	if err != nil {
		return egress.Policy{}
	}
	return p
}

// knownEgress is this call's policy, else the recorded one.
func (b *Bridge) knownEgress() egress.Policy {
	if !b.egress.Empty() {
		return b.egress
	}
	return b.recordedEgress()
}

// ensureEgress makes the internal network and a fresh proxy for policy,
// before the container is run on that network. A proxy left from an
// earlier container (with another policy, perhaps) is replaced.
func (b *Bridge) ensureEgress(ctx context.Context, policy egress.Policy) error {
	image, err := b.ProxyImage(ctx)
	if err != nil {
		return err
	}
	if err := b.ensureEgressNetwork(ctx, policy); err != nil {
		return err
	}
	_, _ = b.docker.Output(ctx, dockercli.RmArgs(b.ProxyName())...)
	return b.runProxy(ctx, image, policy)
}

func (b *Bridge) ensureEgressNetwork(ctx context.Context, policy egress.Policy) error {
	_, err := b.docker.Output(ctx, dockercli.NetworkCreateArgs(b.EgressNetwork(), true,
		ProjectLabel+"="+b.cfg.Project, EgressLabel+"="+policy.String())...)
	var ce *dockercli.CmdError
	if errors.As(err, &ce) && strings.Contains(ce.Stderr, "already exists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create network %s: %w", b.EgressNetwork(), err)
	}
	return nil
}

// ProxyRunSpec is the docker run of the proxy: on the outside network first
// (docker run takes one), hardened whatever the project's container is, and
// restarted with the engine like the container.
func (b *Bridge) ProxyRunSpec(image string, policy egress.Policy) dockercli.RunSpec {
	// Hardened in any case, and no router: the proxy joins the internal
	// network and an outside one, and a kernel that forwarded between them
	// would be a way out that the proxy never sees.
	harden := Hardened()
	harden.Sysctls = []string{"net.ipv4.ip_forward=0"}
	// A refused request is a log line, and the container can make them in
	// a loop: keep the log to a bounded tail on the engine's disk. `egress
	// log` reads the rotated files too.
	extra := []string{"--log-driver", "json-file", "--log-opt", "max-size=5m", "--log-opt", "max-file=2"}
	for _, h := range b.cfg.EgressHosts {
		extra = append(extra, "--add-host", h)
	}
	return dockercli.RunSpec{
		Name:    b.ProxyName(),
		User:    "65534:65534",
		Network: b.cfg.EgressOutside,
		Restart: "unless-stopped",
		Memory:  "256m",
		Labels: []string{
			ProjectLabel + "=" + b.cfg.Project,
			RoleLabel + "=" + RoleProxy,
			EgressLabel + "=" + policy.String(),
		},
		Extra:     extra,
		Hardening: harden,
		Image:     image,
		Command:   []string{"proxy", "--listen", ":" + strconv.Itoa(egress.Port), "--policy", policy.String()},
	}
}

func (b *Bridge) runProxy(ctx context.Context, image string, policy egress.Policy) error {
	_, err := b.docker.Run(ctx, b.ProxyRunSpec(image, policy))
	switch {
	case errors.Is(err, dockercli.ErrNameConflict):
		// Another caller made it a moment ago, for the same container.
	case errors.Is(err, dockercli.ErrNoSuchImage):
		return fmt.Errorf("egress proxy image %s not found (%w)", image, err)
	case err != nil:
		_ = b.docker.Remove(context.WithoutCancel(ctx), b.ProxyName())
		return fmt.Errorf("run egress proxy %s: %w", b.ProxyName(), err)
	}
	_, err = b.docker.Output(ctx, dockercli.NetworkConnectArgs(b.EgressNetwork(), b.ProxyName())...)
	var ce *dockercli.CmdError
	if err != nil && !(errors.As(err, &ce) && strings.Contains(ce.Stderr, "already exists")) {
		return fmt.Errorf("connect egress proxy %s to %s: %w", b.ProxyName(), b.EgressNetwork(), err)
	}
	return nil
}

// startProxy starts the proxy of a stopped container before the container
// itself, making it anew (with policy) when it is gone.
func (b *Bridge) startProxy(ctx context.Context, policy egress.Policy) error {
	err := b.docker.Start(ctx, b.ProxyName())
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return b.ensureEgress(ctx, policy)
	}
	if err != nil {
		return fmt.Errorf("start egress proxy %s: %w", b.ProxyName(), err)
	}
	return nil
}

// removeEgress removes the proxy, then the network it was attached to.
func (b *Bridge) removeEgress(ctx context.Context) error {
	if _, err := b.docker.Output(ctx, dockercli.RmArgs(b.ProxyName())...); err != nil && !errors.Is(err, dockercli.ErrNoSuchContainer) {
		return fmt.Errorf("remove egress proxy %s: %w", b.ProxyName(), err)
	}
	_, err := b.docker.Output(ctx, dockercli.NetworkRmArgs(b.EgressNetwork())...)
	var ce *dockercli.CmdError
	if err != nil && !(errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "no such network")) {
		return fmt.Errorf("remove network %s: %w", b.EgressNetwork(), err)
	}
	return nil
}

// EgressLog returns the denials the proxy has logged, from docker logs: they
// live as long as the proxy container, across its restarts.
func (b *Bridge) EgressLog(ctx context.Context) ([]egress.Record, error) {
	out, err := b.docker.Output(ctx, dockercli.LogsArgs(b.ProxyName())...)
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return nil, fmt.Errorf("%s has no egress proxy (made without --egress, or removed)", b.Name())
	}
	if err != nil {
		return nil, err
	}
	return egress.ParseLog(strings.NewReader(out))
}

// ProxyImage returns the image the proxy runs: --egress-image, else one made
// with docker import from a static Linux build of dockerbridge for the
// engine's architecture, once per build.
func (b *Bridge) ProxyImage(ctx context.Context) (string, error) {
	if b.cfg.EgressImage != "" {
		return b.cfg.EgressImage, nil
	}
	out, err := b.docker.Output(ctx, dockercli.ServerPlatformArgs()...)
	if err != nil {
		return "", fmt.Errorf("ask the engine its platform: %w", err)
	}
	osName, arch, _ := strings.Cut(strings.TrimSpace(out), "/")
	if osName != "linux" || arch == "" {
		return "", fmt.Errorf("the engine runs %q: the egress proxy needs a linux engine", strings.TrimSpace(out))
	}
	bin, cleanup, err := b.proxyBinary(ctx, arch)
	if err != nil {
		return "", err
	}
	defer cleanup()
	sum, err := egress.HashFile(bin)
	if err != nil {
		return "", err
	}
	tag := egress.Tag(sum)
	if _, err := b.docker.Output(ctx, dockercli.ImageInspectArgs("{{.Id}}", tag)...); err == nil {
		return tag, nil
	}
	tarball, err := egress.Tarball(bin)
	if err != nil {
		return "", err
	}
	if _, err := b.docker.Input(ctx, tarball, dockercli.ImportArgs(tag, egress.ImportChanges...)...); err != nil {
		return "", fmt.Errorf("make the egress proxy image %s: %w", tag, err)
	}
	return tag, nil
}

// proxyBinary finds a static linux/arch build of dockerbridge: the one
// given with --egress-binary, else this very program when it is one, else a
// build from the module's source when the current directory is in it.
func (b *Bridge) proxyBinary(ctx context.Context, arch string) (string, func(), error) {
	none := func() {}
	if p := b.cfg.EgressBinary; p != "" {
		if err := egress.CheckStaticLinux(p, arch); err != nil {
			return "", none, fmt.Errorf("--egress-binary: %w", err)
		}
		return p, none, nil
	}
	self, err := os.Executable()
	if err == nil && runtime.GOOS == "linux" && egress.CheckStaticLinux(self, arch) == nil {
		return self, none, nil
	}
	if bin, cleanup, err := b.buildProxy(ctx, arch); err == nil {
		return bin, cleanup, nil
	}
	return "", none, fmt.Errorf("no static linux/%s build of dockerbridge for the egress proxy: make one with "+
		"`CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -o dockerbridge-linux-%s .` in its source and pass "+
		"--egress-binary dockerbridge-linux-%s, or pass --egress-image", arch, arch, arch, arch)
}

// buildProxy builds dockerbridge for linux/arch when the current directory
// is in its module and a go toolchain is at hand.
func (b *Bridge) buildProxy(ctx context.Context, arch string) (string, func(), error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	mod, err := exec.CommandContext(ctx, goBin, "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", nil, err
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(mod)), " ")
	if path != "dockerbridge" || dir == "" {
		return "", nil, errors.New("not in the dockerbridge module")
	}
	tmp, err := os.MkdirTemp("", "dockerbridge-proxy-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	out := filepath.Join(tmp, "dockerbridge")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("go build: %v: %s", err, dockercli.ErrorLine(string(msg)))
	}
	return out, cleanup, nil
}

// proxyState is the proxy's docker state, or "missing".
func (b *Bridge) proxyState(ctx context.Context) string {
	out, err := b.docker.Inspect(ctx, "{{.State.Status}}", b.ProxyName())
	if errors.Is(err, dockercli.ErrNoSuchContainer) {
		return "missing"
	}
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

// isProxyOf reports whether a container named name, labelled with project,
// is that project's egress proxy: its name is the project's container name
// with ProxySuffix, whatever the prefix. A project's own container is named
// prefix+project, which cannot end in project+ProxySuffix.
func isProxyOf(name, project string) bool {
	return project != "" && strings.HasSuffix(name, project+ProxySuffix)
}
