// Package simulator is a stand-in for the VideoConduit Jobs API: an
// http.Handler serving GET /v1/jobs and GET /v1/jobs/{id} over a simulated
// world of jobs that arrive, wait, process and finish, with scripted incidents
// and injectable HTTP faults. It records the truth of what happened (Events,
// TruthSince) so tests can compare an exporter's counts with reality.
//
// The world is advanced lazily to Clock.Now() whenever it is looked at, and
// is a pure function of the seed and the sequence of clock readings. The old
// history (jobs finished before Start) is never stored: old job i is
// generated from (seed, i) on demand, so a million-job history costs nothing.
package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// ErrNotFound is returned by SetStatus and Delete for a job the API does not know.
var ErrNotFound = errors.New("job not found")

// Config describes a simulated world and its API.
type Config struct {
	Seed              int64
	Clock             Clock                  // nil: real time
	APIKey            string                 // non-empty: any other Bearer key gets 401
	Start             time.Time              // zero: Clock.Now() at New
	History           int                    // finished jobs created before Start ("old history")
	HistorySpan       time.Duration          // spread of the history before Start (default 30 days)
	Profiles          map[string]TypeProfile // nil or empty: DefaultProfiles(); a type may be outside the documented six
	Platforms         map[string]float64     // weights by platform name; nil: DefaultPlatforms()
	Incidents         []Incident             // act on the live world (jobs created from Start on)
	FractionalSeconds bool                   // timestamps with microseconds instead of whole seconds
	// FullListItems makes list items carry every field a GET gives
	// (parameters, results, error_message, completed_at, expires_at);
	// without it they carry the fields of the API page's sample: job_id,
	// job_type, status, source_url, credits_charged and created_at.
	FullListItems bool
	// RateLimit is the server's budget in requests per second of real time
	// (it limits the HTTP traffic, not the simulated world); 0 = none. Over
	// it: 429 with Retry-After and X-RateLimit-Limit/Remaining/Reset.
	RateLimit float64
	// OnRequest is called at the start of each request, before the world
	// advances, without any simulator lock held: a test may move the clock
	// or call the Sim from it.
	OnRequest func(*http.Request)
	// Retention bounds what a long-running world holds (the demo runs for
	// days); 0 keeps everything. Live jobs that finished (their last move
	// to a status other than pending or processing) more than Retention ago
	// are forgotten like jobs the account no longer has: lists skip them and
	// GET answers 404. Events older than Retention are dropped, so Events
	// and TruthSince are exact only for windows within it. Pending and
	// processing jobs and the old history are always kept. Pruning runs at
	// most once per Retention/4 of world time (and at least a second apart),
	// so what it drops may outlive Retention by up to that much.
	Retention time.Duration
}

// EventKind says what happened to a job.
type EventKind int

// Event kinds.
const (
	Created EventKind = iota + 1
	// Finished is a move into a terminal status (anything but pending or processing).
	Finished
)

// Event is one thing that happened in the live world.
type Event struct {
	Kind EventKind
	// Time is the exact moment in the world. The API shows it truncated to
	// whole seconds (created_at, completed_at), so an event just after a
	// moment t can show as t: truth windows use this exact time.
	Time     time.Time
	Job      client.Job // the full job at that moment
	Platform string     // platform of the job's source_url
	Reason   string     // Finished and failed: the failure class; else ""
}

// Truth counts what happened in the live world, keyed like the exporter's metrics.
type Truth struct {
	Created         map[[2]string]int       // {job_type, platform}
	Finished        map[[3]string]int       // {job_type, platform, status}
	Failures        map[[3]string]int       // {job_type, platform, reason}
	CreditsCharged  map[string]int64        // by job_type, at creation
	CreditsRefunded map[string]int64        // by job_type, for failed jobs
	Active          map[[2]string]int       // {job_type, status}: jobs pending/processing now
	OldestActive    map[[2]string]time.Time // created_at of the oldest active job per {job_type, status}
}

// job is one job the simulator holds: a live one, or an old-history one that
// SetStatus or Delete touched (then materialised and kept).
type job struct {
	pos      int // place in the newest-first order: larger is newer
	j        client.Job
	platform string
	reason   string
	deleted  bool
	scripted bool // SetStatus took over: scheduled moves no longer apply
	// finished is the exact world time of the last move to a terminal
	// status, which Retention counts from.
	finished time.Time
	// listedFrom is the world time from which lists show the job (see
	// LateListing); zero: from its creation.
	listedFrom time.Time

	// Drawn at creation, applied when the job finishes by itself.
	fail     bool
	message  string
	finishAt time.Time
	result   json.RawMessage
	file     string
}

