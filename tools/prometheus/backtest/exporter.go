package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The exporter model follows the exporter's counting model: counters count
// what one process saw since it started, are served as of the last
// successful poll, and catch up on everything that happened once the API
// answers again. Every documented series exists from the first scrape, at 0.
// A scenario's replicas (an HA pair by default) watch the same account: they
// see the same jobs, poll on their own schedules and fail on their own.

const (
	pollInterval = 30 * time.Second
	maxBackoff   = 5 * time.Minute
	scrapeJob    = "videoconduit"
	account      = "default"
)

// instance is the scrape target of replica i.
func instance(i int) string { return fmt.Sprintf("videoconduit-exporter-%d:10177", i) }

type poll struct {
	at     int64 // Unix ms when the poll completed
	ok     bool
	lastOK int64          // the latest successful poll up to this one, 0 if none
	calls  map[string]int // API calls of the process so far, by status code
}

// lifetime is one run of the exporter process, [start, end).
type lifetime struct {
	start, end int64
	polls      []poll
}

// eventIndex holds, per series, the sorted times of its events.
type eventIndex map[string][]int64

func (ix eventIndex) add(key string, t int64) { ix[key] = append(ix[key], t) }

func (ix eventIndex) sort() {
	for _, ts := range ix {
		slices.Sort(ts)
	}
}

// count returns how many events fall in (from, to].
func (ix eventIndex) count(key string, from, to int64) int {
	ts := ix[key]
	return sort.Search(len(ts), func(i int) bool { return ts[i] > to }) -
		sort.Search(len(ts), func(i int) bool { return ts[i] > from })
}

type exporterModel struct {
	sc     *Scenario
	origin time.Time

	created, finished, failures eventIndex
	byType                      map[string][]job // sorted by creation

	replicas []*replica
}

// replica is one exporter process and what it has shown so far.
type replica struct {
	index     int
	lifetimes []lifetime
	// oldestScan, per job type: jobs before it have finished for good by
	// this replica's latest poll.
	oldestScan map[string]int
	series     map[string]labels.Labels // interned label sets by key
}

func newExporterModel(sc *Scenario, origin, start, end time.Time, jobs []job, rng *rand.Rand) *exporterModel {
	e := &exporterModel{
		sc: sc, origin: origin,
		created: eventIndex{}, finished: eventIndex{}, failures: eventIndex{},
		byType: map[string][]job{},
	}
	for _, j := range jobs {
		e.created.add(j.typ+"|"+j.source, j.created)
		status := "completed"
		if j.failed {
			status = "failed"
			e.failures.add(j.typ+"|"+j.source+"|"+j.reason, j.finished)
		}
		e.finished.add(j.typ+"|"+j.source+"|"+status, j.finished)
		e.byType[j.typ] = append(e.byType[j.typ], j)
	}
	e.created.sort()
	e.finished.sort()
	e.failures.sort()
	for i := range sc.replicas() {
		r := &replica{index: i, oldestScan: map[string]int{}, series: map[string]labels.Labels{}}
		// Each replica polls on its own phase.
		phase := time.Duration(i) * 11 * time.Second
		r.lifetimes = e.runProcess(i, start.Add(phase).UnixMilli(), end.UnixMilli(), rng)
		e.replicas = append(e.replicas, r)
	}
	return e
}

// inFault reports whether a fault of the kind covers the time for the
// replica.
func (e *exporterModel) inFault(kind FaultKind, replica int, t int64) (Fault, bool) {
	for _, f := range e.sc.Faults {
		if f.Kind == kind && f.hits(replica) && t >= e.origin.Add(f.From).UnixMilli() && t < e.origin.Add(f.To).UnixMilli() {
			return f, true
		}
	}
	return Fault{}, false
}

// runProcess splits [start, end) into process lifetimes around the
// exporter-down faults of the replica and runs the poll loop of each.
func (e *exporterModel) runProcess(replica int, start, end int64, rng *rand.Rand) []lifetime {
	var lts []lifetime
	from := start
	var downs []Fault
	for _, f := range e.sc.Faults {
		if f.Kind == exporterDown && f.hits(replica) {
			downs = append(downs, f)
		}
	}
	slices.SortFunc(downs, func(a, b Fault) int { return int(a.From - b.From) })
	for _, d := range downs {
		lts = append(lts, e.pollLoop(replica, from, e.origin.Add(d.From).UnixMilli(), rng))
		from = e.origin.Add(d.To).UnixMilli()
	}
	return append(lts, e.pollLoop(replica, from, end, rng))
}

func (e *exporterModel) pollLoop(replica int, start, end int64, rng *rand.Rand) lifetime {
	lt := lifetime{start: start, end: end}
	backoff := pollInterval
	calls := map[string]int{}
	lastOK := int64(0)
	for t := start + 1000; t < end; {
		if f, hung := e.inFault(pollHung, replica, t); hung {
			t = e.origin.Add(f.To).UnixMilli()
			continue
		}
		p := poll{at: t}
		if _, down := e.inFault(apiErrors, replica, t); down {
			calls[[]string{"503", "500", "502", "error"}[rng.IntN(4)]]++
			backoff = min(2*backoff, maxBackoff)
		} else {
			p.ok, lastOK = true, t
			calls["200"]++
			if _, throttled := e.inFault(apiThrottled, replica, t); throttled {
				// Half the calls are refused and retried after Retry-After.
				for rng.IntN(2) == 0 {
					calls["429"]++
				}
			}
			backoff = pollInterval
		}
		p.lastOK, p.calls = lastOK, maps.Clone(calls)
		lt.polls = append(lt.polls, p)
		t += backoff.Milliseconds()
	}
	return lt
}

