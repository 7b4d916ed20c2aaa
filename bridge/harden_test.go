package bridge

import (
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"

	"github.com/google/go-cmp/cmp"
)

// The hardened profile's flags come after --init and before the image, and
// --no-network replaces the host network; everything else is the default run.
func TestHardenRunArgs(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.Local)
	head := []string{
		"run", "-d",
		"--name", "luzia-proj",
		"--user", "1:2",
		"-e", "HOME=/workspace",
		"-e", "npm_config_cache=/workspace/.npm",
		"-e", "TMPDIR=/workspace/.tmp",
		"-e", "TEMP=/workspace/.tmp",
		"-e", "TMP=/workspace/.tmp",
		"-v", "/home/proj:/workspace",
		"-w", "/workspace",
	}
	rest := []string{
		"--restart", "unless-stopped",
		"--memory", "2g",
		"--cpus", "2",
		"--label", "luzia.project=proj",
		"--label", "luzia.created=2024-05-01T10:00:00.000000",
		"--init",
	}
	hardened := []string{
		"--cap-drop", "ALL",
		"--security-opt", "no-new-privileges",
		"--pids-limit", "512",
		"--read-only",
		"--tmpfs", "/tmp",
	}
	image := []string{"luzia-sandbox:latest", "tail", "-f", "/dev/null"}
	join := func(parts ...[]string) []string {
		var a []string
		for _, p := range parts {
			a = append(a, p...)
		}
		return a
	}
	tests := []struct {
		name              string
		harden, noNetwork bool
		want              []string
	}{
		{"default", false, false, join(head, []string{"--network", "host"}, rest, image)},
		{"harden", true, false, join(head, []string{"--network", "host"}, rest, hardened, image)},
		{"no network", false, true, join(head, []string{"--network", "none"}, rest, image)},
		{"both", true, true, join(head, []string{"--network", "none"}, rest, hardened, image)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Harden(Config{Project: "proj", HostPath: "/home/proj"}, tt.harden, tt.noNetwork)
			b, err := New(cfg, &dockercli.Client{}, hostIDs{"1", "2"}, openTestState(t))
			if err != nil {
				t.Fatal(err)
			}
			id, err := b.Identity(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			spec := b.RunSpec(id, at)
			if diff := cmp.Diff(tt.want, withoutSettingsLabels(spec.Args())); diff != "" {
				t.Errorf("docker run argv (-want +got):\n%s", diff)
			}
		})
	}
}

// Harden keeps the caller's own extra flags first and never writes into the
// caller's slice.
func TestHardenKeepsExtra(t *testing.T) {
	extra := make([]string, 1, 10)
	extra[0] = "--shm-size=1g"
	cfg := Harden(Config{Extra: extra}, true, false)
	want := append([]string{"--shm-size=1g"}, HardenFlags()...)
	if diff := cmp.Diff(want, cfg.Extra); diff != "" {
		t.Errorf("extra flags (-want +got):\n%s", diff)
	}
	if got := extra[:cap(extra)][1]; got != "" {
		t.Errorf("Harden wrote %q into the caller's backing array", got)
	}
	cfg.Extra[1] = "changed"
	if HardenFlags()[0] != "--cap-drop" {
		t.Errorf("HardenFlags shares its slice with callers")
	}
}

// withoutSettingsLabels drops the labels that record the settings, which
// TestSettingsLabels covers.
func withoutSettingsLabels(argv []string) []string {
	var out []string
	for i := 0; i < len(argv); i++ {
		if argv[i] == "--label" && i+1 < len(argv) && strings.HasPrefix(argv[i+1], "dockerbridge.") {
			i++
			continue
		}
		out = append(out, argv[i])
	}
	return out
}
