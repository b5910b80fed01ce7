package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-kit/log/level"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

const (
	// lookback is how far below the high-water mark each poll pages again.
	// created_at has whole-second resolution and jobs may become visible a
	// little after their created_at, so the newest page is not a clean cut;
	// the ids seen within this window are remembered instead.
	lookback = time.Minute
	// maxClockSkew bounds how far in the future a created_at may be and
	// still move the high-water mark: one absurd timestamp must not make
	// every later job look old.
	maxClockSkew = time.Hour
	// maxNewPages bounds the catch-up of one poll, so that a huge backlog
	// (a long outage, a restart with an old state file) costs a bounded
	// number of calls; what lies beyond is logged as not counted.
	maxNewPages = 200
	// maxActivePages bounds the listing of pending or processing jobs; more
	// is an absurd answer, not an account.
	maxActivePages = 1000
	// maxLookupsPerPoll bounds the GETs of one poll. Jobs left unresolved
	// stay tracked and are looked up by the next poll.
	maxLookupsPerPoll = 500
)

// poll is one pass over the API. It works on next, a fork of the current
// state, which replaces the state only if the whole pass succeeds.
type poll struct {
	c         *JobCollector
	next      *state
	now       time.Time
	lookups   int
	truncated bool
	failed    []FailedJob // the failures it counted, for the ring once it succeeds
}

func (c *JobCollector) poll(ctx context.Context, prev *state) (*state, error) {
	otherAccount := false
	if c.checkAccount && prev.started {
		same, err := c.sameAccount(ctx, prev)
		if err != nil {
			return nil, err
		}
		if otherAccount = !same; otherAccount {
			prev = newState(c.classifier.Reasons())
		}
	}
	p := &poll{c: c, next: prev.fork(), now: c.now()}
	var err error
	if prev.started {
		err = p.run(ctx, p.pageNew, p.refreshActive, p.resolveMissing)
	} else {
		err = p.run(ctx, p.trackActive, p.learnNewest)
	}
	if err != nil {
		p.next.undo(prev)
		return nil, err
	}
	p.next.commit()
	if otherAccount {
		level.Warn(c.logger).Log("msg", "the API key now belongs to another VideoConduit account: the jobs counted so far are unknown to it, so counting starts afresh")
		c.failed.reset() // the other account's failures are not this one's
	}
	c.failed.add(p.failed)
	p.next.started = true
	if p.truncated {
		p.next.truncations++
	}
	cutoff := p.next.hwm.Add(-lookback)
	for id, t := range p.next.recent {
		if t.Before(cutoff) {
			delete(p.next.recent, id)
		}
	}
	return p.next, nil
}

