// Package collector turns VideoConduit jobs into Prometheus metrics. A
// background loop polls the API; scrapes are served from an immutable
// snapshot of the last poll and never call the API.
package collector

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// JobSource is the part of the API client the collector uses.
type JobSource interface {
	Pages(ctx context.Context, opts client.ListOptions) iter.Seq2[client.Page, error]
	GetJob(ctx context.Context, id string) (client.Job, error)
}

// Config configures a JobCollector.
type Config struct {
	Source     JobSource
	Interval   time.Duration // time between polls
	PageSize   int           // limit of each list call, 1–100
	Logger     log.Logger
	Classifier *FailureClassifier // nil: DefaultFailureClassifier()
	Now        func() time.Time   // nil: time.Now; tests pass a simulated clock
	// StateFile, when set, keeps the counters and the position in the job
	// list across restarts. API names the API in it, so that the state of
	// another API is not resumed.
	StateFile string
	API       string
	// KeyGeneration, when set, returns a number that changes whenever the
	// API key does. After a change the next poll checks that the jobs it
	// knows are still there: a key of another account would mix two
	// histories, so then the counting starts afresh.
	KeyGeneration func() uint64
}

// JobCollector polls the VideoConduit Jobs API and collects job metrics.
type JobCollector struct {
	source     JobSource
	interval   time.Duration
	pageSize   int
	logger     log.Logger
	classifier *FailureClassifier
	now        func() time.Time
	stateFile  string
	stateAPI   string

	// Label bounds, used only by the polling goroutine.
	jobTypes, statuses *boundedLabel

	mu       sync.Mutex // one poll at a time; guards the fields below
	state    *state
	failures int // consecutive failed polls
	// saveFailing is set while the state file cannot be written, so the
	// error is logged once: its text names a new temporary file each time.
	saveFailing bool
	// outageCauses are the causes logged since the last successful poll: a
	// flapping mix of causes (a 502 page, then an HTML 200) gives one line
	// per cause, not one per poll.
	outageCauses map[string]bool
	// keyGeneration is Config.KeyGeneration; keyGen its value when last
	// read, and checkAccount says a poll must first check that the key
	// still belongs to the account counted so far.
	keyGeneration func() uint64
	keyGen        uint64
	checkAccount  bool
	// reasonsOverflow is set while failures are counted without their
	// reason because too many wait for a lookup, so that it is logged once.
	reasonsOverflow bool
	status          atomic.Pointer[Status]

	failed failureRing // the recent failed jobs, for RecentFailures

	// durationsLetGo counts the durations let go without their lookup
	// since the start, for the warning of each poll that lets some go.
	durationsLetGo uint64

	snapshot atomic.Pointer[snapshot]
	// intervalSeconds is the poll interval for the health series, which
	// scrapes read while Reconfigure may change the interval.
	intervalSeconds atomic.Uint64 // math.Float64bits

	pollDuration prometheus.Histogram
	apiRequests  *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
}

// snapshot is what a scrape serves: the state of the last successful poll,
// rendered once, and the outcome of the last poll.
type snapshot struct {
	jobs        *jobMetrics
	up          float64
	lastSuccess float64
}

// jobMetrics are the job series of one successful poll. They never change:
// the next successful poll makes new ones.
type jobMetrics struct {
	// counts is the poll's state, whose counters and histograms no poll
	// writes again: the next works on a copy of them (see state.fork).
	counts *state
	// active are the gauges of the jobs active at the poll's end, taken
	// then: the next poll changes the tracked jobs in place.
	active []prometheus.Metric
}

func newJobMetrics(s *state, now time.Time) *jobMetrics {
	return &jobMetrics{counts: s, active: s.activeMetrics(now)}
}

