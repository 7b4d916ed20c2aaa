package bridge

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"
	"dockerbridge/dockercli/dockertest"

	"github.com/google/go-cmp/cmp"
)

// staticELF writes the header of a static linux/amd64 executable: all that
// the proxy image's checks read.
func staticELF(t *testing.T) string {
	t.Helper()
	var h elf.Header64
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h.Type = uint16(elf.ET_EXEC)
	h.Machine = uint16(elf.EM_X86_64)
	h.Version = uint32(elf.EV_CURRENT)
	h.Ehsize = 64
	h.Phentsize = 56
	h.Shentsize = 64
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dockerbridge-linux-amd64")
	if err := os.WriteFile(p, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newEgressBridge(t *testing.T, e *dockertest.Engine, st *State, configure ...func(*Config)) *Bridge {
	t.Helper()
	ws := t.TempDir()
	cfg := Config{Project: "x", HostPath: ws, Egress: []string{"allow=a.test,*.b.test:8443"}}
	for _, f := range configure {
		f(&cfg)
	}
	if st == nil {
		var err error
		if st, err = OpenState(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(cfg, &dockercli.Client{Runner: e}, hostIDs{"1000", "1000"}, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEgressEnsureMakesNetworkProxyAndContainer(t *testing.T) {
	e := dockertest.New(t)
	bin := staticELF(t)
	b := newEgressBridge(t, e, nil, func(c *Config) {
		c.EgressBinary = bin
		c.EgressHosts = []string{"a.test:192.0.2.1"}
		*c = Harden(*c, true, false)
	})
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	policy := "allow=a.test,*.b.test:8443"
	nets := e.Networks()
	want := []dockertest.Network{{
		Name: "luzia-x-egress", Internal: true,
		Labels:  map[string]string{ProjectLabel: "x", EgressLabel: policy},
		Options: []string{"com.docker.network.bridge.inhibit_ipv4=true"},
		Members: []string{"luzia-x-proxy", "luzia-x"},
	}}
	if diff := cmp.Diff(want, nets); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}
	images := e.Imported()
	if len(images) != 1 || !strings.HasPrefix(images[0], "dockerbridge-proxy:") {
		t.Fatalf("images %v, want one imported proxy image", images)
	}
	proxy, ok := e.Container("luzia-x-proxy")
	if !ok || !proxy.Running {
		t.Fatalf("no running proxy: %+v", proxy)
	}
	if proxy.Image != images[0] || proxy.Network != "bridge" || proxy.Restart != "unless-stopped" || proxy.User != "65534:65534" ||
		proxy.Labels[RoleLabel] != RoleProxy || proxy.Labels[ProjectLabel] != "x" ||
		!slices.Equal(proxy.Cmd, []string{"proxy", "--listen", ":3128", "--policy", policy}) {
		t.Errorf("proxy %+v", proxy)
	}
	run := e.CallsOf("run")[0]
	for _, flag := range []string{"--cap-drop", "--read-only", "--add-host", "net.ipv4.ip_forward=0"} {
		if !slices.Contains(run, flag) {
			t.Errorf("proxy run %q lacks %s", run, flag)
		}
	}
	ctr, ok := e.Container("luzia-x")
	if !ok || ctr.Network != "luzia-x-egress" || ctr.Labels[EgressLabel] != policy {
		t.Fatalf("container %+v", ctr)
	}
	for _, env := range []string{
		"HTTP_PROXY=http://luzia-x-proxy:3128", "https_proxy=http://luzia-x-proxy:3128", "NO_PROXY=localhost,127.0.0.1,::1",
	} {
		if !slices.Contains(ctr.Env, env) {
			t.Errorf("container env %q lacks %s", ctr.Env, env)
		}
	}
	// The hardened profile applies to the project's container too.
	if run := e.CallsOf("run")[1]; !slices.Contains(run, "--cap-drop") || !slices.Contains(run, "luzia-x-egress") {
		t.Errorf("container run %q", run)
	}
}

func TestEgressImageMadeOnce(t *testing.T) {
	e := dockertest.New(t)
	bin := staticELF(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressBinary = bin })
	for range 2 {
		if _, err := b.Ensure(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Remove(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.CallsOf("import")); n != 1 {
		t.Errorf("%d imports, want 1", n)
	}
}

func TestEgressImageGiven(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "my/proxy:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.Container("luzia-x-proxy"); p.Image != "my/proxy:1" {
		t.Errorf("proxy image %s", p.Image)
	}
	if n := len(e.CallsOf("import")) + len(e.CallsOf("version")); n != 0 {
		t.Errorf("%d import or version calls with --egress-image", n)
	}
}

func TestEgressBinaryRefused(t *testing.T) {
	e := dockertest.New(t)
	script := filepath.Join(t.TempDir(), "dockerbridge")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressBinary = script })
	_, err := b.Ensure(t.Context())
	if err == nil || !strings.Contains(err.Error(), "--egress-binary: "+script+" is not a Linux executable") {
		t.Fatalf("got %v", err)
	}
	if c := e.Containers(); len(c) != 0 {
		t.Errorf("containers left: %v", c)
	}
}

func TestEgressRemoveLeavesNothing(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	removed, err := b.Remove(t.Context())
	if err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if c, n := e.Containers(), e.Networks(); len(c) != 0 || len(n) != 0 {
		t.Errorf("left containers %v and networks %v", c, n)
	}
}

// Known from the state directory: a call without --egress removes them too.
func TestEgressRemoveWithoutFlag(t *testing.T) {
	e := dockertest.New(t)
	st, _ := OpenState(t.TempDir())
	b := newEgressBridge(t, e, st, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	plain := newEgressBridge(t, e, st, func(c *Config) { c.Egress = nil })
	if _, err := plain.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c, n := e.Containers(), e.Networks(); len(c) != 0 || len(n) != 0 {
		t.Errorf("left containers %v and networks %v", c, n)
	}
}

func TestEgressStatusSaysProxyDown(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(t.Context())
	if err != nil || st.Egress != "allow=a.test,*.b.test:8443" || st.EgressProxy != "running" {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := b.docker.Output(t.Context(), "stop", "luzia-x-proxy"); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Status(t.Context()); !st.Running || st.EgressProxy != "exited" {
		t.Fatalf("status with the proxy stopped %+v", st)
	}
	if _, err := b.docker.Output(t.Context(), "rm", "-f", "luzia-x-proxy"); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Status(t.Context()); st.EgressProxy != "missing" {
		t.Fatalf("status with the proxy removed %+v", st)
	}
	// A container without egress says nothing of it, and asks nothing.
	e2 := dockertest.New(t)
	plain := newEgressBridge(t, e2, nil, func(c *Config) { c.Egress = nil })
	if _, err := plain.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := plain.Status(t.Context()); st.Egress != "" || st.EgressProxy != "" || len(e2.CallsOf("container inspect")) != 2 {
		t.Errorf("plain status %+v, %d inspects", st, len(e2.CallsOf("container inspect")))
	}
}

func TestEgressStartsProxyWithStoppedContainer(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	ctx := t.Context()
	if _, err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.Container("luzia-x-proxy"); p.Running {
		t.Fatal("stop left the proxy running")
	}
	if started, err := b.Ensure(ctx); err != nil || !started {
		t.Fatalf("ensure: %v %v", started, err)
	}
	if p, _ := e.Container("luzia-x-proxy"); !p.Running {
		t.Fatal("the proxy did not start with its container")
	}
	// A proxy removed by hand is made anew.
	if _, err := b.docker.Output(ctx, "stop", "luzia-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.docker.Output(ctx, "rm", "-f", "luzia-x-proxy"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if p, ok := e.Container("luzia-x-proxy"); !ok || !p.Running {
		t.Fatal("no proxy after a start")
	}
	if n := e.Networks(); len(n) != 1 || !slices.Contains(n[0].Members, "luzia-x-proxy") {
		t.Errorf("networks %+v", n)
	}
}

func TestEgressSettingsDrift(t *testing.T) {
	base := Settings{Image: "i", Path: "/w", Memory: "2g", CPUs: "2", Network: "host", Restart: "unless-stopped", Init: true}
	if strings.Contains(base.json(), "egress") {
		t.Errorf("settings without egress carry the key, which changes every old fingerprint: %s", base.json())
	}
	with := base
	with.Egress = "allow=a.test"
	other := base
	other.Egress = "allow=a.test,b.test"
	if with.Fingerprint() == base.Fingerprint() || with.Fingerprint() == other.Fingerprint() {
		t.Error("the egress policy does not change the fingerprint")
	}
	if diff := with.Diff(other); !slices.Contains(diff, "egress allow=a.test (asked: allow=a.test,b.test)") {
		t.Errorf("diff %q", diff)
	}
	e := dockertest.New(t)
	st, _ := OpenState(t.TempDir())
	b := newEgressBridge(t, e, st, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	changed := newEgressBridge(t, e, st, func(c *Config) {
		c.EgressImage, c.HostPath = "p:1", b.cfg.HostPath
		c.Egress = []string{"allow=a.test"}
	})
	if diff := changed.Drift(t.Context()); !slices.ContainsFunc(diff, func(d string) bool { return strings.HasPrefix(d, "egress ") }) {
		t.Errorf("drift %q, want the egress policy named", diff)
	}
}

func TestEgressRecreateWithoutEgressRemovesProxy(t *testing.T) {
	e := dockertest.New(t)
	st, _ := OpenState(t.TempDir())
	b := newEgressBridge(t, e, st, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	plain := newEgressBridge(t, e, st, func(c *Config) { c.Egress, c.HostPath = nil, b.cfg.HostPath })
	diff, err := plain.Recreate(t.Context())
	if err != nil || len(diff) == 0 {
		t.Fatalf("recreate: %q %v", diff, err)
	}
	if c, n := e.Containers(), e.Networks(); len(c) != 0 || len(n) != 0 {
		t.Errorf("left containers %v and networks %v", c, n)
	}
}

func TestEgressConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg  func(*Config)
		want string
	}{
		{func(c *Config) { c.Network = NoNetwork }, "--egress and --no-network"},
		{func(c *Config) { c.Network = "mynet" }, "--egress and --network mynet"},
		{func(c *Config) { c.Egress = []string{"allow=a.test:99999"} }, "invalid --egress rule"},
		{func(c *Config) { c.EgressHosts = []string{"a.test"} }, "invalid --egress-host"},
	} {
		cfg := Config{Project: "x", Egress: []string{"allow=a.test"}}
		tc.cfg(&cfg)
		if _, err := New(cfg, &dockercli.Client{}, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %s", cfg, err, tc.want)
		}
	}
}

func TestEgressLog(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.EgressLog(t.Context()); err == nil || !strings.Contains(err.Error(), "has no egress proxy") {
		t.Fatalf("before the proxy: %v", err)
	}
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = e.SetLogs("luzia-x-proxy", "dockerbridge proxy: listening\n"+
		`{"time":"2026-01-02T03:04:05Z","action":"deny","method":"CONNECT","host":"c.test","port":443,"reason":"not allowed"}`+"\n")
	recs, err := b.EgressLog(t.Context())
	if err != nil || len(recs) != 1 || recs[0].Host != "c.test" || recs[0].Port != 443 || !recs[0].Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("log %+v %v", recs, err)
	}
}

func TestListSkipsProxies(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, err := ListContainers(t.Context(), b.docker)
	if err != nil || len(list) != 1 || list[0].Name != "luzia-x" {
		t.Fatalf("list %+v %v", list, err)
	}
	rows, err := StatusAll(t.Context(), b.docker, b.state)
	if err != nil || len(rows) != 1 || rows[0].Name != "luzia-x" {
		t.Fatalf("status --all %+v %v", rows, err)
	}
}

func TestReapStopsProxies(t *testing.T) {
	e := dockertest.New(t)
	st, _ := OpenState(t.TempDir())
	b := newEgressBridge(t, e, st, func(c *Config) { c.EgressImage = "p:1" })
	ctx := t.Context()
	if _, err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	r := &Reaper{Docker: b.docker, State: st, Idle: time.Minute, Prefix: DefaultPrefix, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	res, err := r.Reap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Stopped, []string{"luzia-x"}) || !slices.Equal(res.StoppedProxies, []string{"luzia-x-proxy"}) || res.Checked != 1 {
		t.Fatalf("reap %+v", res)
	}
	if p, _ := e.Container("luzia-x-proxy"); p.Running {
		t.Fatal("the proxy runs on")
	}
	// A proxy left running beside a container stopped by other means.
	if _, err := b.docker.Output(ctx, "start", "luzia-x-proxy"); err != nil {
		t.Fatal(err)
	}
	res, err = r.Reap(ctx)
	if err != nil || len(res.Stopped) != 0 || !slices.Equal(res.StoppedProxies, []string{"luzia-x-proxy"}) {
		t.Fatalf("second reap %+v %v", res, err)
	}
	// A dry run stops nothing.
	_, _ = b.docker.Output(ctx, "start", "luzia-x-proxy")
	r.DryRun = true
	if res, _ = r.Reap(ctx); len(res.StoppedProxies) != 0 {
		t.Fatalf("dry run %+v", res)
	}
	_ = context.Background
}

// A relative --egress-binary means the file where the call was made, not
// one in the directory the proxy image is made in.
func TestNewMakesEgressBinaryAbsolute(t *testing.T) {
	b, err := New(Config{Project: "proj", HostPath: "/home/proj", EgressBinary: "bin/dockerbridge"}, &dockercli.Client{}, hostIDs{"1", "1"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Config().EgressBinary, filepath.Join(wd, "bin/dockerbridge"); got != want {
		t.Errorf("EgressBinary %q, want %q", got, want)
	}
}
