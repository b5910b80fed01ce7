package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

var errInjected = errors.New("injected failure")

// failingSource passes calls to a real source, but answers the failAt-th
// page or lookup of a poll with an error, and every lookup with one while
// failGets is set.
type failingSource struct {
	JobSource
	failAt, calls int
	failGets      bool
}

func (f *failingSource) fail() bool {
	f.calls++
	return f.calls == f.failAt
}

func (f *failingSource) Pages(ctx context.Context, opts client.ListOptions) iter.Seq2[client.Page, error] {
	return func(yield func(client.Page, error) bool) {
		for page, err := range f.JobSource.Pages(ctx, opts) {
			if err == nil && f.fail() {
				yield(client.Page{}, errInjected)
				return
			}
			if !yield(page, err) {
				return
			}
		}
	}
}

func (f *failingSource) GetJob(ctx context.Context, id string) (client.Job, error) {
	if f.fail() || f.failGets {
		return client.Job{}, errInjected
	}
	return f.JobSource.GetJob(ctx, id)
}

// simWorld is a simulated account behind loopback HTTP and a collector
// polling it through a failingSource.
type simWorld struct {
	sim   *simulator.Sim
	clock *simulator.ManualClock
	src   *failingSource
	c     *JobCollector
	start time.Time
}

// newSimWorld starts a world; with quiet set, no job arrives by itself.
func newSimWorld(t *testing.T, pageSize int, quiet bool) *simWorld {
	t.Helper()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := simulator.NewManualClock(start)
	profiles := simulator.DefaultProfiles()
	for k, p := range profiles {
		if quiet {
			p.PerMinute = 0
		}
		profiles[k] = p
	}
	sim := simulator.New(simulator.Config{Seed: 11, Clock: clock, History: 40, FractionalSeconds: true, Profiles: profiles})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	api, err := client.New(client.Config{BaseURL: srv.URL, Key: func() string { return "vc_test" }, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src := &failingSource{JobSource: api}
	c, err := New(Config{Source: src, Interval: 30 * time.Second, PageSize: pageSize, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &simWorld{sim: sim, clock: clock, src: src, c: c, start: start}
}

// poll polls, failing at the failAt-th answer (0: none).
func (w *simWorld) poll(failAt int) error {
	w.src.failAt, w.src.calls = failAt, 0
	return w.c.Poll(context.Background())
}

// assertTruth compares the counters with what happened in the world since
// the collector started.
func (w *simWorld) assertTruth(t *testing.T) {
	t.Helper()
	truth := w.sim.TruthSince(w.start)
	s := w.c.state
	got, want := map[string]int{}, map[string]int{}
	for k, v := range s.created {
		got["created "+k.jobType+"|"+k.source] = int(v)
	}
	for k, v := range s.finished {
		got["finished "+k.jobType+"|"+k.source+"|"+k.status] = int(v)
	}
	for k, v := range truth.Created {
		want["created "+k[0]+"|"+k[1]] = v
	}
	for k, v := range truth.Finished {
		want["finished "+k[0]+"|"+k[1]+"|"+k[2]] = v
	}
	for k, v := range got {
		if v != want[k] {
			t.Errorf("%s = %d, the world says %d", k, v, want[k])
		}
	}
	for k, v := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing, the world says %d", k, v)
		}
	}
	active := 0
	for _, n := range truth.Active {
		active += n
	}
	if len(s.tracked) != active {
		t.Errorf("%d jobs tracked, the world has %d active", len(s.tracked), active)
	}
}

// dump is a state as its file holds it, in a fixed order, so that two
// states compare as strings.
func dump(t *testing.T, s *state) string {
	t.Helper()
	f := s.toFile("", time.Time{})
	slices.SortFunc(f.Tracked, func(a, b trackedRecord) int { return cmp.Compare(a.ID, b.ID) })
	for _, records := range [][]countRecord{f.Created, f.Finished, f.Failures, f.Charged, f.Refunded, f.Vanished} {
		slices.SortFunc(records, func(a, b countRecord) int { return slices.Compare(a.Labels, b.Labels) })
	}
	slices.SortFunc(f.Durations, func(a, b histogramRecord) int { return slices.Compare(a.Labels, b.Labels) })
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("started=%v %s", s.started, data)
}

// TestFailedPollAtAnyPointChangesNothing fails each poll at every page and
// lookup in turn, while jobs arrive, change status, finish and vanish: each
// failed poll must leave the state exactly as it was (a poll changes the
// tracked and recent jobs in place), and the counts must stay exactly once.
func TestFailedPollAtAnyPointChangesNothing(t *testing.T) {
	w := newSimWorld(t, 10, false)
	var scripted []string
	for i := range 12 {
		scripted = append(scripted, w.sim.Submit(client.JobTypes[i%len(client.JobTypes)], "https://vimeo.com/1", 2))
	}
	for failAt := 1; ; failAt++ { // the start-up poll too
		before := dump(t, w.c.state)
		if err := w.poll(failAt); err == nil {
			break
		}
		if after := dump(t, w.c.state); after != before {
			t.Fatalf("start-up poll failing at answer %d changed the state:\nbefore %s\nafter  %s", failAt, before, after)
		}
	}
	failures := 0
	for round := range 4 {
		w.clock.Advance(20 * time.Second)
		// Scripted changes beside the world's own traffic: a job moves on,
		// one finishes unlisted, one is forgotten by the API.
		var err error
		switch round {
		case 0:
			err = w.sim.SetStatus(scripted[round], client.StatusProcessing, "")
		case 1:
			err = w.sim.SetStatus(scripted[round], client.StatusCompleted, "")
		case 2:
			err = w.sim.SetStatus(scripted[round], client.StatusFailed, "Video unavailable")
		case 3:
			err = w.sim.Delete(scripted[round])
		}
		if err != nil {
			t.Fatal(err)
		}
		for failAt := 1; ; failAt++ {
			before := dump(t, w.c.state)
			err := w.poll(failAt)
			if err == nil {
				break
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("round %d: %v", round, err)
			}
			failures++
			if after := dump(t, w.c.state); after != before {
				t.Fatalf("round %d: a poll failing at answer %d changed the state:\nbefore %s\nafter  %s", round, failAt, before, after)
			}
		}
	}
	t.Logf("%d polls failed", failures)
	if failures < 4*5 {
		t.Fatalf("only %d polls failed: too few answers per poll to fail at each stage", failures)
	}
	if s := w.c.state; s.vanished[client.JobTypes[3]] != 1 || len(s.recent) == 0 {
		t.Errorf("the rounds did not exercise what they meant to: vanished %v, %d recent", s.vanished, len(s.recent))
	}
	w.assertTruth(t)
}

// TestFailedPollLeavesNoSeenMarks fails a poll after its active lists have
// marked a job as seen; the job then finishes unlisted. The next poll must
// look it up and count its end, not take the old mark as its own.
func TestFailedPollLeavesNoSeenMarks(t *testing.T) {
	w := newSimWorld(t, 100, true)
	finished := w.sim.Submit("preview", "https://youtu.be/2", 1)
	listed := w.sim.Submit("download", "https://youtu.be/1", 1)
	// A newer job puts the two out of the lookback: only the active lists
	// and lookups see them.
	w.clock.Advance(2 * lookback)
	w.sim.Submit("download", "https://youtu.be/3", 1)
	w.start = w.clock.Now() // what exists at start-up is not counted
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(30 * time.Second)
	if err := w.sim.SetStatus(finished, client.StatusCompleted, ""); err != nil {
		t.Fatal(err)
	}
	w.src.failGets = true // the lookup of the finished job, after the lists
	if err := w.poll(0); !errors.Is(err, errInjected) {
		t.Fatalf("poll = %v, want the injected failure", err)
	}
	w.src.failGets = false
	if err := w.sim.SetStatus(listed, client.StatusCompleted, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.c.state.tracked[listed]; ok {
		t.Error("a job that finished unlisted is still tracked after a poll")
	}
	w.assertTruth(t)
}

// listSource serves a fixed account from memory, allocating nothing per
// call, so that a poll's own allocations can be measured.
type listSource struct {
	newestFirst []client.Job
	pageSize    int
}

func (l *listSource) Pages(_ context.Context, opts client.ListOptions) iter.Seq2[client.Page, error] {
	return func(yield func(client.Page, error) bool) {
		for items := range slices.Chunk(l.newestFirst, l.pageSize) {
			if !yield(client.Page{Items: items}, nil) {
				return
			}
		}
	}
}

func (l *listSource) GetJob(context.Context, string) (client.Job, error) {
	return client.Job{}, client.ErrNotFound
}

// TestSteadyPollMemoryIsIndependentOfTrackedJobs: a poll in which nothing
// changes allocates about the same with 2 000 or 20 000 active jobs. A copy
// of the tracked jobs per poll (or a set of the ids listed) would cost tens
// of bytes per job, over 500 kB more at 20 000.
func TestSteadyPollMemoryIsIndependentOfTrackedJobs(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	perPoll := func(active int) uint64 {
		src := &listSource{pageSize: 100}
		for i := range active {
			src.newestFirst = append(src.newestFirst, client.Job{
				ID:             fmt.Sprintf("job-%06d", i),
				Type:           client.JobTypes[i%len(client.JobTypes)],
				Status:         client.StatusPending,
				SourceURL:      "https://youtu.be/x",
				CreditsCharged: 1,
				CreatedAt:      now.Add(-time.Hour - time.Duration(i)*time.Second),
			})
		}
		c, err := New(Config{Source: src, Interval: 30 * time.Second, PageSize: 100, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		s := c.state
		least := uint64(1 << 62)
		for range 4 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if s, err = c.poll(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if s.started && len(s.tracked) == active {
				least = min(least, after.TotalAlloc-before.TotalAlloc)
			}
		}
		return least
	}
	small, large := perPoll(2_000), perPoll(20_000)
	t.Logf("bytes allocated by a steady poll: %d with 2 000 active jobs, %d with 20 000", small, large)
	if large > small+64<<10 {
		t.Errorf("a steady poll allocates %d bytes with 20 000 active jobs, %d with 2 000: it grows with the tracked jobs", large, small)
	}
}
