package e2e

// The robust tests run the exporter as an operator does: the real binary as
// a child process, against a simulated VideoConduit API that the test serves
// on loopback and whose clock it controls. This file holds what they share
// beyond the process harness of process_test.go.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// exporterProc is an exporter that a robust test started.
type exporterProc struct {
	*process
	base string // http(s)://127.0.0.1:port
}

// runExporter runs the exporter with args on a loopback port of its
// choosing, and returns once it listens. Under -race it is built with the
// race detector. Whatever happens, its process group is killed at the end of
// the test, and a data race it reported fails the test.
func runExporter(t *testing.T, scheme string, args ...string) *exporterProc {
	t.Helper()
	return runExporterBuilt(t, raceEnabled, scheme, args...)
}

// runExporterBuilt is runExporter with the race detector in the exporter
// or not, whatever the tests run under.
func runExporterBuilt(t *testing.T, race bool, scheme string, args ...string) *exporterProc {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building and running the exporter binary")
	}
	p, addr, err := startExporter(race, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := errors.Join(p.kill(), p.raced()); err != nil {
			t.Error(err)
		}
	})
	return &exporterProc{process: p, base: scheme + "://" + addr}
}

// crash ends the exporter as a crash or the OOM killer would: SIGKILL to its
// process group.
func (p *exporterProc) crash(t *testing.T) {
	t.Helper()
	if err := p.kill(); err != nil {
		t.Error(err)
	}
}

func (p *exporterProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v to the exporter: %v", sig, err)
	}
}

// waitUntil polls ok until it holds, failing at once if the process died.
func (p *exporterProc) waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if !p.running() {
			t.Fatalf("the exporter exited (%v) while waiting for %s; log:\n%s", p.err, what, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v in vain for %s; log:\n%s", limit, what, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get returns the status code and body of GET url: status 0 and the error
// if the request failed.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// ready waits until the exporter's /-/ready answers 200, failing at once if
// the process died.
func (p *exporterProc) ready(t *testing.T) {
	t.Helper()
	if err := p.waitReady(p.base+"/-/ready", 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// logSince returns what the process logged after offset bytes.
func (p *exporterProc) logSince(offset int) string { return p.out.String()[offset:] }

func (p *exporterProc) logLen() int { return len(p.out.String()) }

// series maps each family to its series, keyed by label values in
// label-name order joined by "|"; a histogram's value is its sample count.
type series map[string]map[string]float64

func (p *exporterProc) scrape() (series, error) {
	return scrapeWith(http.DefaultClient, p.base+"/metrics", "", "")
}

func (p *exporterProc) mustScrape(t *testing.T) series {
	t.Helper()
	s, err := p.scrape()
	if err != nil {
		t.Fatalf("scraping the exporter: %v; log:\n%s", err, p.out.String())
	}
	return s
}

func scrapeWith(hc *http.Client, url, user, password string) (series, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseSeries(resp.Body)
}

// defaultAccount is the account label of the one account the flags describe.
const defaultAccount = "default"

// parseSeries returns the series of the flags' one account, keyed without
// their account label, and the series that describe no account.
func parseSeries(r io.Reader) (series, error) {
	accounts, err := parseAccounts(r)
	if err != nil {
		return nil, err
	}
	out := accounts[""]
	for name, byLabels := range accounts[defaultAccount] {
		out[name] = byLabels
	}
	return out, nil
}

// parseAccounts returns the series of each account, keyed without their
// account label; those that describe no account are under "".
func parseAccounts(r io.Reader) (map[string]series, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w", err)
	}
	out := map[string]series{"": {}}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			account := ""
			var values []string
			for _, l := range m.GetLabel() {
				if l.GetName() == "account" {
					account = l.GetValue()
					continue
				}
				values = append(values, l.GetValue())
			}
			v := 0.0
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				v = float64(m.Histogram.GetSampleCount())
			}
			if out[account] == nil {
				out[account] = series{}
			}
			if out[account][name] == nil {
				out[account][name] = map[string]float64{}
			}
			out[account][name][strings.Join(values, "|")] = v
		}
	}
	return out, nil
}

func (s series) up() float64    { return s["videoconduit_up"][""] }
func (s series) polls() float64 { return s["videoconduit_poll_duration_seconds"][""] }

