package collector

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

type createdKey struct{ jobType, source string }
type finishedKey struct{ jobType, source, status string }
type failureKey struct{ jobType, source, reason string }
type typeStatusKey struct{ jobType, status string }

// trackedJob is what the collector remembers of a job that was pending or
// processing when last seen: enough to count its end without asking again.
type trackedJob struct {
	jobType, source, status string
	created                 time.Time // zero when unknown
	credits                 int64
	// seen is the number of the last poll that listed the job as active.
	seen uint32
}

// sameAs reports whether two records differ at most in their seen mark,
// which a failed poll need not undo: the next poll has another number.
func (j trackedJob) sameAs(o trackedJob) bool {
	j.seen = o.seen
	return j == o
}

// pendingDetail is a finished job whose end is counted but whose details
// are not known yet: the reason of a failure whose list item had no
// error_message, or the duration of a job whose item had no completed_at.
// A lookup gives them later (see lookUpDetails).
type pendingDetail struct {
	jobType, source, status string // the labels its end counted under
	created                 time.Time
	credits                 int64
	// seen is the start of the poll that counted the end.
	seen time.Time
	// reason says the failure is still to count by reason; duration, that
	// its duration is still to observe.
	reason, duration bool
}

// exemplarRef names the latest failed job of a series.
type exemplarRef struct {
	jobID string
	at    time.Time
}

// durationBuckets are the upper bounds of videoconduit_job_duration_seconds.
// VideoConduit jobs range from a preview done in seconds to a transcription
// or download of a long video that takes hours, so the buckets grow roughly
// ×2–×3 from 1 s to 8 h: each step is a distinction an on-call reader makes
// ("seconds", "a minute", "ten minutes", "an hour", "hours").
var durationBuckets = []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800}

// histogram holds one series' observations: per-bucket counts (not
// cumulative) plus the count and sum.
type histogram struct {
	buckets []uint64
	count   uint64
	sum     float64
}

func (h *histogram) observe(v float64) {
	for i, bound := range durationBuckets {
		if v <= bound {
			h.buckets[i]++
			break
		}
	}
	h.count++
	h.sum += v
}

func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(durationBuckets))
	var acc uint64
	for i, bound := range durationBuckets {
		acc += h.buckets[i]
		out[bound] = acc
	}
	return out
}

// state is everything a poll reads and writes. A poll works on a fork (see
// fork) that replaces the state only when the whole poll succeeded, so a
// failed poll changes nothing.
type state struct {
	started bool
	// hwm is the newest created_at seen: the next poll pages down to it.
	hwm time.Time
	// sweptHWM is hwm after the last sweep, which started at sweptAt (see
	// lookback).
	sweptHWM, sweptAt time.Time
	// recent holds the ids seen with created_at above the floor, so ties,
	// late inserts and repeated items are never counted twice.
	recent  map[string]time.Time
	tracked map[string]trackedJob
	// details holds the finished jobs whose details wait for a lookup.
	details map[string]pendingDetail
	// While a poll runs on a fork that shares recent, tracked and details
	// with its state, these keep what the poll changed in them; nil
	// otherwise.
	recentUndo  changes[time.Time]
	trackedUndo changes[trackedJob]
	detailsUndo changes[pendingDetail]
	// polls numbers the polls, for the seen marks of the tracked jobs.
	polls uint32

	created       map[createdKey]uint64
	finished      map[finishedKey]uint64
	failures      map[failureKey]uint64
	charged       map[string]int64
	refunded      map[string]int64
	vanished      map[string]uint64
	durations     map[typeStatusKey]*histogram
	lastFailed    map[failureKey]exemplarRef
	lastFailedFin map[finishedKey]exemplarRef
	// truncations counts polls whose catch-up hit maxNewPages.
	truncations uint64
	// reasons are the failure reasons whose series show from the start.
	reasons []string
}

// newState returns an empty state. Its series show a zero for every
// documented job type, platform, terminal status and failure reason (of
// reasons) from the start, so that rate(), increase() and alerts see the
// first event of each; the zeros are rendered, not stored (see
// collectCounts).
func newState(reasons []string) *state {
	s := &state{
		reasons:       reasons,
		recent:        map[string]time.Time{},
		tracked:       map[string]trackedJob{},
		details:       map[string]pendingDetail{},
		created:       map[createdKey]uint64{},
		finished:      map[finishedKey]uint64{},
		failures:      map[failureKey]uint64{},
		charged:       map[string]int64{},
		refunded:      map[string]int64{},
		vanished:      map[string]uint64{},
		durations:     map[typeStatusKey]*histogram{},
		lastFailed:    map[failureKey]exemplarRef{},
		lastFailedFin: map[finishedKey]exemplarRef{},
	}
	for _, t := range client.JobTypes {
		s.charged[t], s.refunded[t], s.vanished[t] = 0, 0, 0
		for _, st := range terminalStatuses {
			s.durationOf(t, st)
		}
	}
	return s
}

