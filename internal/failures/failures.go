// Package failures serves the exporter's page of recent failed jobs: for
// the person paged by a failure alert, which jobs failed and what the API
// said, as HTML to read and click through and as JSON for scripts.
package failures

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/munnerz/goautoneg"

	"github.com/videoconduit/videoconduit_exporter/collector"
)

// Path is where the exporter serves the page.
const Path = "/failures"

// Account is one account's recent failed jobs, newest first, as
// collector.JobCollector.RecentFailures returns them.
type Account struct {
	Name     string
	Failures []collector.FailedJob
}

// Filter narrows the page to the failures whose fields equal its non-empty
// fields. Each is also the query parameter of the same name in snake case:
// account, job_type, source, reason.
type Filter struct {
	Account, JobType, Source, Reason string
}

// filterParams are the query parameters of a Filter, in the order of its
// fields.
var filterParams = []string{"account", "job_type", "source", "reason"}

// field returns the field of the query parameter param, nil for another name.
func (f *Filter) field(param string) *string {
	switch param {
	case "account":
		return &f.Account
	case "job_type":
		return &f.JobType
	case "source":
		return &f.Source
	case "reason":
		return &f.Reason
	}
	return nil
}

// with returns f with the field of param set to value.
func (f Filter) with(param, value string) Filter {
	*f.field(param) = value
	return f
}

func (f Filter) values() url.Values {
	q := url.Values{}
	for _, p := range filterParams {
		if v := *f.field(p); v != "" {
			q.Set(p, v)
		}
	}
	return q
}

func (f Filter) matches(account string, j collector.FailedJob) bool {
	return (f.Account == "" || f.Account == account) &&
		(f.JobType == "" || f.JobType == j.JobType) &&
		(f.Source == "" || f.Source == j.Source) &&
		(f.Reason == "" || f.Reason == j.Reason)
}

// Link returns the address of the page filtered by f, for alerts, dashboards
// and the landing page. externalURL is the address by which people reach the
// exporter (its scheme, host and any path prefix of a reverse proxy): an
// alert's instance is often a pod address that no laptop reaches. Without
// one, the link is a path from the server's root.
func Link(externalURL *url.URL, f Filter) string {
	u := &url.URL{Path: Path}
	if externalURL != nil {
		u = externalURL.JoinPath(Path)
		u.Fragment, u.RawFragment = "", ""
	}
	u.RawQuery = f.values().Encode()
	return u.String()
}

// Handler serves the page. GET /failures lists the failures of every
// account, newest first, narrowed by the query parameters of Filter, each
// given at most once (an empty value does not narrow). It answers JSON with
// format=json, or when the Accept header prefers application/json; HTML
// otherwise. An unknown or repeated parameter, or an unknown format, gets
// 400 and a message naming it: a misspelt filter must not look like one that
// matched everything.
type Handler struct {
	accounts func() []Account
	now      func() time.Time
}

// NewHandler returns the page over accounts, which returns every account's
// recent failures; it is called once per request.
func NewHandler(accounts func() []Account) *Handler {
	return &Handler{accounts: accounts, now: time.Now}
}

// row is one failed job of one account.
type row struct {
	account string
	job     collector.FailedJob
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed: the failures page answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	f, asJSON, err := parseQuery(r)
	if err != nil {
		http.Error(w, "Bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var rows []row
	kept := 0
	for _, a := range h.accounts() {
		kept += len(a.Failures)
		for _, j := range a.Failures {
			if f.matches(a.Name, j) {
				rows = append(rows, row{a.Name, j})
			}
		}
	}
	// Each account's list is newest first; a stable sort merges them.
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(b.job.SeenAt.Compare(a.job.SeenAt), b.job.CompletedAt.Compare(a.job.CompletedAt))
	})
	var (
		body []byte
		ct   string
	)
	if asJSON {
		body, err = json.Marshal(jsonFailures(rows))
		ct = "application/json"
	} else {
		var buf bytes.Buffer
		err = page.Execute(&buf, h.view(f, rows, kept))
		body, ct = buf.Bytes(), "text/html; charset=utf-8"
		// What the API wrote is shown as text; should that ever fail, the
		// browser still runs no script and loads nothing.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
	}
	if err != nil {
		http.Error(w, "Rendering the failures page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body) // a client gone away is no error of ours
}

// parseQuery reads the filter and the format of a request.
func parseQuery(r *http.Request) (f Filter, asJSON bool, err error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, false, fmt.Errorf("the query string does not parse: %w", err)
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return f, false, fmt.Errorf("%s is given %d times; give each filter at most once", name, len(vs))
		}
		if name == "format" {
			continue
		}
		field := f.field(name)
		if field == nil {
			return f, false, fmt.Errorf("unknown parameter %q; the page takes account, job_type, source, reason and format", name)
		}
		*field = vs[0]
	}
	switch format := q.Get("format"); format {
	case "json":
		return f, true, nil
	case "html":
		return f, false, nil
	case "":
		return f, goautoneg.Negotiate(r.Header.Get("Accept"), []string{"text/html", "application/json"}) == "application/json", nil
	default:
		return f, false, fmt.Errorf("unknown format %q; give html or json", format)
	}
}

