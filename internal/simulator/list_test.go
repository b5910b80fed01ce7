package simulator

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// Paging while jobs keep arriving between pages returns every job that
// existed at the first page exactly once, newest first, ties included.
func TestPagingUnderChurn(t *testing.T) {
	clk := NewManualClock(t0)
	requests := 0
	s := New(Config{
		Seed: 11, Clock: clk, History: 300, HistorySpan: 5 * time.Minute,
		OnRequest: func(*http.Request) {
			requests++
			clk.Advance(3 * time.Second) // a few new jobs before each page
		},
	})
	srv := serve(t, s)
	clk.Advance(10 * time.Minute)
	before := map[string]bool{}
	for _, e := range s.Events(time.Time{}) {
		if e.Kind == Created {
			before[e.Job.ID] = true
		}
	}
	items := listAll(t, srv.URL, vals("limit", "7"))
	if requests < 100 {
		t.Fatalf("only %d pages", requests)
	}
	seen := map[string]bool{}
	old, ties := 0, 0
	for i, it := range items {
		if seen[it.ID] {
			t.Fatalf("job %s listed twice", it.ID)
		}
		seen[it.ID] = true
		if i > 0 {
			prev := items[i-1].CreatedAt
			if it.CreatedAt.After(prev) {
				t.Fatalf("item %d at %v after %v: not newest first", i, it.CreatedAt, prev)
			}
			if it.CreatedAt.Equal(prev) {
				ties++
			}
		}
		if it.CreatedAt.Before(t0) {
			old++
		}
	}
	for id := range before {
		if !seen[id] {
			t.Fatalf("job %s missing", id)
		}
	}
	if old != 300 || ties < 50 {
		t.Fatalf("%d old jobs, %d ties in %d items", old, ties, len(items))
	}
}

func TestCursorStable(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 12, Clock: clk, History: 100})
	srv := serve(t, s)
	clk.Advance(5 * time.Minute)
	first := getPage(t, srv.URL, vals("limit", "10"))
	q := vals("limit", "10", "cursor", *first.NextCursor)
	ids := func(p page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ID)
		}
		return out
	}
	second := ids(getPage(t, srv.URL, q))
	clk.Advance(5 * time.Minute) // hundreds of new jobs
	if again := ids(getPage(t, srv.URL, q)); !slices.Equal(second, again) {
		t.Fatalf("the same cursor gave %v, then %v", second, again)
	}
	if newest := getPage(t, srv.URL, vals("limit", "10")); newest.Items[0].ID == first.Items[0].ID {
		t.Fatal("no new jobs on top")
	}
	if slices.Contains(second, first.Items[9].ID) {
		t.Fatal("page two repeats page one")
	}
	// The sample's cursor is base64 JSON; so is ours, and it is not an offset.
	raw, err := base64.StdEncoding.DecodeString(*first.NextCursor)
	if err != nil || !strings.HasPrefix(string(raw), `{"created_at":`) {
		t.Fatalf("cursor %q: %s %v", *first.NextCursor, raw, err)
	}
}

func TestTiesOrderedStably(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, Profiles: scripted()})
	srv := serve(t, s)
	var ids []string
	for range 5 {
		ids = append(ids, s.Submit("download", "https://youtu.be/a", 1))
	}
	slices.Reverse(ids)
	for _, limit := range []string{"1", "2", "5"} {
		var got []string
		for _, it := range listAll(t, srv.URL, vals("limit", limit)) {
			got = append(got, it.ID)
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("limit %s: %v, want %v", limit, got, ids)
		}
	}
}

func TestLimits(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, History: 250})
	srv := serve(t, s)
	for _, c := range []struct {
		limit string
		want  int
	}{{"", 20}, {"1", 1}, {"100", 100}, {"101", 100}, {"5000", 100}, {"99999999999999999999999", 100}} {
		if got := len(getPage(t, srv.URL, vals("limit", c.limit)).Items); got != c.want {
			t.Errorf("limit %q: %d items, want %d", c.limit, got, c.want)
		}
	}
	for _, q := range []url.Values{
		vals("limit", "0"), vals("limit", "-3"), vals("limit", "ten"), vals("limit", "2.5"),
		vals("status", "done"), vals("job_type", "upload"), vals("status", "PENDING"),
		vals("cursor", "!!!"),
		vals("cursor", base64.StdEncoding.EncodeToString([]byte("not json"))),
		vals("cursor", base64.StdEncoding.EncodeToString([]byte(`{"created_at":"2025-01-14"}`))),
		vals("cursor", base64.StdEncoding.EncodeToString([]byte(`{"pos":-1}`))),
		vals("cursor", base64.StdEncoding.EncodeToString([]byte(`{"pos":251}`))),
	} {
		r := get(t, listURL(srv.URL, q))
		if r.status != http.StatusBadRequest || !strings.HasPrefix(string(r.body), `{"detail":`) {
			t.Errorf("%v: %d %s", q, r.status, r.body)
		}
	}
	if p := getPage(t, srv.URL, vals("cursor", base64.StdEncoding.EncodeToString([]byte(`{"pos":0}`)))); len(p.Items) != 0 || p.HasMore || p.NextCursor != nil {
		t.Fatalf("the end: %+v", p)
	}
}