// terminalStatuses are the statuses a job ends in.
var terminalStatuses = []string{client.StatusCompleted, client.StatusFailed}

// fork returns the state a poll works on. The counters, bounded by the
// label caps, are copied. recent and tracked grow with the active jobs, and
// details with the jobs that finished: a copy at every poll would hold them
// twice in memory, so a fork of a state that has polled changes them in
// place and keeps what it changed, for undo to put back if the poll fails.
// A state that never polled has them empty and its first poll fills them:
// there a copy is the cheaper way.
func (s *state) fork() *state {
	c := *s
	c.created = maps.Clone(s.created)
	c.finished = maps.Clone(s.finished)
	c.failures = maps.Clone(s.failures)
	c.charged = maps.Clone(s.charged)
	c.refunded = maps.Clone(s.refunded)
	c.vanished = maps.Clone(s.vanished)
	c.lastFailed = maps.Clone(s.lastFailed)
	c.lastFailedFin = maps.Clone(s.lastFailedFin)
	c.durations = make(map[typeStatusKey]*histogram, len(s.durations))
	for k, h := range s.durations {
		hc := *h
		hc.buckets = append([]uint64(nil), h.buckets...)
		c.durations[k] = &hc
	}
	if s.started {
		c.recentUndo, c.trackedUndo, c.detailsUndo = changes[time.Time]{}, changes[trackedJob]{}, changes[pendingDetail]{}
	} else {
		c.recent, c.tracked, c.details = maps.Clone(s.recent), maps.Clone(s.tracked), maps.Clone(s.details)
		c.recentUndo, c.trackedUndo, c.detailsUndo = nil, nil, nil
	}
	c.polls++
	return &c
}

// undo puts back what this fork changed in the maps it shares with prev, the
// state it was forked from, after a failed poll. Only the poll count stays
// advanced, so that the seen marks the failed poll left never match a later
// poll.
func (s *state) undo(prev *state) {
	s.recentUndo.undo(s.recent)
	s.trackedUndo.undo(s.tracked)
	s.detailsUndo.undo(s.details)
	prev.polls = s.polls
}

// commit makes this fork's changes final, once its poll succeeded.
func (s *state) commit() {
	s.recentUndo, s.trackedUndo, s.detailsUndo = nil, nil, nil
}

// floor is the oldest created_at whose ids recent holds: lookback below the
// high-water mark of the last sweep, or of the last poll when none is known.
func (s *state) floor() time.Time {
	return cmp.Or(s.sweptHWM, s.hwm).Add(-lookback)
}

func (s *state) track(id string, tj trackedJob) {
	s.trackedUndo.set(s.tracked, id, tj, tj.sameAs)
}

func (s *state) untrack(id string) { s.trackedUndo.remove(s.tracked, id) }

func (s *state) setRecent(id string, at time.Time) {
	s.recentUndo.set(s.recent, id, at, func(old time.Time) bool { return old == at })
}

func (s *state) forgetRecent(id string) { s.recentUndo.remove(s.recent, id) }

func (s *state) await(id string, d pendingDetail) {
	s.detailsUndo.set(s.details, id, d, func(old pendingDetail) bool { return old == d })
}

func (s *state) settle(id string) { s.detailsUndo.remove(s.details, id) }

// prior is a key's value before a poll first changed it.
type prior[V any] struct {
	value   V
	existed bool
}

// changes keeps, for a map that a poll changes in place, the value each key
// it changed had before, so that undo can put the map back as it was. A nil
// changes keeps nothing: the map is the poll's own.
type changes[V any] map[string]prior[V]

// keep records the value of k in m, unless an earlier change of this poll
// did: the value before the poll is the one to put back.
func (c changes[V]) keep(m map[string]V, k string) {
	if c == nil {
		return
	}
	if _, kept := c[k]; kept {
		return
	}
	v, ok := m[k]
	c[k] = prior[V]{v, ok}
}

// set stores v under k in m, keeping the value it replaces unless unchanged
// says that value needs no undo.
func (c changes[V]) set(m map[string]V, k string, v V, unchanged func(old V) bool) {
	if old, ok := m[k]; !ok || !unchanged(old) {
		c.keep(m, k)
	}
	m[k] = v
}

// remove deletes k from m, keeping its value.
func (c changes[V]) remove(m map[string]V, k string) {
	if _, ok := m[k]; ok {
		c.keep(m, k)
		delete(m, k)
	}
}

func (c changes[V]) undo(m map[string]V) {
	for k, p := range c {
		if p.existed {
			m[k] = p.value
		} else {
			delete(m, k)
		}
	}
}

func (s *state) durationOf(jobType, status string) *histogram {
	k := typeStatusKey{jobType, status}
	h := s.durations[k]
	if h == nil {
		h = &histogram{buckets: make([]uint64, len(durationBuckets))}
		s.durations[k] = h
	}
	return h
}

