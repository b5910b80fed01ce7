package simulator

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// Pages filtered on an active status come from the ordered active index; they
// must be exactly the unfiltered list filtered by hand, however jobs move:
// generated ones by themselves, scripted ones back and forth between every
// status, old-history ones made active again (positions below every live
// job), deleted ones gone.
func TestActiveFiltersMatchBruteForce(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 21, Clock: clk, History: 60, HistorySpan: time.Hour})
	srv := serve(t, s)
	var ids []string
	for i := range 150 {
		ids = append(ids, s.Submit(client.JobTypes[i%len(client.JobTypes)], "https://youtu.be/x", 1))
	}
	ids = append(ids, s.Submit("scrape", "https://youtu.be/y", 1)) // a type outside the profiles
	for i := range 10 {
		ids = append(ids, s.hist.id(i*6))
	}
	moves := []string{client.StatusPending, client.StatusProcessing, client.StatusCompleted, client.StatusFailed, "cancelled"}
	types := append([]string{"", "scrape"}, client.JobTypes...)
	draws := rng{s: 99} // which job moves where: the test's own choices
	multiPage := 0
	for round := range 8 {
		for range 60 {
			err := s.SetStatus(ids[draws.intn(len(ids))], draws.oneOf(moves), "")
			if err != nil && !errors.Is(err, ErrNotFound) { // a deleted job is not found
				t.Fatal(err)
			}
		}
		if err := s.Delete(ids[draws.intn(len(ids))]); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		clk.Advance(20 * time.Second) // the generated jobs move too

		all := listAll(t, srv.URL, vals("limit", "100"))
		active := map[[2]string]int{}
		oldest := map[[2]string]time.Time{}
		for _, it := range all {
			if !client.IsActive(it.Status) {
				continue
			}
			k := [2]string{it.Type, it.Status}
			active[k]++
			if o, ok := oldest[k]; !ok || it.CreatedAt.Before(o) {
				oldest[k] = it.CreatedAt
			}
		}
		for _, st := range []string{client.StatusPending, client.StatusProcessing} {
			for _, jt := range types {
				var want, got []string
				for _, it := range all {
					if it.Status == st && (jt == "" || it.Type == jt) {
						want = append(want, it.ID)
					}
				}
				for _, it := range listAll(t, srv.URL, vals("status", st, "job_type", jt, "limit", "7")) {
					got = append(got, it.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("round %d, status=%s job_type=%q:\n got %v\nwant %v", round, st, jt, got, want)
				}
				if len(want) > 7 {
					multiPage++
				}
			}
		}
		tr := s.TruthSince(clk.Now())
		if !reflect.DeepEqual(tr.Active, active) || !reflect.DeepEqual(tr.OldestActive, oldest) {
			t.Fatalf("round %d: active truth %v oldest %v, API %v oldest %v", round, tr.Active, tr.OldestActive, active, oldest)
		}
	}
	if multiPage < 40 {
		t.Fatalf("only %d filtered listings took more than one page", multiPage)
	}
}