// jobFamilies are the families that count or show jobs: what a failed poll
// must leave untouched and what the truth is compared with.
var jobFamilies = []string{
	"videoconduit_jobs_created_total",
	"videoconduit_jobs_finished_total",
	"videoconduit_job_failures_total",
	"videoconduit_credits_charged_total",
	"videoconduit_credits_refunded_total",
	"videoconduit_jobs_active",
	"videoconduit_jobs_vanished_total",
	"videoconduit_job_duration_seconds",
}

// sameJobs reports the job series that differ between two scrapes.
func sameJobs(a, b series) []string {
	var diffs []string
	for _, name := range jobFamilies {
		keys := slices.Sorted(maps.Keys(a[name]))
		for k := range b[name] {
			if _, ok := a[name][k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if a[name][k] != b[name][k] {
				diffs = append(diffs, fmt.Sprintf("%s{%s}: %v, then %v", name, k, a[name][k], b[name][k]))
			}
		}
	}
	return diffs
}

// fakeAPI is the simulated VideoConduit API, with a manual clock that moves
// only when a poll starts and the test lets it.
type fakeAPI struct {
	sim   *simulator.Sim
	clock *simulator.ManualClock
	key   string
	url   string
	// since starts the truth window: the clock's reading while the exporter
	// first polls, less a nanosecond so that jobs stamped with that very
	// second (created_at has whole seconds) are inside the window.
	since time.Time
	// step is the simulated time added at the start of each poll; 0 freezes
	// the world.
	step atomic.Int64
	// onRequest, when set, runs at the start of each request.
	onRequest atomic.Pointer[func(*http.Request)]

	mu       sync.Mutex
	requests []apiRequest
}

type apiRequest struct {
	at    time.Time // real time
	path  string
	query string
}

// newFakeAPI serves a simulated world whose clock reads a whole second near
// the real time (so the exporter finds its timestamps plausible) and stays
// there until the test sets a step.
func newFakeAPI(t *testing.T, cfg simulator.Config) *fakeAPI {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	a := &fakeAPI{clock: simulator.NewManualClock(now), key: randomKey(t), since: now.Add(-time.Nanosecond)}
	cfg.Clock, cfg.APIKey = a.clock, a.key
	if cfg.Start.IsZero() {
		// A live world already running: jobs pending and processing at the
		// exporter's start, whose ends must be counted.
		cfg.Start = now.Add(-20 * time.Minute)
	}
	cfg.OnRequest = a.observe
	a.sim = simulator.New(cfg)
	srv := httptest.NewServer(a.sim)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *fakeAPI) observe(r *http.Request) {
	if f := a.onRequest.Load(); f != nil {
		(*f)(r)
	}
	q := r.URL.Query()
	if step := a.step.Load(); step > 0 && r.URL.Path == "/v1/jobs" && q.Get("cursor") == "" && q.Get("status") == "" {
		a.clock.Advance(time.Duration(step))
	}
	a.mu.Lock()
	a.requests = append(a.requests, apiRequest{at: time.Now(), path: r.URL.Path, query: r.URL.RawQuery})
	a.mu.Unlock()
}

func (a *fakeAPI) run(step time.Duration) { a.step.Store(int64(step)) }
func (a *fakeAPI) freeze()                { a.step.Store(0) }

func (a *fakeAPI) requestLog() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// args are the flags that point the exporter at this API with a key file;
// a flag in extra replaces the one of the same name.
func (a *fakeAPI) args(keyFile string, extra ...string) []string {
	name := func(flag string) string { n, _, _ := strings.Cut(flag, "="); return n }
	base := slices.DeleteFunc([]string{
		"--videoconduit.url=" + a.url,
		"--videoconduit.api-key-file=" + keyFile,
		"--videoconduit.max-requests-per-second=1000",
		"--collector.interval=200ms",
		"--collector.page-size=20",
	}, func(flag string) bool {
		return slices.ContainsFunc(extra, func(e string) bool { return name(e) == name(flag) })
	})
	return append(base, extra...)
}

// randomKey returns a key in VideoConduit's form that nothing else contains.
func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "vc_live_" + hex.EncodeToString(b)
}

// writeKeyFile replaces the key file atomically, as a secret manager does.
func writeKeyFile(t *testing.T, path, key string, mode os.FileMode) {
	t.Helper()
	writeKeyFileAt(t, path, key, mode, time.Time{})
}

