package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/dashboards"
)

// TestEndToEndDashboardQueriesReturnData runs every panel and annotation
// query of the dashboards against the real Prometheus scraping the demo,
// until each one returns data: at least one sample that is a number. None is
// excused: counters that have not moved (vanished jobs, truncated catch-ups,
// 429s) exist at 0 from the first scrape, failures come with the incident,
// and the firing-alerts annotation waits for the incident's alert.
func TestEndToEndDashboardQueriesReturnData(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)
	waiting, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(waiting) == 0 {
		t.Fatal("the dashboards have no queries")
	}
	// The alert of the incident fires around its end; the deadline leaves
	// room for a slow machine.
	eventually(t, s.incidentEnd.Add(90*time.Second), "every dashboard query returns data", func() error {
		why := map[string]string{} // by expression: the query's error
		waiting = slices.DeleteFunc(waiting, func(q dashboards.Query) bool {
			samples, err := s.query(q.Expr)
			if err != nil {
				why[q.Expr] = err.Error()
				return false
			}
			return slices.ContainsFunc(samples, func(x sample) bool { return x.Value != "NaN" })
		})
		if len(waiting) == 0 {
			return nil
		}
		var failed []string
		for _, q := range waiting {
			reason, ok := why[q.Expr]
			if !ok {
				reason = "no data from " + q.Expr
			}
			failed = append(failed, fmt.Sprintf("%s / %s: %s", q.Dashboard, q.Panel, reason))
		}
		return fmt.Errorf("%d queries without data:\n%s", len(waiting), strings.Join(failed, "\n"))
	})
}
