package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/go-kit/log/level"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

const (
	// lookback is how long after its created_at a job may first appear in
	// the job list and still be counted. created_at has whole seconds and a
	// job may appear a little after it (its creation committed after a
	// later one's), so the newest page is not a clean cut: the ids seen
	// down to lookback below the high-water mark of the last sweep are
	// remembered, and a job read again is never counted twice.
	//
	// Paging the whole lookback at every poll would cost a busy account
	// polled often most of its calls (60 new jobs a second polled every
	// second: 36 of 60 calls). So a poll pages down to settle below the
	// high-water mark it starts from, and a sweep, a poll at least
	// sweepEvery after the last one, down to lookback below the high-water
	// mark of the sweep before. A job that appears within settle of its
	// created_at is counted by the first poll that starts after it appears,
	// unless the poll before counted it: else that poll read the place
	// where the job sits, and so its own first page, before the job
	// appeared, so its high-water mark, the newest created_at of that page,
	// is older than the job's appearing, and less than settle newer than
	// the job's created_at. Likewise a job that appears later, within
	// lookback, is counted by the first sweep that starts after it appears,
	// at most sweepEvery and an interval later, unless the sweep before
	// counted it. A job that appears later still is counted if a list
	// shows it active (the active lists are read whole), else not at all.
	lookback = time.Minute
	// settle is how far below the high-water mark every poll pages: the
	// jobs of the same second that arrived after the last poll read it, and
	// jobs that appear a little late.
	settle = 5 * time.Second
	// sweepEvery is how often a poll pages the whole lookback; with polls
	// as far apart, every poll does.
	sweepEvery = lookback / 2
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
	// detailShare is the part of the interval after which a poll looks up
	// no more details: the rest is left for the next poll to start on time,
	// with room for a slow answer. Under a request budget the time a poll
	// takes is what its calls cost.
	detailShare = 0.75
	// minReasonLookups is how many failures' messages a poll looks up
	// however long its lists took, so that an account whose lists alone
	// outlast detailShare of the interval still learns its reasons.
	minReasonLookups = 10
	// maxPendingDetails bounds the finished jobs whose details wait (a few
	// hundred bytes each). A failure beyond it is counted under the reason
	// of no message at once. A duration alone waits only while they fill
	// less than half of it, so that durations, which may be let go, never
	// crowd out reasons, which may not; beyond that it is let go.
	maxPendingDetails = 10 * maxLookupsPerPoll
	// maxDurationWait bounds how long a duration waits for its lookup.
	// List items without completed_at leave a lookup per end to learn its
	// duration, which a busy account's request budget cannot pay for every
	// end: the oldest are looked up first, so a burst is caught up on
	// later, and those that waited this long are let go, so that the
	// durations observed are at most this late. Each poll that lets some go
	// says how many at warning level.
	maxDurationWait = 5 * time.Minute
)

// poll is one pass over the API. It works on next, a fork of the current
// state, which replaces the state only if the whole pass succeeds.
type poll struct {
	c         *JobCollector
	next      *state
	now       time.Time
	sweeps    bool // it pages the whole lookback (see lookback)
	lookups   int
	truncated bool
	failed    []FailedJob // the failures it counted, for the ring once it succeeds
	// gaveUp counts the failures counted without their reason because too
	// many waited for a lookup.
	gaveUp int
	// letGo counts the durations let go without their lookup.
	letGo int
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
	p.sweeps = !prev.started || prev.sweptAt.IsZero() || !p.now.Before(prev.sweptAt.Add(sweepEvery))
	var err error
	if prev.started {
		err = p.run(ctx, p.refreshActive, p.pageNew, p.resolveMissing, p.lookUpDetails)
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
	switch {
	case p.gaveUp > 0 && !c.reasonsOverflow:
		level.Warn(c.logger).Log("msg", "too many failed jobs wait for a lookup of their error message: further ones are counted under reason unknown until they catch up; a larger request budget would look them up",
			"failures", p.gaveUp, "waiting", len(p.next.details))
		c.reasonsOverflow = true
	case p.gaveUp == 0 && c.reasonsOverflow && len(p.next.details) < maxPendingDetails:
		level.Info(c.logger).Log("msg", "every failed job's error message is looked up again", "waiting", len(p.next.details))
		c.reasonsOverflow = false
	}
	if p.letGo > 0 {
		c.durationsLetGo += uint64(p.letGo)
		level.Warn(c.logger).Log("msg", "durations of finished jobs let go without their lookup: the request budget cannot look up every completed_at that list items lack; the ends are counted, the duration histogram misses these",
			"let_go", p.letGo, "let_go_since_start", c.durationsLetGo, "waiting", len(p.next.details))
	}
	p.next.started = true
	if p.truncated {
		p.next.truncations++
	}
	if p.sweeps {
		p.next.sweptHWM, p.next.sweptAt = p.next.hwm, p.now
	}
	cutoff := p.next.floor()
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
			p.update(job, p.newTracked(job), false)
		}
		return nil
	})
}

