package collector_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestRandomizedWorldMatchesTruth runs a living world for hundreds of polls
// with random faults of every kind the simulator injects, jobs arriving
// while a poll pages (the clock moves on every request), small pages so that
// ties and page boundaries abound, and an incident. Once the faults stop,
// every counter and gauge must equal the simulator's ground truth.
func TestRandomizedWorldMatchesTruth(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5}
	polls := 300
	if testing.Short() {
		seeds, polls = seeds[:2], 100
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			runRandomizedWorld(t, seed, polls)
		})
	}
}

func runRandomizedWorld(t *testing.T, seed int64, polls int) {
	var (
		w         *world
		advancing atomic.Bool
		mu        sync.Mutex
		rng       = rand.New(rand.NewPCG(uint64(seed), 99))
	)
	jitter := func(maxMillis int) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rng.IntN(maxMillis)) * time.Millisecond
	}
	profiles := simulator.DefaultProfiles()
	w = newWorld(t, simulator.Config{
		Seed:     seed,
		History:  500,
		Profiles: profiles,
		Incidents: []simulator.Incident{
			{Kind: simulator.FailureSpike, Start: epoch.Add(20 * time.Minute), Duration: 15 * time.Minute, Platform: "youtube", FailureRate: 0.9},
			{Kind: simulator.Stall, Start: epoch.Add(60 * time.Minute), Duration: 10 * time.Minute, JobType: "transcribe"},
		},
		OnRequest: func(*http.Request) {
			if advancing.Load() {
				w.clock.Advance(jitter(2500))
			}
		},
	}, 7)

	start := w.clock.Now()
	w.poll(t) // start-up with the clock still, so the boundary is exact
	advancing.Store(true)
	failed := 0
	for range polls {
		w.clock.Advance(5*time.Second + jitter(55_000))
		w.sim.SetFaults(randomFaults(rng, &mu))
		if err := w.coll.Poll(context.Background()); err != nil {
			failed++
		}
	}
	w.sim.SetFaults(simulator.Faults{})
	advancing.Store(false)
	w.poll(t)
	w.poll(t)
	t.Logf("%d of %d polls failed under faults; catch-up truncated %v times", failed, polls, w.series(t, "videoconduit_catchup_truncated_total")[""])
	if failed == 0 || failed == polls {
		t.Errorf("%d of %d polls failed: the faults did not exercise both paths", failed, polls)
	}

	truth := w.sim.TruthSince(start)
	if len(truth.Created) == 0 || len(truth.Finished) == 0 || len(truth.Failures) == 0 {
		t.Fatalf("the world was too quiet to prove anything: %+v", truth)
	}
	created, finished, failures, active := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	for k, v := range truth.Created {
		created[k[0]+"|"+k[1]] = float64(v)
	}
	for k, v := range truth.Finished {
		finished[k[0]+"|"+k[1]+"|"+k[2]] = float64(v)
	}
	for k, v := range truth.Failures {
		failures[k[0]+"|"+k[2]+"|"+k[1]] = float64(v) // labels sort as job_type, reason, source
	}
	for k, v := range truth.Active {
		active[k[0]+"|"+k[1]] = float64(v)
	}
	charged, refunded := map[string]float64{}, map[string]float64{}
	for k, v := range truth.CreditsCharged {
		charged[k] = float64(v)
	}
	for k, v := range truth.CreditsRefunded {
		refunded[k] = float64(v)
	}
	assertNonZero(t, w, "videoconduit_jobs_created_total", created)
	assertNonZero(t, w, "videoconduit_jobs_finished_total", finished)
	assertNonZero(t, w, "videoconduit_job_failures_total", failures)
	assertNonZero(t, w, "videoconduit_jobs_active", active)
	assertNonZero(t, w, "videoconduit_credits_charged_total", charged)
	assertNonZero(t, w, "videoconduit_credits_refunded_total", refunded)
	assertNonZero(t, w, "videoconduit_jobs_vanished_total", nil)

	now := w.clock.Now()
	ages := w.series(t, "videoconduit_jobs_oldest_active_age_seconds")
	for k, oldest := range truth.OldestActive {
		wantAge := now.Sub(oldest).Seconds()
		if got := ages[k[0]+"|"+k[1]]; math.Abs(got-wantAge) > 1 { // created_at has whole seconds
			t.Errorf("oldest active age %v = %v, want %v", k, got, wantAge)
		}
	}
}

// randomFaults returns a good day half the time, else a random mix of the
// simulator's faults.
func randomFaults(rng *rand.Rand, mu *sync.Mutex) simulator.Faults {
	mu.Lock()
	defer mu.Unlock()
	if rng.IntN(2) == 0 {
		return simulator.Faults{}
	}
	p := func() float64 {
		if rng.IntN(3) == 0 {
			return 0.05 + 0.3*rng.Float64()
		}
		return 0
	}
	return simulator.Faults{
		ServerErrorRate:    p(),
		RateLimitRate:      p(),
		RetryAfter:         time.Duration(rng.IntN(2)) * time.Second,
		RetryAfterDate:     rng.IntN(2) == 0,
		Unauthorized:       rng.IntN(20) == 0,
		ConnectionDropRate: p(),
		MalformedRate:      p(),
		TruncatedRate:      p(),
		HTMLRate:           p(),
		StuckCursorRate:    p(),
		MissingCursorRate:  p(),
		RepeatRate:         p(),
		UnknownFields:      rng.IntN(2) == 0,
		HugeBodyRate:       p() / 10,
	}
}

// TestPollCostIndependentOfHistory checks that the API calls of a poll do
// not grow with the account's history: 1k and 100k old jobs, the same live
// world, the same calls.
func TestPollCostIndependentOfHistory(t *testing.T) {
	calls := func(history int) (startup int, perPoll []int) {
		w := newWorld(t, simulator.Config{Seed: 11, History: history}, 100)
		total := func() int {
			n := 0
			for _, v := range w.sim.Requests() {
				n += v
			}
			return n
		}
		w.poll(t)
		startup = total()
		for range 20 {
			before := total()
			w.clock.Advance(30 * time.Second)
			w.poll(t)
			perPoll = append(perPoll, total()-before)
		}
		return startup, perPoll
	}
	smallStart, small := calls(1_000)
	largeStart, large := calls(100_000)
	t.Logf("start-up calls: %d (1k old jobs), %d (100k); per poll: %v (1k), %v (100k)", smallStart, largeStart, small, large)
	if d := largeStart - smallStart; d < -1 || d > 1 {
		t.Errorf("start-up calls differ: %d with 1k old jobs, %d with 100k", smallStart, largeStart)
	}
	for i := range small {
		if d := large[i] - small[i]; d < -1 || d > 1 {
			t.Errorf("poll %d: %d calls with 1k old jobs, %d with 100k", i+1, small[i], large[i])
		}
	}
}
