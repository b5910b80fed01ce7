package collector_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestBusyAccountCountsEachEndByTheNextPoll polls an account of 20 new jobs
// a second every 30 s under the default request budget (each call takes
// 200 ms of the clock), with list items of the sample's fields and of every
// field. After each poll, every created and finished series must hold at
// least what happened before the poll started and no more than what
// happened before it ended: each event is counted by the first poll after
// it. A failure's reason may wait for a lookup, but at this rate and budget
// for one poll at most; a duration waits no longer than MaxDurationWait
// (and the poll that lets it go), and the ones let go are counted.
func TestBusyAccountCountsEachEndByTheNextPoll(t *testing.T) {
	polls := 14
	if testing.Short() {
		polls = 4
	}
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprint("full-items=", full), func(t *testing.T) {
			t.Parallel()
			bw := newBusyWorld(t, 20, full, 30*time.Second, 200*time.Millisecond)
			var before simulator.Truth // at the start of the poll before
			durationsWaited := false
			for i := range polls {
				bw.poll(t)
				atStart, atEnd := bw.last, bw.sim.TruthSince(bw.start)
				if took := bw.clock.Now().Sub(bw.lastStart); took > bw.interval {
					t.Errorf("poll %d took %v, more than its interval", i, took)
				}
				within(t, fmt.Sprint("poll ", i, " created"), bw.series(t, "videoconduit_jobs_created_total"),
					keyed2(atStart.Created), keyed2(atEnd.Created))
				within(t, fmt.Sprint("poll ", i, " finished"), bw.series(t, "videoconduit_jobs_finished_total"),
					keyed3(atStart.Finished, 0, 1, 2), keyed3(atEnd.Finished, 0, 1, 2))
				// Labels sort as job_type, reason, source.
				within(t, fmt.Sprint("poll ", i, " failures"), bw.series(t, "videoconduit_job_failures_total"),
					keyed3(before.Failures, 0, 2, 1), keyed3(atEnd.Failures, 0, 2, 1))
				before = atStart
				_, durations, oldestReason, oldestDuration := collector.WaitingDetails(bw.coll)
				if !oldestReason.IsZero() && oldestReason.Before(bw.lastStart) {
					t.Errorf("poll %d: a reason counted at %v still waits", i, oldestReason)
				}
				if !oldestDuration.IsZero() && oldestDuration.Before(bw.lastStart.Add(-collector.MaxDurationWait)) {
					t.Errorf("poll %d: a duration counted at %v still waits", i, oldestDuration)
				}
				durationsWaited = durationsWaited || durations > 0
			}
			if durationsWaited == full {
				t.Errorf("durations waited: %v; with the sample's items the budget must leave some, with every field none", durationsWaited)
			}
			// The sample's items leave more lookups than the budget pays
			// for: once they waited MaxDurationWait, some are let go.
			letGo := collector.DurationsLetGo(bw.coll)
			switch {
			case full && letGo > 0:
				t.Errorf("%d durations let go, with every field none", letGo)
			case !full && time.Duration(polls)*bw.interval > collector.MaxDurationWait+bw.interval && letGo == 0:
				t.Errorf("no duration let go in %d polls, with the sample's items some", polls)
			}
		})
	}
}

// within checks that every series of got lies between low and high.
func within(t *testing.T, what string, got, low, high map[string]float64) {
	t.Helper()
	for k, v := range got {
		if v < low[k] || v > high[k] {
			t.Errorf("%s %s = %v, want %v to %v", what, k, v, low[k], high[k])
		}
	}
	for k, v := range low {
		if v > 0 && got[k] == 0 {
			t.Errorf("%s %s missing, want at least %v", what, k, v)
		}
	}
}

func keyed2(m map[[2]string]int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k[0]+"|"+k[1]] = float64(v)
	}
	return out
}

// keyed3 keys the counts of m by their labels in the order a, b, c.
func keyed3(m map[[3]string]int, a, b, c int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k[a]+"|"+k[b]+"|"+k[c]] = float64(v)
	}
	return out
}

