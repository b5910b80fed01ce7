// Package accounts runs one poller per VideoConduit account: its own API
// client (request budget, retries, key), its own collector (backoff, state
// file, failure log) and its own goroutine, so that one account's failures
// never delay another's polls or metrics. It applies a changed configuration
// without a restart, and serves the accounts' series under an account label.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/apikey"
)

// LabelName is the label that tells the accounts' series apart.
const LabelName = "account"

// Options are what every account's poller shares.
type Options struct {
	Logger     log.Logger
	Classifier *collector.FailureClassifier // nil: the built-in table
	UserAgent  string
	// Keys returns the key source of an account; nil reads the account's
	// APIKeyFile, or the environment when it has none.
	Keys func(config.Account, log.Logger) (*apikey.Source, error)
}

// Set is the running accounts. Apply starts and stops them; the methods
// that read them are safe for concurrent use.
type Set struct {
	opts Options
	ctx  context.Context // the pollers' parent: its end stops them all

	mu      sync.Mutex // serialises Apply, Stop and ReloadKeys
	pollers map[string]*poller

	// polled is the order and pollers that Metrics and Status read without
	// the lock.
	polled atomic.Pointer[[]*poller]
}

// New returns a Set with no account; ctx ends every poller it starts.
func New(ctx context.Context, opts Options) *Set {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Keys == nil {
		opts.Keys = loadKeys
	}
	s := &Set{opts: opts, ctx: ctx, pollers: map[string]*poller{}}
	s.polled.Store(&[]*poller{})
	return s
}

func loadKeys(a config.Account, logger log.Logger) (*apikey.Source, error) {
	return apikey.Load(a.APIKeyFile, logger)
}

// poller is one running account.
type poller struct {
	account config.Account
	logger  log.Logger
	keys    *apikey.Source
	coll    *collector.JobCollector
	// settings are the collector's, kept for Reconfigure.
	settings collector.Config
	// health is the collector's own series with the account label, and
	// requests counts the API requests they have seen.
	health   prometheus.Collector
	requests atomic.Uint64
	// jobs is the job series of the collector's last successful poll with
	// the account label.
	jobs   atomic.Pointer[labelledJobs]
	cancel context.CancelFunc
	done   chan struct{}
}

// Apply makes the running accounts those of cfg: it starts the new ones,
// stops the removed ones (their series leave the metrics), and gives a
// changed account its new settings while keeping its counts (a new URL is a
// new API: its counting starts afresh). Nothing changes when any account of
// cfg cannot be started; the error names it.
func (s *Set) Apply(cfg *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("the exporter is stopping")
	}
	// Everything that can fail comes first, so a bad config changes nothing.
	var changed []*poller
	keep := map[string]bool{}
	for _, a := range cfg.Accounts {
		keep[a.Name] = true
		old := s.pollers[a.Name]
		if old != nil && old.account == a {
			continue
		}
		next, err := s.prepare(a, old)
		if err != nil {
			return fmt.Errorf("account %q: %w", a.Name, err)
		}
		changed = append(changed, next)
	}
	for name, p := range s.pollers {
		if !keep[name] {
			s.stop(p)
			level.Info(s.opts.Logger).Log("msg", "account removed: its series leave the metrics", "account", name)
		}
	}
	for _, p := range changed {
		if old := s.pollers[p.account.Name]; old != nil {
			s.stop(old)
			if p.coll == nil { // same API: the collector goes on with its counts
				p.coll = old.coll
				p.coll.Reconfigure(p.settings)
			}
			level.Info(p.logger).Log("msg", "account changed: polling with its new settings")
		}
		s.start(p)
	}
	polled := make([]*poller, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		polled = append(polled, s.pollers[a.Name])
	}
	s.polled.Store(&polled)
	return nil
}

// prepare builds the poller of account a: its key, client and collector.
// When a changes an account of the same API (old not nil, same URL), the
// poller's collector is left nil for Apply to hand over old's, which must
// stop first.
func (s *Set) prepare(a config.Account, old *poller) (*poller, error) {
	logger := log.With(s.opts.Logger, LabelName, a.Name)
	keys := old.keysFor(a)
	if keys == nil {
		var err error
		if keys, err = s.opts.Keys(a, logger); err != nil {
			return nil, err
		}
	}
	p := &poller{account: a, logger: logger, keys: keys}
	api, err := client.New(client.Config{
		BaseURL:           a.URL,
		Key:               keys.Key,
		UserAgent:         s.opts.UserAgent,
		Timeout:           a.Timeout,
		RequestsPerSecond: a.RequestsPerSecond,
		Observe: func(endpoint, code string, d time.Duration) {
			p.coll.ObserveRequest(endpoint, code, d)
			p.requests.Add(1) // after: a scrape that sees the new count sees the request
		},
	})
	if err != nil {
		return nil, err
	}
	p.settings = collector.Config{
		Source:        api,
		Interval:      a.Interval,
		PageSize:      a.PageSize,
		Logger:        log.With(logger, "component", "collector"),
		Classifier:    s.opts.Classifier,
		StateFile:     a.StateFile,
		API:           a.URL,
		KeyGeneration: keys.Generation,
	}
	if old != nil && old.account.URL == a.URL {
		return p, nil
	}
	if p.coll, err = collector.New(p.settings); err != nil {
		return nil, err
	}
	return p, nil
}

// keysFor returns the key source p already has for account a, or nil when
// a reads its key from elsewhere.
func (p *poller) keysFor(a config.Account) *apikey.Source {
	if p == nil || p.account.APIKeyFile != a.APIKeyFile {
		return nil
	}
	return p.keys
}

// start runs p's polling until Stop, Apply or the Set's context ends it.
func (s *Set) start(p *poller) {
	ctx, cancel := context.WithCancel(s.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	p.health = prometheus.WrapCollectorWith(prometheus.Labels{LabelName: p.account.Name}, p.coll.Health())
	s.pollers[p.account.Name] = p
	go func() {
		defer close(p.done)
		p.coll.Run(ctx)
	}()
}

// stop ends p's polling and waits for it (a poll in flight is abandoned
// and changes nothing); its series leave the metrics with the next order
// of pollers that Apply or Stop stores.
func (s *Set) stop(p *poller) {
	p.cancel()
	<-p.done
	delete(s.pollers, p.account.Name)
}

// Stop ends every account's polling and waits for it.
func (s *Set) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pollers {
		s.stop(p)
	}
	s.polled.Store(&[]*poller{})
}

// ReloadKeys re-reads every account's key file now (SIGHUP).
func (s *Set) ReloadKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pollers {
		p.keys.Reload()
	}
}

// Metrics returns the series of every account, each with its account
// label, in the config's order, as parts that the exposition handler
// encodes once and serves until they change: per account, its job series,
// the same value until its next successful poll, and its health series
// (videoconduit_up, polls, API requests), a new value after each poll and
// each API request.
func (s *Set) Metrics() []prometheus.Collector {
	polled := *s.polled.Load()
	parts := make([]prometheus.Collector, 0, 2*len(polled))
	for _, p := range polled {
		parts = append(parts, p.jobMetrics(), p.healthMetrics())
	}
	return parts
}

// labelledJobs is the job series of one successful poll of an account,
// with its account label.
type labelledJobs struct {
	jobs prometheus.Collector // never changes: see collector.JobCollector.JobMetrics
	prometheus.Collector
}

func (p *poller) jobMetrics() *labelledJobs {
	jobs := p.coll.JobMetrics()
	cur := p.jobs.Load()
	if cur != nil && cur.jobs == jobs {
		return cur
	}
	next := &labelledJobs{jobs: jobs, Collector: prometheus.WrapCollectorWith(prometheus.Labels{LabelName: p.account.Name}, jobs)}
	if !p.jobs.CompareAndSwap(cur, next) {
		// Another caller stored one meanwhile: serve it. Were it from an
		// older poll, the next call finds it stale and replaces it.
		return p.jobs.Load()
	}
	return next
}

// healthMetrics is an account's health series as they are now. Its counts
// of requests and polls tell it from the value before the last request or
// poll ended; both are read before the series are, so the series are never
// older than the value says.
type healthMetrics struct {
	p        *poller
	requests uint64
	polls    int
}

func (p *poller) healthMetrics() healthMetrics {
	return healthMetrics{p: p, requests: p.requests.Load(), polls: p.coll.Status().Polls}
}

func (h healthMetrics) Describe(ch chan<- *prometheus.Desc) { h.p.health.Describe(ch) }
func (h healthMetrics) Collect(ch chan<- prometheus.Metric) { h.p.health.Collect(ch) }

// Collectors yields each account's name and collector, in the config's
// order, for what reads more of an account than its Status.
func (s *Set) Collectors() iter.Seq2[string, *collector.JobCollector] {
	return func(yield func(string, *collector.JobCollector) bool) {
		for _, p := range *s.polled.Load() {
			if !yield(p.account.Name, p.coll) {
				return
			}
		}
	}
}

// Status is what the landing page and /-/ready say of an account.
type Status struct {
	Name string
	collector.Status
}

// Status returns every account's status, in the config's order.
func (s *Set) Status() []Status {
	polled := *s.polled.Load()
	out := make([]Status, len(polled))
	for i, p := range polled {
		out[i] = Status{p.account.Name, p.coll.Status()}
	}
	return out
}

// Ready reports whether the exporter serves what it should: every account
// has finished its first poll, and at least one of them succeeded. An
// account that keeps failing (a revoked key, its URL down) then shows as
// videoconduit_up 0 and in the alerts without taking the other accounts'
// metrics out of service; with a single account, ready means it polled.
// waiting names the accounts whose first poll has not ended yet.
func (s *Set) Ready() (ready bool, waiting []string) {
	succeeded := false
	for _, st := range s.Status() {
		switch {
		case st.Polls == 0:
			waiting = append(waiting, st.Name)
		case !st.LastSuccess.IsZero():
			succeeded = true
		}
	}
	return succeeded && len(waiting) == 0, waiting
}
