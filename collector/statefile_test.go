package collector_test

import (
	"bytes"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestStateFileResumesCounting restarts the collector twice in a living
// world: counters continue without a reset, and what happened while the
// exporter was down is counted, once.
func TestStateFileResumesCounting(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 21, History: 200}, 20)
	path := filepath.Join(t.TempDir(), "state.json")
	cfg := collector.Config{StateFile: path, API: "http://sim"}
	w.start(t, cfg)
	start := w.clock.Now()
	w.poll(t)
	for restart := range 2 {
		for range 10 {
			w.clock.Advance(30 * time.Second)
			w.poll(t)
		}
		before := w.series(t, "videoconduit_jobs_created_total")
		w.clock.Advance(7 * time.Minute) // down: jobs start, finish, fail
		w.start(t, cfg)
		// Served from the state file before the first poll: no reset.
		if after := w.series(t, "videoconduit_jobs_created_total"); !maps.Equal(before, after) {
			t.Fatalf("restart %d: counters before the first poll differ from the saved ones", restart+1)
		}
		w.poll(t)
		w.poll(t)
	}
	truth := w.sim.TruthSince(start)
	created, finished := map[string]float64{}, map[string]float64{}
	for k, v := range truth.Created {
		created[k[0]+"|"+k[1]] = float64(v)
	}
	for k, v := range truth.Finished {
		finished[k[0]+"|"+k[1]+"|"+k[2]] = float64(v)
	}
	if len(created) == 0 || len(finished) == 0 {
		t.Fatal("the world was too quiet to prove anything")
	}
	assertNonZero(t, w, "videoconduit_jobs_created_total", created)
	assertNonZero(t, w, "videoconduit_jobs_finished_total", finished)
}

// TestStateFileKeepsWaitingDetails counts the ends of three tracked jobs
// while every lookup fails: the failures' reasons and the durations wait,
// and the state file keeps them across a restart. The restarted collector
// looks them up and counts each once.
func TestStateFileKeepsWaitingDetails(t *testing.T) {
	var failLookups atomic.Bool
	var w *world
	w = newWorld(t, simulator.Config{Seed: 23, Profiles: quietProfiles(), OnRequest: func(r *http.Request) {
		if failLookups.Load() && strings.HasPrefix(r.URL.Path, "/v1/jobs/") {
			w.sim.SetFaults(simulator.Faults{ServerErrorRate: 1})
		} else {
			w.sim.SetFaults(simulator.Faults{})
		}
	}}, 100)
	path := filepath.Join(t.TempDir(), "state.json")
	cfg := collector.Config{StateFile: path, API: "http://sim"}
	w.start(t, cfg)
	w.poll(t)
	a := w.sim.Submit("download", "https://youtu.be/a", 1)
	b := w.sim.Submit("download", "https://youtu.be/b", 1)
	c := w.sim.Submit("download", "https://youtu.be/c", 1)
	w.poll(t)
	w.clock.Advance(40 * time.Second)
	for _, err := range []error{
		w.sim.SetStatus(a, client.StatusFailed, "Video unavailable"),
		w.sim.SetStatus(b, client.StatusFailed, "This video is private"),
		w.sim.SetStatus(c, client.StatusCompleted, ""),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	failLookups.Store(true)
	w.poll(t) // the lookups fail, the poll does not
	failLookups.Store(false)

	w.start(t, cfg)
	if reasons, durations, _, _ := collector.WaitingDetails(w.coll); reasons != 2 || durations != 1 {
		t.Fatalf("after the restart %d reasons and %d durations wait, want 2 and 1", reasons, durations)
	}
	assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{"download|youtube|failed": 2, "download|youtube|completed": 1})
	assertNonZero(t, w, "videoconduit_job_failures_total", nil)
	for range 2 {
		w.clock.Advance(30 * time.Second)
		w.poll(t)
		assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{"download|youtube|failed": 2, "download|youtube|completed": 1})
		assertNonZero(t, w, "videoconduit_job_failures_total", map[string]float64{"download|private|youtube": 1, "download|unavailable|youtube": 1})
		for status, want := range map[string]uint64{client.StatusFailed: 2, client.StatusCompleted: 1} {
			if got := histogramOf(t, w, "download", status); got.count != want || got.sum != float64(want)*40 {
				t.Errorf("download/%s durations = %+v, want %d of 40 s", status, got, want)
			}
		}
	}
}

// TestStateFileUnusable checks that a corrupt, foreign or mismatched state
// file gives one clear log line and a fresh start, never a failure.
func TestStateFileUnusable(t *testing.T) {
	for name, tc := range map[string]struct {
		content string
		api     string
		wantLog string
	}{
		"corrupt":         {`{"program": "videoconduit_exporter", "ver`, "http://sim", "is corrupt"},
		"foreign program": {`{"program": "other_exporter", "version": 1}`, "http://sim", "is not a videoconduit_exporter state"},
		"future format":   {`{"program": "videoconduit_exporter", "version": 99}`, "http://sim", "is not a videoconduit_exporter state"},
		"another API":     {`{"program": "videoconduit_exporter", "version": 1, "api": "https://elsewhere"}`, "http://sim", "belongs to API"},
		"bad record":      {`{"program": "videoconduit_exporter", "version": 1, "api": "http://sim", "created": [{"labels": ["download"], "value": 3}]}`, "http://sim", "malformed counter record"},
		"missing":         {"", "http://sim", "no state file yet"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, simulator.Config{Seed: 22, Profiles: quietProfiles()}, 100)
			path := filepath.Join(t.TempDir(), "state.json")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			w.start(t, collector.Config{StateFile: path, API: tc.api, Logger: log.NewLogfmtLogger(&logs)})
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log = %q, want a line containing %q", logs.String(), tc.wantLog)
			}
			w.sim.Submit("download", "https://youtu.be/x", 1) // before start-up: old, not counted
			w.poll(t)
			assertNonZero(t, w, "videoconduit_jobs_created_total", nil)
			data, err := os.ReadFile(path)
			if err != nil || !strings.Contains(string(data), `"program":"videoconduit_exporter"`) {
				t.Errorf("after a successful poll the state file must be rewritten: %v %.80s", err, data)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("temporary files left beside the state file: %v", entries)
			}
		})
	}
}
