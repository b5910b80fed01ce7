package collector

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// RecentFailuresKept is how many failed jobs a collector keeps for
// RecentFailures: enough to cover the start of an incident for one account,
// at a bounded cost (see BENCHMARKS.md for the bytes per entry).
const RecentFailuresKept = 200

// MaxErrorMessageBytes bounds the error message a FailedJob keeps. The API
// sets no limit; a stack trace or an HTML error page in error_message must
// not make a few hundred entries cost megabytes.
const MaxErrorMessageBytes = 1000

// maxJobIDBytes bounds the job id a FailedJob keeps. The API's ids are UUIDs
// (36 bytes); a longer one is kept cut, rather than letting a broken API
// grow the ring.
const maxJobIDBytes = 128

// FailedJob is one failed job as the collector saw it. JobType, Source and
// Reason are the values the job's failure counted under in
// videoconduit_job_failures_total, so they can be matched with the series.
type FailedJob struct {
	ID      string
	JobType string // the job_type label: a documented type, a few undocumented ones, else "other"
	Source  string // the source label: the platform of source_url
	Reason  string // the reason label: the classification of the error message
	// CreditsRefunded is what the failure added to
	// videoconduit_credits_refunded_total.
	CreditsRefunded int64
	// CreatedAt and CompletedAt are as the API gave them, in UTC; zero when
	// it gave none (a list item lacks completed_at, and a lookup that would
	// give it may be left for a later poll).
	CreatedAt, CompletedAt time.Time
	// SeenAt is the start of the poll that saw the job failed.
	SeenAt time.Time
	// ErrorMessage is the API's error_message, made valid UTF-8 and cut to
	// MaxErrorMessageBytes on a character boundary; Truncated says it was
	// cut.
	ErrorMessage string
	Truncated    bool
}

// failedJobOf is the record of a job whose failure finish counted under k.
func failedJobOf(job client.Job, k failureKey, refunded int64, seen time.Time) FailedJob {
	id, _ := cut(job.ID, maxJobIDBytes)
	msg, truncated := cut(job.ErrorMessage, MaxErrorMessageBytes)
	return FailedJob{
		ID:              id,
		JobType:         k.jobType,
		Source:          k.source,
		Reason:          k.reason,
		CreditsRefunded: refunded,
		CreatedAt:       utc(job.CreatedAt),
		CompletedAt:     utc(job.CompletedAt),
		SeenAt:          seen,
		ErrorMessage:    msg,
		Truncated:       truncated,
	}
}

// cut returns s as valid UTF-8 of at most n bytes, ending on a character
// boundary, and whether it had to be shortened. The result is a copy: a
// substring would keep the whole decoded page alive for as long as the
// record stays in the ring.
func cut(s string, n int) (string, bool) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return strings.Clone(s), false
	}
	end := n
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return strings.Clone(s[:end]), true
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// failureRing keeps the most recent failed jobs, RecentFailuresKept at most.
// The polling goroutine adds; HTTP handlers read. Its zero value is empty
// and ready.
type failureRing struct {
	mu   sync.Mutex
	jobs []FailedJob // oldest first until full, then a ring whose oldest is at next
	next int
	// evicted is the SeenAt of the newest job that the ring let go, so that
	// a count can say whether it is complete.
	evicted time.Time
}

// add records the failed jobs of one successful poll. They are ordered by
// completion first, so that newest first means the latest failure, not the
// order in which the poll happened to page; the sort is stable, so jobs
// with the same times keep the poll's order.
func (r *failureRing) add(jobs []FailedJob) {
	if len(jobs) == 0 {
		return
	}
	slices.SortStableFunc(jobs, func(a, b FailedJob) int {
		return cmp.Or(a.CompletedAt.Compare(b.CompletedAt), a.CreatedAt.Compare(b.CreatedAt))
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil {
		r.jobs = make([]FailedJob, 0, RecentFailuresKept) // all at once: append would grow it past the cap
	}
	for _, j := range jobs {
		if len(r.jobs) < RecentFailuresKept {
			r.jobs = append(r.jobs, j)
			continue
		}
		r.evicted = r.jobs[r.next].SeenAt
		r.jobs[r.next] = j
		r.next = (r.next + 1) % len(r.jobs)
	}
}

// reset empties the ring.
func (r *failureRing) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs, r.next, r.evicted = nil, 0, time.Time{}
}

// newestFirst returns a copy of the jobs, newest first.
func (r *failureRing) newestFirst() []FailedJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]FailedJob, 0, len(r.jobs))
	for i := range r.jobs {
		out = append(out, r.jobs[(r.next+len(r.jobs)-1-i)%len(r.jobs)])
	}
	return out
}

// countSince counts the jobs seen at or after since, and reports whether the
// ring let go of any such job, so that the count is only a lower bound.
func (r *failureRing) countSince(since time.Time) (n int, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if !j.SeenAt.Before(since) {
			n++
		}
	}
	return n, !r.evicted.IsZero() && !r.evicted.Before(since)
}

// RecentFailures returns the last RecentFailuresKept failed jobs that
// successful polls counted, newest first. A failed poll adds none of the
// failures it saw: the poll that next succeeds counts and adds them. The
// slice is the caller's. The jobs are kept in memory only: a restart starts
// with none.
func (c *JobCollector) RecentFailures() []FailedJob { return c.failed.newestFirst() }

// RecentFailureCount returns how many of the failed jobs that RecentFailures
// holds were seen at or after since. more reports that older ones had to
// make room for newer ones that were also seen since then, so that more than
// n failed since then.
func (c *JobCollector) RecentFailureCount(since time.Time) (n int, more bool) {
	return c.failed.countSince(since)
}
