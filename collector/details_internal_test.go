package collector

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// TestFailuresBeyondTheWaitingBound fills the finished jobs that wait for
// details up to maxPendingDetails: a failure that then ends without its
// message is counted at once under reason unknown, with one warning, rather
// than waiting. Once there is room again, failures wait for their reason
// and the log says so.
func TestFailuresBeyondTheWaitingBound(t *testing.T) {
	w := newSimWorld(t, simWorldOptions{pageSize: 100, quiet: true})
	var logs bytes.Buffer
	w.c.logger = log.NewLogfmtLogger(&logs)
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	a := w.sim.Submit("download", "https://youtu.be/a", 1)
	b := w.sim.Submit("download", "https://youtu.be/b", 1)
	w.clock.Advance(time.Second)
	if err := w.poll(0); err != nil {
		t.Fatal(err)
	}
	// Durations the API no longer knows, from a poll long ago.
	long := w.start.Add(-maxDurationWait)
	for i := range maxPendingDetails {
		w.c.state.details[fmt.Sprint("gone-", i)] = pendingDetail{jobType: "download", source: "youtube", status: client.StatusCompleted, created: long, seen: long, duration: true}
	}
	unknown := failureKey{"download", "youtube", reasonUnknown}
	unavailable := failureKey{"download", "youtube", "unavailable"}
	for round, id := range []string{a, b} {
		w.clock.Advance(30 * time.Second)
		if err := w.sim.SetStatus(id, client.StatusFailed, "Video unavailable"); err != nil {
			t.Fatal(err)
		}
		if err := w.poll(0); err != nil {
			t.Fatal(err)
		}
		s := w.c.state
		// The first poll's lookups of the gone durations end at the lookup
		// bound, and the rest, which waited maxDurationWait, are let go,
		// as is the duration of a, which found no room.
		if got := [2]uint64{s.failures[unknown], s.failures[unavailable]}; got != [2]uint64{1, uint64(round)} || len(s.details) != 0 {
			t.Fatalf("round %d: failures unknown, unavailable = %v, %d waiting; want [1 %d], 0", round, got, len(s.details), round)
		}
	}
	if n := strings.Count(logs.String(), "too many failed jobs wait"); n != 1 {
		t.Errorf("%d warnings that failures wait, want 1:\n%s", n, logs.String())
	}
	letGo := fmt.Sprintf("let_go=%d let_go_since_start=%[1]d ", maxPendingDetails-maxLookupsPerPoll+1)
	if n := strings.Count(logs.String(), "durations of finished jobs let go"); n != 1 || !strings.Contains(logs.String(), letGo) {
		t.Errorf("%d warnings that durations were let go, want 1 with %q:\n%s", n, letGo, logs.String())
	}
	if !strings.Contains(logs.String(), "looked up again") {
		t.Errorf("no line that reasons are looked up again:\n%s", logs.String())
	}
	recent := w.c.RecentFailures()
	if len(recent) != 2 || recent[1].ID != a || recent[1].Reason != reasonUnknown || recent[1].ErrorMessage != "" ||
		recent[0].ID != b || recent[0].Reason != "unavailable" || recent[0].ErrorMessage != "Video unavailable" {
		t.Errorf("recent failures = %+v, want b (unavailable, with its message), then a (unknown, none)", recent)
	}
}

// TestDurationsLeaveRoomForReasons fills half the waiting bound with
// durations: a duration then no longer waits, a failure's reason still does.
func TestDurationsLeaveRoomForReasons(t *testing.T) {
	p := &poll{c: &JobCollector{}, next: newState(nil)}
	for i := range maxPendingDetails / 2 {
		p.next.details[fmt.Sprint("done-", i)] = pendingDetail{duration: true}
	}
	p.await("duration", pendingDetail{duration: true})
	p.await("reason", pendingDetail{reason: true, duration: true})
	if _, ok := p.next.details["duration"]; ok || p.letGo != 1 {
		t.Errorf("a duration waits beyond half the bound, or is not counted as let go (%d let go)", p.letGo)
	}
	if _, ok := p.next.details["reason"]; !ok || p.gaveUp != 0 {
		t.Errorf("a reason does not wait below the bound (gave up on %d)", p.gaveUp)
	}
}
