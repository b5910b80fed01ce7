package failures

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"github.com/videoconduit/videoconduit_exporter/collector"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// testAccounts are two accounts whose failures interleave in time.
func testAccounts() []Account {
	job := func(id, jobType, source, reason string, seen int) collector.FailedJob {
		at := t0.Add(time.Duration(seen) * time.Minute)
		return collector.FailedJob{
			ID: id, JobType: jobType, Source: source, Reason: reason, CreditsRefunded: 2,
			CreatedAt: at.Add(-3 * time.Minute), CompletedAt: at.Add(-20 * time.Second), SeenAt: at,
			ErrorMessage: "ERROR: " + reason,
		}
	}
	return []Account{
		{Name: "acme", Failures: []collector.FailedJob{
			job("a4", "download", "youtube", "unavailable", 4),
			job("a3", "transcribe", "vimeo", "timeout", 3),
			job("a1", "download", "youtube", "private", 1),
		}},
		{Name: "globex", Failures: []collector.FailedJob{
			job("g5", "download", "tiktok", "unavailable", 5),
			job("g2", "download", "youtube", "unavailable", 2),
		}},
	}
}

func newTestHandler(accounts []Account) *Handler {
	h := NewHandler(func() []Account { return accounts })
	h.now = func() time.Time { return t0.Add(10 * time.Minute) }
	return h
}

