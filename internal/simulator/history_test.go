package simulator

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

func TestOldHistory(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 31, Clock: clk, History: 300, Profiles: scripted()})
	srv := serve(t, s)
	items := listAll(t, srv.URL, vals("limit", "100"))
	if len(items) != 300 {
		t.Fatalf("%d old jobs", len(items))
	}
	types, failed := map[string]bool{}, 0
	for _, it := range items {
		if it.CreatedAt.After(t0) || it.CreatedAt.Before(t0.Add(-defaultHistorySpan)) {
			t.Fatalf("old job created at %v", it.CreatedAt)
		}
		job := getObject(t, srv.URL+"/v1/jobs/"+it.ID)
		if job["job_id"] != it.ID || job["status"] != it.Status || job["source_url"] != it.SourceURL {
			t.Fatalf("GET %v differs from list %+v", job, it)
		}
		completed, err := time.Parse(time.RFC3339, job["completed_at"].(string))
		if err != nil || completed.After(t0) || completed.Before(it.CreatedAt) {
			t.Fatalf("completed_at %v (%v)", job["completed_at"], err)
		}
		types[it.Type] = true
		if it.Status == client.StatusFailed {
			failed++
		} else if it.Status != client.StatusCompleted {
			t.Fatalf("old job %s", it.Status)
		}
	}
	// Scripted profiles have no rates: the history mixes every type evenly.
	if len(types) != 6 || failed == 0 {
		t.Fatalf("types %v, %d failed", types, failed)
	}
	if len(s.Events(time.Time{})) != 0 {
		t.Fatal("the old history produced events")
	}

	// Touching old jobs sticks; deleting one makes it vanish.
	gone, revived := items[10].ID, items[20].ID
	if err := s.Delete(gone); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv.URL+"/v1/jobs/"+gone); r.status != http.StatusNotFound {
		t.Fatalf("deleted old job: %d", r.status)
	}
	if err := s.SetStatus(revived, client.StatusPending, ""); err != nil {
		t.Fatal(err)
	}
	pending := listAll(t, srv.URL, vals("status", client.StatusPending))
	if len(pending) != 1 || pending[0].ID != revived {
		t.Fatalf("pending %+v", pending)
	}
	if getObject(t, srv.URL+"/v1/jobs/"+revived)["completed_at"] != nil {
		t.Fatal("a pending job keeps completed_at")
	}
	after := listAll(t, srv.URL, vals("limit", "100"))
	if len(after) != 299 {
		t.Fatalf("%d jobs after a delete", len(after))
	}
	for _, it := range after {
		if it.ID == gone {
			t.Fatal("deleted old job listed")
		}
	}
	if err := s.Delete(gone); err == nil {
		t.Fatal("deleted twice")
	}
	// An id of the right shape past the history is unknown.
	if _, ok := s.hist.index(s.hist.id(300)); ok {
		t.Fatal("index past the history")
	}
}

func TestMillionHistoryIsCheap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	clk := NewManualClock(t0)
	start := time.Now()
	s := New(Config{Seed: 41, Clock: clk, History: 1_000_000})
	built := time.Since(start)
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 10<<20 || built > time.Second {
		t.Fatalf("New with a million old jobs: %d bytes allocated, %v", grew, built)
	}
	if allocs := testing.AllocsPerRun(3, func() { New(Config{Seed: 41, Clock: clk, History: 1_000_000}) }); allocs > 500 {
		t.Fatalf("%v allocations per New", allocs)
	}

	srv := serve(t, s)
	clk.Advance(2 * time.Minute)
	// Listing the pending jobs never walks the history: best of five, each far
	// below what generating a million old jobs takes.
	var n int
	best := time.Hour
	for range 5 {
		start := time.Now()
		n = len(listAll(t, srv.URL, vals("status", client.StatusPending, "limit", "100")))
		best = min(best, time.Since(start))
	}
	if n == 0 || best > 20*time.Millisecond {
		t.Fatalf("%d pending jobs listed in %v", n, best)
	}
	// The oldest old job is reachable by id and by a cursor at its position.
	if job := getObject(t, srv.URL+"/v1/jobs/"+s.hist.id(0)); job["job_id"] != s.hist.id(0) {
		t.Fatalf("oldest job %v", job)
	}
	p := getPage(t, srv.URL, vals("cursor", encodeCursor(1, t0), "limit", "5"))
	if len(p.Items) != 1 || p.Items[0].ID != s.hist.id(0) || p.HasMore {
		t.Fatalf("last page %+v", p)
	}
	start = time.Now()
	if p := getPage(t, srv.URL, vals("status", client.StatusFailed, "job_type", "fingerprint", "limit", "100")); len(p.Items) != 100 {
		t.Fatalf("%d failed fingerprints", len(p.Items))
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a rare filter took %v", took)
	}
}
