package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the ```sh blocks of the README section whose heading
// is title, up to the next heading of the same level.
func readmeBlocks(t *testing.T, title string) []string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	in, fenced := false, false
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !fenced && line == "## "+title:
			in = true
		case !fenced && in && strings.HasPrefix(line, "## "):
			in = false
		case in && !fenced && line == "```sh":
			fenced = true
			cur.Reset()
		case in && fenced && line == "```":
			fenced = false
			blocks = append(blocks, cur.String())
		case in && fenced:
			cur.WriteString(line + "\n")
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md has no ```sh block under \"## %s\"", title)
	}
	return blocks
}

// TestREADMEUsing runs the shell blocks of the README's "Using it" section
// as they are written, as root, in a fresh home with a project directory at
// ~/src/myproj and nothing on PATH but the system's directories and go's:
// the block must build and find dockerbridge itself. Only the project's
// name is made unique, so that two runs on one engine cannot meet; the
// reap in it sees only this run's container.
func TestREADMEUsing(t *testing.T) {
	requireEngine(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the README's examples are checked as root, as they are written for")
		}
		t.Skip("the README's examples are checked as root")
	}
	blocks := readmeBlocks(t, "Using it")
	project := "myproj-" + randomHex(3)
	script := regexp.MustCompile(`\bmyproj\b`).ReplaceAllString(strings.Join(blocks, ""), project)

	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	proj := filepath.Join(home, "src", project)
	if err := os.MkdirAll(filepath.Join(proj, "cmd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "cmd", "main.go"), []byte("package main\n\n// TODO: say hello\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeContainers(project); err != nil {
			t.Log(err)
		}
	})

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the README builds with go: %v", err)
	}
	// The system's directories and go's, none with a dockerbridge in it.
	var path []string
	for _, d := range []string{filepath.Dir(goBin), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if _, err := os.Stat(filepath.Join(d, "dockerbridge")); err == nil {
			continue
		}
		path = append(path, d)
	}
	scoped := filepath.Join(dir, "scoped-docker")
	wrapper := "#!/bin/sh\nif [ \"$1\" = ps ]; then shift; exec docker ps --filter 'name=^/?luzia-" + project + "$' \"$@\"; fi\nexec docker \"$@\"\n"
	if err := os.WriteFile(scoped, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + strings.Join(path, ":"),
		"GOPATH=" + filepath.Join(dir, "gopath"),
		"DOCKERBRIDGE_DOCKER=" + scoped,
		"LANG=C.UTF-8",
	}
	// Go's own settings as they are now (HOME moves, and with it go's
	// configuration and caches).
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOFLAGS", "GOTOOLCHAIN"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		if v := strings.TrimSpace(string(out)); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", "-euo", "pipefail", "-c", script)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err != nil {
		t.Fatalf("the README's \"Using it\" example failed: %v\n--- script\n%s--- stdout\n%s--- stderr\n%s", err, script, stdout.String(), stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(proj, "notes", "hello.txt"))
	if err != nil || string(got) != "hello\n" {
		t.Errorf("notes/hello.txt on the host = %q, %v; want \"hello\\n\"", got, err)
	}
	for _, want := range []string{"\nhello\n", "cmd/main.go", "// TODO: say hello", `"running":true`} {
		if !strings.Contains("\n"+stdout.String(), want) {
			t.Errorf("the example's output lacks %q:\n%s", want, stdout.String())
		}
	}
	t.Logf("stderr of the example:\n%s", stderr.String())
}
