package collector_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/platform"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestScriptedWorld follows a handful of jobs through every kind of event
// and checks the exposition text after each poll.
func TestScriptedWorld(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 1, History: 3, Profiles: quietProfiles()}, 100)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	old := w.sim.Submit("download", "https://youtu.be/old", 1)
	w.poll(t) // start-up: learns the history, tracks old, counts nothing
	assertNonZero(t, w, "videoconduit_jobs_created_total", nil)
	assertNonZero(t, w, "videoconduit_jobs_finished_total", nil)

	w.clock.Advance(10 * time.Second)
	a := w.sim.Submit("download", "https://www.youtube.com/watch?v=a", 2)
	w.sim.Submit("transcribe", "https://www.tiktok.com/@u/video/1", 5)
	c := w.sim.Submit("download", "https://example.org/v.mp4", 2)
	d := w.sim.Submit("preview", "https://vimeo.com/1", 1)
	must(w.sim.SetStatus(a, client.StatusProcessing, ""))
	must(w.sim.SetStatus(c, client.StatusFailed, "Video unavailable"))
	must(w.sim.SetStatus(old, client.StatusCompleted, ""))
	w.clock.Advance(20 * time.Second)
	w.poll(t)

	assertNonZero(t, w, "videoconduit_jobs_created_total", map[string]float64{
		"download|youtube":  1,
		"download|other":    1,
		"transcribe|tiktok": 1,
		"preview|vimeo":     1,
	})
	assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{
		"download|other|failed":      1,
		"download|youtube|completed": 1, // old: created before start, finished after
	})
	assertNonZero(t, w, "videoconduit_job_failures_total", map[string]float64{
		"download|unavailable|other": 1,
	})
	compare(t, w, `
# HELP videoconduit_credits_charged_total Credits deducted for jobs this exporter saw created. As of the last successful poll of the VideoConduit API.
# TYPE videoconduit_credits_charged_total counter
videoconduit_credits_charged_total{job_type="comments"} 0
videoconduit_credits_charged_total{job_type="download"} 4
videoconduit_credits_charged_total{job_type="fingerprint"} 0
videoconduit_credits_charged_total{job_type="preview"} 1
videoconduit_credits_charged_total{job_type="transcribe"} 5
videoconduit_credits_charged_total{job_type="translate"} 0
# HELP videoconduit_credits_refunded_total Credits given back for jobs this exporter saw failing. As of the last successful poll of the VideoConduit API.
# TYPE videoconduit_credits_refunded_total counter
videoconduit_credits_refunded_total{job_type="comments"} 0
videoconduit_credits_refunded_total{job_type="download"} 2
videoconduit_credits_refunded_total{job_type="fingerprint"} 0
videoconduit_credits_refunded_total{job_type="preview"} 0
videoconduit_credits_refunded_total{job_type="transcribe"} 0
videoconduit_credits_refunded_total{job_type="translate"} 0
# HELP videoconduit_jobs_active Jobs now pending or processing. As of the last successful poll of the VideoConduit API.
# TYPE videoconduit_jobs_active gauge
videoconduit_jobs_active{job_type="comments",status="pending"} 0
videoconduit_jobs_active{job_type="comments",status="processing"} 0
videoconduit_jobs_active{job_type="download",status="pending"} 0
videoconduit_jobs_active{job_type="download",status="processing"} 1
videoconduit_jobs_active{job_type="fingerprint",status="pending"} 0
videoconduit_jobs_active{job_type="fingerprint",status="processing"} 0
videoconduit_jobs_active{job_type="preview",status="pending"} 1
videoconduit_jobs_active{job_type="preview",status="processing"} 0
videoconduit_jobs_active{job_type="transcribe",status="pending"} 1
videoconduit_jobs_active{job_type="transcribe",status="processing"} 0
videoconduit_jobs_active{job_type="translate",status="pending"} 0
videoconduit_jobs_active{job_type="translate",status="processing"} 0
# HELP videoconduit_jobs_oldest_active_age_seconds Age of the oldest job now pending or processing, 0 when there is none. As of the last successful poll of the VideoConduit API.
# TYPE videoconduit_jobs_oldest_active_age_seconds gauge
videoconduit_jobs_oldest_active_age_seconds{job_type="comments",status="pending"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="comments",status="processing"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="download",status="pending"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="download",status="processing"} 20
videoconduit_jobs_oldest_active_age_seconds{job_type="fingerprint",status="pending"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="fingerprint",status="processing"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="preview",status="pending"} 20
videoconduit_jobs_oldest_active_age_seconds{job_type="preview",status="processing"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="transcribe",status="pending"} 20
videoconduit_jobs_oldest_active_age_seconds{job_type="transcribe",status="processing"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="translate",status="pending"} 0
videoconduit_jobs_oldest_active_age_seconds{job_type="translate",status="processing"} 0
# HELP videoconduit_up 1 if the last poll of the VideoConduit API succeeded, else 0.
# TYPE videoconduit_up gauge
videoconduit_up 1
`)

	w.clock.Advance(10 * time.Second)
	must(w.sim.SetStatus(a, client.StatusCompleted, ""))
	must(w.sim.Delete(d))
	w.clock.Advance(20 * time.Second)
	w.poll(t)
	assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{
		"download|other|failed":      1,
		"download|youtube|completed": 2,
	})
	compare(t, w, `
# HELP videoconduit_jobs_vanished_total Tracked active jobs that the API no longer knows (404); no status is guessed for them. As of the last successful poll of the VideoConduit API.
# TYPE videoconduit_jobs_vanished_total counter
videoconduit_jobs_vanished_total{job_type="comments"} 0
videoconduit_jobs_vanished_total{job_type="download"} 0
videoconduit_jobs_vanished_total{job_type="fingerprint"} 0
videoconduit_jobs_vanished_total{job_type="preview"} 1
videoconduit_jobs_vanished_total{job_type="transcribe"} 0
videoconduit_jobs_vanished_total{job_type="translate"} 0
`)
	// Durations: old took 10 s, a took 30 s, c failed at once.
	got := histogramOf(t, w, "download", "completed")
	if got.count != 2 || got.sum != 40 || got.le10 != 1 || got.le30 != 2 {
		t.Errorf("download/completed durations = %+v, want 2 observations of 10 s and 30 s", got)
	}
	if got := histogramOf(t, w, "download", "failed"); got.count != 1 || got.sum != 0 {
		t.Errorf("download/failed durations = %+v, want one observation of 0 s", got)
	}

	// A scrape never calls the API.
	before := maps.Clone(w.sim.Requests())
	for range 3 {
		if _, err := w.reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if after := w.sim.Requests(); !maps.Equal(before, after) {
		t.Errorf("scrapes called the API: requests %v → %v", before, after)
	}
}