// writeKeyFileAt is writeKeyFile with the file's modification time set to
// mtime, unless it is zero.
func writeKeyFileAt(t *testing.T, path, key string, mode os.FileMode, mtime time.Time) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(key+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode passes through the umask
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(tmp, time.Time{}, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitPolls waits until n polls have ended after the current one and the
// last of them had the given outcome (up 1 or 0), and returns that scrape.
// The first poll counted may have started before the call: callers that
// need a poll entirely after an event wait for two.
func (p *exporterProc) waitPolls(t *testing.T, n int, up float64, limit time.Duration) series {
	t.Helper()
	start := p.mustScrape(t).polls()
	var s series
	p.waitUntil(t, limit, fmt.Sprintf("%d more polls ending with up %v", n, up), func() bool {
		s = p.mustScrape(t)
		return s.polls() >= start+float64(n) && s.up() == up
	})
	return s
}

// settle freezes the world and waits until a successful poll has run
// entirely after the freeze and is served; the series it returns are then
// those of the frozen world. The poll counter moves before the job series
// are served (they are encoded in the background, after the poll), so
// three polls (one maybe in flight, one maybe not yet served, one whole)
// are not enough on a busy machine: it waits until the job series stay
// the same across two more successful polls.
func (p *exporterProc) settle(t *testing.T, a *fakeAPI) series {
	t.Helper()
	a.freeze()
	last := p.waitPolls(t, 3, 1, 30*time.Second)
	for range 20 {
		next := p.waitPolls(t, 2, 1, 30*time.Second)
		if len(sameJobs(last, next)) == 0 {
			return next
		}
		last = next
	}
	t.Fatal("the job series of the frozen world still change after 40 more polls")
	return nil
}

// assertTruth checks every job series against the simulator's truth since
// the exporter started: nothing lost, nothing counted twice.
func assertTruth(t *testing.T, a *fakeAPI, got series) {
	t.Helper()
	truth := a.sim.TruthSince(a.since)
	want := series{}
	add := func(name, key string, v float64) {
		if want[name] == nil {
			want[name] = map[string]float64{}
		}
		want[name][key] += v
	}
	for k, v := range truth.Created {
		add("videoconduit_jobs_created_total", k[0]+"|"+k[1], float64(v))
	}
	for k, v := range truth.Finished {
		add("videoconduit_jobs_finished_total", k[0]+"|"+k[1]+"|"+k[2], float64(v))
	}
	for k, v := range truth.Failures {
		add("videoconduit_job_failures_total", k[0]+"|"+k[2]+"|"+k[1], float64(v)) // labels sort as job_type, reason, source
	}
	for k, v := range truth.CreditsCharged {
		add("videoconduit_credits_charged_total", k, float64(v))
	}
	for k, v := range truth.CreditsRefunded {
		add("videoconduit_credits_refunded_total", k, float64(v))
	}
	for k, v := range truth.Active {
		add("videoconduit_jobs_active", k[0]+"|"+k[1], float64(v))
	}
	if len(truth.Created) == 0 || len(truth.Finished) == 0 {
		t.Fatalf("the world was too quiet to prove anything: %+v", truth)
	}
	var diffs []string
	for _, name := range jobFamilies[:len(jobFamilies)-1] { // durations have no truth to compare with
		for _, k := range slices.Sorted(maps.Keys(got[name])) {
			if got[name][k] != want[name][k] {
				diffs = append(diffs, fmt.Sprintf("%s{%s}: got %v, want %v", name, k, got[name][k], want[name][k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want[name])) {
			if _, ok := got[name][k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s{%s}: missing, want %v", name, k, want[name][k]))
			}
		}
	}
	if len(diffs) > 0 {
		t.Errorf("the exporter's counts differ from the truth in %d series:\n  %s", len(diffs), strings.Join(diffs, "\n  "))
	}
}

var causeRE = regexp.MustCompile(`\bcause=(\S+)`)

// pollErrorCauses returns the cause of every error line about a failed poll.
func pollErrorCauses(log string) []string {
	var causes []string
	for _, line := range strings.Split(log, "\n") {
		if m := causeRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "level=error") {
			causes = append(causes, m[1])
		}
	}
	return causes
}