// learnNewest sets the high-water mark from the newest page(s) at start-up
// and remembers their ids, counting nothing: old history is not new events.
func (p *poll) learnNewest(ctx context.Context) error {
	var newest time.Time
	cut, err := p.eachNew(ctx, func(job client.Job) (bool, error) {
		if p.plausible(job.CreatedAt) {
			if newest.IsZero() {
				newest = job.CreatedAt
			} else if job.CreatedAt.Before(newest.Add(-lookback)) {
				return false, nil
			}
		}
		p.remember(job, true)
		if _, ok := p.next.tracked[job.ID]; !ok && client.IsActive(job.Status) {
			p.update(job, p.newTracked(job), false)
		}
		return true, nil
	}, nil)
	if cut {
		p.cutShort()
	}
	return err
}

// refreshActive lists the pending and processing jobs: tracked jobs get
// their current status, and an active job never seen before is new. It
// comes first, so that the tracked jobs it does not show, which have left
// the active lists, are known when pageNew reads on for them.
func (p *poll) refreshActive(ctx context.Context) error {
	return p.eachActive(ctx, func(job client.Job) error { return p.observe(job, false) })
}

// pageNew pages the newest jobs down to the previous high-water mark, less
// settle, or, in a sweep, down to the floor of the remembered ids (see
// lookback), and counts each job not seen before. It then reads on, below
// that boundary, for the tracked jobs that no list of this poll showed,
// most of which finished, for as long as that pays (see readOnPays): the
// list shows every status, so a page shows up to a hundred ends for one
// call, where a lookup shows one. The list is ordered by creation, not by
// end, so a long-running job that just finished lies deep; whatever is not
// worth reading down to is left to resolveMissing. Above the floor the
// pages read on also count the jobs that appeared late.
//
// The lists of completed and of failed jobs would show the same ends, but
// must be read from their top: the jobs they show first, those of the
// lookback, are the ones the new pages have just shown.
func (p *poll) pageNew(ctx context.Context) error {
	floor := p.next.floor()
	boundary := p.next.hwm.Add(-settle)
	if p.sweeps || boundary.Before(floor) {
		boundary = floor
	}
	var (
		r      reach
		below  bool         // a job below the boundary was read
		sought []missingJob // from then on
		pages  int          // read from then on
	)
	cut, err := p.eachNew(ctx, func(job client.Job) (bool, error) {
		if !p.plausible(job.CreatedAt) {
			return true, p.observe(job, true)
		}
		r.read(job.CreatedAt)
		below = below || job.CreatedAt.Before(boundary)
		if !job.CreatedAt.Before(floor) {
			return true, p.observe(job, true)
		}
		// Counted before: only a tracked job's status is news here.
		if tj, tracked := p.next.tracked[job.ID]; tracked && job.ID != "" {
			p.update(job, tj, true)
		}
		return true, nil
	}, func() bool {
		if !below {
			return true // still counting new jobs
		}
		if sought == nil {
			sought = p.missing()
		}
		pages++
		return pages < len(sought) && p.readOnPays(&r, sought)
	})
	if cut && !below {
		p.cutShort()
	}
	return err
}

// missingJob is a tracked job that no list of this poll has shown yet.
type missingJob struct {
	id      string
	created time.Time // zero when unknown
}

// missing returns the tracked jobs that no list of this poll showed, newest
// first, those of unknown age last.
func (p *poll) missing() []missingJob {
	out := []missingJob{}
	for id, tj := range p.next.tracked {
		if tj.seen != p.next.polls {
			out = append(out, missingJob{id, tj.created})
		}
	}
	slices.SortFunc(out, func(a, b missingJob) int {
		return cmp.Or(b.created.Compare(a.created), cmp.Compare(a.id, b.id))
	})
	return out
}

// readOnPays reports whether reading on is expected to show more of the
// missing jobs than it costs pages: whether, for some k, the pages down to
// the k-th newest missing job not yet read past number no more than k. A
// job read past without being shown is not in the list (the API forgot
// it), and one of unknown age cannot be placed in it: both are left to
// their lookup. The pages pageNew reads this way never outnumber the
// missing jobs, so they cost at most the lookups they replace, whatever
// the history behind them.
func (p *poll) readOnPays(r *reach, missing []missingJob) bool {
	k := 0
	for _, m := range missing {
		if tj, tracked := p.next.tracked[m.id]; !tracked || tj.seen == p.next.polls || m.created.IsZero() || !m.created.Before(r.reached) {
			continue // shown, read past, or of unknown age
		}
		k++
		if r.pagesTo(m.created, p.c.pageSize) <= float64(k) {
			return true
		}
	}
	return false
}