// jobDescs are the descriptors of the job series.
var jobDescs = []*prometheus.Desc{
	jobsCreatedDesc, jobsFinishedDesc, jobsActiveDesc, oldestActiveAgeDesc, jobDurationDesc,
	creditsChargedDesc, creditsRefundedDesc, jobFailuresDesc, jobsVanishedDesc, catchupTruncatedDesc,
}

func (j *jobMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range jobDescs {
		ch <- d
	}
}

func (j *jobMetrics) Collect(ch chan<- prometheus.Metric) {
	j.counts.collectCounts(ch)
	for _, m := range j.active {
		ch <- m
	}
}

// healthMetrics are the exporter's own series: the outcome of the last poll,
// poll durations and API requests. They change between polls.
type healthMetrics struct{ c *JobCollector }

func (h healthMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- lastPollSuccessDesc
	ch <- pollIntervalDesc
	h.c.pollDuration.Describe(ch)
	h.c.apiRequests.Describe(ch)
	h.c.apiDuration.Describe(ch)
}

func (h healthMetrics) Collect(ch chan<- prometheus.Metric) {
	s := h.c.snapshot.Load()
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, s.up)
	ch <- prometheus.MustNewConstMetric(lastPollSuccessDesc, prometheus.GaugeValue, s.lastSuccess)
	ch <- prometheus.MustNewConstMetric(pollIntervalDesc, prometheus.GaugeValue, math.Float64frombits(h.c.intervalSeconds.Load()))
	h.c.pollDuration.Collect(ch)
	h.c.apiRequests.Collect(ch)
	h.c.apiDuration.Collect(ch)
}

// New returns a collector; Run starts its polling.
func New(cfg Config) (*JobCollector, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &JobCollector{
		jobTypes: newBoundedLabel(client.JobTypes),
		statuses: newBoundedLabel(client.Statuses),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "poll_duration_seconds",
			Help:      "Wall time of each poll of the VideoConduit API, successful or not.",
			Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_requests_total",
			Help:      "Requests to the VideoConduit API by endpoint (list, get) and HTTP status code (error for transport failures).",
		}, []string{labelEndpoint, labelCode}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "api_request_duration_seconds",
			Help:      "Latency of requests to the VideoConduit API by endpoint.",
			Buckets:   []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{labelEndpoint}),
	}
	c.configure(cfg)
	c.state = newState(c.classifier.Reasons())
	c.status.Store(&Status{})
	for _, endpoint := range []string{client.EndpointList, client.EndpointGet} {
		// Present from the start so rate() over throttling works before the first 429.
		c.apiRequests.WithLabelValues(endpoint, "429")
		c.apiDuration.WithLabelValues(endpoint)
	}
	if c.stateFile != "" {
		switch s, err := c.loadState(); {
		case err != nil:
			level.Warn(c.logger).Log("msg", "starting afresh: the state file cannot be resumed", "err", err)
		case s == nil:
			level.Info(c.logger).Log("msg", "no state file yet; starting afresh", "file", c.stateFile)
		default:
			level.Info(c.logger).Log("msg", "resuming from the state file; jobs created while the exporter was down will be counted", "file", c.stateFile, "tracked_jobs", len(s.tracked))
			c.state = s
		}
	}
	c.snapshot.Store(&snapshot{jobs: newJobMetrics(c.state, c.now())})
	return c, nil
}

func (cfg Config) check() error {
	switch {
	case cfg.Source == nil:
		return errors.New("collector: no job source")
	case cfg.PageSize < 1 || cfg.PageSize > 100:
		return fmt.Errorf("collector: page size %d is outside 1–100", cfg.PageSize)
	case cfg.Interval <= 0:
		return fmt.Errorf("collector: interval %v must be positive", cfg.Interval)
	}
	return nil
}