// Sim is a simulated VideoConduit API. It is safe for concurrent use.
type Sim struct {
	clock      Clock
	cfg        Config
	profiles   map[string]TypeProfile
	platforms  weighted
	resolution time.Duration // timestamps are truncated to it
	hist       history

	mu            sync.Mutex
	now           time.Time // how far the world has advanced
	world         rng       // draws of the world, in time order
	faultRNG      rng       // draws of faults, kept apart so requests do not change the world
	queue         timeline
	live          []*job // ascending position; Retention may leave gaps
	liveByType    map[string][]*job
	byID          map[string]*job // live and materialised old jobs
	oldTouched    map[int]*job    // materialised old jobs by index
	oldTouchedIdx []int           // the keys of oldTouched, ascending
	active        activeIndex
	nextPos       int // position of the next live job: pruning must not reuse one
	nextPrune     time.Time
	events        []Event
	knownTypes    map[string]bool
	knownStatuses map[string]bool
	faults        Faults
	requests      map[string]int
	bucket        tokenBucket
}

// New builds a world from cfg. It does no work in proportion to History.
func New(cfg Config) *Sim {
	s := &Sim{
		clock:         cfg.Clock,
		cfg:           cfg,
		profiles:      maps.Clone(cfg.Profiles), // the caller may reuse its map
		resolution:    time.Second,
		liveByType:    map[string][]*job{},
		byID:          map[string]*job{},
		oldTouched:    map[int]*job{},
		active:        activeIndex{},
		knownTypes:    map[string]bool{},
		knownStatuses: map[string]bool{},
		requests:      map[string]int{},
	}
	s.cfg.Incidents = slices.Clone(cfg.Incidents) // and its slice
	if s.clock == nil {
		s.clock = realClock{}
	}
	if len(s.profiles) == 0 {
		s.profiles = DefaultProfiles()
	}
	platforms := cfg.Platforms
	if platforms == nil {
		platforms = DefaultPlatforms()
	}
	s.platforms = newWeighted(platforms)
	if cfg.FractionalSeconds {
		s.resolution = time.Microsecond
	}
	start := cfg.Start
	if start.IsZero() {
		start = s.clock.Now()
	}
	s.now = start
	s.nextPrune = start.Add(s.cfg.Retention) // nothing can be older before then
	seed := uint64(cfg.Seed)
	s.world = rng{s: mix64(seed ^ 0x5157_0001)}
	s.faultRNG = rng{s: mix64(seed ^ 0x5157_0002)}
	for _, t := range client.JobTypes {
		s.knownTypes[t] = true
	}
	for _, st := range client.Statuses {
		s.knownStatuses[st] = true
	}
	rates := map[string]float64{}
	for name, p := range s.profiles {
		s.knownTypes[name] = true
		rates[name] = p.PerMinute
	}
	s.hist = newHistory(seed, cfg.History, cfg.HistorySpan, start, newWeighted(rates))
	s.nextPos = s.hist.n
	types := make([]string, 0, len(s.profiles))
	for name := range s.profiles {
		types = append(types, name)
	}
	slices.Sort(types) // map order must not decide the draws
	for _, name := range types {
		s.scheduleArrival(name, start)
	}
	s.bucket = newTokenBucket(cfg.RateLimit, time.Now())
	return s
}

func (s *Sim) stamp(t time.Time) time.Time { return t.UTC().Truncate(s.resolution) }

// scheduleArrival queues the next arrival of a type after t, if it arrives at all.
func (s *Sim) scheduleArrival(jobType string, t time.Time) {
	p := s.profiles[jobType]
	if p.PerMinute <= 0 {
		return
	}
	gap := s.world.exp(time.Duration(float64(time.Minute) / p.PerMinute))
	s.queue.push(moment{at: t.Add(gap), kind: arrive, jobType: jobType})
}

// advance runs the world up to the clock. The world never goes back in time.
func (s *Sim) advance() {
	to := s.clock.Now()
	for {
		m, ok := s.queue.popUntil(to)
		if !ok {
			break
		}
		s.now = m.at
		switch m.kind {
		case arrive:
			s.arrive(m.jobType, m.at)
		case start:
			if !m.job.scripted && !m.job.deleted {
				s.setStatus(m.job, client.StatusProcessing, "")
				s.queue.push(moment{at: m.job.finishAt, kind: finish, job: m.job})
			}
		case finish:
			if !m.job.scripted && !m.job.deleted {
				s.finishByItself(m.job)
			}
		}
		// Inside the loop, so a clock that jumps days ahead does not pile up
		// days of jobs before the first prune.
		s.maybePrune()
	}
	if to.After(s.now) {
		s.now = to
	}
	s.maybePrune()
}

// draft is a generated job's fate, drawn when it is created.
type draft struct {
	platform, url   string
	fail            bool
	reason, message string
	pending         time.Duration
	processing      time.Duration
}

