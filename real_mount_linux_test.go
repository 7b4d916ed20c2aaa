package main

import (
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

func realRODir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rodir DIR")
	}
	dir := ts.MkAbs(args[0])
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		ts.Fatalf("rodir %s: bind mount (needs root): %v", args[0], err)
	}
	ts.Defer(func() {
		if err := unmountDetach(dir); err != nil {
			ts.Logf("rodir cleanup: unmount %s: %v", dir, err)
		}
	})
	ts.Check(syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
}

func unmountDetach(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }
