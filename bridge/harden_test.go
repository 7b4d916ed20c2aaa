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

// Harden sets the profile as fields, not flags: the caller's own extra
// flags stay as they are and come first, the profile's after them, as they
// did when the profile was extra flags too; and each profile is a value of
// its own.
func TestHardenKeepsExtra(t *testing.T) {
	extra := []string{"--shm-size=1g"}
	cfg := Harden(Config{Project: "proj", HostPath: "/home/proj", Extra: extra}, true, false)
	if diff := cmp.Diff([]string{"--shm-size=1g"}, cfg.Extra); diff != "" {
		t.Errorf("extra flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Hardened(), cfg.Hardening); diff != "" {
		t.Errorf("hardening (-want +got):\n%s", diff)
	}
	b, err := New(cfg, &dockercli.Client{}, hostIDs{"1", "2"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	argv := b.RunSpec(Identity{Path: "/home/proj", User: "1:2"}, time.Now()).Args()
	tail := append(append([]string{"--init", "--shm-size=1g"}, Hardened().Args()...), DefaultImage, "tail", "-f", "/dev/null")
	if diff := cmp.Diff(tail, argv[len(argv)-len(tail):]); diff != "" {
		t.Errorf("end of docker run argv (-want +got):\n%s", diff)
	}
	// The recorded settings, and so the fingerprint of a container made
	// when the profile was extra flags, stay the same.
	if diff := cmp.Diff(append([]string{"--shm-size=1g"}, Hardened().Args()...), b.settings("/home/proj").Extra); diff != "" {
		t.Errorf("recorded extra flags (-want +got):\n%s", diff)
	}
	h := Hardened()
	h.CapDrop[0] = "changed"
	if Hardened().CapDrop[0] != "ALL" {
		t.Errorf("Hardened shares its slices with callers")
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