func (p *poll) run(ctx context.Context, steps ...func(context.Context) error) error {
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// trackActive starts tracking every job now pending or processing, without
// counting anything: they were created before this process started, but
// their end is an event to count.
func (p *poll) trackActive(ctx context.Context) error {
	return p.eachActive(ctx, func(job client.Job) error {
		if client.IsActive(job.Status) {
			p.update(job, p.newTracked(job))
		}
		return nil
	})
}

// learnNewest sets the high-water mark from the newest page(s) at start-up
// and remembers their ids, counting nothing: old history is not new events.
func (p *poll) learnNewest(ctx context.Context) error {
	var newest time.Time
	return p.eachNew(ctx, func(job client.Job) (bool, error) {
		if p.plausible(job.CreatedAt) {
			if newest.IsZero() {
				newest = job.CreatedAt
			} else if job.CreatedAt.Before(newest.Add(-lookback)) {
				return false, nil
			}
		}
		p.remember(job, true)
		if _, ok := p.next.tracked[job.ID]; !ok && client.IsActive(job.Status) {
			p.update(job, p.newTracked(job))
		}
		return true, nil
	})
}

// pageNew pages the newest jobs down to the previous high-water mark (less
// the lookback) and counts each job not seen before.
func (p *poll) pageNew(ctx context.Context) error {
	boundary := p.next.hwm.Add(-lookback)
	return p.eachNew(ctx, func(job client.Job) (bool, error) {
		if p.plausible(job.CreatedAt) && job.CreatedAt.Before(boundary) {
			return false, nil
		}
		return true, p.observe(ctx, job, true)
	})
}

// refreshActive lists the pending and processing jobs: tracked jobs get
// their current status, and an active job never seen before is new.
func (p *poll) refreshActive(ctx context.Context) error {
	return p.eachActive(ctx, func(job client.Job) error { return p.observe(ctx, job, false) })
}

// resolveMissing looks up each tracked job that no list showed this pass:
// it finished, changed status between two lists, or the API forgot it.
func (p *poll) resolveMissing(ctx context.Context) error {
	type missing struct {
		id string
		tj trackedJob
	}
	var todo []missing
	for id, tj := range p.next.tracked {
		if tj.seen != p.next.polls {
			todo = append(todo, missing{id, tj})
		}
	}
	// Oldest first, so that under the lookup budget no job waits forever.
	slices.SortFunc(todo, func(a, b missing) int {
		return cmp.Or(a.tj.created.Compare(b.tj.created), cmp.Compare(a.id, b.id))
	})
	for _, m := range todo {
		if p.lookups >= maxLookupsPerPoll {
			level.Debug(p.c.logger).Log("msg", "lookup budget spent; the rest waits for the next poll", "unresolved", len(todo))
			return nil
		}
		job, err := p.get(ctx, m.id)
		if errors.Is(err, client.ErrNotFound) {
			p.next.vanished[m.tj.jobType]++
			p.next.untrack(m.id)
			continue
		}
		if err != nil {
			return err
		}
		p.update(job, m.tj)
	}
	return nil
}

// observe handles a job seen in a list: first sight counts its creation,
// and a change of status is applied to the tracked job. inNewPages says the
// job came from the newest-first paging, which alone may move the
// high-water mark.
func (p *poll) observe(ctx context.Context, job client.Job, inNewPages bool) error {
	if job.ID == "" {
		return nil // nothing to count it by
	}
	tj, tracked := p.next.tracked[job.ID]
	if _, seen := p.next.recent[job.ID]; !seen && !tracked {
		tj = p.newTracked(job)
		p.next.created[createdKey{tj.jobType, tj.source}]++
		p.next.charged[tj.jobType] += tj.credits
	} else if !tracked {
		return nil // finished before: a repeat, or a stale listing
	}
	p.remember(job, inNewPages)
	if !client.IsActive(job.Status) && p.lacksDetails(job, tracked) && p.lookups < maxLookupsPerPoll {
		full, err := p.get(ctx, job.ID)
		switch {
		case err == nil:
			job = full
		case !errors.Is(err, client.ErrNotFound):
			return err
		}
	}
	p.update(job, tj)
	return nil
}

// lacksDetails reports whether a finished job's list item lacks what its
// metrics need and a GET would give: the error message of a failure, or the
// completed_at of a job seen active before (list items carry neither). A job
// first seen already completed is not looked up: that would cost a call per
// job, and its duration is the one thing missed.
func (p *poll) lacksDetails(job client.Job, wasTracked bool) bool {
	return (job.Status == client.StatusFailed && job.ErrorMessage == "") ||
		(wasTracked && job.CompletedAt.IsZero())
}

// update applies a job's current status to what is known of it.
func (p *poll) update(job client.Job, tj trackedJob) {
	if !client.IsActive(job.Status) {
		p.finish(job, tj)
		return
	}
	tj.status = job.Status
	tj.seen = p.next.polls
	p.next.track(job.ID, tj)
}

// finish counts a job's end: once, since the job then leaves the tracked set
// and stays in recent for as long as a list may show it again.
func (p *poll) finish(job client.Job, tj trackedJob) {
	s := p.next
	jobType, source := tj.jobType, tj.source
	status := p.c.statuses.value(job.Status)
	fk := finishedKey{jobType, source, status}
	s.finished[fk]++
	if job.Status == client.StatusFailed {
		s.refunded[jobType] += tj.credits
		rk := failureKey{jobType, source, p.c.classifier.Classify(job.ErrorMessage)}
		s.failures[rk]++
		ref := exemplarRef{jobID: job.ID, at: p.now}
		s.lastFailed[rk], s.lastFailedFin[fk] = ref, ref
		p.failed = append(p.failed, failedJobOf(job, rk, tj.credits, p.now))
	}
	created := tj.created
	if p.plausible(job.CreatedAt) {
		created = job.CreatedAt
	}
	if !created.IsZero() && !job.CompletedAt.IsZero() && !job.CompletedAt.Before(created) {
		s.durationOf(jobType, status).observe(job.CompletedAt.Sub(created).Seconds())
	}
	s.untrack(job.ID)
	// Remembered for at least the lookback, so that a stale list showing the
	// job as still active or as new cannot count it again.
	if at, ok := s.recent[job.ID]; !ok || at.Before(s.hwm) {
		s.setRecent(job.ID, cmp.Or(s.hwm, p.now))
	}
}

// newTracked is what a job first seen is known by; update gives it its
// status, if it stays tracked.
func (p *poll) newTracked(job client.Job) trackedJob {
	tj := trackedJob{
		jobType: p.c.jobTypes.value(job.Type),
		source:  platform.Of(job.SourceURL),
		credits: max(0, job.CreditsCharged), // a counter never goes down
	}
	if p.plausible(job.CreatedAt) {
		tj.created = job.CreatedAt
	}
	return tj
}

// remember records a job id as seen. Only jobs from the newest-first paging
// move the high-water mark: it must mean "every job newer than this was
// paged", and a job found in an active list says nothing of the jobs created
// just before it, which may have finished unseen while a slow poll ran.
func (p *poll) remember(job client.Job, movesHighWater bool) {
	at := p.next.hwm
	if p.plausible(job.CreatedAt) {
		at = job.CreatedAt
		if movesHighWater && at.After(p.next.hwm) {
			p.next.hwm = at
		}
	}
	if at.IsZero() {
		at = p.now
	}
	// Most jobs a poll lists, the long-running active ones, were created
	// before the lookback: the end of the poll would drop their entry again
	// (the window only moves forward), so they get none, rather than a
	// map entry each for the length of the poll.
	if at.Before(p.next.hwm.Add(-lookback)) {
		p.next.forgetRecent(job.ID)
		return
	}
	p.next.setRecent(job.ID, at)
}

// plausible reports whether a created_at can be trusted for ordering.
func (p *poll) plausible(t time.Time) bool {
	return !t.IsZero() && t.Before(p.now.Add(maxClockSkew))
}

func (p *poll) get(ctx context.Context, id string) (client.Job, error) {
	p.lookups++
	job, err := p.c.source.GetJob(ctx, id)
	if err != nil {
		return client.Job{}, fmt.Errorf("looking up job %s: %w", id, err)
	}
	return job, nil
}

// eachNew pages the unfiltered list newest first, until fn returns false,
// the list ends, or the catch-up bound is reached.
func (p *poll) eachNew(ctx context.Context, fn func(client.Job) (bool, error)) error {
	pages := 0
	for page, err := range p.c.source.Pages(ctx, client.ListOptions{Limit: p.c.pageSize}) {
		if err != nil {
			return fmt.Errorf("listing new jobs: %w", err)
		}
		for _, job := range page.Items {
			more, err := fn(job)
			if err != nil || !more {
				return err
			}
		}
		if pages++; pages >= maxNewPages {
			p.truncated = true
			level.Warn(p.c.logger).Log("msg", "catch-up cut short: jobs older than this were created while the exporter was not polling and are not counted", "pages", pages)
			return nil
		}
	}
	return nil
}

// eachActive calls fn for every job listed as pending, then processing.
func (p *poll) eachActive(ctx context.Context, fn func(client.Job) error) error {
	for _, status := range []string{client.StatusPending, client.StatusProcessing} {
		pages := 0
		for page, err := range p.c.source.Pages(ctx, client.ListOptions{Status: status, Limit: p.c.pageSize}) {
			if err != nil {
				return fmt.Errorf("listing %s jobs: %w", status, err)
			}
			if pages++; pages > maxActivePages {
				return fmt.Errorf("listing %s jobs: more than %d pages: %w", status, maxActivePages, client.ErrPageTooLarge)
			}
			for _, job := range page.Items {
				if job.ID == "" {
					continue
				}
				if err := fn(job); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
