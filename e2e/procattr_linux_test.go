package e2e

import "syscall"

// sysProcAttr puts a child in its own process group, so that stopping it
// stops everything it started, and has the kernel kill it if the test binary
// dies without cleaning up (a panic, a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