// reach follows how far the newest-first list has been read: the newest
// and the last creation time read, and how many jobs.
type reach struct {
	newest, reached time.Time
	jobs            int
}

func (r *reach) read(created time.Time) {
	if r.jobs == 0 {
		r.newest = created
	}
	r.reached = created
	r.jobs++
}

// pagesTo estimates how many pages, the next one included, reading on down
// to a creation time takes, at the jobs created a second so far (created_at
// has whole seconds: the span is at least one).
func (r *reach) pagesTo(created time.Time, pageSize int) float64 {
	perSecond := float64(r.jobs) / max(time.Second, r.newest.Sub(r.reached)).Seconds()
	return math.Floor(perSecond*r.reached.Sub(created).Seconds()/float64(pageSize)) + 1
}

// resolveMissing looks up each tracked job that no list showed this pass:
// it finished deeper in the job list than was worth reading, changed status
// between two lists, or the API forgot it.
func (p *poll) resolveMissing(ctx context.Context) error {
	todo := p.missing()
	// Oldest first, so that under the lookup budget no job waits forever.
	slices.Reverse(todo)
	for _, m := range todo {
		if p.lookups >= maxLookupsPerPoll {
			level.Debug(p.c.logger).Log("msg", "lookup budget spent; the rest waits for the next poll", "unresolved", len(todo))
			return nil
		}
		tj := p.next.tracked[m.id]
		job, err := p.get(ctx, m.id)
		if errors.Is(err, client.ErrNotFound) {
			p.next.vanished[tj.jobType]++
			p.next.untrack(m.id)
			continue
		}
		if err != nil {
			return err
		}
		p.update(job, tj, true)
	}
	return nil
}

// waiting is a finished job whose details wait for a lookup.
type waiting struct {
	id string
	d  pendingDetail
}

// lookUpDetails looks up the finished jobs whose details wait: failures'
// reasons first, then durations, each oldest first, until the poll has used
// detailShare of its interval (minReasonLookups of the reasons excepted) or
// the lookup bound. What is left waits for the next poll, except durations
// that waited maxDurationWait (see shed). A lookup that fails ends the
// lookups of this poll, but not the poll: the ends it counted stand.
func (p *poll) lookUpDetails(ctx context.Context) error {
	todo := make([]waiting, 0, len(p.next.details))
	for id, d := range p.next.details {
		todo = append(todo, waiting{id, d})
	}
	slices.SortFunc(todo, func(a, b waiting) int {
		return cmp.Or(cmp.Compare(btoi(b.d.reason), btoi(a.d.reason)), a.d.seen.Compare(b.d.seen), cmp.Compare(a.id, b.id))
	})
	deadline := p.now.Add(time.Duration(float64(p.c.interval) * detailShare))
	looked := 0
	for i, w := range todo {
		late := !p.c.now().Before(deadline) && !(w.d.reason && looked < minReasonLookups)
		if p.lookups >= maxLookupsPerPoll || late {
			p.shed(todo[i:])
			return nil
		}
		job, err := p.get(ctx, w.id)
		switch {
		case errors.Is(err, client.ErrNotFound):
			job = client.Job{ID: w.id, CreatedAt: w.d.created} // forgotten: no message, no completed_at
		case err != nil:
			if ctx.Err() != nil {
				return err
			}
			level.Debug(p.c.logger).Log("msg", "a lookup of a finished job's details failed; the rest wait for the next poll", "err", err)
			return nil
		}
		looked++
		if w.d.reason {
			p.countFailure(job, w.d)
		}
		if w.d.duration {
			p.observeDuration(w.d, job.CompletedAt)
		}
		p.next.settle(w.id)
	}
	return nil
}

// shed lets go of the durations, among those left waiting when the budget
// ran out, that have waited maxDurationWait. Reasons are never let go.
func (p *poll) shed(left []waiting) {
	for _, w := range left {
		if !w.d.reason && p.now.Sub(w.d.seen) >= maxDurationWait {
			p.next.settle(w.id)
			p.letGo++
		}
	}
}

// observe handles a job seen in a list: first sight counts its creation,
// and a change of status is applied to the tracked job. inNewPages says the
// job came from the newest-first paging, which alone may move the
// high-water mark.
func (p *poll) observe(job client.Job, inNewPages bool) error {
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
	p.update(job, tj, tracked)
	return nil
}

