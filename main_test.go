package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"dockerbridge/dockercli/dockertest"
	"dockerbridge/tmuxcli/tmuxtest"
)

var update = flag.Bool("update", false, "rewrite testscript cmp files with the actual output")

// TestMain makes the test binary double as the CLI and as its fakes, so that
// scripts reach them through PATH like real programs.
func TestMain(m *testing.M) {
	hermeticParallel()
	testscript.Main(m, map[string]func(){
		"dockerbridge": func() { os.Exit(Main()) },
		"fakedocker":   func() { os.Exit(dockertest.Main()) },
		"fakehost":     func() { os.Exit(dockertest.HostMain()) },
		"faketmux":     func() { os.Exit(tmuxtest.Main()) },
	})
}

// hermeticParallel lets the hermetic run (-short, no real engine asked
// for) run four scenarios per CPU at once: they mostly wait on processes
// and timeouts, not on a CPU, and the default of one per CPU left the run
// as long as the sum of its waits over two. An explicit -parallel still
// wins, being parsed later, and a run that reaches a real engine keeps the
// default, so as not to load the engine.
func hermeticParallel() {
	if realUnderShort() || !slices.Contains(os.Args[1:], "-test.short=true") {
		return
	}
	_ = flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
}

// TestScript runs the hermetic scenarios in testdata/script against fake
// docker, id and getent programs. It needs neither docker nor tmux.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup:               setupHermetic,
		Cmds:                scriptCmds(),
	})
}

// setupHermetic puts shims named docker, id and getent first on PATH, so
// nothing real is reached, and keeps all state under $WORK.
func setupHermetic(env *testscript.Env) error {
	bin := filepath.Join(env.WorkDir, ".fakebin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	shims := map[string]string{
		"docker": "exec fakedocker \"$@\"\n",
		"id":     "exec fakehost id \"$@\"\n",
		"getent": "exec fakehost getent \"$@\"\n",
	}
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			return err
		}
	}
	env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
	setupCommon(env)
	dockertest.Setup(env)
	return nil
}

// setupCommon points HOME and the state directory under $WORK.
func setupCommon(env *testscript.Env) {
	env.Setenv("HOME", env.WorkDir)
	env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
	env.Setenv("DOCKERBRIDGE_STATE_DIR", filepath.Join(env.WorkDir, ".state", "dockerbridge"))
}

// realUnderShort reports whether the real-engine tests run under -short:
// only when CI or DOCKERBRIDGE_REAL_ENGINE asks for them. -short is the
// hermetic run: it must not touch the host's engine, whichever answers.
func realUnderShort() bool {
	return os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != ""
}

// skipShortReal skips a real-engine test under -short, except under CI or
// DOCKERBRIDGE_REAL_ENGINE.
func skipShortReal(t testing.TB) {
	t.Helper()
	if testing.Short() && !realUnderShort() {
		t.Skip("real engine: -short skips it (never under CI=true or DOCKERBRIDGE_REAL_ENGINE)")
	}
}

// requireEngine reports whether a real docker engine with the sandbox image
// answers. Under CI, or when scripts/test asks for the real-engine suite, a
// missing engine fails the test instead of skipping it; under -short
// without either, the test skips without asking the engine.
func requireEngine(t *testing.T) {
	t.Helper()
	skipShortReal(t)
	err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", "luzia-sandbox:latest").Run()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
		t.Fatalf("real engine required (CI or DOCKERBRIDGE_REAL_ENGINE set) but docker with luzia-sandbox:latest is not available: %v; run scripts/setup", err)
	}
	t.Skip("no docker engine with luzia-sandbox:latest; run scripts/setup (never skipped under CI=true)")
}

// TestRealEngine runs the scenarios in testdata/real against a real dockerd
// and the local sandbox image.
func TestRealEngine(t *testing.T) {
	requireEngine(t)
	t.Cleanup(removeEgressBuild)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/real",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			setupCommon(env)
			return setupReal(env)
		},
		Cmds: realCmds,
	})
}
