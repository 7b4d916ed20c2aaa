package bridge

import (
	"slices"
	"strings"
	"testing"

	"dockerbridge/dockercli/dockertest"
)

// Every refused request is a log line of the proxy, and the container
// behind it can send refused requests in a loop: the proxy's log must be
// bounded on the engine's disk, whatever the engine's default log driver.
func TestEgressProxyLogIsBounded(t *testing.T) {
	e := dockertest.New(t)
	b := newEgressBridge(t, e, nil, func(c *Config) { c.EgressImage = "p:1" })
	if _, err := b.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	run := e.CallsOf("run")[0]
	if !slices.Contains(run, "luzia-x-proxy") {
		t.Fatalf("first run %q is not the proxy's", run)
	}
	var driver string
	var size, files bool
	for i := 0; i+1 < len(run); i++ {
		switch run[i] {
		case "--log-driver":
			driver = run[i+1]
		case "--log-opt":
			size = size || strings.HasPrefix(run[i+1], "max-size=")
			files = files || strings.HasPrefix(run[i+1], "max-file=")
		}
	}
	if driver != "json-file" || !size || !files {
		t.Fatalf("proxy run %q: want --log-driver json-file with max-size and max-file", run)
	}
}

// A call that asks for an egress policy must not run in a container that
// was made without one: it would have the host's network, the very thing
// the call asked not to have, with one line on stderr the first time and
// nothing after.
func TestEgressRefusesAnUnrestrictedContainer(t *testing.T) {
	e := dockertest.New(t)
	st, _ := OpenState(t.TempDir())
	open := newEgressBridge(t, e, st, func(c *Config) { c.Egress = nil })
	if err := open.CheckEgress(t.Context()); err != nil {
		t.Fatalf("no container, no policy: %v", err)
	}
	asked := newEgressBridge(t, e, st, func(c *Config) { c.EgressImage, c.HostPath = "p:1", open.cfg.HostPath })
	if err := asked.CheckEgress(t.Context()); err != nil {
		t.Fatalf("no container yet: %v", err)
	}
	if _, err := open.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := asked.CheckEgress(t.Context())
	if err == nil || !strings.Contains(err.Error(), "without egress control") || !strings.Contains(err.Error(), "--recreate") {
		t.Fatalf("egress asked of a container without it: %v", err)
	}
	if err := open.CheckEgress(t.Context()); err != nil {
		t.Fatalf("no policy asked: %v", err)
	}
	// The container made with the policy passes.
	if _, err := asked.Recreate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := asked.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := asked.CheckEgress(t.Context()); err != nil {
		t.Fatalf("the container has the policy: %v", err)
	}
}
