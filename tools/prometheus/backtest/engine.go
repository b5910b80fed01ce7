package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
)

// The simulated day. Its date only matters for time(); the history before
// it fills the 1-day baselines and most of the 3-day SLO window.
var dayOrigin = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const (
	history   = 26 * time.Hour // data before the day
	evalAhead = 2 * time.Hour  // evaluation before the day, so `offset 1h` and `for` are warm
	day       = 24 * time.Hour
)

type config struct {
	ruleFiles      []string
	scrapeInterval time.Duration
	evalInterval   time.Duration
	notifier       *notifier
}

// firing is one alert (name and labels) firing from Start until End (zero
// when it still fires at the end of the day).
type firing struct {
	Alert       string            `json:"alert"`
	Severity    string            `json:"severity"`
	Labels      map[string]string `json:"labels"`
	Description string            `json:"description"`
	Start       time.Duration     `json:"start"` // offset from midnight
	End         time.Duration     `json:"end"`
}

// runScenario replays one simulated day through the rule files and returns
// every firing that started during the day (or was firing at its start).
func runScenario(sc *Scenario, seed uint64, cfg config) ([]firing, error) {
	name := fnv.New64a()
	name.Write([]byte(sc.Name))
	rng := rand.New(rand.NewPCG(seed, name.Sum64())) // each scenario its own stream
	simStart, end := dayOrigin.Add(-history), dayOrigin.Add(day)
	// Jobs from an hour earlier, so the first polls see jobs in flight.
	jobs := generateJobs(sc, dayOrigin, simStart.Add(-time.Hour), end, rng)
	exp := newExporterModel(sc, dayOrigin, simStart, end, jobs, rng)

	dir, err := os.MkdirTemp("", "videoconduit-backtest-")
	if err != nil {
		return nil, fmt.Errorf("creating TSDB folder: %w", err)
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	// One block range wider than the run: no compaction while we evaluate,
	// and rule results may be appended behind the newest scraped sample.
	opts.MinBlockDuration = (history + day + evalAhead).Milliseconds() * 2
	opts.MaxBlockDuration = opts.MinBlockDuration
	opts.RetentionDuration = 0
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening TSDB: %w", err)
	}
	defer db.Close()
	db.DisableCompactions()

	groups, err := loadGroups(db, cfg)
	if err != nil {
		return nil, err
	}

	ctx := context.Background()
	// One scrape loop per replica's target, each at its own offset, none
	// aligned with the evaluations.
	scrapers := make([]*scraper, len(exp.replicas))
	for i := range scrapers {
		scrapers[i] = &scraper{db: db, exposed: map[string]labels.Labels{}, next: simStart.Add(20*time.Second + time.Duration(i)*17*time.Second)}
	}
	active := map[string]*firing{}
	var done []firing
	for ts := dayOrigin.Add(-evalAhead); !ts.After(end); ts = ts.Add(cfg.evalInterval) {
		for i, scr := range scrapers {
			for ; !scr.next.After(ts); scr.next = scr.next.Add(cfg.scrapeInterval) {
				if err := scr.append(ctx, scr.next.UnixMilli(), exp.scrape(i, scr.next.UnixMilli())); err != nil {
					return nil, err
				}
			}
		}
		for _, g := range groups {
			g.Eval(ctx, ts)
			for _, r := range g.Rules() {
				if err := r.LastError(); err != nil {
					return nil, fmt.Errorf("rule %s at %s: %w", r.Name(), ts, err)
				}
			}
		}
		if ts.Before(dayOrigin) {
			continue
		}
		now := map[string]bool{}
		for _, g := range groups {
			for _, ar := range g.AlertingRules() {
				for _, a := range ar.ActiveAlerts() {
					if a.State != rules.StateFiring {
						continue
					}
					key := a.Labels.String()
					now[key] = true
					if active[key] == nil {
						active[key] = &firing{
							Alert: ar.Name(), Severity: a.Labels.Get("severity"), Labels: labelMap(a.Labels),
							Description: a.Annotations.Get("description"), Start: ts.Sub(dayOrigin),
						}
					}
				}
			}
		}
		for key, f := range active {
			if !now[key] {
				f.End = ts.Sub(dayOrigin)
				done = append(done, *f)
				delete(active, key)
			}
		}
	}
	for _, f := range active {
		done = append(done, *f)
	}
	return done, nil
}

// loadGroups loads the rule files as Prometheus does, in file order and
// group order, the order promtool's unit tests evaluate them in.
func loadGroups(db *tsdb.DB, cfg config) ([]*rules.Group, error) {
	p := parser.NewParser(parser.Options{})
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, Parser: p})
	logger := slog.New(slog.DiscardHandler)
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(engine, db),
		AppendableV2: db,
		Queryable:    db,
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       logger,
		Parser:       p,
	})
	byKey, errs := m.LoadGroups(cfg.evalInterval, labels.EmptyLabels(), "", nil, false, cfg.ruleFiles...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("loading rules: %w", errs[0])
	}
	var groups []*rules.Group
	for _, f := range cfg.ruleFiles {
		rgs, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, logger)
		if len(errs) > 0 {
			return nil, fmt.Errorf("parsing %s: %w", f, errs[0])
		}
		for _, rg := range rgs.Groups {
			g := byKey[rules.GroupKey(f, rg.Name)]
			// A fresh manager would restore `for` state from storage first;
			// there is none, so start as a running Prometheus would be.
			for _, ar := range g.AlertingRules() {
				ar.SetRestored(true)
			}
			groups = append(groups, g)
		}
	}
	return groups, nil
}

// scraper appends scrapes as Prometheus' scrape loop does, including the
// stale markers of series that a scrape no longer returns.
type scraper struct {
	db      *tsdb.DB
	exposed map[string]labels.Labels
	next    time.Time // the next scrape
}

func (s *scraper) append(ctx context.Context, t int64, samples []sample) error {
	app := s.db.Appender(ctx)
	seen := make(map[string]labels.Labels, len(samples))
	for _, smp := range samples {
		key := smp.lset.String()
		seen[key] = smp.lset
		if _, err := app.Append(0, smp.lset, t, smp.v); err != nil {
			app.Rollback()
			return fmt.Errorf("appending %s: %w", key, err)
		}
	}
	for key, lset := range s.exposed {
		if _, ok := seen[key]; !ok {
			if _, err := app.Append(0, lset, t, math.Float64frombits(value.StaleNaN)); err != nil {
				app.Rollback()
				return fmt.Errorf("appending stale marker of %s: %w", key, err)
			}
		}
	}
	s.exposed = seen
	if err := app.Commit(); err != nil {
		return fmt.Errorf("committing scrape: %w", err)
	}
	return nil
}

func labelMap(l labels.Labels) map[string]string {
	m := map[string]string{}
	l.Range(func(lb labels.Label) {
		if lb.Name != labels.AlertName && lb.Name != "severity" {
			m[lb.Name] = lb.Value
		}
	})
	return m
}
