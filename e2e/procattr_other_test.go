//go:build unix && !linux

package e2e

import "syscall"

// sysProcAttr puts a child in its own process group, so that stopping it
// stops everything it started. Only Linux can also tie its life to ours.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
