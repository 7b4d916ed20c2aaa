package main

// Script commands of the hermetic scenarios that are not the fakes' own.

import (
	"bytes"
	"dockerbridge/dockercli/dockertest"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are the hermetic scenarios' commands: the fake engine's, and
// these.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// age dates a container's last activity back by a duration.
		"age": cmdAge,
		// exitcode runs a program and requires an exact exit code.
		"exitcode": cmdExitcode,
		// waitfile waits until a file exists (a background command got going).
		"waitfile": cmdWaitfile,
		// pidgone checks that the processes named in pid files have ended.
		"pidgone": cmdPidgone,
	}
	maps.Copy(cmds, dockertest.Cmds)
	return cmds
}

// age NAME DURATION
func cmdAge(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: age NAME DURATION")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil || d < 0 {
		ts.Fatalf("age: duration %q: want a non-negative Go duration", args[1])
	}
	dir := ts.Getenv("DOCKERBRIDGE_STATE_DIR")
	ts.Check(os.MkdirAll(dir, 0o700))
	p := filepath.Join(dir, args[0]+".activity")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	ts.Check(err)
	ts.Check(f.Close())
	t := time.Now().Add(-d)
	ts.Check(os.Chtimes(p, t, t))
}

// cmdExitcode runs a program like exec and requires its exit code:
//
//	exitcode N program [args...]
//
// stdout and stderr are then those of the program.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		got = exitErr.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdWaitfile waits for a file that a background command creates once
// it is under way, so that a script can act while it is in flight:
//
//	waitfile FILE [REGEXP]
//
// With REGEXP it also waits until the file's content matches it. It gives
// up after a minute, which only a broken scenario reaches.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [REGEXP]")
	}
	re := regexp.MustCompile("")
	if len(args) == 2 {
		var err error
		if re, err = regexp.Compile(args[1]); err != nil {
			ts.Fatalf("waitfile: %v", err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear (or match) within a minute", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdPidgone checks that each process whose pid a file holds has ended:
//
//	pidgone FILE...
//
// A zombie has ended: its parent, a fake docker exec, is gone, and the
// machine's init may reap it late.
func cmdPidgone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: pidgone FILE...")
	}
	for _, file := range args {
		pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(file)))
		if err != nil {
			ts.Fatalf("pidgone: %s: %v", file, err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		ts.Check(err)
		// The state follows the command name, which is in parentheses.
		_, rest, _ := bytes.Cut(stat, []byte(") "))
		if len(rest) == 0 || rest[0] != 'Z' {
			ts.Fatalf("pidgone: process %d (%s) is still running: %s", pid, file, stat)
		}
	}
}
