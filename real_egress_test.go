package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dockerbridge/bridge/egress"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	// egressbin: builds dockerbridge static for linux, once per test run,
	// and points DOCKERBRIDGE_EGRESS_BINARY at it. The build is stamped
	// with the run, so its proxy image is the run's own, removed at the end.
	realCmds["egressbin"] = realEgressBin
	// egressworld: the outside of the egress scenarios: a network
	// $PROJECT-out with a container $PROJECT-srv on it that serves HTTP on
	// 8080 and HTTPS (self-signed) on 8443; sets SRV_NET and SRV_IP.
	realCmds["egressworld"] = realEgressWorld
	// hostprobe NETWORK: listens on all the host's addresses, on a free
	// port, until the script ends; sets PROBE_PORT, PROBE_GW (NETWORK's
	// gateway address) and PROBE_HOST (the host's first global IPv4
	// address). hostprobe -reached N: exactly N connections came in.
	realCmds["hostprobe"] = realHostProbe
}

var hostProbes sync.Map // *testscript.TestScript -> *atomic.Int32

func realHostProbe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 || len(args) > 2 {
		ts.Fatalf("usage: hostprobe NETWORK | hostprobe -reached N")
	}
	if args[0] == "-reached" {
		v, ok := hostProbes.Load(ts)
		if !ok || len(args) != 2 {
			ts.Fatalf("hostprobe -reached N: after hostprobe NETWORK")
		}
		if got := v.(*atomic.Int32).Load(); strconv.Itoa(int(got)) != args[1] {
			ts.Fatalf("%d connections reached the host, want %s", got, args[1])
		}
		return
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		ts.Fatalf("hostprobe: %v", err)
	}
	ts.Defer(func() { ln.Close() })
	var reached atomic.Int32
	hostProbes.Store(ts, &reached)
	ts.Defer(func() { hostProbes.Delete(ts) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	out, err := exec.Command("docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", args[0]).Output()
	if err != nil {
		ts.Fatalf("hostprobe: docker network inspect %s: %v", args[0], err)
	}
	hostIP := ""
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() && hostIP == "" {
			hostIP = ipn.IP.String()
		}
	}
	ts.Setenv("PROBE_PORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ts.Setenv("PROBE_GW", strings.TrimSpace(string(out)))
	ts.Setenv("PROBE_HOST", hostIP)
}

var egressBuild struct {
	once      sync.Once
	dir       string
	bin, srv  string
	tag       string
	err       error
	usedImage bool
}

func buildEgress() error {
	egressBuild.once.Do(func() {
		b := &egressBuild
		if b.dir, b.err = os.MkdirTemp("", "dockerbridge-egress-test-"); b.err != nil {
			return
		}
		b.bin, b.srv = filepath.Join(b.dir, "dockerbridge"), filepath.Join(b.dir, "egress-server")
		for _, c := range [][]string{
			{"build", "-trimpath", "-ldflags", "-X main.version=egress-test-" + randomHex(6), "-o", b.bin, "."},
			{"build", "-o", b.srv, "./testdata/helpers/egress-server"},
		} {
			cmd := exec.Command("go", c...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.err = fmt.Errorf("go %s: %v: %s", strings.Join(c, " "), err, out)
				return
			}
		}
		sum, err := egress.HashFile(b.bin)
		b.err, b.tag = err, egress.Tag(sum)
	})
	return egressBuild.err
}

func realEgressBin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: egressbin")
	}
	if err := buildEgress(); err != nil {
		ts.Fatalf("%v", err)
	}
	egressBuild.usedImage = true
	ts.Setenv("DOCKERBRIDGE_EGRESS_BINARY", egressBuild.bin)
}

func realEgressWorld(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: egressworld")
	}
	if err := buildEgress(); err != nil {
		ts.Fatalf("%v", err)
	}
	project := ts.Getenv("PROJECT")
	netName, srv := project+"-out", project+"-srv"
	docker := func(args ...string) string {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			ts.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("network", "create", "--label", "luzia.project="+project, netName)
	docker("run", "-d", "--name", srv, "--label", "luzia.project="+project, "--network", netName,
		"-v", egressBuild.srv+":/egress-server:ro", "--user", "65534:65534", "luzia-sandbox:latest", "/egress-server")
	ip := docker("container", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", srv)
	ts.Setenv("SRV_NET", netName)
	ts.Setenv("SRV_IP", ip)
}

// removeEgressBuild removes the run's proxy image and build, once every
// scenario is over.
func removeEgressBuild() {
	b := &egressBuild
	if b.dir == "" {
		return
	}
	if b.usedImage && b.tag != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, "docker", "image", "rm", b.tag).Run()
	}
	_ = os.RemoveAll(b.dir)
}

// removeNetworks removes the networks a scenario made, by name: the ones
// the tool made for egress and the ones the scenario made itself, all
// named after its project.
func removeNetworks(project string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "network", "ls", "--format", "{{.Name}}").Output()
	if err != nil {
		return fmt.Errorf("cleanup: list networks: %w", err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.Contains(n, project) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "docker", append([]string{"network", "rm"}, names...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("cleanup: docker network rm: %v: %s", err, out)
	}
	return nil
}
