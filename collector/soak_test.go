package collector_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// Soak bounds: what a long run may add once warmed up. The simulated world
// itself keeps every job it creates (some hundred here, a few hundred KiB);
// a collector leaking even a hundred bytes a poll would add about 1 MiB.
const (
	soakHeapGrowth = 1 << 20
	// The client keeps up to two idle connections to the API, each with two
	// goroutines, and the server one more each: whether they are open at the
	// moment of counting is chance.
	soakGoroutineGrowth = 6
)

// TestSoak polls 10,000 times under the fake clock against an API that
// fails every other poll, in turn each way the simulator knows, while the
// polls between ride through repeated items and unknown fields. Goroutines
// and heap must not grow past the warm-up, and once the faults stop every
// counter must equal the truth.
func TestSoak(t *testing.T) {
	polls := 10_000
	if testing.Short() {
		polls = 1_000
	}
	profiles := simulator.DefaultProfiles()
	for name, p := range profiles {
		p.PerMinute /= 400 // a job every few minutes: the world's own growth stays small
		profiles[name] = p
	}
	w := newWorld(t, simulator.Config{Seed: 41, History: 1000, Profiles: profiles}, 20)
	failing := []simulator.Faults{
		{ServerErrorRate: 1},
		{RateLimitRate: 1, RetryAfter: time.Second},
		{Unauthorized: true},
		{Forbidden: true},
		{ConnectionDropRate: 1},
		{MalformedRate: 1},
		{TruncatedRate: 1},
		{HTMLRate: 1},
		{StuckCursorRate: 1},
		{MissingCursorRate: 1},
	}
	riding := []simulator.Faults{{}, {RepeatRate: 1}, {UnknownFields: true}}

	start := w.clock.Now()
	w.poll(t)
	warmup := polls / 10
	var goroutines int
	var heap uint64
	began := time.Now()
	for i := range polls {
		if i == warmup {
			goroutines, heap = runtime.NumGoroutine(), liveHeap()
		}
		w.clock.Advance(5 * time.Second)
		if i%2 == 0 {
			w.sim.SetFaults(riding[i/2%len(riding)])
			w.poll(t)
			continue
		}
		f := failing[i/2%len(failing)]
		if i%1000 == 999 {
			f = simulator.Faults{HugeBodyRate: 1} // rarely: each costs 8 MiB read and thrown away
		}
		w.sim.SetFaults(f)
		if err := w.coll.Poll(context.Background()); err == nil {
			t.Fatalf("poll %d succeeded under %+v", i, f)
		}
	}
	elapsed := time.Since(began)

	// Connections closed by the last faults take a moment to wind down.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines+soakGoroutineGrowth && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	endGoroutines, endHeap := runtime.NumGoroutine(), liveHeap()
	t.Logf("%d polls in %v; after warm-up: goroutines %d → %d, live heap %d KiB → %d KiB",
		polls, elapsed.Round(time.Millisecond), goroutines, endGoroutines, heap>>10, endHeap>>10)
	if endGoroutines > goroutines+soakGoroutineGrowth {
		t.Errorf("goroutines grew from %d to %d", goroutines, endGoroutines)
	}
	if endHeap > heap+soakHeapGrowth {
		t.Errorf("the live heap grew by %d KiB, more than %d KiB", (endHeap-heap)>>10, soakHeapGrowth>>10)
	}

	w.sim.SetFaults(simulator.Faults{})
	w.poll(t)
	w.poll(t)
	// Start-up ran with the clock still: jobs stamped with that second are new.
	truth := w.sim.TruthSince(start.Add(-time.Nanosecond))
	if len(truth.Created) == 0 || len(truth.Finished) == 0 {
		t.Fatalf("the world was too quiet to prove anything: %+v", truth)
	}
	created, finished, active := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for k, v := range truth.Created {
		created[k[0]+"|"+k[1]] = float64(v)
	}
	for k, v := range truth.Finished {
		finished[k[0]+"|"+k[1]+"|"+k[2]] = float64(v)
	}
	for k, v := range truth.Active {
		active[k[0]+"|"+k[1]] = float64(v)
	}
	assertNonZero(t, w, "videoconduit_jobs_created_total", created)
	assertNonZero(t, w, "videoconduit_jobs_finished_total", finished)
	assertNonZero(t, w, "videoconduit_jobs_active", active)
}

// liveHeap is the heap's live bytes after a full collection. HeapInuse would
// also count the free room in partly used spans, which drifts by megabytes
// with fragmentation (the 8 MiB bodies) without anything leaking.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave finalizer-held objects for the second
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
