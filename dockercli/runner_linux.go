//go:build linux

package dockercli

import (
	"os/exec"
	"runtime"
	"syscall"
)

// procAttr puts the child in a process group of its own when group is set,
// and asks the kernel to kill it when its parent dies: a dockerbridge killed
// with SIGKILL would otherwise leave its docker clients running.
func procAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}

// runLocked runs cmd on one locked OS thread. The parent-death signal fires
// when the thread that forked the child exits, not the process: without the
// lock, the runtime could end that thread while the child still runs.
func runLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Run()
}
