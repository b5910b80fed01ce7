package collector_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// BenchmarkBusyAccount polls busy accounts (5, 20 and 60 new jobs a second,
// the default job mix, so some 25 s per job and 25 active jobs per job a
// second) against the simulator, with list items of the API page's sample
// fields or of every field, and sets the calls of each poll beside the
// list-page floor: one call per 100 jobs, at least one, for each list a poll
// must read (the jobs created since the last poll, those pending and those
// processing now, those completed and those failed since the last poll).
//
// budget=none: calls cost no time, polls 1 s or 30 s apart. budget=5/s: the
// default request budget, each call taking 200 ms of the simulated clock,
// a poll every 30 s or at once when the last one took longer (as Run does);
// poll-s is the time a poll takes. Both also report how far the counts and
// the details lag: count-deficit, the most finished jobs that a poll had not
// counted of those that ended before it started (0: every end is counted by
// the first poll after it); reasons-waiting, the most failures whose reason
// waited at the end of a poll; reason-age-s and duration-age-s, the oldest
// wait of a reason and a duration at the end of a poll, from the start of
// the poll that counted the end; durations-%, the share of the ends counted
// whose duration was observed; ends/poll, the ends counted; let-go/poll,
// the durations let go without their lookup.
//
// Run with -benchtime=30x: each iteration is one poll of a world that
// depends only on the seed, so a fixed number of polls gives the same
// figures every run; with 1 s polls, thirty hold one sweep of the lookback.
func BenchmarkBusyAccount(b *testing.B) {
	type mode struct {
		name     string
		interval time.Duration
		callTime time.Duration
	}
	modes := []mode{
		{"budget=none/interval=1s", time.Second, 0},
		{"budget=none/interval=30s", 30 * time.Second, 0},
		{"budget=5per-s/interval=30s", 30 * time.Second, 200 * time.Millisecond},
	}
	for _, m := range modes {
		for _, perSecond := range []float64{5, 20, 60} {
			for _, full := range []bool{false, true} {
				items := "sample"
				if full {
					items = "full"
				}
				b.Run(fmt.Sprintf("%s/jobs-per-s=%v/items=%s", m.name, perSecond, items), func(b *testing.B) {
					bw := newBusyWorld(b, perSecond, full, m.interval, m.callTime)
					for range 3 {
						bw.poll(b) // past the start-up's first full lookback
					}
					bw.measuring, bw.letGoBefore = true, collector.DurationsLetGo(bw.coll)
					for b.Loop() {
						bw.poll(b)
					}
					bw.report(b)
				})
			}
		}
	}
}

// busyWorld is a busy simulated account polled as Run would poll it, with
// the figures of BenchmarkBusyAccount.
type busyWorld struct {
	*world
	interval, callTime time.Duration
	charging           *atomic.Bool
	start, lastStart   time.Time
	last               simulator.Truth // at the start of the last poll

	measuring bool
	polls     int
	calls     [2]int // list, get
	floor     int
	pollTime  time.Duration
	deficit   int
	waiting   float64
	reasonAge time.Duration
	durAge    time.Duration
	ended     float64 // finished jobs counted while measuring
	durations float64 // durations observed while measuring
	// letGoBefore is how many durations were let go before measuring.
	letGoBefore uint64
}

func newBusyWorld(tb testing.TB, perSecond float64, full bool, interval, callTime time.Duration) *busyWorld {
	tb.Helper()
	charging := &atomic.Bool{}
	var w *world
	w = newWorld(tb, simulator.Config{
		Seed:          5,
		History:       1000,
		Profiles:      busyProfiles(perSecond),
		FullListItems: full,
		OnRequest: func(*http.Request) {
			if charging.Load() {
				w.clock.Advance(callTime)
			}
		},
	}, 100)
	w.start(tb, collector.Config{Interval: interval})
	w.clock.Advance(10 * time.Minute) // the world fills up
	w.poll(tb)                        // start-up: counts nothing
	bw := &busyWorld{world: w, interval: interval, callTime: callTime, charging: charging, start: w.clock.Now(), lastStart: w.clock.Now()}
	bw.last = w.sim.TruthSince(bw.start)
	return bw
}