// TestFailedPollKeepsLastState checks that a failed poll changes no counter,
// reports up 0, and that the next good poll catches up exactly once.
func TestFailedPollKeepsLastState(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 2, Profiles: quietProfiles()}, 100)
	w.poll(t)
	w.sim.Submit("download", "https://youtu.be/1", 3)
	w.clock.Advance(30 * time.Second)
	w.poll(t)

	w.sim.SetFaults(simulator.Faults{ServerErrorRate: 1})
	j := w.sim.Submit("download", "https://youtu.be/2", 3)
	if err := w.sim.SetStatus(j, client.StatusFailed, "Video unavailable"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(30 * time.Second)
	if err := w.coll.Poll(context.Background()); err == nil {
		t.Fatal("poll against a failing API succeeded")
	}
	assertUp(t, w, 0)
	assertNonZero(t, w, "videoconduit_jobs_created_total", map[string]float64{"download|youtube": 1})
	assertNonZero(t, w, "videoconduit_jobs_finished_total", nil)

	w.sim.SetFaults(simulator.Faults{})
	w.clock.Advance(30 * time.Second)
	w.poll(t)
	w.poll(t)
	assertUp(t, w, 1)
	assertNonZero(t, w, "videoconduit_jobs_created_total", map[string]float64{"download|youtube": 2})
	assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{"download|youtube|failed": 1})
	if got := w.series(t, "videoconduit_credits_charged_total")["download"]; got != 6 {
		t.Errorf("credits charged = %v, want 6", got)
	}
}

// TestBoundedJobTypeLabel checks that undocumented job types pass through up
// to the cap and fold into other beyond it, and unknown statuses likewise.
func TestBoundedJobTypeLabel(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 3, Profiles: quietProfiles()}, 100)
	w.poll(t)
	w.sim.Submit("dub", "https://youtu.be/1", 1)
	w.sim.Submit("Not A Type!", "https://youtu.be/2", 1)
	j := w.sim.Submit("download", "https://youtu.be/3", 1)
	if err := w.sim.SetStatus(j, "cancelled", ""); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(30 * time.Second)
	w.poll(t)
	assertNonZero(t, w, "videoconduit_jobs_created_total", map[string]float64{
		"dub|youtube":      1,
		"other|youtube":    1,
		"download|youtube": 1,
	})
	assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{"download|youtube|cancelled": 1})
	assertNonZero(t, w, "videoconduit_jobs_active", map[string]float64{"dub|pending": 1, "other|pending": 1})
}