// configure takes the settings of cfg, which check accepted.
func (c *JobCollector) configure(cfg Config) {
	c.source, c.interval, c.pageSize = cfg.Source, cfg.Interval, cfg.PageSize
	c.logger, c.classifier, c.now = cfg.Logger, cfg.Classifier, cfg.Now
	c.stateFile, c.stateAPI = cfg.StateFile, cfg.API
	if c.logger == nil {
		c.logger = log.NewNopLogger()
	}
	if c.classifier == nil {
		c.classifier = DefaultFailureClassifier()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.intervalSeconds.Store(math.Float64bits(c.interval.Seconds()))
	if c.keyGeneration = cfg.KeyGeneration; c.keyGeneration != nil {
		c.keyGen = c.keyGeneration()
	}
}

// Reconfigure gives a collector that is not running (Run has returned, or
// has not started) new settings: another source (a new key, timeout or
// budget), interval, page size, state file or logger. It keeps what the
// collector counted, so cfg.API must be the API it counted; a new key is
// checked against the jobs the collector knows at the next poll.
func (c *JobCollector) Reconfigure(cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.API != c.stateAPI {
		return fmt.Errorf("collector: counted the jobs of API %q, cannot go on with %q", c.stateAPI, cfg.API)
	}
	if cfg.Classifier == nil {
		cfg.Classifier = c.classifier // labels already counted keep their meaning
	}
	c.configure(cfg)
	c.checkAccount = true
	return nil
}

// ObserveRequest records one API request; it is the client's Observe hook.
func (c *JobCollector) ObserveRequest(endpoint, code string, d time.Duration) {
	c.apiRequests.WithLabelValues(endpoint, code).Inc()
	c.apiDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Ready reports whether a poll has succeeded since start.
func (c *JobCollector) Ready() bool { return !c.Status().LastSuccess.IsZero() }

// Status is the outcome of a collector's polls so far.
type Status struct {
	Polls       int       // polls that ended, successful or not
	LastPoll    time.Time // when the last poll ended; zero before the first
	LastSuccess time.Time // when the last successful poll ended; zero before
	Up          bool      // the last poll succeeded
	Failures    int       // failed polls since the last successful one
	// Cause names the kind of the last failure (unauthorized, rate_limited,
	// timeout, http_5xx, …) and Err says it whole; both "" when Up.
	Cause, Err string
}

// Status returns the outcome of the polls so far.
func (c *JobCollector) Status() Status { return *c.status.Load() }

// Run polls every interval until ctx ends, backing off after failures. A
// poll starts one interval after the previous one started, however long
// that took (at once if it took longer), so the series move at a steady
// pace; after a failed poll the backoff counts from its end.
func (c *JobCollector) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := c.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := c.interval - time.Since(start)
		if err != nil {
			wait = c.backoff(err)
		}
		timer.Reset(max(wait, 0))
	}
}

// backoff returns the wait after a failed poll: the interval doubled for
// each consecutive failure, capped at ten intervals or five minutes
// (whichever is shorter, but never below one interval), and never shorter
// than a wait the API asked for.
func (c *JobCollector) backoff(err error) time.Duration {
	c.mu.Lock()
	n := c.failures
	c.mu.Unlock()
	limit := max(c.interval, min(5*time.Minute, 10*c.interval))
	wait := c.interval
	for i := 1; i < n && wait < limit; i++ {
		wait *= 2
	}
	wait = min(wait, limit)
	var se *client.StatusError
	if errors.As(err, &se) && se.RetryAfter > wait {
		wait = se.RetryAfter
	}
	return wait
}

