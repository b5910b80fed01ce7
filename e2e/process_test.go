package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a binary the tests started, in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed once the process has exited
	err  error         // the result of Wait, set before done is closed
}

func startProcess(name, bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stopGrace is how long a process may take to shut down after SIGTERM.
const stopGrace = 15 * time.Second

// stop ends the process group: SIGTERM, then SIGKILL after stopGrace. A
// process that had already exited, or that does not exit cleanly, is an
// error: the tests did not see it die, so it may have hidden a failure.
func (p *process) stop() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited while the tests ran (%v); its output:\n%s", p.name, p.err, p.out.tail())
	default:
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %v and was killed; its output:\n%s", p.name, stopGrace, p.out.tail())
	}
	if p.err != nil {
		return fmt.Errorf("%s did not shut down cleanly: %w; its output:\n%s", p.name, p.err, p.out.tail())
	}
	return nil
}

// waitReady polls url until it answers 200, the process exits, or the
// timeout passes.
func (p *process) waitReady(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %v (last: %v); its output:\n%s", p.name, url, timeout, statusOrErr(resp, err), p.out.tail())
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", p.name, p.err, p.out.tail())
		case <-tick.C:
		}
	}
}

func statusOrErr(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// logBuffer collects a process's output for the failure messages.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last lines of the output: enough to see why a process
// failed without drowning the test's own messages.
func (b *logBuffer) tail() string {
	const keep = 40
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > keep {
		lines = append([]string{"[…]"}, lines[len(lines)-keep:]...)
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a binary that takes its listen address as a flag.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