// collectCounts sends the counters and histograms of s. It allocates them
// anew at each call rather than keep them: the exposition handler collects a
// poll's series once per format, and holding them as constant metrics
// between polls took 36 MB for fifty accounts (a heap profile of
// bench/loadtest -accounts 50), more than everything else the collector
// holds.
func (s *state) collectCounts(ch chan<- prometheus.Metric) {
	// The series of documented label values, at zero until counted: of the
	// ~980 series of an account most stay at zero, and maps holding those
	// zeros took 5 MB for fifty accounts (twice while they poll).
	for _, t := range client.JobTypes {
		for _, p := range platform.Names {
			ck := createdKey{t, p}
			ch <- counter(jobsCreatedDesc, float64(s.created[ck]), exemplarRef{}, t, p)
			for _, st := range terminalStatuses {
				fk := finishedKey{t, p, st}
				ch <- counter(jobsFinishedDesc, float64(s.finished[fk]), s.lastFailedFin[fk], t, p, st)
			}
			for _, r := range s.reasons {
				rk := failureKey{t, p, r}
				ch <- counter(jobFailuresDesc, float64(s.failures[rk]), s.lastFailed[rk], t, p, r)
			}
		}
	}
	// Then those of other label values (other, a reason since removed).
	for k, v := range s.created {
		if !documented(k.jobType, k.source) {
			ch <- counter(jobsCreatedDesc, float64(v), exemplarRef{}, k.jobType, k.source)
		}
	}
	for k, v := range s.finished {
		if !documented(k.jobType, k.source) || !slices.Contains(terminalStatuses, k.status) {
			ch <- counter(jobsFinishedDesc, float64(v), s.lastFailedFin[k], k.jobType, k.source, k.status)
		}
	}
	for k, v := range s.failures {
		if !documented(k.jobType, k.source) || !slices.Contains(s.reasons, k.reason) {
			ch <- counter(jobFailuresDesc, float64(v), s.lastFailed[k], k.jobType, k.source, k.reason)
		}
	}
	for t, v := range s.charged {
		ch <- counter(creditsChargedDesc, float64(v), exemplarRef{}, t)
	}
	for t, v := range s.refunded {
		ch <- counter(creditsRefundedDesc, float64(v), exemplarRef{}, t)
	}
	for t, v := range s.vanished {
		ch <- counter(jobsVanishedDesc, float64(v), exemplarRef{}, t)
	}
	ch <- counter(catchupTruncatedDesc, float64(s.truncations), exemplarRef{})
	for k, h := range s.durations {
		ch <- prometheus.MustNewConstHistogram(jobDurationDesc, h.count, h.sum, h.cumulative(), k.jobType, k.status)
	}
}

// documented reports whether a job type and platform are among those whose
// series show from the start.
func documented(jobType, source string) bool {
	return slices.Contains(client.JobTypes, jobType) && slices.Contains(platform.Names, source)
}

// activeMetrics returns the gauges of the jobs active in s at now: how
// many, and the age of the oldest, by type and status.
func (s *state) activeMetrics(now time.Time) []prometheus.Metric {
	active := map[typeStatusKey]int{}
	oldest := map[typeStatusKey]time.Time{}
	for _, t := range client.JobTypes {
		for _, st := range []string{client.StatusPending, client.StatusProcessing} {
			active[typeStatusKey{t, st}] = 0
		}
	}
	for _, j := range s.tracked {
		k := typeStatusKey{j.jobType, j.status}
		active[k]++
		if o, ok := oldest[k]; !j.created.IsZero() && (!ok || j.created.Before(o)) {
			oldest[k] = j.created
		}
	}
	out := make([]prometheus.Metric, 0, 2*len(active))
	for k, n := range active {
		age := 0.0
		if o, ok := oldest[k]; ok && now.After(o) {
			age = now.Sub(o).Seconds()
		}
		out = append(out,
			prometheus.MustNewConstMetric(jobsActiveDesc, prometheus.GaugeValue, float64(n), k.jobType, k.status),
			prometheus.MustNewConstMetric(oldestActiveAgeDesc, prometheus.GaugeValue, age, k.jobType, k.status))
	}
	return out
}

// counter returns the metric of a counter series showing v, with the
// exemplar of the series' latest failed job, if any.
func counter(desc *prometheus.Desc, v float64, ex exemplarRef, labelValues ...string) prometheus.Metric {
	return withExemplar(prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labelValues...), ex)
}

// withExemplar attaches the latest failed job id to a failure counter, so a
// dashboard can jump from a spike to a concrete job.
//
// client_golang's wrapper writes the exemplar into the wrapped constant
// metric's own point on every Write, so a metric served to two concurrent
// scrapes would race on it; collectCounts makes new metrics at each call,
// so no two collections share one.
func withExemplar(m prometheus.Metric, ref exemplarRef) prometheus.Metric {
	if ref.jobID == "" {
		return m
	}
	em, err := prometheus.NewMetricWithExemplars(m, prometheus.Exemplar{
		Value:     1,
		Labels:    prometheus.Labels{"job_id": ref.jobID},
		Timestamp: ref.at,
	})
	if err != nil { // an id too long for an exemplar: serve the counter alone
		return m
	}
	return em
}