// poll polls once, an interval after the last poll started or at once if
// it took longer.
func (bw *busyWorld) poll(tb testing.TB) {
	tb.Helper()
	if wait := bw.lastStart.Add(bw.interval).Sub(bw.clock.Now()); wait > 0 {
		bw.clock.Advance(wait)
	}
	began := bw.clock.Now()
	truth := bw.sim.TruthSince(bw.start)
	before := bw.sim.Requests()
	finishedBefore, durationsBefore := bw.endsAndDurations(tb)
	bw.charging.Store(true)
	bw.world.poll(tb)
	bw.charging.Store(false)
	after := bw.sim.Requests()
	finished, durations := bw.endsAndDurations(tb)
	if bw.measuring {
		bw.polls++
		bw.calls[0] += after[client.EndpointList] - before[client.EndpointList]
		bw.calls[1] += after[client.EndpointGet] - before[client.EndpointGet]
		bw.floor += listFloor(bw.last, truth)
		bw.pollTime += bw.clock.Now().Sub(began)
		bw.deficit = max(bw.deficit, sumFinished(truth)-int(finished))
		bw.ended += finished - finishedBefore
		bw.durations += durations - durationsBefore
		failed := 0.0
		for k, v := range bw.series(tb, "videoconduit_jobs_finished_total") {
			if strings.HasSuffix(k, "|"+client.StatusFailed) {
				failed += v
			}
		}
		bw.waiting = max(bw.waiting, failed-sumFamily(tb, bw.reg, "videoconduit_job_failures_total"))
		_, _, oldestReason, oldestDuration := collector.WaitingDetails(bw.coll)
		now := bw.clock.Now()
		if !oldestReason.IsZero() {
			bw.reasonAge = max(bw.reasonAge, now.Sub(oldestReason))
		}
		if !oldestDuration.IsZero() {
			bw.durAge = max(bw.durAge, now.Sub(oldestDuration))
		}
	}
	bw.last, bw.lastStart = truth, began
}

func (bw *busyWorld) report(b *testing.B) {
	n := float64(bw.polls)
	calls := float64(bw.calls[0] + bw.calls[1])
	b.ReportMetric(calls/n, "calls/poll")
	b.ReportMetric(float64(bw.calls[0])/n, "lists/poll")
	b.ReportMetric(float64(bw.calls[1])/n, "gets/poll")
	b.ReportMetric(float64(bw.floor)/n, "floor/poll")
	b.ReportMetric(calls/float64(bw.floor), "x-floor")
	b.ReportMetric(bw.pollTime.Seconds()/n, "poll-s")
	b.ReportMetric(float64(bw.deficit), "count-deficit")
	b.ReportMetric(bw.waiting, "reasons-waiting")
	b.ReportMetric(bw.reasonAge.Seconds(), "reason-age-s")
	b.ReportMetric(bw.durAge.Seconds(), "duration-age-s")
	b.ReportMetric(100*bw.durations/bw.ended, "durations-%")
	b.ReportMetric(bw.ended/n, "ends/poll")
	b.ReportMetric(float64(collector.DurationsLetGo(bw.coll)-bw.letGoBefore)/n, "let-go/poll")
	b.ReportMetric(0, "ns/op") // simulated time: the wall time says nothing
}

// endsAndDurations returns the finished jobs counted and the durations
// observed so far.
func (bw *busyWorld) endsAndDurations(tb testing.TB) (ends, durations float64) {
	return sumFamily(tb, bw.reg, "videoconduit_jobs_finished_total"), sumFamily(tb, bw.reg, "videoconduit_job_duration_seconds")
}

// listFloor is the fewest list calls that show what changed between two
// truths: one per 100 jobs, at least one, of each list.
func listFloor(prev, now simulator.Truth) int {
	pages := func(n int) int { return max(1, int(math.Ceil(float64(n)/100))) }
	byStatus := func(t simulator.Truth, status string) (n int) {
		for k, v := range t.Finished {
			if k[2] == status {
				n += v
			}
		}
		return n
	}
	active := func(status string) (n int) {
		for k, v := range now.Active {
			if k[1] == status {
				n += v
			}
		}
		return n
	}
	created := 0
	for k, v := range now.Created {
		created += v - prev.Created[k]
	}
	return pages(created) + pages(active(client.StatusPending)) + pages(active(client.StatusProcessing)) +
		pages(byStatus(now, client.StatusCompleted)-byStatus(prev, client.StatusCompleted)) +
		pages(byStatus(now, client.StatusFailed)-byStatus(prev, client.StatusFailed))
}

func sumFinished(t simulator.Truth) (n int) {
	for _, v := range t.Finished {
		n += v
	}
	return n
}
