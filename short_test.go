package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// realTests are the tests of this package that drive the real engine.
var realTests = []string{"TestRealEngine", "TestRealEngineBusybox", "TestREADMEUsing", "TestBenchScript"}

// -short is the hermetic run: with CI and DOCKERBRIDGE_REAL_ENGINE unset, the
// real-engine tests skip without calling docker, even where an engine with
// the image answers. The test binary runs them again under -short with a
// docker first on PATH that answers every call and writes it down.
func TestShortTouchesNoEngine(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	docker := "#!/bin/sh\necho \"$*\" >>" + calls + "\necho sha256:0\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.short", "-test.v", "-test.count=1",
		"-test.run", "^("+strings.Join(realTests, "|")+")$")
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != "CI" && k != "DOCKERBRIDGE_REAL_ENGINE" && k != "DOCKERBRIDGE_BENCH" && k != "PATH" {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the real-engine tests under -short: %v\n%s", err, out)
	}
	for _, name := range realTests {
		if !strings.Contains(string(out), "--- SKIP: "+name+" ") {
			t.Errorf("%s did not skip under -short:\n%s", name, out)
		}
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("docker was called under -short:\n%s", b)
	}
}
