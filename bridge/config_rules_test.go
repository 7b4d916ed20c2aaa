package bridge

import (
	"os"
	"path/filepath"
	"testing"

	"dockerbridge/dockercli"

	"github.com/google/go-cmp/cmp"
)

// The rules a caller of the library needs as much as the CLI: a relative
// workspace or mount source is made absolute (docker would take a bare name
// for a volume and mount an empty one), a bare name that is no file here
// stays a volume, and a docker context other than the default is a remote
// engine, whose paths are not this machine's.
func TestNewAppliesHostRules(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("data", 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_HOST", "")
	mounts := []string{"data:/data:ro", "./x:/x", "cache:/cache", "/abs:/abs"}
	b, err := New(Config{Project: "p", HostPath: "proj", Mounts: mounts}, &dockercli.Client{}, hostIDs{"1", "1"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.Config()
	if want := filepath.Join(dir, "proj"); cfg.HostPath != want {
		t.Errorf("HostPath %q, want %q", cfg.HostPath, want)
	}
	want := []string{filepath.Join(dir, "data") + ":/data:ro", filepath.Join(dir, "x") + ":/x", "cache:/cache", "/abs:/abs"}
	if diff := cmp.Diff(want, cfg.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if mounts[0] != "data:/data:ro" {
		t.Errorf("New changed the caller's slice: %q", mounts)
	}
	if cfg.RemoteEngine {
		t.Error("the default engine counts as remote")
	}
	for _, c := range []struct{ context, env, host string }{{"other", "", ""}, {"", "other", ""}, {"", "", "tcp://10.0.0.1:2375"}} {
		t.Setenv("DOCKER_CONTEXT", c.env)
		t.Setenv("DOCKER_HOST", c.host)
		b, err := New(Config{Project: "p", HostPath: "/w"}, &dockercli.Client{Context: c.context}, hostIDs{"1", "1"}, openTestState(t))
		if err != nil {
			t.Fatal(err)
		}
		if !b.Config().RemoteEngine {
			t.Errorf("context %q, DOCKER_CONTEXT %q, DOCKER_HOST %q: not a remote engine", c.context, c.env, c.host)
		}
	}
}
