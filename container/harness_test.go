package container

// The harness: the image, built once per test run and removed at its end,
// and containers of it run, probed and stopped with Podman.

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// exposedPort is the exporter's default port, which the image exposes.
const exposedPort = "10177"

// stopWithin is how long the exporter may take to stop on SIGTERM: it only
// finishes the scrapes in flight.
const stopWithin = 5 * time.Second

// image is the image of this test run: a tag of its own, so that parallel
// runs and a user's own images are left alone.
var image struct {
	once sync.Once
	name string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.name != "" {
		if out, err := exec.Command("podman", "rmi", "--force", image.name).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "removing the test image %s: %v\n%s", image.name, err, out)
			code = 1
		}
	}
	os.Exit(code)
}

// repoRoot is the checkout: the tests run in its container/ folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// testImage builds the image once per test run with the README's command,
// scripts/build-image, and returns its name.
func testImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the container image with Podman")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build and run the container image (Debian: apt-get install podman runc): %v", tool, err)
		}
	}
	script, tag := filepath.Join(repoRoot(t), "scripts", "build-image"), "test-"+randomHex(t)
	image.once.Do(func() {
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(), "CONTAINER_ENGINE=podman", "TAG="+tag)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err != nil {
			image.err = fmt.Errorf("scripts/build-image: %w\n%s", err, stderr.String())
			return
		}
		// The name of the README, with the tag asked for.
		if want := "ghcr.io/videoconduit/videoconduit_exporter:" + tag; lines[len(lines)-1] != want {
			image.err = fmt.Errorf("scripts/build-image printed %q last, want the image's name %s", out, want)
		}
		image.name = lines[len(lines)-1]
	})
	if image.err != nil {
		t.Fatal(image.err)
	}
	return image.name
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// podman runs podman and returns its standard output; a failure fails the
// test with podman's own words.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command("podman", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// runOptions are the ways a test runs the image, beyond what every run has:
// a read-only root filesystem and the image's own user.
type runOptions struct {
	// hostNetwork shares the host's network, so that the exporter reaches
	// an API the test serves on loopback; the exporter then listens on a
	// loopback port of its own. Otherwise its port is published on loopback.
	hostNetwork bool
	mounts      map[string]string // host path → read-only path in the container
	writable    map[string]string // host folder → writable folder in the container
	env         []string          // NAME=value
	args        []string          // the exporter's flags
}

// container is a running exporter container.
type container struct {
	t       *testing.T
	name    string
	url     string    // the exporter, as the host reaches it
	started time.Time // when podman run was called
}

// runFlags start each podman run: runc and explicit limits, because the
// sandboxes the tests run in refuse crun and Podman's default limits; and a
// read-only root file system, as the README recommends.
var runFlags = []string{"--runtime", "runc", "run", "--read-only", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// podmanRun runs the exporter in the image to its end with args, and
// returns its output.
func podmanRun(t *testing.T, args ...string) string {
	t.Helper()
	return podman(t, slices.Concat(runFlags, []string{"--rm", testImage(t)}, args)...)
}

// run starts the image in the background.
func run(t *testing.T, o runOptions) *container {
	t.Helper()
	img := testImage(t)
	port := freePort(t)
	c := &container{t: t, name: "videoconduit-test-" + randomHex(t), url: "http://127.0.0.1:" + port}
	args := slices.Concat(runFlags, []string{"--detach", "--name", c.name})
	exporterArgs := o.args
	if o.hostNetwork {
		args = append(args, "--network", "host")
		exporterArgs = append([]string{"--web.listen-address=127.0.0.1:" + port}, exporterArgs...)
	} else {
		args = append(args, "--publish", "127.0.0.1:"+port+":"+exposedPort)
	}
	for host, inContainer := range o.mounts {
		args = append(args, "--volume", host+":"+inContainer+":ro")
	}
	for host, inContainer := range o.writable {
		args = append(args, "--volume", host+":"+inContainer)
	}
	for _, e := range o.env {
		args = append(args, "--env", e)
	}
	args = append(append(args, img), exporterArgs...)
	t.Cleanup(func() {
		if out, err := exec.Command("podman", "rm", "--force", "--time", "0", c.name).CombinedOutput(); err != nil {
			t.Errorf("removing container %s: %v\n%s", c.name, err, out)
		}
	})
	c.started = time.Now()
	podman(t, args...)
	return c
}

// freePort returns a loopback port that nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func (c *container) logs() string {
	out, err := exec.Command("podman", "logs", c.name).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(podman logs: %v) %s", err, out)
	}
	return string(out)
}

