package collector

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// TestFailedPollAddsNoRecentFailure fails a poll at each of its API calls in
// turn, in a world where two tracked jobs have failed: a poll that fails
// after counting one or both of them must leave the ring as it was, and the
// poll that then succeeds adds each exactly once.
func TestFailedPollAddsNoRecentFailure(t *testing.T) {
	w := newSimWorld(t, 100, true)
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	a := w.sim.Submit("download", "https://youtu.be/a", 1)
	b := w.sim.Submit("download", "https://youtu.be/b", 1)
	w.clock.Advance(5 * time.Second)
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if err := w.sim.SetStatus(id, client.StatusFailed, "Video unavailable"); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Second)
	}

	failedPolls := 0
	for failAt := 1; ; failAt++ {
		err := w.poll(failAt)
		if err == nil {
			break
		}
		failedPolls++
		if got := w.c.RecentFailures(); len(got) != 0 {
			t.Fatalf("a poll that failed at call %d added %d recent failures: %+v", failAt, len(got), got)
		}
	}
	// The poll pages the new jobs, looks each failed one up, then lists the
	// pending and the processing ones: the polls failing at those last two
	// lists had counted both failures.
	if failedPolls < 4 {
		t.Fatalf("only %d polls failed before one succeeded: the test did not fail a poll after it counted the failures", failedPolls)
	}
	ids := func() []string {
		var out []string
		for _, f := range w.c.RecentFailures() {
			out = append(out, f.ID)
		}
		return out
	}
	if got, want := ids(), []string{b, a}; !slices.Equal(got, want) {
		t.Fatalf("after the successful poll: %v, want %v (each failure once, newest first)", got, want)
	}
	w.clock.Advance(30 * time.Second)
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(), []string{b, a}; !slices.Equal(got, want) {
		t.Fatalf("after one more poll: %v, want %v", got, want)
	}
}

func TestFailureRingOrderAndWrap(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	job := func(i int) FailedJob {
		return FailedJob{ID: fmt.Sprint(i), SeenAt: base.Add(time.Duration(i) * time.Second)}
	}
	var r failureRing
	if got := r.newestFirst(); len(got) != 0 {
		t.Fatalf("empty ring returned %d jobs", len(got))
	}
	if n, more := r.countSince(time.Time{}); n != 0 || more {
		t.Fatalf("empty ring counts %d, %v", n, more)
	}
	ids := func() []string {
		var out []string
		for _, f := range r.newestFirst() {
			out = append(out, f.ID)
		}
		return out
	}
	want := func(from, to int) []string { // newest first: to down to from
		var out []string
		for i := to; i >= from; i-- {
			out = append(out, fmt.Sprint(i))
		}
		return out
	}

	r.add([]FailedJob{job(0), job(1), job(2)})
	if got := ids(); !slices.Equal(got, want(0, 2)) {
		t.Fatalf("after 3: %v", got)
	}
	var batch []FailedJob
	for i := 3; i < RecentFailuresKept+10; i++ {
		batch = append(batch, job(i))
	}
	r.add(batch)
	last := RecentFailuresKept + 9
	if got := ids(); !slices.Equal(got, want(10, last)) {
		t.Fatalf("after %d: %d jobs, newest %v, oldest %v; want %d to 10", last+1, len(got), got[0], got[len(got)-1], last)
	}
	if cap(r.jobs) != RecentFailuresKept {
		t.Errorf("the ring's slice has capacity %d, want %d", cap(r.jobs), RecentFailuresKept)
	}

	for _, c := range []struct {
		since int
		n     int
		more  bool
	}{
		{0, RecentFailuresKept, true},   // 0 to 9 were let go
		{9, RecentFailuresKept, true},   // 9 was let go
		{10, RecentFailuresKept, false}, // the oldest kept: nothing since was let go
		{last, 1, false},
		{last + 1, 0, false},
	} {
		n, more := r.countSince(base.Add(time.Duration(c.since) * time.Second))
		if n != c.n || more != c.more {
			t.Errorf("countSince(%d) = %d, %v; want %d, %v", c.since, n, more, c.n, c.more)
		}
	}
}

// TestFailureRingOrdersAPollByCompletion checks that the failures of one
// poll, which finds them in paging order, are kept by completion time.
func TestFailureRingOrdersAPollByCompletion(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var r failureRing
	r.add([]FailedJob{
		{ID: "late", CompletedAt: at.Add(2 * time.Second), SeenAt: at},
		{ID: "unknown", SeenAt: at}, // no completed_at: oldest
		{ID: "early", CompletedAt: at.Add(time.Second), SeenAt: at},
	})
	var got []string
	for _, f := range r.newestFirst() {
		got = append(got, f.ID)
	}
	if want := []string{"late", "early", "unknown"}; !slices.Equal(got, want) {
		t.Fatalf("newest first: %v, want %v", got, want)
	}
}

