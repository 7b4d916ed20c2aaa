package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// busyboxImage is the busybox + bash image scripts/setup builds, for users
// who bring their own small image.
const busyboxImage = "luzia-busybox:latest"

// The scenarios that TestRealEngineBusybox runs again on busyboxImage: the
// ones of exec and of the file commands, which need nothing but bash.
var busyboxScenarios = []string{
	"exec_output",
	"exec_timeout",
	"write_owner",
	"hostile",
	"hostile_paths_more",
	"fault_write",
	"files_race",
	"files_truth",
	"files_signal",
}

func init() {
	// helper NAME DEST: builds the static helper program
	// testdata/helpers/NAME as DEST, for docker cp into a container whose
	// image has no compiler.
	realCmds["helper"] = realHelper
}

// TestRealEngineBusybox runs the exec and file scenarios against the
// busybox + bash image: every file command must work without GNU tools.
func TestRealEngineBusybox(t *testing.T) {
	requireEngine(t)
	if err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", busyboxImage).Run(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("DOCKERBRIDGE_REAL_ENGINE") != "" {
			t.Fatalf("%s is required (CI or DOCKERBRIDGE_REAL_ENGINE set) but missing: %v; run scripts/setup", busyboxImage, err)
		}
		t.Skipf("no %s; run scripts/setup (never skipped under CI=true)", busyboxImage)
	}
	var files []string
	for _, s := range busyboxScenarios {
		files = append(files, filepath.Join("testdata", "real", s+".txtar"))
	}
	testscript.Run(t, testscript.Params{
		Files:               files,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			setupCommon(env)
			if err := setupReal(env); err != nil {
				return err
			}
			env.Setenv("DOCKERBRIDGE_IMAGE", busyboxImage)
			return nil
		},
		Cmds: realCmds,
	})
}

func realHelper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || strings.ContainsAny(args[0], "/.") {
		ts.Fatalf("usage: helper NAME DEST")
	}
	// go's build cache makes every build after the first a link only.
	cmd := exec.Command("go", "build", "-o", ts.MkAbs(args[1]), "./testdata/helpers/"+args[0])
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("helper %s: %v: %s", args[0], err, out)
	}
}