// draftHead draws the platform and whether the job fails: the cheap part that
// filtering the old history needs. A live job is subject to failure spikes.
func (s *Sim) draftHead(r *rng, jobType string, created time.Time, live bool) (draft, *Incident) {
	d := draft{platform: s.platforms.pick(r.float())}
	rate := s.profiles[jobType].FailureRate
	var spike *Incident
	if live {
		for i := range s.cfg.Incidents {
			in := &s.cfg.Incidents[i]
			if in.Kind == FailureSpike && in.affects(jobType, d.platform, created) {
				spike, rate = in, in.FailureRate
			}
		}
	}
	d.fail = r.chance(rate)
	return d, spike
}

// draftTail draws the rest of a job's fate, after draftHead on the same rng.
func (s *Sim) draftTail(r *rng, d *draft, jobType string, spike *Incident) {
	p := s.profiles[jobType]
	d.url = sourceURL(r, d.platform)
	d.pending = r.exp(p.PendingMean)
	d.processing = r.exp(p.ProcessingMean)
	if !d.fail {
		return
	}
	switch {
	case spike != nil:
		d.reason = spike.spikeReason()
		d.processing = r.between(500*time.Millisecond, 5*time.Second)
	default:
		d.reason = drawReason(r, d.platform)
		if d.reason == ReasonTimeout {
			d.processing = 300 * time.Second // as the message says
		} else {
			// Most failures show up early in processing.
			d.processing = time.Duration(float64(d.processing) * (0.05 + 0.35*r.float()))
		}
	}
	d.message = failureMessage(r, d.reason, d.url)
}

func (s *Sim) arrive(jobType string, at time.Time) {
	id := newUUID(&s.world)
	d, spike := s.draftHead(&s.world, jobType, at, true)
	s.draftTail(&s.world, &d, jobType, spike)
	j := s.addLive(id, jobType, d.url, d.platform, s.profiles[jobType].Credits, at)
	j.fail, j.reason, j.message = d.fail, d.reason, d.message
	startAt := s.releaseFromStalls(jobType, d.platform, at.Add(d.pending))
	j.finishAt = startAt.Add(d.processing)
	s.queue.push(moment{at: startAt, kind: start, job: j})
	s.scheduleArrival(jobType, at)
}

// releaseFromStalls returns when a job due to start at t really starts: the
// end of every stall that holds it.
func (s *Sim) releaseFromStalls(jobType, platform string, t time.Time) time.Time {
	for held := true; held; {
		held = false
		for i := range s.cfg.Incidents {
			in := &s.cfg.Incidents[i]
			if in.Kind == Stall && in.affects(jobType, platform, t) {
				t, held = in.end(), true
			}
		}
	}
	return t
}

// addLive creates a pending job at the world's present and records its
// creation; a LateListing incident may keep it out of the lists a while.
func (s *Sim) addLive(id, jobType, url, platform string, credits int64, at time.Time) *job {
	j := &job{
		pos:      s.nextPos,
		platform: platform,
		j: client.Job{
			ID:             id,
			Type:           jobType,
			Status:         client.StatusPending,
			SourceURL:      url,
			Parameters:     drawParameters(&s.world, jobType),
			CreditsCharged: credits,
			CreatedAt:      s.stamp(at),
		},
	}
	j.result, j.file = drawResult(&s.world, jobType)
	s.nextPos++
	s.live = append(s.live, j)
	s.liveByType[jobType] = append(s.liveByType[jobType], j)
	s.byID[id] = j
	s.active.add(j)
	s.knownTypes[jobType] = true
	s.events = append(s.events, Event{Kind: Created, Time: at, Job: j.j, Platform: platform})
	for i := range s.cfg.Incidents {
		if in := &s.cfg.Incidents[i]; in.Kind == LateListing && in.affects(jobType, platform, at) {
			j.listedFrom = at.Add(s.world.between(0, in.Delay))
		}
	}
	return j
}

// fillResult gives a completed job what the API shows for one: a download
// URL valid for a day and its result metadata.
func (j *job) fillResult() {
	j.j.DownloadURL = "https://cdn.videoconduit.com/files/" + j.j.ID + "/" + j.file
	j.j.ResultData = j.result
	j.j.ExpiresAt = j.j.CompletedAt.Add(24 * time.Hour)
}

func (s *Sim) finishByItself(j *job) {
	if j.fail {
		s.setStatus(j, client.StatusFailed, j.message)
		return
	}
	s.setStatus(j, client.StatusCompleted, "")
}

