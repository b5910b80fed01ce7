package main

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// The exporter model follows SPEC §2: counters count what one process saw
// since it started, are served as of the last successful poll, and catch up
// on everything that happened once the API answers again.

const (
	pollInterval = 30 * time.Second
	maxBackoff   = 5 * time.Minute
	scrapeJob    = "videoconduit"
	instance     = "videoconduit-exporter:9000"
)

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
	sc        *Scenario
	origin    time.Time
	lifetimes []lifetime

	created, finished, failures eventIndex
	byType                      map[string][]job // sorted by creation
	oldestScan                  map[string]int   // per type: jobs before it have finished for good

	series map[string]labels.Labels // interned label sets by key
}

func newExporterModel(sc *Scenario, origin, start, end time.Time, jobs []job, rng *rand.Rand) *exporterModel {
	e := &exporterModel{
		sc: sc, origin: origin,
		created: eventIndex{}, finished: eventIndex{}, failures: eventIndex{},
		byType: map[string][]job{}, oldestScan: map[string]int{}, series: map[string]labels.Labels{},
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
	e.lifetimes = e.runProcess(start.UnixMilli(), end.UnixMilli(), rng)
	return e
}

// inFault reports whether a fault of the kind covers the time.
func (e *exporterModel) inFault(kind FaultKind, t int64) (Fault, bool) {
	for _, f := range e.sc.Faults {
		if f.Kind == kind && t >= e.origin.Add(f.From).UnixMilli() && t < e.origin.Add(f.To).UnixMilli() {
			return f, true
		}
	}
	return Fault{}, false
}

// runProcess splits [start, end) into process lifetimes around the
// exporter-down faults and runs the poll loop of each.
func (e *exporterModel) runProcess(start, end int64, rng *rand.Rand) []lifetime {
	var lts []lifetime
	from := start
	downs := []Fault{}
	for _, f := range e.sc.Faults {
		if f.Kind == exporterDown {
			downs = append(downs, f)
		}
	}
	slices.SortFunc(downs, func(a, b Fault) int { return int(a.From - b.From) })
	for _, d := range downs {
		lts = append(lts, e.pollLoop(from, e.origin.Add(d.From).UnixMilli(), rng))
		from = e.origin.Add(d.To).UnixMilli()
	}
	return append(lts, e.pollLoop(from, end, rng))
}

func (e *exporterModel) pollLoop(start, end int64, rng *rand.Rand) lifetime {
	lt := lifetime{start: start, end: end}
	backoff := pollInterval
	calls := map[string]int{}
	lastOK := int64(0)
	for t := start + 1000; t < end; {
		if f, hung := e.inFault(pollHung, t); hung {
			t = e.origin.Add(f.To).UnixMilli()
			continue
		}
		p := poll{at: t}
		if _, down := e.inFault(apiErrors, t); down {
			calls[[]string{"503", "500", "502", "error"}[rng.IntN(4)]]++
			backoff = min(2*backoff, maxBackoff)
		} else {
			p.ok, lastOK = true, t
			calls["200"]++
			if _, throttled := e.inFault(apiThrottled, t); throttled {
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

// scrape returns what Prometheus stores from a scrape at time t: nil when
// there is no target at all, only up=0 when the process is down.
func (e *exporterModel) scrape(t int64) []sample {
	if _, gone := e.inFault(targetGone, t); gone {
		return nil
	}
	var lt *lifetime
	for i := range e.lifetimes {
		if t >= e.lifetimes[i].start && t < e.lifetimes[i].end {
			lt = &e.lifetimes[i]
		}
	}
	if lt == nil {
		return []sample{{e.labels("up"), 0}}
	}
	out := []sample{{e.labels("up"), 1}}

	up, lastOK, calls := 0.0, int64(0), map[string]int(nil)
	if i := sort.Search(len(lt.polls), func(i int) bool { return lt.polls[i].at > t }); i > 0 {
		p := lt.polls[i-1]
		lastOK, calls = p.lastOK, p.calls
		if p.ok {
			up = 1
		}
	}
	out = append(out,
		sample{e.labels("videoconduit_up"), up},
		sample{e.labels("videoconduit_last_poll_success_timestamp_seconds"), float64(lastOK) / 1000},
	)
	for _, code := range slices.Sorted(maps.Keys(calls)) {
		out = append(out, sample{e.labels("videoconduit_api_requests_total", "endpoint", "list", "code", code), float64(calls[code])})
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
			out = append(out, sample{e.labels("videoconduit_jobs_created_total", "job_type", jt.name, "source", src.name), float64(n)})
			for _, status := range []string{"completed", "failed"} {
				n := e.finished.count(key+"|"+status, lt.start, lastOK)
				if status == "failed" {
					refunded += n * jt.credits
				}
				out = append(out, sample{e.labels("videoconduit_jobs_finished_total", "job_type", jt.name, "source", src.name, "status", status), float64(n)})
			}
			for _, r := range baselineAndIncidentReasons {
				// Failure series appear with their first failure.
				if n := e.failures.count(key+"|"+r, lt.start, lastOK); n > 0 {
					out = append(out, sample{e.labels("videoconduit_job_failures_total", "job_type", jt.name, "source", src.name, "reason", r), float64(n)})
				}
			}
		}
		out = append(out,
			sample{e.labels("videoconduit_credits_charged_total", "job_type", jt.name), float64(charged)},
			sample{e.labels("videoconduit_credits_refunded_total", "job_type", jt.name), float64(refunded)},
			sample{e.labels("videoconduit_jobs_vanished_total", "job_type", jt.name), 0},
		)
		out = append(out, e.activeGauges(jt.name, lastOK)...)
	}
	return out
}

// activeGauges returns the active counts and oldest ages of a job type at
// poll time t. Polls only move forward, so jobs finished before the scan
// start are never looked at again.
func (e *exporterModel) activeGauges(jobType string, t int64) []sample {
	jobs := e.byType[jobType]
	lo := e.oldestScan[jobType]
	for lo < len(jobs) && jobs[lo].finished <= t {
		lo++
	}
	e.oldestScan[jobType] = lo
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
		{e.labels("videoconduit_jobs_active", "job_type", jobType, "status", "pending"), float64(pending)},
		{e.labels("videoconduit_jobs_active", "job_type", jobType, "status", "processing"), float64(processing)},
		{e.labels("videoconduit_jobs_oldest_active_age_seconds", "job_type", jobType, "status", "pending"), oldestPending},
		{e.labels("videoconduit_jobs_oldest_active_age_seconds", "job_type", jobType, "status", "processing"), oldestProcessing},
	}
}

// labels interns the label set of a series of the scrape job.
func (e *exporterModel) labels(name string, kv ...string) labels.Labels {
	key := name
	for _, s := range kv {
		key += "\xff" + s
	}
	if l, ok := e.series[key]; ok {
		return l
	}
	l := labels.FromStrings(append([]string{labels.MetricName, name, "job", scrapeJob, "instance", instance}, kv...)...)
	e.series[key] = l
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