// Poll runs one poll now. On success the new state is served; on failure
// the last good state stays and videoconduit_up becomes 0.
func (c *JobCollector) Poll(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyGeneration != nil {
		if gen := c.keyGeneration(); gen != c.keyGen {
			c.keyGen, c.checkAccount = gen, true
		}
	}
	start := time.Now()
	next, err := c.poll(ctx, c.state)
	c.pollDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not the API's failure, nothing to log or report
		}
		c.pollFailed(err)
		down := *c.snapshot.Load()
		down.up = 0
		c.snapshot.Store(&down)
		c.status.Store(&Status{
			Polls: c.status.Load().Polls + 1, LastPoll: c.now(), LastSuccess: c.status.Load().LastSuccess,
			Failures: c.failures, Cause: failureCause(err), Err: err.Error(),
		})
		return err
	}
	c.checkAccount = false
	c.state = next
	// Saved before it is served: a crash between the two must not let
	// Prometheus see counts that a restart would take back.
	c.persist(next)
	now := c.now()
	c.snapshot.Store(&snapshot{
		jobs:        newJobMetrics(next, now),
		up:          1,
		lastSuccess: float64(now.UnixNano()) / 1e9,
	})
	c.status.Store(&Status{Polls: c.status.Load().Polls + 1, LastPoll: now, LastSuccess: now, Up: true})
	if len(c.outageCauses) > 0 {
		level.Info(c.logger).Log("msg", "polling the VideoConduit API works again", "failed_polls", c.failures)
	}
	c.failures, c.outageCauses = 0, nil
	return nil
}

// persist writes the state file, if any, logging a failure once.
func (c *JobCollector) persist(s *state) {
	if c.stateFile == "" {
		return
	}
	err := c.saveState(s)
	switch {
	case err == nil && c.saveFailing:
		level.Info(c.logger).Log("msg", "state file written again", "file", c.stateFile)
		c.saveFailing = false
	case err != nil && !c.saveFailing:
		level.Error(c.logger).Log("msg", "cannot write the state file; a restart would lose counts", "err", err)
		c.saveFailing = true
	}
}

// pollFailed logs a failure once per cause, not once per poll, so a long
// outage leaves one line rather than thousands.
func (c *JobCollector) pollFailed(err error) {
	c.failures++
	cause := failureCause(err)
	if c.outageCauses[cause] {
		level.Debug(c.logger).Log("msg", "poll failed again", "cause", cause, "failed_polls", c.failures, "err", err)
		return
	}
	if c.outageCauses == nil {
		c.outageCauses = map[string]bool{}
	}
	c.outageCauses[cause] = true
	msg := "polling the VideoConduit API failed; serving the last good state"
	if cause == "unauthorized" {
		msg = "the VideoConduit API rejected the API key; give a valid key with --videoconduit.api-key-file or VIDEOCONDUIT_API_KEY"
	}
	level.Error(c.logger).Log("msg", msg, "cause", cause, "err", err)
}

// failureCause names the kind of a poll failure, for logging once per kind.
func failureCause(err error) string {
	var se *client.StatusError
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, client.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, client.ErrBadPagination):
		return "bad_pagination"
	case errors.Is(err, client.ErrPageTooLarge):
		return "too_large"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &se) && se.StatusCode >= 500:
		return "http_5xx" // an outage's gateways answer 500, 502 and 503 in turn: one cause
	case errors.As(err, &se):
		return fmt.Sprintf("http_%d", se.StatusCode)
	default:
		return "error"
	}
}

// JobMetrics returns the job series of the last successful poll. The value
// returned never changes, so a caller may keep what it derives from it (the
// encoded exposition) until JobMetrics returns another.
func (c *JobCollector) JobMetrics() prometheus.Collector { return c.snapshot.Load().jobs }

// Health returns the collector of the exporter's own series (videoconduit_up,
// the last successful poll, poll durations, API requests), which change
// between polls.
func (c *JobCollector) Health() prometheus.Collector { return healthMetrics{c} }

// Describe sends every descriptor the collector can produce.
func (c *JobCollector) Describe(ch chan<- *prometheus.Desc) {
	c.JobMetrics().Describe(ch)
	c.Health().Describe(ch)
}

// Collect serves the snapshot of the last poll, then the exporter's own
// series; it never calls the API.
func (c *JobCollector) Collect(ch chan<- prometheus.Metric) {
	c.JobMetrics().Collect(ch)
	c.Health().Collect(ch)
}