// update applies a job's current status to what is known of it; wasTracked
// says the job was seen active before.
func (p *poll) update(job client.Job, tj trackedJob, wasTracked bool) {
	if !client.IsActive(job.Status) {
		p.finish(job, tj, wasTracked)
		return
	}
	tj.status = job.Status
	tj.seen = p.next.polls
	p.next.track(job.ID, tj)
}

// finish counts a job's end: once, since the job then leaves the tracked set
// and stays in recent for as long as a list may show it again. Credits are
// refunded at once; what the job's item lacks of its details waits for a
// lookup: the reason of a failure without error_message, and, without
// completed_at, the duration of a job seen active before (one first seen
// ended is not looked up for it: that would cost a call per job) or of a
// failure looked up anyway.
func (p *poll) finish(job client.Job, tj trackedJob, wasTracked bool) {
	s := p.next
	status := p.c.statuses.value(job.Status)
	fk := finishedKey{tj.jobType, tj.source, status}
	s.finished[fk]++
	d := pendingDetail{jobType: tj.jobType, source: tj.source, status: status, created: tj.created, credits: tj.credits, seen: p.now}
	if p.plausible(job.CreatedAt) {
		d.created = job.CreatedAt
	}
	if job.Status == client.StatusFailed {
		s.refunded[tj.jobType] += tj.credits
		s.lastFailedFin[fk] = exemplarRef{jobID: job.ID, at: p.now}
		if job.ErrorMessage == "" {
			d.reason = true
		} else {
			p.countFailure(job, d)
		}
	}
	if !p.observeDuration(d, job.CompletedAt) {
		d.duration = !d.created.IsZero() && (wasTracked || d.reason)
	}
	if d.reason || d.duration {
		p.await(job.ID, d)
	}
	s.untrack(job.ID)
	// Remembered for at least the lookback, so that a stale list showing the
	// job as still active or as new cannot count it again.
	if at, ok := s.recent[job.ID]; !ok || at.Before(s.hwm) {
		s.setRecent(job.ID, cmp.Or(s.hwm, p.now))
	}
}

// countFailure counts a failure by the reason its error message gives, and
// keeps it for the recent failures.
func (p *poll) countFailure(job client.Job, d pendingDetail) {
	s := p.next
	rk := failureKey{d.jobType, d.source, p.c.classifier.Classify(job.ErrorMessage)}
	s.failures[rk]++
	s.lastFailed[rk] = exemplarRef{jobID: job.ID, at: p.now}
	p.failed = append(p.failed, failedJobOf(job, rk, d.credits, d.seen))
}

// observeDuration observes a finished job's duration, and reports whether
// completed was known to tell it (a completed_at before created_at is known,
// but tells nothing).
func (p *poll) observeDuration(d pendingDetail, completed time.Time) bool {
	if completed.IsZero() {
		return false
	}
	if !d.created.IsZero() && !completed.Before(d.created) {
		p.next.durationOf(d.jobType, d.status).observe(completed.Sub(d.created).Seconds())
	}
	return true
}

// await keeps a finished job's details for a later lookup, within
// maxPendingDetails.
func (p *poll) await(id string, d pendingDetail) {
	bound := maxPendingDetails
	if !d.reason {
		bound /= 2
	}
	if len(p.next.details) < bound {
		p.next.await(id, d)
		return
	}
	if d.duration {
		p.letGo++
	}
	if d.reason {
		p.gaveUp++
		p.countFailure(client.Job{ID: id, CreatedAt: d.created}, d)
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
	// below the floor: the end of the poll would drop their entry again
	// (the floor only moves up), so they get none, rather than a map entry
	// each for the length of the poll.
	if at.Before(p.next.floor()) {
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

// eachNew pages the unfiltered list newest first, calling fn for each job
// until it returns false, and more, if not nil, after each page until it
// returns false; or until the list ends, or the catch-up bound is reached,
// which it reports.
func (p *poll) eachNew(ctx context.Context, fn func(client.Job) (bool, error), more func() bool) (cut bool, err error) {
	pages := 0
	for page, err := range p.c.source.Pages(ctx, client.ListOptions{Limit: p.c.pageSize}) {
		if err != nil {
			return false, fmt.Errorf("listing new jobs: %w", err)
		}
		for _, job := range page.Items {
			if goOn, err := fn(job); err != nil || !goOn {
				return false, err
			}
		}
		if more != nil && !more() {
			return false, nil
		}
		if pages++; pages >= maxNewPages {
			return true, nil
		}
	}
	return false, nil
}

// cutShort notes that the catch-up reached its bound.
func (p *poll) cutShort() {
	p.truncated = true
	level.Warn(p.c.logger).Log("msg", "catch-up cut short: jobs older than this were created while the exporter was not polling and are not counted", "pages", maxNewPages)
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

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
