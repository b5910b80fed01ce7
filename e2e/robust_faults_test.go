package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// faultCase is one of the API's bad days, as the simulator plays them.
type faultCase struct {
	name string
	// phases are the faults of the outage in turn, each for at least one
	// whole poll: a fault given twice proves that its cause is logged once.
	phases []simulator.Faults
	// causes are the cause= of the error lines the outage must give, one
	// each, and mayAlso those it may give, once at most.
	causes, mayAlso []string
	// ridden is a fault that polls must ride through: still up, nothing
	// miscounted, nothing logged.
	ridden bool
	args   []string
	// prepare runs before the fault, with the world frozen.
	prepare func(t *testing.T, a *fakeAPI)
}

func twice(f simulator.Faults) []simulator.Faults { return []simulator.Faults{f, f} }

// faultCases come longest first, so that the cases running side by side
// finish together.
var faultCases = []faultCase{
	{name: "429", phases: twice(simulator.Faults{RateLimitRate: 1, RetryAfter: time.Second}), causes: []string{"rate_limited"}},
	// A timeout well above what a request takes on a busy machine (the race
	// detector in both processes, other cases beside), a latency well above
	// the timeout.
	{name: "timeouts", phases: twice(simulator.Faults{Latency: 2 * time.Second}), causes: []string{"timeout"}, args: []string{"--videoconduit.timeout=500ms"}},
	{name: "causes taking turns", phases: []simulator.Faults{{Unauthorized: true}, {StuckCursorRate: 1}, {Unauthorized: true}, {StuckCursorRate: 1}},
		causes: []string{"unauthorized", "bad_pagination"}},
	{name: "connection errors", phases: twice(simulator.Faults{ConnectionDropRate: 1}), causes: []string{"error"}},
	{name: "5xx", phases: twice(simulator.Faults{ServerErrorRate: 1}), causes: []string{"http_5xx"}},
	// Half of the simulator's HTML pages come with a 502, half with a 200:
	// a poll ends on either.
	{name: "HTML error pages", phases: twice(simulator.Faults{HTMLRate: 1}), mayAlso: []string{"http_5xx", "error"}},
	{name: "truncated JSON", phases: twice(simulator.Faults{TruncatedRate: 1}), causes: []string{"error"}},
	{name: "malformed JSON", phases: twice(simulator.Faults{MalformedRate: 1}), causes: []string{"error"}},
	{name: "huge bodies", phases: twice(simulator.Faults{HugeBodyRate: 1}), causes: []string{"too_large"}},
	{name: "401", phases: twice(simulator.Faults{Unauthorized: true}), causes: []string{"unauthorized"}},
	{name: "403", phases: twice(simulator.Faults{Forbidden: true}), causes: []string{"unauthorized"}},
	{name: "cursor never advances", phases: twice(simulator.Faults{StuckCursorRate: 1}), causes: []string{"bad_pagination"}},
	{name: "has_more without cursor", phases: twice(simulator.Faults{MissingCursorRate: 1}), causes: []string{"bad_pagination"}},
	{name: "repeated items, unknown fields and enum values", phases: []simulator.Faults{{RepeatRate: 1, UnknownFields: true}}, ridden: true,
		prepare: func(t *testing.T, a *fakeAPI) {
			a.sim.Submit("dub", "https://youtu.be/dub", 4) // a job type the API page does not list
			j := a.sim.Submit("download", "https://vimeo.com/1", 2)
			if err := a.sim.SetStatus(j, "cancelled", ""); err != nil { // nor this status
				t.Fatal(err)
			}
			j = a.sim.Submit("transcribe", "https://x.com/a/status/1", 3)
			// Any status but pending and processing is terminal, listed or not.
			if err := a.sim.SetStatus(j, "queued_for_gpu", ""); err != nil {
				t.Fatal(err)
			}
		}},
}

// TestRobustFaults puts a running exporter through each fault the simulator
// can inject: the process keeps running, /metrics keeps serving the last good
// counts, videoconduit_up goes to 0 and back, each cause is logged once
// however many polls fail, and after recovery every counter equals the
// truth, including the jobs that came and went during the outage.
func TestRobustFaults(t *testing.T) {
	// The cases spend their time in the client's retry waits and the
	// collector's backoff, not on the CPU: they run side by side, more of
	// them than -parallel (the number of CPUs) would allow.
	slots := make(chan struct{}, 7)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, fc := range faultCases {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			t.Run(fc.name, func(t *testing.T) { testFault(t, i, fc) })
		})
	}
}

