package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestRunConfigurationErrors(t *testing.T) {
	t.Setenv("VIDEOCONDUIT_API_KEY", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no key", nil, "give one with --videoconduit.api-key-file or the VIDEOCONDUIT_API_KEY environment variable"},
		{"missing key file", []string{"--videoconduit.api-key-file=/nonexistent/key"}, "API key file: stat /nonexistent/key: no such file or directory"},
		{"page size 0", []string{"--demo", "--collector.page-size=0"}, "--collector.page-size must be between 1 and 100, got 0"},
		{"page size 101", []string{"--demo", "--collector.page-size=101"}, "--collector.page-size must be between 1 and 100, got 101"},
		{"interval", []string{"--demo", "--collector.interval=0s"}, "--collector.interval must be positive"},
		{"not a duration", []string{"--demo", "--collector.interval=soon"}, `invalid duration "soon"`},
		{"timeout", []string{"--demo", "--videoconduit.timeout=-1s"}, "--videoconduit.timeout must be positive"},
		{"rate", []string{"--demo", "--videoconduit.max-requests-per-second=0"}, "--videoconduit.max-requests-per-second must be positive"},
		{"url", []string{"--demo", "--videoconduit.url=videoconduit.com"}, `--videoconduit.url "videoconduit.com" is not an absolute http(s) URL`},
		{"log level", []string{"--demo", "--log.level=loud"}, "enum value must be one of debug,info,warn,error, got 'loud'"},
		{"log format", []string{"--demo", "--log.format=xml"}, "enum value must be one of logfmt,json, got 'xml'"},
		{"max requests", []string{"--demo", "--web.max-requests=-1"}, "--web.max-requests must not be negative"},
		{"telemetry path", []string{"--demo", "--web.telemetry-path=metrics"}, "--web.telemetry-path must start with /"},
		{"demo incident", []string{"--demo", "--demo.incident-every=1m", "--demo.incident-duration=2m"}, "--demo.incident-every must not be shorter"},
		{"unknown flag", []string{"--collector.intervall=1s"}, "unknown long flag '--collector.intervall'"},
		{"reasons file", []string{"--demo", "--collector.failure-reasons-file=/nonexistent.yml"}, "reading failure reasons file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestRunVersionAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exit code = %d, stderr %q", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "videoconduit_exporter, version ") || !strings.Contains(stdout.String(), "go version:") {
		t.Errorf("--version printed %q", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help exit code = %d", code)
	}
	for _, flag := range []string{"--videoconduit.api-key-file", "--collector.interval", "--web.listen-address", "--web.config.file", "--demo"} {
		if !strings.Contains(stdout.String(), flag) {
			t.Errorf("--help does not mention %s", flag)
		}
	}
}

// TestRunDemo starts the exporter on its demo as a user would, waits for it
// to become ready and to show created, finished and credit series, checks
// the landing and health pages, then stops it with SIGTERM.
func TestRunDemo(t *testing.T) {
	addr := freeAddress(t)
	r := runInBackground("--demo", "--web.listen-address="+addr, "--collector.interval=1s", "--web.external-url=https://vc.example.com/exporter/")
	base := "http://" + addr
	r.waitFor(t, 10*time.Second, "ready", func() bool { return get(base+"/-/ready") == http.StatusOK })

	var families map[string]float64
	waitFor(t, 60*time.Second, "created, finished and credit series", func() bool {
		families = scrapeTotals(t, base+"/metrics")
		return families["videoconduit_jobs_created_total"] > 0 && families["videoconduit_jobs_finished_total"] > 0 &&
			families["videoconduit_credits_charged_total"] > 0 && families["videoconduit_up"] == 2
	})
	// The demo's two accounts, each in every job series and health series.
	metrics := getBody(t, base+"/metrics")
	for _, account := range []string{"prod", "staging"} {
		for _, series := range []string{
			`videoconduit_up{account="` + account + `"} 1`,
			`videoconduit_jobs_created_total{account="` + account + `",job_type="download",source="youtube"}`,
			`videoconduit_poll_interval_seconds{account="` + account + `"} 1`,
		} {
			if !strings.Contains(metrics, "\n"+series) {
				t.Errorf("/metrics lacks %s", series)
			}
		}
	}
	// Alerts append "/failures?…" to the external URL: no trailing slash.
	if want := `videoconduit_exporter_web_info{external_url="https://vc.example.com/exporter"} 1`; !strings.Contains(metrics, "\n"+want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if strings.Contains(metrics, `videoconduit_exporter_build_info{account=`) {
		t.Error("build_info carries an account label")
	}
	for _, name := range []string{"videoconduit_exporter_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := families[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	for path, want := range map[string]string{"/": `href="https://vc.example.com/exporter/failures?account=staging"`, "/-/healthy": "Healthy", "/-/ready": "Ready"} {
		if body := getBody(t, base+path); !strings.Contains(body, want) {
			t.Errorf("GET %s = %q, want it to contain %q", path, body, want)
		}
	}
	r.stop(t)
	if log := r.stderr.String(); !strings.Contains(log, "demo mode") || strings.Count(log, "demo mode") != 1 {
		t.Errorf("want one log line saying this is a demo, log:\n%s", log)
	}
}

// running is run() in a goroutine, as main calls it.
type running struct {
	stderr *syncBuffer
	exited chan int
}

func runInBackground(args ...string) *running {
	r := &running{stderr: &syncBuffer{}, exited: make(chan int, 1)}
	go func() { r.exited <- run(args, io.Discard, r.stderr) }()
	return r
}

// waitFor is the package's waitFor, failing at once if run returned.
func (r *running) waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	waitFor(t, limit, what, func() bool {
		select {
		case code := <-r.exited:
			t.Fatalf("run returned %d while waiting for %s; log:\n%s", code, what, r.stderr.String())
		default:
		}
		return ok()
	})
}

// stop sends the process SIGTERM, which run handles once it is serving
// (wait for that first), and requires it to return 0.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-r.exited:
		if code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0; log:\n%s", code, r.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scrapeTotals returns, per metric family, the sum of its samples.
func scrapeTotals(t *testing.T, url string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				out[name] += m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] += m.Gauge.GetValue()
			default:
				out[name] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
