package main

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/videoconduit/videoconduit_exporter/internal/accounts"
	"github.com/videoconduit/videoconduit_exporter/internal/failures"
)

// newMux routes the telemetry path, the health endpoints, the recent
// failures and the landing page. externalURL, if not nil, is where people
// reach the exporter, for the links the pages give.
func newMux(metricsPath string, metrics http.Handler, set *accounts.Set, externalURL *url.URL) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, metrics)
	mux.Handle(failures.Path, failures.NewHandler(func() []failures.Account {
		var out []failures.Account
		for name, c := range set.Collectors() {
			out = append(out, failures.Account{Name: name, Failures: c.RecentFailures()})
		}
		return out
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		ready, waiting := set.Ready()
		switch {
		case len(waiting) > 0:
			http.Error(w, "Not ready: waiting for the first poll of "+strings.Join(waiting, ", "), http.StatusServiceUnavailable)
		case !ready:
			http.Error(w, "Not ready: no poll of the VideoConduit API has succeeded yet", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "Ready")
		}
	})
	if metricsPath == "/" {
		return mux, nil
	}
	landing := landingConfig(metricsPath)
	// Checked once here, so that a scrape of the page cannot fail later.
	if _, err := web.NewLandingPage(landing); err != nil {
		return nil, fmt.Errorf("building the landing page: %w", err)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		page := landingConfig(metricsPath)
		var table bytes.Buffer
		if err := accountsTable.Execute(&table, accountRows(set, externalURL, time.Now())); err != nil {
			http.Error(w, "rendering the accounts: "+err.Error(), http.StatusInternalServerError)
			return
		}
		page.ExtraHTML = table.String()
		h, err := web.NewLandingPage(page)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux, nil
}

func landingConfig(metricsPath string) web.LandingConfig {
	return web.LandingConfig{
		Name:        "VideoConduit Exporter",
		Description: "Prometheus exporter for the VideoConduit Jobs API",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: metricsPath, Text: "Metrics"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
			{Address: failures.Path, Text: "Recent failures", Description: "the failed jobs of the accounts, newest first, with what the API said"},
		},
		ExtraCSS: accountsCSS,
	}
}

// accountRow is one account on the landing page.
type accountRow struct {
	Name, Result, LastPoll, LastSuccess string
	Up                                  bool
	// FailuresURL lists the account's recent failures; FailuresLastHour
	// counts those of the last hour ("200+" when the list no longer holds
	// them all).
	FailuresURL, FailuresLastHour string
}

func accountRows(set *accounts.Set, externalURL *url.URL, now time.Time) []accountRow {
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago (" + t.UTC().Format(time.RFC3339) + ")"
	}
	var rows []accountRow
	for name, c := range set.Collectors() {
		st := c.Status()
		result := "ok"
		switch {
		case st.Polls == 0:
			result = "first poll under way"
		case !st.Up:
			result = fmt.Sprintf("failed %d times in a row (%s): %s", st.Failures, st.Cause, st.Err)
		}
		n, more := c.RecentFailureCount(now.Add(-time.Hour))
		count := strconv.Itoa(n)
		if more {
			count += "+"
		}
		rows = append(rows, accountRow{
			Name: name, Result: result, LastPoll: ago(st.LastPoll), LastSuccess: ago(st.LastSuccess), Up: st.Up,
			FailuresURL: failures.Link(externalURL, failures.Filter{Account: name}), FailuresLastHour: count,
		})
	}
	return rows
}

// accountsTable is the landing page's list of accounts. html/template
// escapes what the API said in an error.
var accountsTable = template.Must(template.New("accounts").Parse(`<h2>Accounts</h2>
<table class="accounts">
<tr><th>account</th><th>last poll</th><th>result</th><th>last successful poll</th><th>failed jobs, last hour</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.LastPoll}}</td><td class="{{if .Up}}up{{else}}down{{end}}">{{.Result}}</td><td>{{.LastSuccess}}</td><td><a href="{{.FailuresURL}}">{{.FailuresLastHour}}</a></td></tr>
{{else}}<tr><td colspan="5">no account</td></tr>
{{end}}</table>
`))

const accountsCSS = `table.accounts { border-collapse: collapse; margin-top: 0.5em; }
table.accounts th, table.accounts td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; }
table.accounts td.down { color: #b00; }`