type sample struct {
	lset labels.Labels
	v    float64
}

// scrape returns what Prometheus stores from a scrape of replica i at time
// t: nil when there is no target at all, only up=0 when the process is down.
func (e *exporterModel) scrape(i int, t int64) []sample {
	r := e.replicas[i]
	if _, gone := e.inFault(targetGone, i, t); gone {
		return nil
	}
	var lt *lifetime
	for k := range r.lifetimes {
		if t >= r.lifetimes[k].start && t < r.lifetimes[k].end {
			lt = &r.lifetimes[k]
		}
	}
	if lt == nil {
		return []sample{{r.labels("up"), 0}}
	}
	out := []sample{{r.labels("up"), 1}}

	up, lastOK, calls := 0.0, int64(0), map[string]int(nil)
	if k := sort.Search(len(lt.polls), func(k int) bool { return lt.polls[k].at > t }); k > 0 {
		p := lt.polls[k-1]
		lastOK, calls = p.lastOK, p.calls
		if p.ok {
			up = 1
		}
	}
	out = append(out,
		sample{r.labels("videoconduit_up", "account", account), up},
		sample{r.labels("videoconduit_last_poll_success_timestamp_seconds", "account", account), float64(lastOK) / 1000},
		sample{r.labels("videoconduit_poll_interval_seconds", "account", account), pollInterval.Seconds()},
	)
	for _, code := range slices.Sorted(maps.Keys(calls)) {
		out = append(out, sample{r.labels("videoconduit_api_requests_total", "account", account, "endpoint", "list", "code", code), float64(calls[code])})
	}
	if lastOK == 0 {
		return out
	}
	// Counters as of the last successful poll, counting from process start.
	for _, jt := range jobTypes {
		var charged, refunded int
		for _, src := range jt.sources {
			key := jt.name + "|" + src.name
			n := e.created.count(key, lt.start, lastOK)
			charged += n * jt.credits
			out = append(out, sample{r.labels("videoconduit_jobs_created_total", "account", account, "job_type", jt.name, "source", src.name), float64(n)})
			for _, status := range []string{"completed", "failed"} {
				n := e.finished.count(key+"|"+status, lt.start, lastOK)
				if status == "failed" {
					refunded += n * jt.credits
				}
				out = append(out, sample{r.labels("videoconduit_jobs_finished_total", "account", account, "job_type", jt.name, "source", src.name, "status", status), float64(n)})
			}
			for _, reason := range baselineAndIncidentReasons {
				n := e.failures.count(key+"|"+reason, lt.start, lastOK)
				out = append(out, sample{r.labels("videoconduit_job_failures_total", "account", account, "job_type", jt.name, "source", src.name, "reason", reason), float64(n)})
			}
		}
		out = append(out,
			sample{r.labels("videoconduit_credits_charged_total", "account", account, "job_type", jt.name), float64(charged)},
			sample{r.labels("videoconduit_credits_refunded_total", "account", account, "job_type", jt.name), float64(refunded)},
			sample{r.labels("videoconduit_jobs_vanished_total", "account", account, "job_type", jt.name), 0},
		)
		out = append(out, e.activeGauges(r, jt.name, lastOK)...)
	}
	return out
}

// activeGauges returns the active counts and oldest ages of a job type at
// poll time t. A replica's polls only move forward, so jobs finished before
// its scan start are never looked at again.
func (e *exporterModel) activeGauges(r *replica, jobType string, t int64) []sample {
	jobs := e.byType[jobType]
	lo := r.oldestScan[jobType]
	for lo < len(jobs) && jobs[lo].finished <= t {
		lo++
	}
	r.oldestScan[jobType] = lo
	var pending, processing int
	var oldestPending, oldestProcessing float64
	for _, j := range jobs[lo:] {
		if j.created > t {
			break
		}
		age := float64(t-j.created) / 1000
		switch {
		case j.started > t:
			pending++
			oldestPending = max(oldestPending, age)
		case j.finished > t:
			processing++
			oldestProcessing = max(oldestProcessing, age)
		}
	}
	return []sample{
		{r.labels("videoconduit_jobs_active", "account", account, "job_type", jobType, "status", "pending"), float64(pending)},
		{r.labels("videoconduit_jobs_active", "account", account, "job_type", jobType, "status", "processing"), float64(processing)},
		{r.labels("videoconduit_jobs_oldest_active_age_seconds", "account", account, "job_type", jobType, "status", "pending"), oldestPending},
		{r.labels("videoconduit_jobs_oldest_active_age_seconds", "account", account, "job_type", jobType, "status", "processing"), oldestProcessing},
	}
}

// labels interns the label set of a series of the replica's target.
func (r *replica) labels(name string, kv ...string) labels.Labels {
	key := name
	for _, s := range kv {
		key += "\xff" + s
	}
	if l, ok := r.series[key]; ok {
		return l
	}
	l := labels.FromStrings(append([]string{labels.MetricName, name, "job", scrapeJob, "instance", instance(r.index)}, kv...)...)
	r.series[key] = l
	return l
}

// baselineAndIncidentReasons is every reason a simulated failure can have.
var baselineAndIncidentReasons = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, ws := range [][]weighted{baselineReasons, platformBlockReasons, workerBugReasons} {
		for _, w := range ws {
			if !seen[w.name] {
				seen[w.name] = true
				out = append(out, w.name)
			}
		}
	}
	return out
}()
