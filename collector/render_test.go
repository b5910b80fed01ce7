package collector_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scrapeWorld is a fake-API world whose account holds a failure of every
// kind, so that series carry exemplars.
func scrapeWorld(t *testing.T) (*fakeWorld, []fakeJob) {
	t.Helper()
	api := &fakeAPI{listDetails: true}
	w := newFakeWorld(t, api)
	api.set(nil)
	w.poll(t)
	jobs := documentedCardinality().jobs()
	api.set(jobs)
	w.now = jobs[0].created.Add(time.Second)
	w.poll(t)
	return w, jobs
}

// TestConcurrentScrapesWithExemplars scrapes from several goroutines, as
// several Prometheus servers do; under -race it fails if a scrape writes
// into what another reads (the exemplar of a shared point).
func TestConcurrentScrapesWithExemplars(t *testing.T) {
	w, _ := scrapeWorld(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				families, err := w.reg.Gather()
				if err != nil {
					t.Error(err)
					return
				}
				if n := exemplars(families); n == 0 {
					t.Error("no exemplar in a scrape of an account with failures")
				}
			}
		})
	}
	wg.Wait()
}

func exemplars(families []*dto.MetricFamily) int {
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetCounter().GetExemplar() != nil {
				n++
			}
		}
	}
	return n
}

// TestNewFailureChangesItsSeriesOnly checks that a poll that sees one new
// failed job moves exactly the job series that job belongs to, with the job
// as their exemplar, and leaves every other job series as it was.
func TestNewFailureChangesItsSeriesOnly(t *testing.T) {
	w, jobs := scrapeWorld(t)
	before := collectByKey(t, w.coll.JobMetrics())
	newest := w.now
	w.api.set(append([]fakeJob{{
		id: "c4a4ce11-0000-4000-8000-000000000001", jobType: "download", status: "failed",
		url: benchURLs[0], message: "Video unavailable", created: newest, completed: newest.Add(time.Minute), credits: 1,
	}}, jobs...))
	w.now = newest.Add(2 * time.Minute)
	w.poll(t)
	after := collectByKey(t, w.coll.JobMetrics())

	changed := map[string]float64{
		"videoconduit_jobs_created_total|download|youtube":             1,
		"videoconduit_jobs_finished_total|download|youtube|failed":     1,
		"videoconduit_job_failures_total|download|unavailable|youtube": 1,
		"videoconduit_credits_charged_total|download":                  1,
		"videoconduit_credits_refunded_total|download":                 1,
		"videoconduit_job_duration_seconds|download|failed":            1, // the count
	}
	if len(after) != len(before) {
		t.Errorf("%d series after the poll, %d before", len(after), len(before))
	}
	for key, m := range after {
		old, ok := before[key]
		switch {
		case !ok:
			t.Errorf("%s appeared", key)
		case strings.HasPrefix(key, "videoconduit_jobs_oldest_active_age_seconds|"): // moves with the clock
		case m.value != old.value+changed[key]:
			t.Errorf("%s = %v, was %v: want +%v", key, m.value, old.value, changed[key])
		}
	}
	for _, key := range []string{"videoconduit_job_failures_total|download|unavailable|youtube", "videoconduit_jobs_finished_total|download|youtube|failed"} {
		if got := after[key].pb.GetCounter().GetExemplar(); got == nil || got.GetLabel()[0].GetValue() != "c4a4ce11-0000-4000-8000-000000000001" {
			t.Errorf("%s has exemplar %v, want the new job's", key, got)
		}
	}
}

// fqName reads a descriptor's metric name, which it shows only in its String.
func fqName(d *prometheus.Desc) string {
	_, rest, _ := strings.Cut(d.String(), `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

type collected struct {
	pb    *dto.Metric
	value float64
}

// collectByKey collects the job metrics once, keyed by name and label
// values in label-name order.
func collectByKey(t *testing.T, c prometheus.Collector) map[string]collected {
	t.Helper()
	ch := make(chan prometheus.Metric, 10000)
	c.Collect(ch)
	close(ch)
	out := map[string]collected{}
	for m := range ch {
		pb := &dto.Metric{}
		if err := m.Write(pb); err != nil {
			t.Fatal(err)
		}
		key := fqName(m.Desc())
		for _, l := range pb.GetLabel() {
			key += "|" + l.GetValue()
		}
		out[key] = collected{pb: pb, value: value(pb)}
	}
	return out
}
