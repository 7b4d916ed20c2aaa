package bridge

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"dockerbridge/dockercli"

	"github.com/google/go-cmp/cmp"
)

// By default the container is run exactly as docker_bridge.py runs it, plus
// --init.
func TestRunSpecIsPythonsPlusInit(t *testing.T) {
	st := openTestState(t)
	b, err := New(Config{Project: "proj", HostPath: "/home/proj"}, &dockercli.Client{}, hostIDs{"1234", "5678"}, st)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := b.RunSpec(t.Context(), time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.Local))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"run", "-d",
		"--name", "luzia-proj",
		"--user", "1234:5678",
		"-e", "HOME=/workspace",
		"-e", "npm_config_cache=/workspace/.npm",
		"-e", "TMPDIR=/workspace/.tmp",
		"-e", "TEMP=/workspace/.tmp",
		"-e", "TMP=/workspace/.tmp",
		"-v", "/home/proj:/workspace",
		"-w", "/workspace",
		"--network", "host",
		"--restart", "unless-stopped",
		"--memory", "2g",
		"--cpus", "2",
		"--label", "luzia.project=proj",
		"--label", "luzia.created=2024-05-01T10:00:00.123456",
		"--init",
		"luzia-sandbox:latest", "tail", "-f", "/dev/null",
	}
	if diff := cmp.Diff(want, dockercli.RunArgs(spec)); diff != "" {
		t.Errorf("docker run argv (-want +got):\n%s", diff)
	}
}

// Without an id for the project user, 1000:1000 with a warning, as the
// original.
func TestRunSpecUIDFallback(t *testing.T) {
	var warn bytes.Buffer
	b, err := New(Config{Project: "nobody-here", HostPath: "/p", Warn: &warn}, &dockercli.Client{}, hostIDs{}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := b.RunSpec(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if spec.User != "1000:1000" {
		t.Errorf("user %q, want 1000:1000", spec.User)
	}
	if got := strings.Count(warn.String(), "warning"); got != 2 || !strings.Contains(warn.String(), "UID") || !strings.Contains(warn.String(), "GID") {
		t.Errorf("warnings %q, want one for the UID and one for the GID", warn.String())
	}
}

// Without --path, the project user's home is mounted; with neither, one
// clear error.
func TestRunSpecNeedsAPath(t *testing.T) {
	b, err := New(Config{Project: "ghost"}, &dockercli.Client{}, hostIDs{"1", "1"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.RunSpec(t.Context(), time.Now())
	if err == nil || !strings.Contains(err.Error(), "--path") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line that names --path", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"plain", Config{Project: "web-app_2.0"}, true},
		{"no project", Config{}, false},
		{"leading dash", Config{Project: "-x"}, false},
		{"leading dot", Config{Project: ".x"}, false},
		{"slash", Config{Project: "a/b"}, false},
		{"space", Config{Project: "a b"}, false},
		{"quote", Config{Project: "a'b"}, false},
		{"too long", Config{Project: strings.Repeat("a", 201)}, false},
		{"bad prefix", Config{Project: "x", Prefix: "bad prefix "}, false},
		{"image as a flag", Config{Project: "x", Image: "--privileged"}, false},
		{"mount as a flag", Config{Project: "x", Mounts: []string{"--privileged"}}, false},
		{"mount without target", Config{Project: "x", Mounts: []string{"/data"}}, false},
		{"env as a flag", Config{Project: "x", Env: []string{"-e=1"}}, false},
		{"env without value", Config{Project: "x", Env: []string{"A"}}, false},
		{"extra mount and env", Config{Project: "x", Mounts: []string{"/d:/d:ro"}, Env: []string{"A=1"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, &dockercli.Client{}, hostIDs{}, nil)
			if (err == nil) != tt.ok {
				t.Errorf("New(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}
