package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
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
	id, err := b.Identity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	spec := b.RunSpec(id, time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.Local))
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
		"--label", "dockerbridge.fingerprint=fa5712b51a69ae03",
		"--label", `dockerbridge.settings={"image":"luzia-sandbox:latest","path":"/home/proj","memory":"2g","cpus":"2","network":"host","restart":"unless-stopped","init":true}`,
		"--init",
		"luzia-sandbox:latest", "tail", "-f", "/dev/null",
	}
	if diff := cmp.Diff(want, spec.Args()); diff != "" {
		t.Errorf("docker run argv (-want +got):\n%s", diff)
	}
}

// Without an id for the project user, the owner of the workspace, said
// once; 1000:1000 with a warning that says how to fix it only when that
// owner cannot be read either; and a warning for uid 0, whatever its source.
func TestRunSpecUIDFallback(t *testing.T) {
	dir := t.TempDir()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	owner := fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	for _, tc := range []struct {
		name   string
		cfg    Config
		ids    hostIDs
		user   string
		warned []string
		lines  int
	}{
		{"owner", Config{HostPath: dir}, hostIDs{}, owner, []string{"running as " + owner + ", the owner of " + dir + "\n"}, 1},
		{"unreadable", Config{HostPath: "/p", RemoteEngine: true}, hostIDs{}, "1000:1000", []string{"warning: no user nobody-here", "create the user nobody-here"}, 1},
		{"user", Config{HostPath: "/p"}, hostIDs{"1234", "2345"}, "1234:2345", nil, 0},
		{"root", Config{HostPath: "/p"}, hostIDs{"0", "0"}, "0:0", []string{"warning: luzia-nobody-here runs as uid 0"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var warn bytes.Buffer
			tc.cfg.Project, tc.cfg.Warn = "nobody-here", &warn
			b, err := New(tc.cfg, &dockercli.Client{}, tc.ids, openTestState(t))
			if err != nil {
				t.Fatal(err)
			}
			id, err := b.Identity(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			spec := b.RunSpec(id, time.Now())
			if spec.User != tc.user {
				t.Errorf("user %q, want %q", spec.User, tc.user)
			}
			for _, w := range tc.warned {
				if !strings.Contains(warn.String(), w) {
					t.Errorf("stderr %q, want %q in it", warn.String(), w)
				}
			}
			lines := tc.lines
			if owner == "0:0" && tc.name == "owner" {
				lines++ // run as root: the uid 0 warning follows
			}
			if got := strings.Count(warn.String(), "\n"); got != lines {
				t.Errorf("%d lines on stderr, want %d: %q", got, lines, warn.String())
			}
		})
	}
}

// Without --path, the project user's home is mounted; with neither, one
// clear error.
func TestRunSpecNeedsAPath(t *testing.T) {
	b, err := New(Config{Project: "ghost"}, &dockercli.Client{}, hostIDs{"1", "1"}, openTestState(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Identity(t.Context())
	var noHome *NoHomeError
	if !errors.As(err, &noHome) || noHome.Project != "ghost" || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line, a *NoHomeError for ghost", err)
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

// The fingerprint changes with every setting, and Diff names each one that
// differs, never an env value.
func TestSettingsDiff(t *testing.T) {
	base := Settings{Image: "i", Path: "/p", Memory: "2g", CPUs: "2", Network: "host", Restart: "no", Init: true}
	changes := map[string]func(*Settings){
		"image":   func(s *Settings) { s.Image = "j" },
		"path":    func(s *Settings) { s.Path = "/q" },
		"mounts":  func(s *Settings) { s.Mounts = []string{"/a:/b"} },
		"env":     func(s *Settings) { s.Env = []string{"K=secret"} },
		"memory":  func(s *Settings) { s.Memory = "1g" },
		"cpus":    func(s *Settings) { s.CPUs = "1" },
		"network": func(s *Settings) { s.Network = "none" },
		"restart": func(s *Settings) { s.Restart = "always" },
		"init":    func(s *Settings) { s.Init = false },
		"flags":   func(s *Settings) { s.Extra = []string{"--read-only"} },
	}
	for name, change := range changes {
		want := base
		change(&want)
		if want.Fingerprint() == base.Fingerprint() {
			t.Errorf("%s: same fingerprint", name)
		}
		diff := base.Diff(want)
		if len(diff) != 1 || !strings.HasPrefix(diff[0], name+" ") || strings.Contains(diff[0], "secret") {
			t.Errorf("%s: diff %q", name, diff)
		}
	}
	if diff := base.Diff(base); diff != nil {
		t.Errorf("no change: diff %q", diff)
	}
}
