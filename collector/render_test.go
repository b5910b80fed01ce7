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

// TestUnchangedSeriesKeepTheirMetric checks that a poll renders again only
// the series whose value changed, and that a changed series shows its new
// value with its labels and exemplar intact.
func TestUnchangedSeriesKeepTheirMetric(t *testing.T) {
	w, jobs := scrapeWorld(t)
	before := collectByKey(t, w.coll)
	newest := w.now
	w.api.set(append([]fakeJob{{
		id: "c4a4ce11-0000-4000-8000-000000000001", jobType: "download", status: "failed",
		url: benchURLs[0], message: "Video unavailable", created: newest, completed: newest.Add(time.Minute), credits: 1,
	}}, jobs...))
	w.now = newest.Add(2 * time.Minute)
	w.poll(t)
	after := collectByKey(t, w.coll)

	changed := map[string]bool{}
	for key, m := range after {
		if old, ok := before[key]; ok && old.metric != m.metric {
			changed[key] = true
		}
	}
	want := map[string]float64{
		"videoconduit_jobs_created_total|download|youtube":                before["videoconduit_jobs_created_total|download|youtube"].value + 1,
		"videoconduit_jobs_finished_total|download|youtube|failed":        before["videoconduit_jobs_finished_total|download|youtube|failed"].value + 1,
		"videoconduit_job_failures_total|download|unavailable|youtube":    before["videoconduit_job_failures_total|download|unavailable|youtube"].value + 1,
		"videoconduit_credits_charged_total|download":                     before["videoconduit_credits_charged_total|download"].value + 1,
		"videoconduit_credits_refunded_total|download":                    before["videoconduit_credits_refunded_total|download"].value + 1,
		"videoconduit_job_duration_seconds|download|failed":               before["videoconduit_job_duration_seconds|download|failed"].value + 1,
		"videoconduit_jobs_oldest_active_age_seconds|download|pending":    -1, // ages move with the clock
		"videoconduit_jobs_oldest_active_age_seconds|download|processing": -1,
	}
	for key := range changed {
		if _, ok := want[key]; !ok && !renderedEachTime(key) {
			t.Errorf("%s was rendered again although its value did not change", key)
		}
	}
	for key, v := range want {
		if !changed[key] {
			t.Errorf("%s was not rendered again", key)
		}
		if v >= 0 && after[key].value != v {
			t.Errorf("%s = %v, want %v", key, after[key].value, v)
		}
	}
	failure := after["videoconduit_job_failures_total|download|unavailable|youtube"].pb
	if got := failure.GetCounter().GetExemplar(); got == nil || got.GetLabel()[0].GetValue() != "c4a4ce11-0000-4000-8000-000000000001" {
		t.Errorf("the changed failure series has exemplar %v, want the new job's", got)
	}
}

// renderedEachTime tells the series that are new metrics at every poll or
// scrape: the ages, which move with the clock, and the poll's outcome.
func renderedEachTime(key string) bool {
	name, _, _ := strings.Cut(key, "|")
	switch name {
	case "videoconduit_jobs_oldest_active_age_seconds", "videoconduit_up", "videoconduit_last_poll_success_timestamp_seconds":
		return true
	}
	return false
}

// fqName reads a descriptor's metric name, which it shows only in its String.
func fqName(d *prometheus.Desc) string {
	_, rest, _ := strings.Cut(d.String(), `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

type collected struct {
	metric prometheus.Metric
	pb     *dto.Metric
	value  float64
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
		out[key] = collected{metric: m, pb: pb, value: value(pb)}
	}
	return out
}
