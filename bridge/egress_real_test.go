package bridge

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dockerbridge/dockercli"
)

// realEgressBridge is an egress-controlled bridge on the real engine for a
// fresh project; its container, proxy, network and (when this test made
// it) proxy image are removed when the test ends.
func realEgressBridge(t *testing.T, policy string) *Bridge {
	t.Helper()
	skipShortReal(t)
	if err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", DefaultImage).Run(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
			t.Fatalf("real engine required (CI or DOCKERBRIDGE_REAL_ENGINE set): %v; run scripts/setup", err)
		}
		t.Skip("no docker engine with " + DefaultImage + "; run scripts/setup (never skipped under CI=true)")
	}
	ws := t.TempDir()
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatalf("chown workspace: %v", err)
	}
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	project := "t-egress-" + testSocket()[len("dbtest-"):]
	docker := &dockercli.Client{Runner: dockercli.OSRunner{}}
	b, err := New(Config{Project: project, HostPath: ws, Egress: []string{policy}}, docker, dockercli.OSRunner{}, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The proxy's image is made by ProxyImage itself: whether this test
	// made it is known only from the images there were before.
	before, err := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	image, err := b.ProxyImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hadImage := slices.Contains(strings.Fields(string(before)), image)
	t.Cleanup(func() {
		_ = exec.Command("docker", "rm", "-f", b.Name(), b.ProxyName()).Run()
		_ = exec.Command("docker", "network", "rm", b.EgressNetwork()).Run()
		if !hadImage {
			// Fails, harmlessly, while another test's proxy uses it.
			_ = exec.Command("docker", "image", "rm", image).Run()
		}
	})
	if _, err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// The internal network must not be a way to the host itself: a service the
// host serves on all its addresses is out of reach of the container, through
// the network's gateway address and through the host's other addresses.
func TestRealEgressContainerCannotReachHost(t *testing.T) {
	b := realEgressBridge(t, "allow=example.test")
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var reached atomic.Int32
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
	port := ln.Addr().(*net.TCPAddr).Port
	targets := []string{}
	for _, nw := range []string{b.EgressNetwork(), DefaultEgressNetwork} {
		out, err := exec.Command("docker", "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", nw).Output()
		if err != nil {
			t.Fatalf("inspect network %s: %v", nw, err)
		}
		targets = append(targets, strings.Fields(string(out))...)
	}
	if out, err := exec.Command("hostname", "-I").Output(); err == nil {
		targets = append(targets, strings.Fields(string(out))...)
	}
	script := ""
	for _, ip := range targets {
		if strings.Contains(ip, ":") {
			continue
		}
		script += fmt.Sprintf("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/%d' 2>/dev/null && echo reached %s; ", ip, port, ip)
	}
	res, err := b.Exec(context.Background(), script+"true", ExecOptions{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Output, "reached") || reached.Load() != 0 {
		t.Fatalf("the container reached the host past its proxy (%d connections): %q", reached.Load(), res.Output)
	}
}