func TestFilters(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 13, Clock: clk, History: 400})
	srv := serve(t, s)
	clk.Advance(15 * time.Minute)
	all := listAll(t, srv.URL, vals("limit", "100"))
	nonEmpty := 0
	for _, st := range append([]string{""}, client.Statuses...) {
		for _, jt := range []string{"", "download", "comments"} {
			var want []string
			for _, it := range all {
				if (st == "" || it.Status == st) && (jt == "" || it.Type == jt) {
					want = append(want, it.ID)
				}
			}
			var got []string
			for _, it := range listAll(t, srv.URL, vals("status", st, "job_type", jt, "limit", "33")) {
				got = append(got, it.ID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("status=%q job_type=%q: %d items, want %d", st, jt, len(got), len(want))
			}
			if len(want) > 0 {
				nonEmpty++
			}
		}
	}
	if nonEmpty < 12 {
		t.Fatalf("only %d of 15 filters match anything", nonEmpty)
	}
}

// A type with no arrivals has no history either; filtering on it skips the
// history and still finds the jobs a script made.
func TestFilterOnTypeOutsideHistory(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, History: 1000,
		Profiles: map[string]TypeProfile{"download": {PerMinute: 1, Credits: 1}}})
	srv := serve(t, s)
	id := s.Submit("comments", "https://dai.ly/x1", 1)
	if items := listAll(t, srv.URL, vals("job_type", "comments")); len(items) != 1 || items[0].ID != id {
		t.Fatalf("comments: %+v", items)
	}
	if n := len(listAll(t, srv.URL, vals("job_type", "download", "limit", "100"))); n != 1000 {
		t.Fatalf("%d downloads", n)
	}
}

// List items carry the API page's sample fields by default, and with
// FullListItems exactly what a GET of the same job gives, old and live
// jobs alike.
func TestListItemShape(t *testing.T) {
	sample := []string{"created_at", "credits_charged", "job_id", "job_type", "source_url", "status"}
	for _, full := range []bool{false, true} {
		clk := NewManualClock(t0)
		s := New(Config{Seed: 14, Clock: clk, History: 50, FullListItems: full})
		srv := serve(t, s)
		clk.Advance(time.Minute) // fewer live jobs than a page: old ones follow
		r := get(t, listURL(srv.URL, vals("limit", "100")))
		var p struct{ Items []map[string]any }
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		statuses := map[string]bool{}
		old := 0
		for _, it := range p.Items {
			id := it["job_id"].(string)
			statuses[it["status"].(string)] = true
			if created, _ := time.Parse(time.RFC3339, it["created_at"].(string)); created.Before(t0) {
				old++
			}
			if !full {
				if keys := slices.Sorted(maps.Keys(it)); !slices.Equal(keys, sample) {
					t.Fatalf("sample item %s has fields %v, want %v", id, keys, sample)
				}
				continue
			}
			if want := getObject(t, srv.URL+"/v1/jobs/"+id); !reflect.DeepEqual(it, want) {
				t.Fatalf("full item %s\n%v\nwant what GET gives\n%v", id, it, want)
			}
		}
		for _, st := range client.Statuses {
			if !statuses[st] {
				t.Fatalf("full=%v: no %s job among %d items: the check proves little", full, st, len(p.Items))
			}
		}
		if old == 0 {
			t.Fatalf("full=%v: no old job among %d items", full, len(p.Items))
		}
	}
}

func BenchmarkListPage(b *testing.B) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, History: 1_000_000})
	clk.Advance(10 * time.Minute)
	for _, q := range []string{"limit=100", "limit=100&status=pending", "limit=100&status=failed&job_type=comments"} {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v1/jobs?"+q, nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
