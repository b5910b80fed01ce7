package failures

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/browser"
)

// rows reads the page's table in the browser.
func rows(t *testing.T, b *browser.Browser) []map[string]string {
	t.Helper()
	rows, err := b.Table("#failures")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestBrowserShowsHostileTextAsText opens the page in Chromium with
// failures whose text would run script if it were markup: nothing runs,
// no element of theirs exists, and each cell reads as the API wrote it.
// Clicking a hostile job type narrows the list to its row.
func TestBrowserShowsHostileTextAsText(t *testing.T) {
	payloads := []string{
		`<script>window.pwned = "script"</script>`,
		`"><img src=x onerror="window.pwned = 'img'">`,
		`<a href="javascript:window.pwned='link'">x</a>`,
	}
	var jobs []collector.FailedJob
	for i, p := range payloads {
		jobs = append(jobs, collector.FailedJob{
			ID: p, JobType: p, Source: "youtube", Reason: "other", ErrorMessage: p,
			SeenAt: t0.Add(time.Duration(i) * time.Second),
		})
	}
	h := NewHandler(func() []Account { return []Account{{Name: "acme", Failures: jobs}} })
	srv := httptest.NewServer(h)
	defer srv.Close()

	b := browser.ForTest(t)
	if status, err := b.Open(srv.URL + Path); err != nil || status != http.StatusOK {
		t.Fatalf("opening the page: %d, %v", status, err)
	}
	shown := rows(t, b)
	if len(shown) != len(payloads) {
		t.Fatalf("%d rows, want %d", len(shown), len(payloads))
	}
	for i, r := range shown {
		p := payloads[len(payloads)-1-i] // newest first
		if r["job_type"] != p || r["job_id"] != p || r["error_message"] != p {
			t.Errorf("row %d reads %v, want the text %q in each cell", i, r, p)
		}
	}
	var state struct {
		Pwned    any
		Injected int
	}
	if err := b.Eval(`({Pwned: window.pwned ?? null, Injected: document.querySelectorAll("script, img, #failures td a[href^=javascript]").length})`, &state); err != nil {
		t.Fatal(err)
	}
	if state.Pwned != nil || state.Injected != 0 {
		t.Fatalf("hostile text ran (window.pwned = %v) or became %d elements", state.Pwned, state.Injected)
	}

	if err := b.Click(`#failures tbody tr:nth-child(2) .job_type a`); err != nil {
		t.Fatal(err)
	}
	if shown := rows(t, b); len(shown) != 1 || shown[0]["job_type"] != payloads[1] {
		t.Fatalf("after clicking the job type %q: %v", payloads[1], shown)
	}
	if err := b.Eval(`window.pwned ?? null`, &state.Pwned); err != nil || state.Pwned != nil {
		t.Fatalf("the filtered page ran hostile text: window.pwned = %v, %v", state.Pwned, err)
	}
}

// TestBrowserFollowsFilterLinks clicks through the filters as a person
// does: a source, then a job type, then drops one, then clears them all.
func TestBrowserFollowsFilterLinks(t *testing.T) {
	srv := httptest.NewServer(newTestHandler(testAccounts()))
	defer srv.Close()
	b := browser.ForTest(t)
	if _, err := b.Open(srv.URL + Path); err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		t.Helper()
		out := []string{}
		for _, r := range rows(t, b) {
			out = append(out, r["job_id"])
		}
		return out
	}
	query := func() string {
		t.Helper()
		var q string
		if err := b.Eval(`location.search`, &q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	if got, want := ids(), []string{"g5", "a4", "a3", "g2", "a1"}; !slices.Equal(got, want) {
		t.Fatalf("unfiltered: %v, want %v", got, want)
	}
	for _, step := range []struct {
		click, query string
		want         []string
	}{
		// a4's source: youtube.
		{`#failures tbody tr:nth-child(2) .source a`, "?source=youtube", []string{"a4", "g2", "a1"}},
		// then g2's account, globex.
		{`#failures tbody tr:nth-child(2) .account a`, "?account=globex&source=youtube", []string{"g2"}},
		// drop the source: globex's failures from any source.
		{`#filter-source a`, "?account=globex", []string{"g5", "g2"}},
		{`#clear`, "", []string{"g5", "a4", "a3", "g2", "a1"}},
	} {
		if err := b.Click(step.click); err != nil {
			t.Fatal(err)
		}
		if got := query(); got != step.query {
			t.Errorf("clicking %s opened %q, want %q", step.click, got, step.query)
		}
		if got := ids(); !slices.Equal(got, step.want) {
			t.Errorf("after clicking %s: %v, want %v", step.click, got, step.want)
		}
	}
}