// jsonFailure is the JSON form of a failed job. Its field names are the
// page's interface for scripts: they stay.
type jsonFailure struct {
	Account         string     `json:"account"`
	JobID           string     `json:"job_id"`
	JobType         string     `json:"job_type"`
	Source          string     `json:"source"`
	Reason          string     `json:"reason"`
	CreditsRefunded int64      `json:"credits_refunded"`
	CreatedAt       *time.Time `json:"created_at"`   // null when the API gave none
	CompletedAt     *time.Time `json:"completed_at"` // null when the API gave none
	SeenAt          time.Time  `json:"seen_at"`
	ErrorMessage    string     `json:"error_message"`
	// ErrorMessageTruncated says the exporter cut error_message to its
	// first collector.MaxErrorMessageBytes bytes.
	ErrorMessageTruncated bool `json:"error_message_truncated"`
}

// jsonPage is the JSON form of the page.
type jsonPage struct {
	Failures []jsonFailure `json:"failures"`
}

func jsonFailures(rows []row) jsonPage {
	out := jsonPage{Failures: make([]jsonFailure, 0, len(rows))}
	for _, r := range rows {
		j := r.job
		out.Failures = append(out.Failures, jsonFailure{
			Account:               r.account,
			JobID:                 j.ID,
			JobType:               j.JobType,
			Source:                j.Source,
			Reason:                j.Reason,
			CreditsRefunded:       j.CreditsRefunded,
			CreatedAt:             optional(j.CreatedAt),
			CompletedAt:           optional(j.CompletedAt),
			SeenAt:                j.SeenAt,
			ErrorMessage:          j.ErrorMessage,
			ErrorMessageTruncated: j.Truncated,
		})
	}
	return out
}

func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.New("page.html").ParseFS(pageFS, "page.html"))

// pageView is what the HTML template shows.
type pageView struct {
	Kept       int // failures kept in all, before filtering
	PerAccount int
	Filters    []activeFilter
	Clear      string // the page without filters
	JSON       string // the same list as JSON
	Rows       []rowView
}

// activeFilter is one filter in use, with the link that drops it.
type activeFilter struct {
	Param string // the query parameter: "job_type"
	Name  string // the same in words: "job type"
	Value string
	Drop  string
}

type rowView struct {
	Account, JobType, Source, Reason cell
	ID                               string
	Refunded                         int64
	// FailedAt is the API's completed_at, else when the exporter saw it.
	FailedAt time.Time
	Seen     bool // FailedAt is only when it was seen
	Ago      string
	Created  time.Time
	Message  string
	Cut      bool
}

// cell is a value that narrows the list to itself when clicked.
type cell struct {
	Value, Link string
}

func (h *Handler) view(f Filter, rows []row, kept int) pageView {
	v := pageView{Kept: kept, PerAccount: collector.RecentFailuresKept, Clear: "?", JSON: withQuery(f, "format", "json")}
	for _, p := range filterParams {
		if value := *f.field(p); value != "" {
			v.Filters = append(v.Filters, activeFilter{p, strings.ReplaceAll(p, "_", " "), value, withQuery(f.with(p, ""))})
		}
	}
	narrow := func(param, value string) cell { return cell{value, withQuery(f.with(param, value))} }
	now := h.now()
	for _, r := range rows {
		j := r.job
		failed, seen := j.CompletedAt, false
		if failed.IsZero() {
			failed, seen = j.SeenAt, true
		}
		v.Rows = append(v.Rows, rowView{
			Account:  narrow("account", r.account),
			JobType:  narrow("job_type", j.JobType),
			Source:   narrow("source", j.Source),
			Reason:   narrow("reason", j.Reason),
			ID:       j.ID,
			Refunded: j.CreditsRefunded,
			FailedAt: failed.UTC(),
			Seen:     seen,
			Ago:      ago(now.Sub(failed)),
			Created:  j.CreatedAt.UTC(),
			Message:  j.ErrorMessage,
			Cut:      j.Truncated,
		})
	}
	return v
}

// withQuery is a link to this page with f's query and the extra pairs.
func withQuery(f Filter, pairs ...string) string {
	q := f.values()
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	return "?" + q.Encode()
}

// ago says how long ago d was, to the unit a person reads at a glance.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now" // the API's clock is ahead of ours
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm ago", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
