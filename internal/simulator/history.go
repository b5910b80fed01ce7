package simulator

import (
	"fmt"
	"strconv"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// history describes the old jobs, finished before Start. Old job i is never
// stored: it is regenerated from (seed, i) whenever it is needed. Its
// created_at grows with i, so i is also its place in the newest-first order.
type history struct {
	n     int
	start time.Time // Start: every old job finished by then
	base  time.Time // Start - span: created_at of old job 0
	step  float64   // nanoseconds between consecutive old jobs
	key   uint64
	types weighted
	// Old ids are UUIDs of version 8 (custom), so they never collide with the
	// version 4 ids of live jobs: prefix-then-(i XOR mask) in the last group.
	prefix string
	mask   uint64
}

const defaultHistorySpan = 30 * 24 * time.Hour

func newHistory(seed uint64, n int, span time.Duration, start time.Time, types weighted) history {
	if span <= 0 {
		span = defaultHistorySpan
	}
	h := history{n: max(n, 0), start: start, base: start.Add(-span), key: mix64(seed ^ 0x5157_0003), types: types}
	if h.n > 0 {
		h.step = float64(span) / float64(h.n)
	}
	r := rng{s: h.key}
	a, b := r.next(), r.next()
	h.prefix = fmt.Sprintf("%08x-%04x-8%03x-%04x-", uint32(a), uint16(a>>32), uint16(a>>48)&0xfff, 0x8000|uint16(b)&0x3fff)
	h.mask = (b >> 16) & (1<<48 - 1)
	return h
}

func (h *history) id(i int) string {
	return h.prefix + fmt.Sprintf("%012x", uint64(i)^h.mask)
}

// index returns the old job an id names, if it names one.
func (h *history) index(id string) (int, bool) {
	if len(id) != len(h.prefix)+12 || id[:len(h.prefix)] != h.prefix {
		return 0, false
	}
	v, err := strconv.ParseUint(id[len(h.prefix):], 16, 64)
	if err != nil {
		return 0, false
	}
	i := v ^ h.mask
	if i >= uint64(h.n) {
		return 0, false
	}
	return int(i), true
}

// head draws what every use of old job i needs first: its generator, type
// and created_at. Draws that follow continue from the returned generator.
func (h *history) head(i int) (rng, string, time.Time) {
	r := rng{s: mix64(h.key + uint64(i)*0x9e3779b97f4a7c15)}
	jobType := h.types.pick(r.float())
	created := h.base.Add(time.Duration((float64(i) + r.float()) * h.step))
	return r, jobType, created
}

// oldMatches reports whether old job i, untouched, would pass the filter,
// drawing only its type and outcome.
func (s *Sim) oldMatches(i int, f filter) bool {
	r, jobType, created := s.hist.head(i)
	if f.jobType != "" && f.jobType != jobType {
		return false
	}
	if f.status == "" {
		return true
	}
	d, _ := s.draftHead(&r, jobType, created, false)
	return f.status == oldStatus(d.fail)
}

func oldStatus(failed bool) string {
	if failed {
		return client.StatusFailed
	}
	return client.StatusCompleted
}

// oldJob generates old job i. Without full, it skips parameters and results,
// which list items do not carry.
func (s *Sim) oldJob(i int, full bool) *job {
	r, jobType, created := s.hist.head(i)
	d, _ := s.draftHead(&r, jobType, created, false)
	s.draftTail(&r, &d, jobType, nil)
	completed := created.Add(d.pending + d.processing)
	if completed.After(s.hist.start) {
		completed = s.hist.start
	}
	j := &job{
		pos:      i,
		platform: d.platform,
		reason:   d.reason,
		j: client.Job{
			ID:             s.hist.id(i),
			Type:           jobType,
			Status:         oldStatus(d.fail),
			SourceURL:      d.url,
			CreditsCharged: s.profiles[jobType].Credits,
			ErrorMessage:   d.message,
			CreatedAt:      s.stamp(created),
			CompletedAt:    s.stamp(completed),
		},
	}
	if !full {
		return j
	}
	j.j.Parameters = drawParameters(&r, jobType)
	j.result, j.file = drawResult(&r, jobType)
	if !d.fail {
		j.fillResult()
	}
	return j
}

// newUUID draws a random (version 4) UUID.
func newUUID(r *rng) string {
	a, b := r.next(), r.next()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		uint32(a), uint16(a>>32), uint16(a>>48)&0xfff, 0x8000|uint16(b)&0x3fff, b>>16)
}
