//go:build !linux

package main

import (
	"errors"

	"github.com/rogpeppe/go-internal/testscript"
)

// The real suite's mount tricks are Linux's; elsewhere the scenarios that
// need them fail with this, and the rest still build and run.
var errNoMounts = errors.New("bind mounts are only done on Linux")

func realRODir(ts *testscript.TestScript, _ bool, args []string) {
	ts.Fatalf("rodir %v: %v", args, errNoMounts)
}

func unmountDetach(string) error { return errNoMounts }
