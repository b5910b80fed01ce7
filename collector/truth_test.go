package collector_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestRandomizedWorldMatchesTruth runs a living world for hundreds of polls
// with random faults of every kind the simulator injects, jobs arriving
// while a poll pages (the clock moves on every request), small pages so that
// ties and page boundaries abound, incidents, and a quarter of an hour when
// jobs appear in the lists up to 55 s after their created_at. Once the
// faults stop, every counter and gauge must equal the simulator's ground
// truth.
func TestRandomizedWorldMatchesTruth(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5}
	polls := 300
	if testing.Short() {
		seeds, polls = seeds[:2], 100
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			runRandomizedWorld(t, randomWorld{
				seed: seed, polls: polls, pageSize: 7, profiles: simulator.DefaultProfiles(),
				gap: 5 * time.Second, gapJitter: 55 * time.Second, callJitter: 2500 * time.Millisecond,
				incidents: []simulator.Incident{
					{Kind: simulator.FailureSpike, Start: epoch.Add(20 * time.Minute), Duration: 15 * time.Minute, Platform: "youtube", FailureRate: 0.9},
					{Kind: simulator.Stall, Start: epoch.Add(60 * time.Minute), Duration: 10 * time.Minute, JobType: "transcribe"},
					{Kind: simulator.LateListing, Start: epoch.Add(40 * time.Minute), Duration: 15 * time.Minute, Delay: 55 * time.Second},
				},
			})
		})
	}
}

// TestRandomizedBusyWorldMatchesTruth is the same on a busy account: 20 new
// jobs a second and hundreds finishing between polls, a poll about every
// 30 seconds whose calls each take up to 400 ms (the default budget of five
// a second, on average), full pages, a failure spike, a stall whose
// release ends hundreds of long-waiting jobs at once, and two minutes when
// jobs appear in the lists up to 55 s late; list items carry the sample's
// fields or every field. The ends are learnt from the lists, the
// details wait for lookups within the budget, and once the faults stop and
// the waiting details are looked up, every counter must equal the truth.
func TestRandomizedBusyWorldMatchesTruth(t *testing.T) {
	seeds := []int64{1, 2}
	polls := 40
	if testing.Short() {
		seeds, polls = seeds[:1], 20
	}
	for _, full := range []bool{false, true} {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("full-items=%v/seed=%d", full, seed), func(t *testing.T) {
				t.Parallel()
				runRandomizedWorld(t, randomWorld{
					seed: seed, polls: polls, pageSize: 100, profiles: busyProfiles(20), fullItems: full,
					gap: 20 * time.Second, gapJitter: 20 * time.Second, callJitter: 400 * time.Millisecond,
					incidents: []simulator.Incident{
						{Kind: simulator.FailureSpike, Start: epoch.Add(4 * time.Minute), Duration: 2 * time.Minute, Platform: "youtube", FailureRate: 0.9},
						{Kind: simulator.Stall, Start: epoch.Add(8 * time.Minute), Duration: 3 * time.Minute, JobType: "transcribe"},
						{Kind: simulator.LateListing, Start: epoch.Add(5 * time.Minute), Duration: 2 * time.Minute, Delay: 55 * time.Second},
					},
				})
			})
		}
	}
}

// randomWorld describes a randomized run.
type randomWorld struct {
	seed      int64
	polls     int
	pageSize  int
	profiles  map[string]simulator.TypeProfile
	fullItems bool
	incidents []simulator.Incident
	// Polls are gap plus up to gapJitter apart; every request moves the
	// clock by up to callJitter.
	gap, gapJitter, callJitter time.Duration
}

// busyProfiles returns the default job mix at perSecond new jobs a second.
func busyProfiles(perSecond float64) map[string]simulator.TypeProfile {
	profiles := simulator.DefaultProfiles()
	total := 0.0
	for _, p := range profiles {
		total += p.PerMinute
	}
	for k, p := range profiles {
		p.PerMinute *= perSecond * 60 / total
		profiles[k] = p
	}
	return profiles
}

func runRandomizedWorld(t *testing.T, rw randomWorld) {
	var (
		w         *world
		advancing atomic.Bool
		mu        sync.Mutex
		rng       = rand.New(rand.NewPCG(uint64(rw.seed), 99))
	)
	jitter := func(d time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rng.Int64N(int64(d)))
	}
	w = newWorld(t, simulator.Config{
		Seed:          rw.seed,
		History:       500,
		Profiles:      rw.profiles,
		FullListItems: rw.fullItems,
		Incidents:     rw.incidents,
		OnRequest: func(*http.Request) {
			if advancing.Load() {
				w.clock.Advance(jitter(rw.callJitter))
			}
		},
	}, rw.pageSize)

	start := w.clock.Now()
	w.poll(t) // start-up with the clock still, so the boundary is exact
	advancing.Store(true)
	failed := 0
	for range rw.polls {
		w.clock.Advance(rw.gap + jitter(rw.gapJitter))
		w.sim.SetFaults(randomFaults(rng, &mu))
		if err := w.coll.Poll(context.Background()); err != nil {
			failed++
		}
	}
	w.sim.SetFaults(simulator.Faults{})
	advancing.Store(false)
	w.poll(t)
	// The failures whose reasons wait for a lookup are looked up by the
	// polls that follow; until then their reasons are not counted.
	waiting, polls := 0.0, 1
	for ; polls < 20; polls++ {
		finished := w.series(t, "videoconduit_jobs_finished_total")
		waiting = 0
		for k, v := range finished {
			if strings.HasSuffix(k, "|"+client.StatusFailed) {
				waiting += v
			}
		}
		for _, v := range w.series(t, "videoconduit_job_failures_total") {
			waiting -= v
		}
		if waiting == 0 {
			break
		}
		w.poll(t)
	}
	t.Logf("%d of %d polls failed under faults; catch-up truncated %v times; %d clean polls to look up every failure's message",
		failed, rw.polls, w.series(t, "videoconduit_catchup_truncated_total")[""], polls)
	if waiting != 0 {
		t.Errorf("after %d clean polls, %v failures still wait for their reason", polls, waiting)
	}
	if failed == 0 || failed == rw.polls {
		t.Errorf("%d of %d polls failed: the faults did not exercise both paths", failed, rw.polls)
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