// setStatus moves a job at the world's present: terminal statuses get
// completed_at and their result or error, and record a Finished event.
func (s *Sim) setStatus(j *job, status, message string) {
	s.active.remove(j) // filed under the status it leaves
	j.j.Status = status
	j.j.ErrorMessage = message
	j.j.DownloadURL, j.j.ResultData = "", nil
	j.j.CompletedAt, j.j.ExpiresAt = time.Time{}, time.Time{}
	s.knownStatuses[status] = true
	if client.IsActive(status) {
		s.active.add(j)
		return
	}
	j.finished = s.now
	j.j.CompletedAt = s.stamp(s.now)
	reason := ""
	switch status {
	case client.StatusCompleted:
		j.fillResult()
	case client.StatusFailed:
		reason = j.reason
	}
	s.events = append(s.events, Event{Kind: Finished, Time: s.now, Job: j.j, Platform: j.platform, Reason: reason})
}

// Submit creates a pending job at Clock.Now() and returns its id. Such a job
// moves only through SetStatus; a LateListing incident keeps it out of the
// lists as it does a job that arrives. The platform in the truth is
// PlatformOf(sourceURL).
func (s *Sim) Submit(jobType, sourceURL string, credits int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	id := newUUID(&s.world)
	j := s.addLive(id, jobType, sourceURL, PlatformOf(sourceURL), credits, s.now)
	j.scripted = true
	return id
}

// SetStatus moves a job to any status at Clock.Now(). Terminal statuses
// (anything but pending and processing) set completed_at and record a
// Finished event, each time; completed adds download_url, result_data and
// expires_at; errorMessage becomes error_message whatever the status, and a
// failed job's reason is the class its message reads as (ReasonOther if none).
func (s *Sim) SetStatus(id, status, errorMessage string) error {
	return s.change(id, func(j *job) {
		j.scripted = true
		j.reason = classify(errorMessage)
		s.setStatus(j, status, errorMessage)
	})
}

// Delete makes the API forget a job: GET answers 404 and lists skip it. No
// event is recorded, and an active job leaves the active set.
func (s *Sim) Delete(id string) error {
	return s.change(id, func(j *job) {
		j.deleted = true
		s.active.remove(j)
	})
}

// change applies a scripted change to a job at the world's present.
func (s *Sim) change(id string, apply func(*job)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	j, err := s.lookup(id)
	if err != nil {
		return err
	}
	apply(j)
	return nil
}

// lookup finds a job by id, materialising an old-history job so that changes
// to it stick.
func (s *Sim) lookup(id string) (*job, error) {
	if j, ok := s.byID[id]; ok && !j.deleted {
		return j, nil
	}
	if i, ok := s.hist.index(id); ok && s.oldTouched[i] == nil {
		j := s.oldJob(i, true)
		s.oldTouched[i] = j
		k, _ := slices.BinarySearch(s.oldTouchedIdx, i)
		s.oldTouchedIdx = slices.Insert(s.oldTouchedIdx, k, i)
		s.byID[id] = j
		return j, nil
	}
	return nil, fmt.Errorf("job %q: %w", id, ErrNotFound)
}

// Events returns the events of the live world strictly after since, in time
// order, after advancing the world to the clock. With a Retention, those
// older than it may be gone.
func (s *Sim) Events(since time.Time) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return slices.Clone(s.eventsAfter(since))
}

func (s *Sim) eventsAfter(since time.Time) []Event {
	i, _ := slices.BinarySearchFunc(s.events, since, func(e Event, t time.Time) int {
		if e.Time.After(t) {
			return 1
		}
		return -1
	})
	return s.events[i:]
}

// TruthSince counts the events strictly after since, and the jobs active now,
// after advancing the world to the clock.
func (s *Sim) TruthSince(since time.Time) Truth {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	t := Truth{
		Created:         map[[2]string]int{},
		Finished:        map[[3]string]int{},
		Failures:        map[[3]string]int{},
		CreditsCharged:  map[string]int64{},
		CreditsRefunded: map[string]int64{},
		Active:          map[[2]string]int{},
		OldestActive:    map[[2]string]time.Time{},
	}
	for _, e := range s.eventsAfter(since) {
		jt := e.Job.Type
		switch e.Kind {
		case Created:
			t.Created[[2]string{jt, e.Platform}]++
			t.CreditsCharged[jt] += e.Job.CreditsCharged
		case Finished:
			t.Finished[[3]string{jt, e.Platform, e.Job.Status}]++
			if e.Job.Status == client.StatusFailed {
				t.Failures[[3]string{jt, e.Platform, e.Reason}]++
				t.CreditsRefunded[jt] += e.Job.CreditsCharged
			}
		}
	}
	for k, list := range s.active {
		if k.jobType == "" || len(list) == 0 {
			continue
		}
		key := [2]string{k.jobType, k.status}
		t.Active[key] = len(list)
		// created_at never decreases with position, so the first is the oldest.
		t.OldestActive[key] = list[0].j.CreatedAt
	}
	return t
}

// Requests returns how many requests were served by endpoint: "list", "get",
// and "other" for paths outside the API. Faulted requests count too.
func (s *Sim) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}
