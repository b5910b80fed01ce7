package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// jobTypeModel is the healthy traffic of one job type.
type jobTypeModel struct {
	name       string
	peakPerMin float64 // creations per minute at the afternoon peak
	sources    []weighted
	failRatio  float64
	medianRun  time.Duration // median processing time
	credits    int
}

type weighted struct {
	name   string
	weight float64
}

// The traffic the brief describes: downloads ~20/min by day and ~2/min at
// night, half of them from YouTube, 2-4% of jobs failing; the other job types
// are smaller, down to a job every few minutes at night.
var jobTypes = []jobTypeModel{
	{"download", 20, []weighted{{"youtube", .5}, {"tiktok", .15}, {"instagram", .15}, {"x", .1}, {"other", .1}}, .03, time.Minute, 1},
	{"transcribe", 5, []weighted{{"youtube", .7}, {"other", .3}}, .02, 4 * time.Minute, 5},
	{"translate", 2, []weighted{{"youtube", .7}, {"other", .3}}, .02, 2 * time.Minute, 3},
	{"preview", 3, []weighted{{"youtube", .6}, {"other", .4}}, .04, 30 * time.Second, 1},
	{"fingerprint", 1, []weighted{{"youtube", .6}, {"other", .4}}, .02, time.Minute, 2},
	{"comments", 1, []weighted{{"youtube", .8}, {"other", .2}}, .03, 45 * time.Second, 1},
}

// nightShare is the traffic at 03:00 relative to the 15:00 peak.
const nightShare = 0.1

// baselineReasons is why healthy jobs fail: mostly the content or the
// request, a few on the service's side (timeout, internal, other, unknown).
var baselineReasons = []weighted{
	{"unavailable", .35}, {"private", .25}, {"unsupported_url", .10}, {"geo_restricted", .05},
	{"copyright", .05}, {"too_large", .05}, {"timeout", .06}, {"internal", .04}, {"other", .03}, {"unknown", .02},
}

// trafficShape is the share of the peak rate at a time of day: a smooth day
// with its low at 03:00 and its high at 15:00.
func trafficShape(sinceMidnight time.Duration) float64 {
	h := sinceMidnight.Hours()
	return nightShare + (1-nightShare)*(1-math.Cos(2*math.Pi*(h-3)/24))/2
}

// job is one simulated job; times are Unix milliseconds.
type job struct {
	typ, source string
	created     int64
	started     int64 // leaves pending
	finished    int64
	failed      bool
	reason      string
	credits     int
}

// generateJobs draws every job created in [from, to) under the scenario.
// origin is midnight of the scenario day.
func generateJobs(sc *Scenario, origin, from, to time.Time, rng *rand.Rand) []job {
	const step = 10 * time.Second
	var jobs []job
	for t := from; t.Before(to); t = t.Add(step) {
		at := t.Sub(origin)
		shape := trafficShape(((at % (24 * time.Hour)) + 24*time.Hour) % (24 * time.Hour))
		for _, jt := range jobTypes {
			lambda := jt.peakPerMin * shape * sc.surgeFactor(at, jt.name) * step.Minutes()
			for n := poisson(rng, lambda); n > 0; n-- {
				jobs = append(jobs, sc.newJob(jt, t.Add(time.Duration(rng.Int64N(int64(step)))), origin, rng))
			}
		}
	}
	for _, b := range sc.Bursts {
		jt := jobTypeByName(b.JobType)
		at := origin.Add(b.At)
		if at.Before(from) || !at.Before(to) {
			continue
		}
		for range b.Count {
			created := at.Add(time.Duration(rng.Int64N(int64(5 * time.Second))))
			started := created.Add(time.Duration(rng.ExpFloat64() * float64(15*time.Second)))
			jobs = append(jobs, job{
				typ: jt.name, source: b.Source, credits: jt.credits, failed: true, reason: b.Reason,
				created: created.UnixMilli(), started: started.UnixMilli(), finished: started.Add(quickFailure(rng)).UnixMilli(),
			})
		}
	}
	slices.SortFunc(jobs, func(a, b job) int { return int(a.created - b.created) })
	return jobs
}