// testFault runs one fault case against its own API and exporter.
func testFault(t *testing.T, i int, fc faultCase) {
	api := newFakeAPI(t, simulator.Config{Seed: int64(100 + i), History: 300})
	keyFile := filepath.Join(t.TempDir(), "key")
	writeKeyFile(t, keyFile, api.key, 0o600)
	p := runExporter(t, "http", api.args(keyFile, fc.args...)...)
	p.ready(t)

	if fc.prepare != nil {
		fc.prepare(t, api)
	}
	good := p.settle(t, api)

	logStart := p.logLen()
	api.run(10 * time.Second) // the world goes on during the outage
	if fc.ridden {
		api.sim.SetFaults(fc.phases[0])
		rideThrough(t, p)
	} else {
		outage(t, p, api, fc.phases, good)
		checkCauses(t, p.logSince(logStart), fc.causes, fc.mayAlso)
	}
	api.sim.SetFaults(simulator.Faults{})
	p.waitPolls(t, 1, 1, 30*time.Second)
	assertTruth(t, api, p.settle(t, api))
	if !fc.ridden {
		if n := strings.Count(p.logSince(logStart), "works again"); n != 1 {
			t.Errorf("%d log lines about the recovery, want 1:\n%s", n, p.logSince(logStart))
		}
	}
	if fc.prepare != nil {
		s := p.mustScrape(t)
		for _, want := range [][2]string{
			{"videoconduit_jobs_created_total", "dub|youtube"},
			{"videoconduit_jobs_finished_total", "download|vimeo|cancelled"},
			{"videoconduit_jobs_finished_total", "transcribe|x|queued_for_gpu"},
		} {
			if got := s[want[0]][want[1]]; got != 1 {
				t.Errorf("%s{%s} = %v, want 1: unknown values pass through", want[0], want[1], got)
			}
		}
	}
}

// outage puts the API through each phase of faults for at least one whole
// poll, checking on every scrape meanwhile that the exporter serves the last
// good counts with up 0.
func outage(t *testing.T, p *exporterProc, api *fakeAPI, phases []simulator.Faults, good series) {
	t.Helper()
	scrapes, down := 0, false
	for i, f := range phases {
		api.sim.SetFaults(f)
		// The poll after this one may have started before the fault.
		start := p.mustScrape(t).polls()
		p.waitUntil(t, 60*time.Second, fmt.Sprintf("phase %d of the outage", i+1), func() bool {
			s := p.mustScrape(t)
			scrapes++
			if diffs := sameJobs(good, s); len(diffs) > 0 {
				t.Fatalf("a failed poll changed the served counts:\n  %s", strings.Join(diffs, "\n  "))
			}
			if down && s.up() != 0 {
				t.Fatalf("a poll succeeded under the faults; log:\n%s", p.out.String())
			}
			down = s.up() == 0
			return s.polls() >= start+2 && down
		})
	}
	if code, body := get(p.base + "/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy = %d %q during the outage, want 200", code, body)
	}
	t.Logf("%d scrapes during the outage", scrapes)
}

// checkCauses checks that an outage's log has one error line for each cause
// it must give, at most one for each it may give, and no other.
func checkCauses(t *testing.T, log string, must, may []string) {
	t.Helper()
	got := pollErrorCauses(log)
	count := map[string]int{}
	for _, c := range got {
		count[c]++
	}
	ok := len(got) > 0
	for _, c := range must {
		ok = ok && count[c] == 1
	}
	for c, n := range count {
		ok = ok && n == 1 && (slices.Contains(must, c) || slices.Contains(may, c))
	}
	if !ok {
		t.Errorf("error lines with causes %v, want one each of %v and at most one each of %v; log:\n%s", got, must, may, log)
	}
}

// rideThrough checks that polls keep succeeding under a fault that costs
// nothing but care, without any error line.
func rideThrough(t *testing.T, p *exporterProc) {
	t.Helper()
	logStart := p.logLen()
	start := p.mustScrape(t).polls()
	p.waitUntil(t, 30*time.Second, "four polls", func() bool {
		s := p.mustScrape(t)
		if s.up() != 1 {
			t.Fatalf("a poll failed:\n%s", p.logSince(logStart))
		}
		return s.polls() >= start+4
	})
	if causes := pollErrorCauses(p.logSince(logStart)); len(causes) > 0 {
		t.Errorf("error lines under a tolerable fault: %v", causes)
	}
}
