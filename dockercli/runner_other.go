//go:build !linux

package dockercli

import (
	"os/exec"
	"syscall"
)

// procAttr puts the child in a process group of its own when group is set.
// Only Linux has a parent-death signal; elsewhere a SIGKILLed dockerbridge
// leaves its docker client to end with its stream.
func procAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}

func runLocked(cmd *exec.Cmd) error { return cmd.Run() }