// TestFailureRingConcurrentReaders runs readers against a writer, for the
// race detector; every read must see a ring no longer than its cap.
func TestFailureRingConcurrentReaders(t *testing.T) {
	var r failureRing
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := r.newestFirst(); len(got) > RecentFailuresKept {
					t.Errorf("read %d jobs, more than the cap", len(got))
					return
				}
				r.countSince(time.Time{})
			}
		})
	}
	for i := range 3 * RecentFailuresKept {
		r.add([]FailedJob{{ID: fmt.Sprint(i), SeenAt: time.Unix(int64(i), 0)}})
	}
	close(stop)
	wg.Wait()
	if got := r.newestFirst(); len(got) != RecentFailuresKept || got[0].ID != fmt.Sprint(3*RecentFailuresKept-1) {
		t.Fatalf("after the writes: %d jobs, newest %v", len(got), got[0].ID)
	}
}

func TestCutKeepsValidUTF8(t *testing.T) {
	for _, c := range []struct {
		in        string
		n         int
		want      string
		truncated bool
	}{
		{"short", 10, "short", false},
		{"exactly10!", 10, "exactly10!", false},
		{"eleven byte", 10, "eleven byt", true},
		{"aé", 2, "a", true},                     // é is 2 bytes: not cut in half
		{"a€b", 3, "a", true},                    // € is 3 bytes
		{"a€b", 4, "a€", true},                   // ends just after it
		{"ab\xffcd", 10, "ab\uFFFDcd", false},    // invalid byte replaced
		{"\xff\xff\xff\xff", 3, "\uFFFD", false}, // one replacement for the run: nothing cut
		{"", 10, "", false},
	} {
		got, truncated := cut(c.in, c.n)
		if got != c.want || truncated != c.truncated || !utf8.ValidString(got) || len(got) > c.n {
			t.Errorf("cut(%q, %d) = %q, %v; want %q, %v", c.in, c.n, got, truncated, c.want, c.truncated)
		}
	}
}

// TestFailedJobOfCopiesItsStrings checks that a record shares no bytes with
// the job it came from: a substring of the decoded page would keep the page
// alive for as long as the record stays in the ring.
func TestFailedJobOfCopiesItsStrings(t *testing.T) {
	page := strings.Repeat("x", 4096) + "0123456789abcdef-job" + "Video unavailable"
	job := client.Job{ID: page[4096:4116], ErrorMessage: page[4116:]}
	f := failedJobOf(job, failureKey{"download", "youtube", "unavailable"}, 1, time.Time{})
	if f.ID != job.ID || f.ErrorMessage != job.ErrorMessage {
		t.Fatalf("record %q %q, want %q %q", f.ID, f.ErrorMessage, job.ID, job.ErrorMessage)
	}
	if unsafe.StringData(f.ID) == unsafe.StringData(job.ID) || unsafe.StringData(f.ErrorMessage) == unsafe.StringData(job.ErrorMessage) {
		t.Fatal("the record shares its strings with the job's")
	}
}

// BenchmarkFailureRingMemory fills a collector's ring with failed jobs as a
// poll makes them and reports the heap bytes each entry holds, with the
// error message an API typically sends and with one at the bound.
func BenchmarkFailureRingMemory(b *testing.B) {
	for _, c := range []struct {
		name string
		msg  string
	}{
		{"message=typical", "ERROR: Video unavailable. This content is no longer available"},
		{"message=max", strings.Repeat("x", 4*MaxErrorMessageBytes)},
	} {
		b.Run(c.name, func(b *testing.B) {
			jobs := make([]client.Job, RecentFailuresKept)
			for i := range jobs {
				jobs[i] = client.Job{
					ID:           fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
					ErrorMessage: c.msg,
					CreatedAt:    time.Unix(int64(i), 0),
					CompletedAt:  time.Unix(int64(i)+60, 0),
				}
			}
			fill := func() *failureRing {
				r := &failureRing{}
				batch := make([]FailedJob, 0, len(jobs)) // the poll's: garbage once added
				for _, j := range jobs {
					batch = append(batch, failedJobOf(j, failureKey{"download", "youtube", "unavailable"}, 1, j.CompletedAt))
				}
				r.add(batch)
				return r
			}
			var perEntry float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				r := fill()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perEntry = float64(after.HeapAlloc-before.HeapAlloc) / RecentFailuresKept
				runtime.KeepAlive(r)
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(perEntry*RecentFailuresKept/1024, "KiB/account")
		})
	}
}