func TestCollectAndLint(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 4}, 100)
	w.poll(t)
	w.clock.Advance(5 * time.Minute)
	w.poll(t)
	problems, err := testutil.CollectAndLint(w.coll)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestMetricNames checks MetricNames against what the collector describes,
// so the list that documentation and dashboards are checked against cannot
// drift from the code.
func TestMetricNames(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 5}, 100)
	w.poll(t)
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range families {
		exposed[f.GetName()] = true
	}
	listed := map[string]bool{}
	for _, n := range collector.MetricNames() {
		listed[n] = true
	}
	if !maps.Equal(exposed, listed) {
		t.Errorf("MetricNames() = %v, exposed families = %v", listed, exposed)
	}
}

func compare(t *testing.T, w *world, expected string) {
	t.Helper()
	var names []string
	for _, line := range strings.Split(expected, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "TYPE" {
			names = append(names, f[2])
		}
	}
	if err := testutil.GatherAndCompare(w.reg, strings.NewReader(expected), names...); err != nil {
		t.Error(err)
	}
}

func assertUp(t *testing.T, w *world, want float64) {
	t.Helper()
	if got := w.series(t, "videoconduit_up")[""]; got != want {
		t.Errorf("videoconduit_up = %v, want %v", got, want)
	}
}

// assertNonZero checks that exactly the given series of a family are
// non-zero, with the given values, and reports only the differences.
func assertNonZero(t *testing.T, w *world, name string, want map[string]float64) {
	t.Helper()
	got := w.series(t, name)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", k, got[k], want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok && want[k] != 0 {
			diffs = append(diffs, fmt.Sprintf("%s: missing, want %v", k, want[k]))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s differs in %d series:\n  %s", name, len(diffs), strings.Join(diffs, "\n  "))
	}
}

type histogramSummary struct {
	count      uint64
	sum        float64
	le10, le30 uint64
}

func histogramOf(t *testing.T, w *world, jobType, status string) histogramSummary {
	t.Helper()
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "videoconduit_job_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["job_type"] != jobType || labels["status"] != status {
				continue
			}
			h := m.GetHistogram()
			s := histogramSummary{count: h.GetSampleCount(), sum: h.GetSampleSum()}
			for _, b := range h.GetBucket() {
				switch b.GetUpperBound() {
				case 10:
					s.le10 = b.GetCumulativeCount()
				case 30:
					s.le30 = b.GetCumulativeCount()
				}
			}
			return s
		}
	}
	t.Fatalf("no duration series for %s/%s", jobType, status)
	return histogramSummary{}
}

// TestEveryFailureSeriesFromTheStart: a failure series born at its first
// failure would hide that failure from increase(), so every job type ×
// source × reason of the classification table is there, at 0, before any
// poll; a custom table's reasons too.
func TestEveryFailureSeriesFromTheStart(t *testing.T) {
	for name, classifier := range map[string]*collector.FailureClassifier{
		"built-in": collector.DefaultFailureClassifier(),
		"custom":   customClassifier(t),
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, simulator.Config{Seed: 5}, 100)
			w.start(t, collector.Config{Classifier: classifier})
			got := w.series(t, "videoconduit_job_failures_total")
			for _, jobType := range client.JobTypes {
				for _, source := range platform.Names {
					for _, reason := range classifier.Reasons() {
						if v, ok := got[jobType+"|"+reason+"|"+source]; !ok || v != 0 {
							t.Fatalf("videoconduit_job_failures_total{job_type=%q,reason=%q,source=%q} = %v (present: %v), want 0", jobType, reason, source, v, ok)
						}
					}
				}
			}
			if want := len(client.JobTypes) * len(platform.Names) * len(classifier.Reasons()); len(got) != want {
				t.Errorf("%d failure series, want %d", len(got), want)
			}
		})
	}
}

func customClassifier(t *testing.T) *collector.FailureClassifier {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reasons.yml")
	if err := os.WriteFile(path, []byte("reasons:\n  - reason: drm\n    patterns: [widevine]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := collector.LoadFailureClassifier(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
