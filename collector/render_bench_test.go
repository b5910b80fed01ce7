package collector

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

// BenchmarkRenderAccount renders one account's every series as the
// exposition handler collects them, once per successful poll and format:
// each documented job type × platform × terminal status and × failure
// reason, the histograms, and the gauges of 1 000 active jobs; with no
// exemplar, or with one on every failure series. ms/50-accounts is what
// fifty accounts polled in the same interval cost together.
func BenchmarkRenderAccount(b *testing.B) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, exemplars := range []bool{false, true} {
		s := fullState(exemplars)
		series := len(collected(newJobMetrics(s, at)))
		b.Run(fmt.Sprintf("exemplars=%v", exemplars), func(b *testing.B) {
			for b.Loop() {
				for _, m := range collected(newJobMetrics(s, at)) {
					var pb dto.Metric
					if err := m.Write(&pb); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(50*b.Elapsed().Seconds()*1e3/float64(b.N), "ms/50-accounts")
		})
	}
}

// fullState is a state in which every series a documented label value can
// make has counted something.
func fullState(exemplars bool) *state {
	s := newState(DefaultFailureClassifier().Reasons())
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	reasons := DefaultFailureClassifier().Reasons()
	for _, t := range client.JobTypes {
		for _, p := range platform.Names {
			s.created[createdKey{t, p}] = 10
			s.finished[finishedKey{t, p, client.StatusCompleted}] = 7
			fk := finishedKey{t, p, client.StatusFailed}
			s.finished[fk] = 3
			for _, r := range reasons {
				rk := failureKey{t, p, r}
				s.failures[rk] = 1
				if exemplars {
					ref := exemplarRef{jobID: fmt.Sprintf("ca4d1a11-0000-4000-8000-%012d", len(s.lastFailed)), at: at}
					s.lastFailed[rk], s.lastFailedFin[fk] = ref, ref
				}
			}
		}
		for _, st := range []string{client.StatusCompleted, client.StatusFailed} {
			s.durationOf(t, st).observe(42)
		}
	}
	for i := range 1000 {
		s.tracked[fmt.Sprintf("job-%d", i)] = trackedJob{
			jobType: client.JobTypes[i%len(client.JobTypes)],
			source:  platform.Names[i%len(platform.Names)],
			status:  client.Statuses[i%2],
			created: at.Add(-time.Duration(i) * time.Second),
		}
	}
	return s
}
