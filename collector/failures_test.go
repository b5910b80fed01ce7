package collector_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestRecentFailuresHoldWhatThePollsCounted checks the records of failed
// jobs field by field after polls of a scripted world: newest first, the
// labels the failure counted under, the API's times, the refund, and the
// error message as text, hostile or oversized.
func TestRecentFailuresHoldWhatThePollsCounted(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 41, Profiles: quietProfiles()}, 100)
	w.poll(t)
	if got := w.coll.RecentFailures(); len(got) != 0 {
		t.Fatalf("before any failure: %d recent failures, want none", len(got))
	}

	submitted := w.clock.Now()
	youtube := w.sim.Submit("download", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", 3)
	vimeo := w.sim.Submit("transcribe", "https://vimeo.com/76979871", 5)
	hostileType := w.sim.Submit(`<script>alert(1)</script>`, "https://youtu.be/x", 2)
	done := w.sim.Submit("download", "https://youtu.be/ok", 1)
	w.clock.Advance(10 * time.Second)
	w.poll(t) // all four are pending: tracked, nothing finished

	// First poll with failures: one failed, one completed.
	w.clock.Advance(5 * time.Second)
	if err := w.sim.SetStatus(youtube, client.StatusFailed, "ERROR: Video unavailable"); err != nil {
		t.Fatal(err)
	}
	failedYoutube := w.clock.Now()
	if err := w.sim.SetStatus(done, client.StatusCompleted, ""); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(5 * time.Second)
	seen1 := w.clock.Now()
	w.poll(t)

	// Second: two more, with a message far too long and one holding HTML.
	long := strings.Repeat("é", collector.MaxErrorMessageBytes) // 2 bytes each: twice the limit
	hostile := `"><img src=x onerror=alert(1)> <script>alert(1)</script>`
	if err := w.sim.SetStatus(vimeo, client.StatusFailed, long); err != nil {
		t.Fatal(err)
	}
	failedVimeo := w.clock.Now()
	w.clock.Advance(2 * time.Second)
	if err := w.sim.SetStatus(hostileType, client.StatusFailed, hostile); err != nil {
		t.Fatal(err)
	}
	failedHostile := w.clock.Now()
	w.clock.Advance(5 * time.Second)
	seen2 := w.clock.Now()
	w.poll(t)

	created := submitted.Truncate(time.Second)
	want := []collector.FailedJob{
		{
			ID: hostileType, JobType: "other", Source: "youtube", Reason: "other", CreditsRefunded: 2,
			CreatedAt: created, CompletedAt: failedHostile, SeenAt: seen2, ErrorMessage: hostile,
		},
		{
			ID: vimeo, JobType: "transcribe", Source: "vimeo", Reason: "other", CreditsRefunded: 5,
			CreatedAt: created, CompletedAt: failedVimeo, SeenAt: seen2,
			ErrorMessage: long[:collector.MaxErrorMessageBytes], Truncated: true,
		},
		{
			ID: youtube, JobType: "download", Source: "youtube", Reason: "unavailable", CreditsRefunded: 3,
			CreatedAt: created, CompletedAt: failedYoutube, SeenAt: seen1, ErrorMessage: "ERROR: Video unavailable",
		},
	}
	requireFailures(t, w.coll.RecentFailures(), want)

	// A poll that sees them again, as a later list would, adds nothing.
	w.clock.Advance(30 * time.Second)
	w.poll(t)
	requireFailures(t, w.coll.RecentFailures(), want)

	for _, c := range []struct {
		since    time.Time
		n        int
		describe string
	}{
		{seen1, 3, "since the first poll that saw failures"},
		{seen1.Add(time.Second), 2, "since just after it"},
		{seen2.Add(time.Second), 0, "since after the last"},
	} {
		if n, more := w.coll.RecentFailureCount(c.since); n != c.n || more {
			t.Errorf("RecentFailureCount %s = %d, %v; want %d, false", c.describe, n, more, c.n)
		}
	}
}

// TestRecentFailuresStayBoundedInAFlood fails more jobs than the ring
// holds, each with a huge error message: the ring keeps the newest
// RecentFailuresKept, each message cut to the bound, and the count since
// the flood says that it is a lower bound.
func TestRecentFailuresStayBoundedInAFlood(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 43, Profiles: quietProfiles()}, 100)
	w.poll(t)
	const flood = collector.RecentFailuresKept + 50
	ids := make([]string, flood)
	for i := range ids {
		ids[i] = w.sim.Submit("download", fmt.Sprintf("https://youtu.be/v%d", i), 1)
	}
	start := w.clock.Now()
	huge := strings.Repeat("Video unavailable. ", 1<<10) // 19 KiB
	for _, id := range ids {
		w.clock.Advance(time.Second)
		if err := w.sim.SetStatus(id, client.StatusFailed, huge); err != nil {
			t.Fatal(err)
		}
	}
	w.clock.Advance(time.Second)
	w.poll(t)

	got := w.coll.RecentFailures()
	if len(got) != collector.RecentFailuresKept {
		t.Fatalf("%d recent failures after %d failed jobs, want the cap %d", len(got), flood, collector.RecentFailuresKept)
	}
	for i, f := range got {
		if wantID := ids[flood-1-i]; f.ID != wantID {
			t.Fatalf("entry %d is %s, want %s: the newest %d failures, newest first", i, f.ID, wantID, collector.RecentFailuresKept)
		}
		if len(f.ErrorMessage) > collector.MaxErrorMessageBytes || !f.Truncated || !strings.HasPrefix(huge, f.ErrorMessage) {
			t.Fatalf("entry %d keeps a message of %d bytes (truncated %v), want a prefix of at most %d bytes, marked truncated",
				i, len(f.ErrorMessage), f.Truncated, collector.MaxErrorMessageBytes)
		}
	}
	if n, more := w.coll.RecentFailureCount(start); n != collector.RecentFailuresKept || !more {
		t.Errorf("RecentFailureCount since the flood = %d, %v; want %d, true (more failed than the ring holds)", n, more, collector.RecentFailuresKept)
	}
}

func requireFailures(t *testing.T, got, want []collector.FailedJob) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("got %d recent failures, want %d", len(got), len(want))
	for i := range max(len(got), len(want)) {
		var g, w collector.FailedJob
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("entry %d:\n got  %s\n want %s", i, describe(g), describe(w))
		}
	}
}

func describe(f collector.FailedJob) string {
	msg := f.ErrorMessage
	if utf8.RuneCountInString(msg) > 40 {
		msg = string([]rune(msg)[:40]) + fmt.Sprintf("…(%d bytes)", len(f.ErrorMessage))
	}
	f.ErrorMessage = msg
	return fmt.Sprintf("%+v", f)
}