func (c *container) state() string {
	return podman(c.t, "inspect", "--format", "{{.State.Status}}", c.name)
}

// get returns the status and body of a GET of path, or an error when
// nothing answered.
func (c *container) get(path string) (int, string, error) {
	resp, err := http.Get(c.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReady waits until /-/ready answers 200 and returns the time from
// podman run to then. The container exiting first fails the test.
func (c *container) waitReady(timeout time.Duration) time.Duration {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := c.get("/-/ready")
		if code == http.StatusOK {
			return time.Since(c.started)
		}
		if state := c.state(); state != "running" {
			c.t.Fatalf("container %s is %s before it was ready; its log:\n%s", c.name, state, c.logs())
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("not ready after %v (last answer: %d, %v); the log:\n%s", timeout, code, err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLog waits until the container's log holds want, and returns the log.
// The exporter becoming ready first fails the test: the log waited for is
// that of a failure.
func (c *container) waitLog(want string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := c.logs()
		if strings.Contains(log, want) {
			return log
		}
		if code, _, _ := c.get("/-/ready"); code == http.StatusOK {
			c.t.Fatalf("the exporter became ready; its log does not say %q:\n%s", want, log)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v the log of %s does not say %q:\n%s", timeout, c.name, want, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metrics scrapes the container and parses the exposition.
func (c *container) metrics() map[string]*dto.MetricFamily {
	c.t.Helper()
	resp, err := http.Get(c.url + "/metrics")
	if err != nil {
		c.t.Fatalf("scraping %s: %v", c.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("scraping %s: %s", c.name, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		c.t.Fatalf("parsing the metrics of %s: %v", c.name, err)
	}
	return families
}

// sample returns the sum of the series of a counter or gauge family whose
// labels include match, and how many series that is.
func sample(families map[string]*dto.MetricFamily, name string, match map[string]string) (sum float64, n int) {
	f, ok := families[name]
	if !ok {
		return 0, 0
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range match {
			if labels[k] != v {
				continue series
			}
		}
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		n++
	}
	return sum, n
}

// stop stops the container as an orchestrator does, SIGTERM then SIGKILL
// after 10 s, and requires a clean exit within stopWithin. It returns the
// time podman stop took.
func (c *container) stop() time.Duration {
	c.t.Helper()
	start := time.Now()
	podman(c.t, "stop", "--time", "10", c.name)
	took := time.Since(start)
	if code := podman(c.t, "inspect", "--format", "{{.State.ExitCode}}", c.name); code != "0" {
		c.t.Errorf("after SIGTERM the exporter exited with %s, want 0; its log:\n%s", code, c.logs())
	}
	if took > stopWithin {
		c.t.Errorf("podman stop took %v, want at most %v: the exporter did not end on SIGTERM", took, stopWithin)
	}
	return took
}

// pid is the exporter's process id on the host.
func (c *container) pid() int {
	c.t.Helper()
	pid, err := strconv.Atoi(podman(c.t, "inspect", "--format", "{{.State.Pid}}", c.name))
	if err != nil || pid <= 0 {
		c.t.Fatalf("container %s has no process: %v", c.name, err)
	}
	return pid
}

// api serves a simulated VideoConduit API on loopback that accepts key
// alone. A TLS configuration makes it HTTPS.
func api(t *testing.T, key string, tlsConfig *tls.Config) (*simulator.Sim, string) {
	t.Helper()
	sim := simulator.New(simulator.Config{Seed: 1, APIKey: key, History: 200})
	srv := httptest.NewUnstartedServer(sim)
	// The refused handshakes of the TLS tests are expected; the exporter's
	// log tells why.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsConfig == nil {
		srv.Start()
	} else {
		srv.TLS = tlsConfig
		srv.StartTLS()
	}
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// userDir makes a folder that the image's user may write, as a state
// folder must be.
func userDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// secretFile writes a file that only the image's user may read, as a
// mounted secret is: owned by 65534 (where the tests may chown), mode 0400.
func secretFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(path, 0o444); err != nil { // else 65534 could not read it
		t.Fatal(err)
	}
	return path
}
