package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// counterFamilies are the job families that must never go down across a
// restart with a state file.
var counterFamilies = []string{
	"videoconduit_jobs_created_total",
	"videoconduit_jobs_finished_total",
	"videoconduit_job_failures_total",
	"videoconduit_credits_charged_total",
	"videoconduit_credits_refunded_total",
	"videoconduit_jobs_vanished_total",
	"videoconduit_job_duration_seconds",
}

// TestRobustRestartSIGKILL kills the exporter twice while the world goes on:
// once in the middle of an API request, once as a poll ends (while the state
// file may be being written). Restarted with the same state file, it serves
// counters that never went down and counts what happened while it was dead;
// at the end every counter equals the truth since the very first start.
func TestRobustRestartSIGKILL(t *testing.T) {
	api := newFakeAPI(t, simulator.Config{Seed: 300, History: 300})
	args := withStateFile(t, api, "--collector.page-size=10")

	p := runExporter(t, "http", args...)
	p.ready(t)
	if !strings.Contains(p.out.String(), "no state file yet") {
		t.Errorf("the first start must say it starts afresh; log:\n%s", p.out.String())
	}
	for round, kill := range []func(t *testing.T, p *exporterProc){killDuringRequest(api), killAsPollEnds} {
		api.run(3 * time.Second)
		p.waitPolls(t, 5, 1, 30*time.Second)
		before := p.mustScrape(t)
		kill(t, p)
		api.freeze()
		api.clock.Advance(3 * time.Minute) // down: jobs arrive, finish and fail unseen

		p = runExporter(t, "http", args...)
		// Whatever is served first, before or after the first poll, continues
		// the counters served before the crash.
		after := p.mustScrape(t)
		for _, name := range counterFamilies {
			for k, v := range before[name] {
				if after[name][k] < v {
					t.Errorf("restart %d: %s{%s} went down from %v to %v", round+1, name, k, v, after[name][k])
				}
			}
		}
		p.ready(t)
		if !strings.Contains(p.out.String(), "resuming from the state file") {
			t.Errorf("restart %d: no log line about resuming; log:\n%s", round+1, p.out.String())
		}
	}
	final := p.settle(t, api)
	assertTruth(t, api, final)
	if n := final["videoconduit_catchup_truncated_total"][""]; n != 0 {
		t.Errorf("catch-up truncated %v times, want 0: the downtime was within the bound", n)
	}
}

// withStateFile returns the flags that point the exporter at api with a key
// file and a state file of their own, and extra: each start with them
// resumes from the state the last one left.
func withStateFile(t *testing.T, api *fakeAPI, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	writeKeyFile(t, keyFile, api.key, 0o600)
	return api.args(keyFile, append([]string{"--collector.state-file=" + filepath.Join(dir, "state.json")}, extra...)...)
}

// killDuringRequest arms the API to SIGKILL the exporter when its next
// request arrives, before answering it: the kill lands inside a poll.
func killDuringRequest(api *fakeAPI) func(t *testing.T, p *exporterProc) {
	return func(t *testing.T, p *exporterProc) {
		var armed atomic.Bool
		armed.Store(true)
		killed := make(chan error, 1)
		hook := func(*http.Request) {
			if armed.CompareAndSwap(true, false) {
				killed <- syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		api.onRequest.Store(&hook)
		defer api.onRequest.Store(nil)
		select {
		case err := <-killed:
			if err != nil {
				t.Fatalf("killing the exporter: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the exporter made no request to be killed in")
		}
		p.crash(t) // waits for the process to be gone
	}
}

// killAsPollEnds kills the exporter as soon as a poll is seen to end, when
// the state file of that poll may still be being written.
func killAsPollEnds(t *testing.T, p *exporterProc) {
	start := p.mustScrape(t).polls()
	p.waitUntil(t, 30*time.Second, "a poll to end", func() bool { return p.mustScrape(t).polls() > start })
	p.crash(t)
}

// TestRobustCatchupBound restarts the exporter after a downtime with more new
// jobs than one poll pages: it counts what the bound allows, says so in
// videoconduit_catchup_truncated_total and one log line, and goes on polling.
func TestRobustCatchupBound(t *testing.T) {
	api := newFakeAPI(t, simulator.Config{Seed: 301, History: 50})
	// One job per page: the 200-page bound is reached after 200 new jobs.
	args := withStateFile(t, api, "--collector.page-size=1")

	p := runExporter(t, "http", args...)
	p.ready(t)
	p.crash(t)
	api.clock.Advance(5 * time.Minute) // about 450 new jobs

	p = runExporter(t, "http", args...)
	s := p.settle(t, api)
	if n := s["videoconduit_catchup_truncated_total"][""]; n != 1 {
		t.Errorf("videoconduit_catchup_truncated_total = %v, want 1", n)
	}
	if n := strings.Count(p.out.String(), "catch-up cut short"); n != 1 {
		t.Errorf("%d log lines about the cut catch-up, want 1; log:\n%s", n, p.out.String())
	}
	counted, happened := 0.0, 0
	for _, v := range s["videoconduit_jobs_created_total"] {
		counted += v
	}
	for _, v := range api.sim.TruthSince(api.since).Created {
		happened += v
	}
	if counted < 200 || counted >= float64(happened) {
		t.Errorf("%v jobs counted of %d created: want the 200 pages of the bound, not all", counted, happened)
	}
}

// TestRobustStateFileUnusable starts the exporter with a state file it
// cannot use: a clear log line, a fresh start, polling as usual.
func TestRobustStateFileUnusable(t *testing.T) {
	for _, tc := range []struct {
		name, content, wantLog string
		missingDir             bool
	}{
		{name: "corrupt", content: `{"program": "videoconduit_exporter", "vers`, wantLog: "is corrupt"},
		{name: "foreign", content: `{"program": "node_exporter", "version": 1}`, wantLog: "is not a videoconduit_exporter state"},
		{name: "unwritable", missingDir: true, wantLog: "cannot write the state file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, simulator.Config{Seed: 302, History: 50})
			dir := t.TempDir()
			keyFile, stateFile := filepath.Join(dir, "key"), filepath.Join(dir, "state.json")
			if tc.missingDir {
				stateFile = filepath.Join(dir, "no such folder", "state.json")
			} else if err := os.WriteFile(stateFile, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			writeKeyFile(t, keyFile, api.key, 0o600)
			p := runExporter(t, "http", api.args(keyFile, "--collector.state-file="+stateFile)...)
			api.run(3 * time.Second)
			p.waitPolls(t, 5, 1, 30*time.Second)
			if n := strings.Count(p.out.String(), tc.wantLog); n != 1 {
				t.Errorf("%d log lines containing %q, want 1; log:\n%s", n, tc.wantLog, p.out.String())
			}
			if tc.missingDir {
				return
			}
			data, err := os.ReadFile(stateFile)
			if err != nil || !strings.Contains(string(data), `"program":"videoconduit_exporter"`) {
				t.Errorf("the state file was not replaced by a good one: %v %.80s", err, data)
			}
		})
	}
}
