package e2e

import (
	"fmt"
	"regexp"
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

// linkField matches the parts of a Grafana data link that the row fills in.
var linkField = regexp.MustCompile(`\$\{__value\.raw\}|\$\{__data\.fields\.(\w+)\}`)

// TestEndToEndDashboardLinksOpenTheFailuresPage follows every data link of
// the dashboards' tables as Grafana would fill it from the rows of the
// panel's query on the real Prometheus: each must open the exporter's
// failures page (at its real address in place of its external one) for the
// row's account. The demo's incident gives prod's page failed jobs.
func TestEndToEndDashboardLinksOpenTheFailuresPage(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	external := strings.TrimSuffix(exporterExternalURL, "/")
	time.Sleep(time.Until(s.incidentEnd)) // prod's incident has failed jobs
	followed := 0
	for _, q := range qs {
		for _, link := range q.Links {
			var rows []sample
			eventually(t, s.incidentEnd.Add(90*time.Second), q.Panel+" lists every account", func() error {
				rows, err = s.query(q.Expr)
				if err != nil {
					return err
				}
				if len(rows) != 2 {
					return fmt.Errorf("%d rows %v, want the demo's two accounts", len(rows), rows)
				}
				return nil
			})
			for _, row := range rows {
				filled := linkField.ReplaceAllStringFunc(link.URL, func(ref string) string {
					if m := linkField.FindStringSubmatch(ref); m[1] != "" {
						return row.Metric[m[1]]
					}
					return row.Metric[link.Field]
				})
				rest, ok := strings.CutPrefix(filled, external+"/failures?")
				if !ok {
					t.Errorf("%s / %s: the link %s is not the failures page under the exporter's external URL %s", q.Dashboard, q.Panel, filled, external)
					continue
				}
				var page struct {
					Failures []struct {
						Account string `json:"account"`
					} `json:"failures"`
				}
				if err := getJSON(s.exporterURL+"/failures?format=json&"+rest, &page); err != nil {
					t.Errorf("%s / %s: opening %s: %v", q.Dashboard, q.Panel, filled, err)
					continue
				}
				for _, f := range page.Failures {
					if f.Account != row.Metric["account"] {
						t.Errorf("%s / %s: %s lists a failure of account %q", q.Dashboard, q.Panel, filled, f.Account)
						break
					}
				}
				if row.Metric["account"] == "prod" && len(page.Failures) == 0 {
					t.Errorf("%s / %s: %s lists no failed jobs of prod after its incident", q.Dashboard, q.Panel, filled)
				}
				followed++
			}
		}
	}
	if followed == 0 {
		t.Error("no dashboard table links to the failures page")
	}
}
