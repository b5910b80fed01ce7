package e2e

import (
	"errors"
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
			expr := q.Expr
			if strings.HasPrefix(q.Panel, "annotation: ") {
				// Grafana runs an annotation over the dashboard's time range:
				// an alert that fired and resolved before the test got its turn
				// counts.
				expr = "last_over_time((" + expr + ")[1h:15s])"
			}
			samples, err := s.query(expr)
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
// row's account. Prod's page lists failed jobs as soon as prod has some:
// the test does not wait for the incident, so that it holds none of the
// few parallel slots that the tests waiting for the incident need.
func TestEndToEndDashboardLinksOpenTheFailuresPage(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	external := strings.TrimSuffix(exporterExternalURL, "/")
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
				account := row.Metric["account"]
				eventually(t, s.incidentEnd.Add(90*time.Second), filled+" lists only "+account+"'s failed jobs", func() error {
					var page struct {
						Failures []struct {
							Account string `json:"account"`
						} `json:"failures"`
					}
					if err := getJSON(s.exporterURL+"/failures?format=json&"+rest, &page); err != nil {
						return err
					}
					for _, f := range page.Failures {
						if f.Account != account {
							return fmt.Errorf("it lists a failure of account %q", f.Account)
						}
					}
					if account == "prod" && len(page.Failures) == 0 {
						return errors.New("it lists no failed job of prod yet")
					}
					return nil
				})
				followed++
			}
		}
	}
	if followed == 0 {
		t.Error("no dashboard table links to the failures page")
	}
}