// quickFailure is how long a job that is refused outright runs: seconds.
func quickFailure(rng *rand.Rand) time.Duration {
	return 2*time.Second + time.Duration(rng.Int64N(int64(20*time.Second)))
}

func jobTypeByName(name string) jobTypeModel {
	for _, jt := range jobTypes {
		if jt.name == name {
			return jt
		}
	}
	panic("unknown job type " + name)
}

func (sc *Scenario) newJob(jt jobTypeModel, created, origin time.Time, rng *rand.Rand) job {
	j := job{typ: jt.name, source: pick(rng, jt.sources), created: created.UnixMilli(), credits: jt.credits}
	wait := time.Duration(rng.ExpFloat64() * float64(15*time.Second))
	run := time.Duration(float64(jt.medianRun) * math.Exp(0.6*rng.NormFloat64()))
	started := created.Add(wait)
	finished := started.Add(run)
	// A stall stops the workers: jobs that would start wait until it ends,
	// jobs already running hang for its length.
	for _, s := range sc.Stalls {
		if s.JobType != jt.name {
			continue
		}
		from, to := origin.Add(s.From), origin.Add(s.To)
		switch {
		case !started.Before(from) && started.Before(to):
			started = to
			finished = started.Add(run)
		case started.Before(from) && finished.After(from):
			finished = finished.Add(to.Sub(from))
		}
	}
	j.started, j.finished = started.UnixMilli(), finished.UnixMilli()
	p, effect := sc.failProb(started.Sub(origin), jt, j.source)
	if rng.Float64() < p {
		j.failed = true
		j.reason = pick(rng, baselineReasons)
		// The share of failures above the healthy level is the incident's:
		// its reasons, and its speed.
		if effect != nil && rng.Float64() >= jt.failRatio/p {
			if effect.Reasons != nil {
				j.reason = pick(rng, effect.Reasons)
			}
			if effect.Quick {
				j.finished = j.started + quickFailure(rng).Milliseconds()
			}
		}
	}
	return j
}

// failProb is the chance that a job of the given type and source, starting
// at the given offset from midnight, fails, and the effect that raises it
// above the healthy ratio, if any.
func (sc *Scenario) failProb(at time.Duration, jt jobTypeModel, source string) (float64, *FailureEffect) {
	p, effect := jt.failRatio, (*FailureEffect)(nil)
	for i, f := range sc.Failures {
		if at < f.From || at >= f.To || (f.JobType != "" && f.JobType != jt.name) || (f.Source != "" && f.Source != source) {
			continue
		}
		q := f.Prob
		if at < f.RampEnd {
			q = jt.failRatio + (f.Prob-jt.failRatio)*float64(at-f.From)/float64(f.RampEnd-f.From)
		}
		if q > p {
			p, effect = q, &sc.Failures[i]
		}
	}
	return p, effect
}

func (sc *Scenario) surgeFactor(at time.Duration, jobType string) float64 {
	f := 1.0
	for _, s := range sc.Surges {
		if at >= s.From && at < s.To && s.JobType == jobType {
			f *= s.Factor
		}
	}
	return f
}

func pick(rng *rand.Rand, ws []weighted) string {
	var total float64
	for _, w := range ws {
		total += w.weight
	}
	x := rng.Float64() * total
	for _, w := range ws {
		if x < w.weight {
			return w.name
		}
		x -= w.weight
	}
	return ws[len(ws)-1].name
}

// poisson draws by Knuth's method, which is exact and fast for the small
// means of a 10-second step.
func poisson(rng *rand.Rand, lambda float64) int {
	limit, prod, n := math.Exp(-lambda), rng.Float64(), 0
	for prod > limit {
		prod *= rng.Float64()
		n++
	}
	return n
}
