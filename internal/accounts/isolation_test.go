package accounts

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestOneBrokenAccountHurtsNoOther runs three accounts on one API, each a
// living world, and puts one of them through a random sequence of every
// fault the simulator has (outages, 401s and 403s, 429 storms, answers
// slower than the client's timeout, dropped connections, broken bodies and
// cursors) while the other two poll. The healthy accounts keep their
// cadence, every poll a success; once the faults stop, every account's
// counters equal its own world's truth.
func TestOneBrokenAccountHurtsNoOther(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for half a minute of real time")
	}
	const (
		interval = time.Second
		faulty   = 25 * time.Second
	)
	f := newFleet(t)
	epoch := time.Now().Truncate(time.Second)
	clocks := map[string]*simulator.ManualClock{}
	world := func(name string, seed int64, scale float64) {
		profiles := simulator.DefaultProfiles()
		for k, p := range profiles {
			// Several times the default rates, and jobs that end within a
			// few polls: every poll has jobs to count.
			p.PerMinute *= scale
			p.PendingMean, p.ProcessingMean = p.PendingMean/4, p.ProcessingMean/8
			profiles[k] = p
		}
		clocks[name] = simulator.NewManualClock(epoch)
		f.addWorld(name, simulator.Config{Seed: seed, Clock: clocks[name], History: 200, Profiles: profiles})
	}
	world("healthy1", 1, 10)
	world("healthy2", 2, 5)
	world("broken", 3, 10)
	names := []string{"healthy1", "healthy2", "broken"}
	var cfg config.Config
	for _, n := range names {
		a := f.account(n, interval)
		a.Timeout = 5 * time.Second // a 30-second answer times out
		cfg.Accounts = append(cfg.Accounts, a)
	}
	f.apply(cfg.Accounts...)
	// Every account learns its history with its world's clock still, so
	// that the truth since epoch is exactly what it must count.
	f.eventually(10*time.Second, "every account's first poll", func() bool {
		ready, _ := f.set.Ready()
		return ready && f.polls("broken") > 0
	})
	for _, st := range f.set.Status() {
		if !st.Up {
			t.Fatalf("%s's first poll failed: %+v", st.Name, st)
		}
	}

	// The worlds follow real time; the broken account gets each kind of
	// fault alone, then random mixes, a new one every second.
	rng := rand.New(rand.NewPCG(7, 7))
	days := brokenDays()
	faultsSeen := map[string]bool{}
	began := time.Now()
	last := began
	nextFault := began
	healthyDown := map[string]int{}
	for now := time.Now(); now.Sub(began) < faulty; now = time.Now() {
		for _, c := range clocks {
			c.Advance(now.Sub(last))
		}
		last = now
		if !now.Before(nextFault) {
			var faults simulator.Faults
			if len(days) > 0 {
				faultsSeen[days[0].kind] = true
				faults, days = days[0].faults, days[1:]
			} else {
				faults = randomDay(rng)
			}
			f.sims["broken"].SetFaults(faults)
			nextFault = now.Add(time.Second)
		}
		for _, st := range f.set.Status() {
			if st.Name != "broken" && !st.Up {
				healthyDown[st.Name]++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.sims["broken"].SetFaults(simulator.Faults{})
	if len(healthyDown) > 0 {
		t.Errorf("healthy accounts were down while another account broke (samples): %v", healthyDown)
	}
	if len(faultsSeen) != len(brokenDays()) {
		t.Errorf("only %d of the %d kinds of fault were injected: %v", len(faultsSeen), len(brokenDays()), sortedKeys(faultsSeen))
	}
	brokenFailed := f.gather()["videoconduit_up"]["broken"] == 0 || f.polls("broken") < f.polls("healthy1")
	if !brokenFailed {
		t.Errorf("the broken account never failed: the faults proved nothing")
	}

	// The healthy accounts polled once an interval all through the broken
	// account's faults: on average within 10% of it. No single gap may
	// stall: each of the broken account's faults holds a request for 5
	// seconds or more (the client's timeout on 30-second answers, a 5 s
	// Retry-After, a body trickling for 5 s), so any that reached a healthy
	// account would stretch a gap past 5 s, far above a busy machine's
	// scheduling noise (gaps up to 2.4 s seen under the race detector at a
	// load of 12 on two cores; the starts are taken where the API sees them,
	// so each carries a request's latency too).
	const stall = 4 * time.Second
	for _, n := range []string{"healthy1", "healthy2"} {
		var gaps []time.Duration
		starts := f.starts.of("vc_" + n)
		for i := 1; i < len(starts); i++ {
			if starts[i-1].After(began) && starts[i].Before(last) {
				gaps = append(gaps, starts[i].Sub(starts[i-1]))
			}
		}
		if len(gaps) < 10 {
			t.Fatalf("%s polled %d times in %v", n, len(gaps), faulty)
		}
		sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
		mean := (starts[len(starts)-1].Sub(starts[0])) / time.Duration(len(starts)-1)
		t.Logf("%s: %d polls, mean gap %v, median %v, min %v, max %v", n, len(gaps), mean, gaps[len(gaps)/2], gaps[0], gaps[len(gaps)-1])
		if mean < interval*9/10 || mean > interval*11/10 {
			t.Errorf("%s polled every %v on average, want %v ± 10%%", n, mean, interval)
		}
		if gaps[len(gaps)-1] >= stall {
			t.Errorf("%s waited %v between two polls: a stall", n, gaps[len(gaps)-1])
		}
	}

	// The worlds stand still now; once the broken account has polled
	// twice more (after its backoff), every account has seen it all.
	f.eventually(40*time.Second, "the broken account polling again", func() bool {
		for _, st := range f.set.Status() {
			if st.Name == "broken" {
				return st.Up
			}
		}
		return false
	})
	for _, n := range names {
		f.nextPolls(n, 2)
	}
	got := f.gather()
	for _, n := range names {
		checkTruth(t, n, got, f.sims[n].TruthSince(epoch))
	}
}

// faultDay is one kind of the API's bad days.
type faultDay struct {
	kind   string
	faults simulator.Faults
}

// brokenDays returns every kind of fault the simulator has, one at a time.
func brokenDays() []faultDay {
	return []faultDay{
		{"latency_30s", simulator.Faults{Latency: 30 * time.Second}},
		{"5xx", simulator.Faults{ServerErrorRate: 1}},
		{"429_storm", simulator.Faults{RateLimitRate: 1, RetryAfter: 5 * time.Second}},
		{"429_http_date", simulator.Faults{RateLimitRate: 0.8, RetryAfter: 5 * time.Second, RetryAfterDate: true}},
		{"401", simulator.Faults{Unauthorized: true}},
		{"403", simulator.Faults{Forbidden: true}},
		{"dropped_connections", simulator.Faults{ConnectionDropRate: 0.7}},
		{"malformed_json", simulator.Faults{MalformedRate: 0.7}},
		{"truncated_json", simulator.Faults{TruncatedRate: 0.7}},
		{"html_pages", simulator.Faults{HTMLRate: 0.7}},
		{"stuck_cursor", simulator.Faults{StuckCursorRate: 0.7}},
		{"missing_cursor", simulator.Faults{MissingCursorRate: 0.7}},
		{"repeated_items", simulator.Faults{RepeatRate: 0.7}},
		{"unknown_fields", simulator.Faults{UnknownFields: true}},
		{"huge_bodies", simulator.Faults{HugeBodyRate: 0.3}},
		{"slow_bodies", simulator.Faults{SlowBody: 5 * time.Second}},
	}
}

// randomDay mixes the kinds of fault at random.
func randomDay(rng *rand.Rand) simulator.Faults {
	var f simulator.Faults
	for _, d := range brokenDays() {
		if rng.IntN(4) == 0 {
			mergeFaults(&f, d.faults)
		}
	}
	return f
}

// mergeFaults adds the faults of b to a.
func mergeFaults(a *simulator.Faults, b simulator.Faults) {
	a.Latency = max(a.Latency, b.Latency)
	a.ServerErrorRate = max(a.ServerErrorRate, b.ServerErrorRate)
	a.RateLimitRate = max(a.RateLimitRate, b.RateLimitRate)
	a.RetryAfter = max(a.RetryAfter, b.RetryAfter)
	a.RetryAfterDate = a.RetryAfterDate || b.RetryAfterDate
	a.Unauthorized = a.Unauthorized || b.Unauthorized
	a.Forbidden = a.Forbidden || b.Forbidden
	a.ConnectionDropRate = max(a.ConnectionDropRate, b.ConnectionDropRate)
	a.MalformedRate = max(a.MalformedRate, b.MalformedRate)
	a.TruncatedRate = max(a.TruncatedRate, b.TruncatedRate)
	a.HTMLRate = max(a.HTMLRate, b.HTMLRate)
	a.StuckCursorRate = max(a.StuckCursorRate, b.StuckCursorRate)
	a.MissingCursorRate = max(a.MissingCursorRate, b.MissingCursorRate)
	a.RepeatRate = max(a.RepeatRate, b.RepeatRate)
	a.UnknownFields = a.UnknownFields || b.UnknownFields
	a.HugeBodyRate = max(a.HugeBodyRate, b.HugeBodyRate)
	a.SlowBody = max(a.SlowBody, b.SlowBody)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkTruth compares an account's counters with its world's truth: every
// series that truth has must match, and every other series of the account
// must be 0.
func checkTruth(t *testing.T, account string, got map[string]map[string]float64, truth simulator.Truth) {
	t.Helper()
	want := map[string]map[string]float64{
		"videoconduit_jobs_created_total":     {},
		"videoconduit_jobs_finished_total":    {},
		"videoconduit_job_failures_total":     {},
		"videoconduit_credits_charged_total":  {},
		"videoconduit_credits_refunded_total": {},
		"videoconduit_jobs_active":            {},
	}
	for k, v := range truth.Created {
		want["videoconduit_jobs_created_total"][account+"|"+k[0]+"|"+k[1]] = float64(v)
	}
	for k, v := range truth.Finished {
		want["videoconduit_jobs_finished_total"][account+"|"+k[0]+"|"+k[1]+"|"+k[2]] = float64(v)
	}
	for k, v := range truth.Failures { // labels sort as account, job_type, reason, source
		want["videoconduit_job_failures_total"][account+"|"+k[0]+"|"+k[2]+"|"+k[1]] = float64(v)
	}
	for k, v := range truth.CreditsCharged {
		want["videoconduit_credits_charged_total"][account+"|"+k] = float64(v)
	}
	for k, v := range truth.CreditsRefunded {
		want["videoconduit_credits_refunded_total"][account+"|"+k] = float64(v)
	}
	for k, v := range truth.Active {
		want["videoconduit_jobs_active"][account+"|"+k[0]+"|"+k[1]] = float64(v)
	}
	if len(truth.Created) == 0 || len(truth.Finished) == 0 || len(truth.Failures) == 0 {
		t.Errorf("%s: the world was too quiet to prove anything: %+v", account, truth)
	}
	for name, series := range want {
		for k, v := range series {
			if got[name][k] != v {
				t.Errorf("%s{%s} = %v, want %v", name, k, got[name][k], v)
			}
		}
		for k, v := range got[name] {
			if _, ok := series[k]; !ok && v != 0 && len(k) > len(account) && k[:len(account)+1] == account+"|" {
				t.Errorf("%s{%s} = %v, want 0", name, k, v)
			}
		}
	}
	if t.Failed() {
		return
	}
	total := 0
	for _, v := range truth.Created {
		total += v
	}
	t.Logf("%s: %s jobs created, all counted", account, fmt.Sprint(total))
}
