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