func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonIDs(t *testing.T, h http.Handler, query string) []string {
	t.Helper()
	resp := get(t, h, "/failures?"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("?%s: status %d: %s", query, resp.StatusCode, body(t, resp))
	}
	var out struct {
		Failures []struct {
			JobID string `json:"job_id"`
		} `json:"failures"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("?%s: %v", query, err)
	}
	ids := []string{}
	for _, f := range out.Failures {
		ids = append(ids, f.JobID)
	}
	return ids
}

func TestFiltersNarrowAndKeepNewestFirst(t *testing.T) {
	h := newTestHandler(testAccounts())
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"format=json", []string{"g5", "a4", "a3", "g2", "a1"}},
		{"format=json&account=globex", []string{"g5", "g2"}},
		{"format=json&job_type=download", []string{"g5", "a4", "g2", "a1"}},
		{"format=json&job_type=download&source=youtube", []string{"a4", "g2", "a1"}},
		{"format=json&source=youtube&reason=unavailable", []string{"a4", "g2"}},
		{"format=json&account=acme&job_type=download&source=youtube&reason=private", []string{"a1"}},
		{"format=json&account=initech", []string{}},
		{"format=json&reason=Unavailable", []string{}}, // exact, as the labels are
		{"format=json&source=&reason=", []string{"g5", "a4", "a3", "g2", "a1"}},
	} {
		if got := jsonIDs(t, h, c.query); !slices.Equal(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.query, got, c.want)
		}
	}
}

func TestJSONSchema(t *testing.T) {
	h := newTestHandler([]Account{{Name: "acme", Failures: []collector.FailedJob{
		{
			ID: "5f0c6a1e-9d3b-4c1e-8a7f-2b6d9e0f1a2b", JobType: "download", Source: "youtube", Reason: "unavailable",
			CreditsRefunded: 3, CreatedAt: t0, SeenAt: t0.Add(90 * time.Second),
			ErrorMessage: "Video unavailable <b>", Truncated: true,
		},
	}}})
	resp := get(t, h, "/failures?format=json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	const want = `{"failures":[{"account":"acme","job_id":"5f0c6a1e-9d3b-4c1e-8a7f-2b6d9e0f1a2b","job_type":"download",` +
		`"source":"youtube","reason":"unavailable","credits_refunded":3,"created_at":"2026-03-02T09:00:00Z",` +
		`"completed_at":null,"seen_at":"2026-03-02T09:01:30Z","error_message":"Video unavailable \u003cb\u003e",` +
		`"error_message_truncated":true}]}`
	if got := body(t, resp); got != want {
		t.Errorf("JSON:\n got  %s\n want %s", got, want)
	}

	resp = get(t, newTestHandler(nil), "/failures?format=json")
	if got := body(t, resp); got != `{"failures":[]}` {
		t.Errorf("JSON with no failures: %s", got)
	}
}

func TestFormatFollowsQueryThenAccept(t *testing.T) {
	h := newTestHandler(testAccounts())
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	for _, c := range []struct {
		query, accept, want string
	}{
		{"", "", "text/html; charset=utf-8"},
		{"", browser, "text/html; charset=utf-8"},
		{"", "*/*", "text/html; charset=utf-8"},
		{"", "application/json", "application/json"},
		{"", "text/html;q=0.5, application/json", "application/json"},
		{"format=json", browser, "application/json"},
		{"format=html", "application/json", "text/html; charset=utf-8"},
	} {
		resp := get(t, h, "/failures?"+c.query, "Accept", c.accept)
		if got := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || got != c.want {
			t.Errorf("?%s with Accept %q: %d %q, want 200 %q", c.query, c.accept, resp.StatusCode, got, c.want)
		}
	}
}

func TestBadRequestsAreRefusedWithTheReason(t *testing.T) {
	h := newTestHandler(testAccounts())
	for _, c := range []struct {
		query, want string
	}{
		{"jobtype=download", `unknown parameter "jobtype"`},
		{"source=youtube&source=vimeo", "source is given 2 times"},
		{"format=json&format=html", "format is given 2 times"},
		{"format=xml", `unknown format "xml"`},
		{"account=%zz", "the query string does not parse"},
	} {
		resp := get(t, h, "/failures?"+c.query)
		if got := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, c.want) {
			t.Errorf("?%s: %d %q, want 400 saying %q", c.query, resp.StatusCode, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/failures", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405, GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
}

// hostile is text an API (or whoever fills its error messages) might send to
// break out of the page.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`' onmouseover='alert(1)`,
}

// TestHostileTextStaysText renders failures whose every field is hostile:
// the page holds no element or attribute of theirs, shows each as text, and
// its filter links carry them encoded.
func TestHostileTextStaysText(t *testing.T) {
	var accounts []Account
	for i, s := range hostile {
		accounts = append(accounts, Account{Name: s, Failures: []collector.FailedJob{{
			ID: s, JobType: s, Source: s, Reason: s, ErrorMessage: s,
			SeenAt: t0.Add(time.Duration(i) * time.Second),
		}}})
	}
	h := newTestHandler(accounts)
	resp := get(t, h, "/failures")
	page := body(t, resp)
	for _, problem := range foreignMarkup(page) {
		t.Error(problem)
	}
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, ""))
	links := hrefs(page)
	for _, s := range hostile {
		// Each value is in five cells of its row, the message once more.
		if n := strings.Count(text, s); n < 6 {
			t.Errorf("%q shows %d times as text, want at least 6", s, n)
		}
		if link := "?job_type=" + url.QueryEscape(s); !links[link] {
			t.Errorf("no filter link %q for the job type %q", link, s)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid scripts", csp)
	}

	// Filtering by a hostile value finds its row, and the filter shown is text.
	resp = get(t, h, "/failures?"+url.Values{"job_type": {hostile[0]}}.Encode())
	page = body(t, resp)
	if strings.Contains(page, "<script") || !strings.Contains(page, "job type: <b>"+html.EscapeString(hostile[0])+"</b>") {
		t.Errorf("the page filtered by a hostile job type does not show it as text:\n%s", page)
	}
	if n := strings.Count(page, "<tr>") - 1; n != 1 {
		t.Errorf("filtered by a hostile job type: %d rows, want 1", n)
	}
}

// TestCellsLinkToTheNarrowerList checks the links of a filtered page: each
// value adds itself to the filters in use, each filter can be dropped alone,
// and the clear and JSON links.
func TestCellsLinkToTheNarrowerList(t *testing.T) {
	h := newTestHandler(testAccounts())
	page := body(t, get(t, h, "/failures?job_type=download&source=youtube"))
	links := hrefs(page)
	for _, want := range []string{
		"?account=acme&job_type=download&source=youtube",
		"?account=globex&job_type=download&source=youtube",
		"?job_type=download&reason=unavailable&source=youtube",
		"?job_type=download&reason=private&source=youtube",
		"?source=youtube",    // drops the job type
		"?job_type=download", // drops the source
		"?",                  // clears
		"?format=json&job_type=download&source=youtube",
		"./",
	} {
		if !links[want] {
			t.Errorf("no link %q; links: %v", want, slices.Sorted(maps.Keys(links)))
		}
	}
	if n := strings.Count(page, "<tr>") - 1; n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
	for _, want := range []string{
		`<time datetime="2026-03-02T09:03:40Z">2026-03-02 09:03:40</time><br><span class="muted">6m ago</span>`,
		`<td class="error_message">ERROR: unavailable</td>`,
		`<span id="count">3 of the 5 failures kept</span>, only those with`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// templateElements and templateAttributes are all that the page's template
// writes.
var (
	templateElements   = strings.Fields("html head meta title style body header h1 h2 main p a span b table thead tbody tr th td time code br")
	templateAttributes = strings.Fields("lang charset name content href class id title datetime")
)

// foreignMarkup describes each element, attribute or link of the page that
// its template does not write: markup that data smuggled in.
func foreignMarkup(page string) []string {
	var problems []string
	z := xhtml.NewTokenizer(strings.NewReader(page))
	for tt := z.Next(); tt != xhtml.ErrorToken; tt = z.Next() {
		if tt != xhtml.StartTagToken && tt != xhtml.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if !slices.Contains(templateElements, tok.Data) {
			problems = append(problems, fmt.Sprintf("the page has an element <%s>", tok.Data))
		}
		for _, a := range tok.Attr {
			if !slices.Contains(templateAttributes, a.Key) {
				problems = append(problems, fmt.Sprintf("the page has an attribute %s=%q on <%s>", a.Key, a.Val, tok.Data))
			}
			if a.Key == "href" && !strings.HasPrefix(a.Val, "?") && a.Val != "./" {
				problems = append(problems, fmt.Sprintf("the page links to %q, outside itself", a.Val))
			}
		}
	}
	return problems
}

// FuzzQuery sends the page any query and Accept header: it answers 200 or
// 400, and what the query holds (shown back as the filters in use) never
// becomes markup.
func FuzzQuery(f *testing.F) {
	for _, s := range append(slices.Clone(hostile), "account=acme&job_type=download", "source=youtube&source=x", "format=json", "a=%zz") {
		f.Add(s, "text/html")
	}
	f.Add("job_type="+url.QueryEscape(hostile[1]), "application/json")
	h := newTestHandler(testAccounts())
	f.Fuzz(func(t *testing.T, query, accept string) {
		req := httptest.NewRequest(http.MethodGet, "/failures", nil)
		req.URL.RawQuery = query
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		page := rec.Body.String()
		switch ct := rec.Header().Get("Content-Type"); {
		case rec.Code == http.StatusBadRequest:
		case rec.Code != http.StatusOK:
			t.Fatalf("?%s: status %d: %s", query, rec.Code, page)
		case ct == "application/json":
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("?%s: invalid JSON %s", query, page)
			}
		default:
			if problems := foreignMarkup(page); len(problems) > 0 {
				t.Fatalf("?%s: %s", query, strings.Join(problems, "; "))
			}
		}
	})
}

// hrefs returns the targets of a page's links.
func hrefs(page string) map[string]bool {
	out := map[string]bool{}
	z := xhtml.NewTokenizer(strings.NewReader(page))
	for tt := z.Next(); tt != xhtml.ErrorToken; tt = z.Next() {
		for _, a := range z.Token().Attr {
			if a.Key == "href" {
				out[a.Val] = true
			}
		}
	}
	return out
}

func TestEmptyStates(t *testing.T) {
	page := body(t, get(t, newTestHandler(nil), "/failures"))
	if !strings.Contains(page, "No failed job seen since the exporter started.") || strings.Contains(page, "<table") {
		t.Errorf("with no failures at all the page says:\n%s", page)
	}
	page = body(t, get(t, newTestHandler(testAccounts()), "/failures?account=initech"))
	if !strings.Contains(page, `No recent failure matches these filters. <a href="?">Clear filters</a>.`) || strings.Contains(page, "<table") {
		t.Errorf("with no match the page says:\n%s", page)
	}
}

func TestSeenAtStandsInForAMissingCompletedAt(t *testing.T) {
	h := newTestHandler([]Account{{Name: "acme", Failures: []collector.FailedJob{
		{ID: "x", JobType: "download", Source: "youtube", Reason: "unknown", SeenAt: t0.Add(9*time.Minute + 30*time.Second)},
	}}})
	page := body(t, get(t, h, "/failures"))
	for _, want := range []string{
		`<time datetime="2026-03-02T09:09:30Z">2026-03-02 09:09:30</time> <span class="muted" title=`,
		`(seen)</span><br><span class="muted">30s ago</span>`,
		`<span class="muted">unknown</span>`, // no created_at
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}

func TestTruncatedMessageIsMarked(t *testing.T) {
	h := newTestHandler([]Account{{Name: "acme", Failures: []collector.FailedJob{
		{ID: "x", ErrorMessage: "first part", Truncated: true, SeenAt: t0},
	}}})
	if page := body(t, get(t, h, "/failures")); !strings.Contains(page, `first part<span class="muted"> […] (cut by the exporter)</span>`) {
		t.Errorf("a cut message is not marked:\n%s", page)
	}
}

func TestLink(t *testing.T) {
	must := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f := Filter{Account: "acme", JobType: "download", Source: "youtube"}
	for _, c := range []struct {
		external *url.URL
		filter   Filter
		want     string
	}{
		{nil, f, "/failures?account=acme&job_type=download&source=youtube"},
		{must("https://exporter.example.com"), f, "https://exporter.example.com/failures?account=acme&job_type=download&source=youtube"},
		{must("https://exporter.example.com/"), f, "https://exporter.example.com/failures?account=acme&job_type=download&source=youtube"},
		{must("https://example.com/videoconduit/"), f, "https://example.com/videoconduit/failures?account=acme&job_type=download&source=youtube"},
		{must("http://10.0.0.1:10177/x?y=z#top"), Filter{Reason: "a&b c"}, "http://10.0.0.1:10177/x/failures?reason=a%26b+c"},
		{must("https://exporter.example.com"), Filter{}, "https://exporter.example.com/failures"},
	} {
		if got := Link(c.external, c.filter); got != c.want {
			t.Errorf("Link(%v, %+v) = %q, want %q", c.external, c.filter, got, c.want)
		}
	}
	// A link the handler reads back as the same filter.
	u := must(Link(nil, Filter{Account: "a b", JobType: "<x>", Source: "s", Reason: "r"}))
	got, _, err := parseQuery(httptest.NewRequest(http.MethodGet, u.String(), nil))
	if want := (Filter{Account: "a b", JobType: "<x>", Source: "s", Reason: "r"}); err != nil || got != want {
		t.Errorf("the link %s reads back as %+v, %v; want %+v", u, got, err, want)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "just now",
		0:                             "0s ago",
		59 * time.Second:              "59s ago",
		90 * time.Second:              "1m ago",
		59 * time.Minute:              "59m ago",
		3*time.Hour + 5*time.Minute:   "3h 5m ago",
		47*time.Hour + 59*time.Minute: "47h 59m ago",
		72 * time.Hour:                "3d ago",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}
