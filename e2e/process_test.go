package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// process is a binary the tests started, in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed once the process has exited
	err  error         // the result of Wait, set before done is closed
}

// startProcess starts bin with args. Its environment lacks
// VIDEOCONDUIT_API_KEY: the tests give the exporter its key in a file, and a
// key in the environment of whoever runs them must not take its place.
func startProcess(name, bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "VIDEOCONDUIT_API_KEY=") })
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

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stopGrace is how long a process may take to shut down after SIGTERM.
const stopGrace = 15 * time.Second

// stop ends the process group: SIGTERM, then SIGKILL after stopGrace. A
// process that had already exited, that does not exit cleanly, or whose
// race detector reported a data race is an error: the tests did not see it
// die, or it hid a failure.
func (p *process) stop() error {
	if !p.running() {
		return fmt.Errorf("%s exited while the tests ran (%v); its output:\n%s", p.name, p.err, p.out.tail())
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
	if err := p.raced(); err != nil {
		return err
	}
	if p.err != nil {
		return fmt.Errorf("%s did not shut down cleanly: %w; its output:\n%s", p.name, p.err, p.out.tail())
	}
	return nil
}

// kill ends the process group with SIGKILL, as a crash or the OOM killer
// would, and waits for the process to be gone. A process already gone is
// left alone.
func (p *process) kill() error {
	if !p.running() {
		return nil
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("%s did not die after SIGKILL", p.name)
	}
}

// raced reports a data race that the race detector found in the process
// (a binary built with -race): the test that ran it fails, as it would for
// a race in its own process.
func (p *process) raced() error {
	if log := p.out.String(); strings.Contains(log, "WARNING: DATA RACE") {
		return fmt.Errorf("%s had a data race; its output:\n%s", p.name, log)
	}
	return nil
}

// waitLog waits until re matches the output and returns the match, or fails
// when the process exits or the timeout passes.
func (p *process) waitLog(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m, nil
		}
		if !p.running() {
			return nil, fmt.Errorf("%s exited (%v) before logging %q; its output:\n%s", p.name, p.err, re, p.out.tail())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not log %q within %v; its output:\n%s", p.name, re, timeout, p.out.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// logBuffer collects a process's output for the tests to read while it
// runs, and for the failure messages.
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
// ago, for a binary that takes its listen address as a flag and does not
// log the port it got for :0.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// exporterBuilds are the exporter binaries of one test run, with and without
// the race detector, in buildDir.
var (
	buildDir struct {
		once sync.Once
		path string
		err  error
	}
	exporterBuilds [2]struct {
		once sync.Once
		path string
		err  error
	}
)

// exporterBinary builds the exporter once per test run: with the race
// detector if race, so that a data race in the process fails the test that
// ran it, as one in the test's own process would.
func exporterBinary(race bool) (string, error) {
	buildDir.once.Do(func() { buildDir.path, buildDir.err = os.MkdirTemp("", "videoconduit-e2e-bin-") })
	if buildDir.err != nil {
		return "", fmt.Errorf("creating the folder of the exporter's binaries: %w", buildDir.err)
	}
	b, args := &exporterBuilds[0], []string{"build", "-o", filepath.Join(buildDir.path, "videoconduit_exporter"), "."}
	if race {
		b, args = &exporterBuilds[1], []string{"build", "-race", "-o", filepath.Join(buildDir.path, "videoconduit_exporter-race"), "."}
	}
	b.once.Do(func() {
		build := exec.Command("go", args...)
		build.Dir = realtools.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building the exporter: %w\n%s", err, out)
		}
		b.path = args[len(args)-2]
	})
	return b.path, b.err
}

// removeBuilds removes the exporter binaries; TestMain calls it last.
func removeBuilds() {
	if buildDir.path != "" {
		os.RemoveAll(buildDir.path)
	}
}

// listeningLine is exporter-toolkit's log line once the exporter serves; it
// gives the port the exporter got for 127.0.0.1:0.
var listeningLine = regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)

// listenTimeout bounds the exporter's start, on a busy 2-core machine.
const listenTimeout = time.Minute

// startExporter runs the exporter, built with the race detector if race,
// on a loopback port of its choosing, and returns once it listens, with its
// address. The caller stops or kills it.
func startExporter(race bool, args ...string) (*process, string, error) {
	bin, err := exporterBinary(race)
	if err != nil {
		return nil, "", err
	}
	p, err := startProcess("exporter", bin, append([]string{"--web.listen-address=127.0.0.1:0"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	m, err := p.waitLog(listeningLine, listenTimeout)
	if err != nil {
		return nil, "", errors.Join(err, p.kill())
	}
	return p, m[1], nil
}