// TestListItemsSpareLookups ends thirty tracked jobs, ten of them failed,
// deep below the newest jobs' boundary. With list items of every field the
// pages that show their ends also give every reason and duration: no
// lookup. With the sample's fields, each needs one lookup: the failures for
// their message, the others for their completed_at. Either way a poll
// counts everything, exactly once.
func TestListItemsSpareLookups(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprint("full-items=", full), func(t *testing.T) {
			w := newWorld(t, simulator.Config{Seed: 3, Profiles: quietProfiles(), FullListItems: full}, 100)
			w.poll(t)
			var ids []string
			for i := range 30 {
				ids = append(ids, w.sim.Submit(client.JobTypes[i%2], "https://vimeo.com/1", 1))
			}
			w.clock.Advance(time.Second)
			w.poll(t)
			w.clock.Advance(2 * time.Minute)
			w.sim.Submit("preview", "https://vimeo.com/2", 1) // moves the boundary past the thirty
			w.poll(t)
			w.clock.Advance(10 * time.Second)
			for i, id := range ids {
				status, message := client.StatusCompleted, ""
				if i%3 == 0 {
					status, message = client.StatusFailed, []string{"Video unavailable", "This video is private"}[i%2]
				}
				if err := w.sim.SetStatus(id, status, message); err != nil {
					t.Fatal(err)
				}
			}
			before := w.sim.Requests()
			w.poll(t)
			after := w.sim.Requests()
			lists, gets := after[client.EndpointList]-before[client.EndpointList], after[client.EndpointGet]-before[client.EndpointGet]
			wantGets := 30
			if full {
				wantGets = 0
			}
			// The pending list, the processing list, one page of jobs.
			if lists != 3 || gets != wantGets {
				t.Errorf("the poll made %d list calls and %d lookups, want 3 and %d", lists, gets, wantGets)
			}
			assertNonZero(t, w, "videoconduit_jobs_finished_total", map[string]float64{
				"download|vimeo|completed": 10, "download|vimeo|failed": 5,
				"transcribe|vimeo|completed": 10, "transcribe|vimeo|failed": 5,
			})
			assertNonZero(t, w, "videoconduit_job_failures_total", map[string]float64{
				"download|unavailable|vimeo": 5, "transcribe|private|vimeo": 5,
			})
			for _, jobType := range []string{"download", "transcribe"} {
				for _, status := range []string{client.StatusCompleted, client.StatusFailed} {
					want := map[string]uint64{client.StatusCompleted: 10, client.StatusFailed: 5}[status]
					if got := histogramOf(t, w, jobType, status); got.count != want || got.sum != float64(want)*131 {
						t.Errorf("%s/%s durations = %+v, want %d of 131 s", jobType, status, got, want)
					}
				}
			}
			if reasons, durations, _, _ := collector.WaitingDetails(w.coll); reasons+durations != 0 {
				t.Errorf("%d reasons and %d durations still wait", reasons, durations)
			}
		})
	}
}

// TestLateJobsCountedOnce polls every second while jobs keep arriving, and
// ten downloads created in a LateListing window appear in the lists up to
// 58 s after their created_at, already completed: no active list shows
// them, and most appear deeper than the poll after them pages. Each is
// counted exactly once, by the sweep that follows it, within sweepEvery of
// the last one appearing; no count ever exceeds the truth.
func TestLateJobsCountedOnce(t *testing.T) {
	window := epoch.Add(time.Minute)
	w := newWorld(t, simulator.Config{Seed: 8, Profiles: quietProfiles(), Incidents: []simulator.Incident{
		{Kind: simulator.LateListing, Start: window, Duration: 10 * time.Second, JobType: "download", Delay: 58 * time.Second},
	}}, 3) // pages of a few seconds' jobs
	w.start(t, collector.Config{Interval: time.Second})
	w.poll(t)
	const late = 10
	submitted := 0
	for i := range 180 {
		w.clock.Advance(time.Second)
		w.sim.Submit("preview", "https://vimeo.com/1", 1) // moves the high-water mark on
		if now := w.clock.Now(); !now.Before(window) && submitted < late {
			id := w.sim.Submit("download", "https://vimeo.com/2", 1)
			if err := w.sim.SetStatus(id, client.StatusCompleted, ""); err != nil {
				t.Fatal(err)
			}
			submitted++
		}
		w.poll(t)
		finished := w.series(t, "videoconduit_jobs_finished_total")["download|vimeo|completed"]
		created := w.series(t, "videoconduit_jobs_created_total")["download|vimeo"]
		if finished > late || created > late {
			t.Fatalf("poll %d: %v downloads created and %v finished counted, of %d", i, created, finished, late)
		}
		// The last appears by 10 s + 58 s after the window opens; the
		// sweep after it, within sweepEvery (30 s) and a poll.
		if w.clock.Now().After(window.Add(100*time.Second)) && (finished != late || created != late) {
			t.Fatalf("poll %d, %v after the window opened: %v downloads created and %v finished counted, want %d",
				i, w.clock.Now().Sub(window), created, finished, late)
		}
	}
}

// TestDurationsOfABurstCatchUp ends 400 tracked jobs at once on an account
// whose list items carry the sample's fields, under the default budget
// (each call takes 200 ms, lookups stop at three quarters of a 30 s
// interval): one poll cannot look up every completed_at. The durations
// wait, and the polls that follow observe every one, each of its true
// length; none is let go.
func TestDurationsOfABurstCatchUp(t *testing.T) {
	charging := &atomic.Bool{}
	var w *world
	w = newWorld(t, simulator.Config{Seed: 9, Profiles: quietProfiles(), OnRequest: func(*http.Request) {
		if charging.Load() {
			w.clock.Advance(200 * time.Millisecond)
		}
	}}, 100)
	w.poll(t)
	const burst = 400
	ids := make([]string, burst)
	for i := range ids {
		ids[i] = w.sim.Submit("download", "https://vimeo.com/1", 1)
	}
	w.clock.Advance(time.Second)
	w.poll(t)
	w.clock.Advance(time.Minute)
	for _, id := range ids {
		if err := w.sim.SetStatus(id, client.StatusCompleted, ""); err != nil {
			t.Fatal(err)
		}
	}
	charging.Store(true)
	for i := range 6 {
		w.clock.Advance(30 * time.Second)
		w.poll(t)
		_, waiting, _, _ := collector.WaitingDetails(w.coll)
		if i == 0 && waiting == 0 {
			t.Fatal("one poll looked up every duration of the burst: it proves nothing")
		}
	}
	if got := histogramOf(t, w, "download", client.StatusCompleted); got.count != burst || got.sum != burst*61 {
		t.Errorf("durations = %+v, want %d of 61 s", got, burst)
	}
	if n := collector.DurationsLetGo(w.coll); n != 0 {
		t.Errorf("%d durations let go", n)
	}
}
