package simulator

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

func itemIDs(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// A job finished more than Retention ago is gone like a job the account no
// longer has; active jobs, recent ones and the old history stay, and cursors
// taken before the prune, even one naming a pruned job, go on below it.
func TestRetentionForgetsFinishedJobs(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 5, Clock: clk, Profiles: scripted(), History: 3, HistorySpan: time.Hour, Retention: 4 * time.Minute})
	srv := serve(t, s)
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = s.Submit("download", "https://youtu.be/a", 1)
	}
	set := func(id, status string) {
		t.Helper()
		if err := s.SetStatus(id, status, ""); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	for i := 0; i < len(ids); i += 2 {
		set(ids[i], client.StatusCompleted)
	}
	clk.Advance(2 * time.Minute)
	for i := 3; i < len(ids); i += 2 {
		set(ids[i], client.StatusFailed)
	}
	// ids[1] stays pending. Two cursors while everything is still there:
	// below ids[7] and below ids[8], which the prune will take.
	first := getPage(t, srv.URL, vals("limit", "3"))
	if got := itemIDs(first.Items); !slices.Equal(got, []string{ids[9], ids[8], ids[7]}) {
		t.Fatalf("before the prune: %v", got)
	}
	belowEight := getPage(t, srv.URL, vals("limit", "2")).NextCursor

	clk.Advance(3 * time.Minute) // the even jobs finished 5 minutes ago, the odd ones 3
	old := []string{s.hist.id(2), s.hist.id(1), s.hist.id(0)}
	want := append([]string{ids[9], ids[7], ids[5], ids[3], ids[1]}, old...)
	if got := itemIDs(listAll(t, srv.URL, vals("limit", "2"))); !slices.Equal(got, want) {
		t.Fatalf("after the prune: %v, want %v", got, want)
	}
	if got := itemIDs(getPage(t, srv.URL, vals("limit", "3", "cursor", *first.NextCursor)).Items); !slices.Equal(got, want[2:5]) {
		t.Fatalf("cursor below a retained job: %v, want %v", got, want[2:5])
	}
	if got := itemIDs(getPage(t, srv.URL, vals("limit", "2", "cursor", *belowEight)).Items); !slices.Equal(got, want[1:3]) {
		t.Fatalf("cursor below a pruned job: %v, want %v", got, want[1:3])
	}
	for i, id := range ids {
		wantStatus := http.StatusOK
		if i%2 == 0 {
			wantStatus = http.StatusNotFound
		}
		if r := get(t, srv.URL+"/v1/jobs/"+id); r.status != wantStatus {
			t.Errorf("job %d: status %d, want %d", i, r.status, wantStatus)
		}
	}
	if err := s.SetStatus(ids[0], client.StatusPending, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a script reached a pruned job: %v", err)
	}
	// Creations at t0 and the first finishes are past the cutoff (t0+2m).
	ev := s.Events(time.Time{})
	if len(ev) != 4 {
		t.Fatalf("%d events kept, want the 4 recent finishes: %+v", len(ev), ev)
	}
	for i, e := range ev {
		if e.Kind != Finished || e.Job.ID != ids[3+2*i] {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if tr := s.TruthSince(time.Time{}); !reflect.DeepEqual(tr.Active, map[[2]string]int{{"download", client.StatusPending}: 1}) {
		t.Fatalf("active truth %v", tr.Active)
	}
}

// Over hours of the default world, what a Sim holds stays within what
// Retention implies, while a twin without it keeps everything; both agree on
// the events and truth within Retention, and the API lists exactly the
// twin's jobs less some that finished more than Retention ago.
func TestRetentionBoundsLongRun(t *testing.T) {
	const retention = 5 * time.Minute
	clk := NewManualClock(t0)
	cfg := Config{Seed: 8, Clock: clk}
	twin := New(cfg)
	cfg.Retention = retention
	s := New(cfg)
	srv := serve(t, s)
	var pending, processing string
	for _, w := range []*Sim{s, twin} { // same draws, same ids on both
		pending = w.Submit("download", "https://youtu.be/p", 1)
		processing = w.Submit("comments", "https://youtu.be/q", 1)
		if err := w.SetStatus(processing, client.StatusProcessing, ""); err != nil {
			t.Fatal(err)
		}
	}
	perMinute := 0.0
	for _, p := range DefaultProfiles() {
		perMinute += p.PerMinute
	}
	// Finished jobs outlive Retention by at most the prune interval; the
	// active ones are a few minutes' arrivals at most.
	horizon := retention + retention/4
	bound := int(2 * perMinute * horizon.Minutes())
	// An hour in one jump first: the world must prune as it goes, not pile
	// up the hour before pruning once. Then an hour a minute at a time.
	steps := append([]time.Duration{time.Hour}, slices.Repeat([]time.Duration{time.Minute}, 60)...)
	for step, d := range steps {
		clk.Advance(d)
		s.Events(clk.Now()) // moves the world
		s.mu.Lock()
		oldest := clk.Now().Add(-horizon)
		finished, finishes := 0, 0
		for i, j := range s.live {
			if i > 0 && j.pos <= s.live[i-1].pos {
				s.mu.Unlock()
				t.Fatalf("live jobs out of order at %d", i)
			}
			if !client.IsActive(j.j.Status) {
				finished++
				if !j.finished.After(oldest) {
					s.mu.Unlock()
					t.Fatalf("step %d: job finished at %v still held", step, j.finished)
				}
			}
		}
		for _, e := range s.events {
			if e.Kind == Finished {
				finishes++
			}
		}
		byType := 0
		for _, jobs := range s.liveByType {
			byType += len(jobs)
		}
		live, events, byID := len(s.live), len(s.events), len(s.byID)
		firstEvent := s.events[0].Time
		s.mu.Unlock()
		if byID != live || byType != live || finished > finishes || !firstEvent.After(oldest) {
			t.Fatalf("step %d: %d live, %d by id, %d by type, %d finished for %d finishes, first event %v",
				step, live, byID, byType, finished, finishes, firstEvent)
		}
		if live > bound || events > 2*bound {
			t.Fatalf("step %d: %d jobs and %d events held, bound %d", step, live, events, bound)
		}
		if step == 0 || step == len(steps)-1 {
			since := clk.Now().Add(-retention)
			if !reflect.DeepEqual(s.Events(since), twin.Events(since)) {
				t.Fatalf("step %d: events within Retention differ", step)
			}
			if !reflect.DeepEqual(s.TruthSince(since), twin.TruthSince(since)) {
				t.Fatalf("step %d: truth within Retention differs", step)
			}
		}
	}
	// Pruning keeps the slices' capacity, so it shows the most they ever
	// held, even inside the jump; append may have doubled it.
	s.mu.Lock()
	peakLive, peakEvents := cap(s.live), cap(s.events)
	s.mu.Unlock()
	twin.mu.Lock()
	created := len(twin.live)
	twin.mu.Unlock()
	if peakLive > 2*bound || peakEvents > 4*bound || created < 5*bound {
		t.Fatalf("room for %d jobs and %d events, bound %d; %d jobs created", peakLive, peakEvents, bound, created)
	}
	t.Logf("room for %d jobs and %d events (bound %d) of %d jobs created", peakLive, peakEvents, bound, created)

	got := itemIDs(listAll(t, srv.URL, vals("limit", "100")))
	cutoff := clk.Now().Add(-retention)
	var pruned []string
	k := 0
	twin.mu.Lock()
	for i := len(twin.live) - 1; i >= 0; i-- {
		j := twin.live[i]
		switch {
		case k < len(got) && got[k] == j.j.ID:
			k++
		case client.IsActive(j.j.Status) || j.finished.After(cutoff):
			twin.mu.Unlock()
			t.Fatalf("job %s (%s, finished %v) missing from the list", j.j.ID, j.j.Status, j.finished)
		default:
			pruned = append(pruned, j.j.ID)
		}
	}
	twin.mu.Unlock()
	if k != len(got) {
		t.Fatalf("the list is not the twin's in order: %d of %d items matched", k, len(got))
	}
	for i := 0; i < len(pruned); i += 997 {
		if r := get(t, srv.URL+"/v1/jobs/"+pruned[i]); r.status != http.StatusNotFound {
			t.Fatalf("pruned job %s: status %d", pruned[i], r.status)
		}
	}
	for st, id := range map[string]string{client.StatusPending: pending, client.StatusProcessing: processing} {
		if r := get(t, srv.URL+"/v1/jobs/"+id); r.status != http.StatusOK {
			t.Fatalf("%s job from the start: status %d", st, r.status)
		}
		if !slices.Contains(itemIDs(listAll(t, srv.URL, vals("status", st, "limit", "100"))), id) {
			t.Fatalf("%s job from the start not listed", st)
		}
	}
}

// Paging down while the clock runs, prunes happen between pages: every job
// there before the first page and still held after the last is listed once,
// newest first, and the old history below the live jobs follows whole.
func TestRetentionPagingAcrossPrunes(t *testing.T) {
	clk := NewManualClock(t0)
	var paging atomic.Bool
	s := New(Config{
		Seed: 9, Clock: clk, History: 200, HistorySpan: time.Hour, Retention: 2 * time.Minute,
		OnRequest: func(*http.Request) {
			if paging.Load() {
				clk.Advance(3 * time.Second)
			}
		},
	})
	srv := serve(t, s)
	clk.Advance(30 * time.Minute)
	s.Events(clk.Now())
	s.mu.Lock()
	before := map[string]bool{}
	for _, j := range s.live {
		before[j.j.ID] = true
	}
	pruneAt := s.nextPrune
	s.mu.Unlock()

	paging.Store(true)
	items := listAll(t, srv.URL, vals("limit", "10"))
	paging.Store(false)

	seen := map[string]bool{}
	for i, it := range items {
		if seen[it.ID] {
			t.Fatalf("job %s listed twice", it.ID)
		}
		seen[it.ID] = true
		if i > 0 && it.CreatedAt.After(items[i-1].CreatedAt) {
			t.Fatalf("item %d: not newest first", i)
		}
	}
	for i := range 200 {
		if !seen[s.hist.id(i)] {
			t.Fatalf("old job %d missing", i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.now.After(pruneAt.Add(s.cfg.Retention / 4)) {
		t.Fatalf("the listing ended at %v: fewer than two prunes after %v", s.now, pruneAt)
	}
	kept, gone := 0, 0
	for id := range before {
		if s.byID[id] == nil {
			gone++
			continue
		}
		kept++
		if !seen[id] {
			t.Fatalf("retained job %s missing", id)
		}
	}
	t.Logf("%d jobs kept and %d pruned while paging %d items", kept, gone, len(items))
	if kept < 50 || gone < 50 {
		t.Fatalf("%d jobs kept and %d pruned while paging", kept, gone)
	}
}
