// Command backtest replays simulated days of VideoConduit traffic through
// Prometheus rule files with Prometheus' own storage, PromQL engine and rule
// evaluation, and reports per incident whether and how fast the alerts fired,
// and every alert that fired on a healthy period.
//
//	backtest [flags] RULE_FILE...
//
// Each scenario is a day at the scrape interval after 26 hours of history;
// see scenarios.go. Output is Markdown (alerts/BACKTEST.md) or, with -json,
// the raw results that the alerts package's test checks.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

type report struct {
	RulesSHA256        string           `json:"rules_sha256"`
	AlertmanagerSHA256 string           `json:"alertmanager_sha256"`
	Seeds              []uint64         `json:"seeds"`
	ScrapeInterval     time.Duration    `json:"scrape_interval"`
	EvalIntervals      []time.Duration  `json:"eval_intervals"`
	Runs               []scenarioResult `json:"runs"`
	Alerts             []alertSummary   `json:"alerts"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "backtest:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "first random seed")
	seeds := fs.Int("seeds", 1, "number of seeds to run each scenario with")
	only := fs.String("scenario", "", "run only the scenarios whose name matches this regular expression")
	scrape := fs.Duration("scrape-interval", time.Minute, "Prometheus scrape interval (15s to 1m; longer is cheaper and slower to fire)")
	evals := fs.String("eval-interval", "1m", "rule evaluation intervals, comma-separated, each optionally followed by :REGEXP, the scenarios to replay at that interval (default: every scenario -scenario selects)")
	amConfig := fs.String("alertmanager-config", "", "Alertmanager configuration whose routes, grouping and inhibitions turn firings into notifications (required)")
	workers := fs.Int("parallel", 2, "scenario days to replay at once")
	asJSON := fs.Bool("json", false, "print the raw results as JSON instead of Markdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("no rule files given")
	}
	filter, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("-scenario: %w", err)
	}
	var intervals []evalPlan
	for _, text := range strings.Split(*evals, ",") {
		durText, only, _ := strings.Cut(strings.TrimSpace(text), ":")
		d, err := model.ParseDuration(durText)
		if err != nil || d <= 0 {
			return fmt.Errorf("-eval-interval: %q is not a positive duration", durText)
		}
		plan := evalPlan{interval: time.Duration(d), scenarios: regexp.MustCompile("")}
		if only != "" {
			if plan.scenarios, err = regexp.Compile(only); err != nil {
				return fmt.Errorf("-eval-interval %s: %w", text, err)
			}
		}
		intervals = append(intervals, plan)
	}
	if *amConfig == "" {
		return fmt.Errorf("-alertmanager-config is required")
	}
	am, err := loadNotifier(*amConfig)
	if err != nil {
		return err
	}
	cfg := config{ruleFiles: fs.Args(), scrapeInterval: *scrape, notifier: am}
	sum, err := filesSHA256(cfg.ruleFiles...)
	if err != nil {
		return err
	}
	amSum, err := filesSHA256(*amConfig)
	if err != nil {
		return err
	}
	catalog, err := alertCatalog(cfg.ruleFiles)
	if err != nil {
		return err
	}

	var scs []*Scenario
	for _, sc := range scenarios() {
		if filter.MatchString(sc.Name) {
			scs = append(scs, sc)
		}
	}
	rep := report{RulesSHA256: sum, AlertmanagerSHA256: amSum, ScrapeInterval: *scrape}
	for _, plan := range intervals {
		rep.EvalIntervals = append(rep.EvalIntervals, plan.interval)
	}
	for i := range *seeds {
		rep.Seeds = append(rep.Seeds, *seed+uint64(i))
	}
	rep.Runs, err = runAll(scs, rep.Seeds, intervals, cfg, max(*workers, 1))
	if err != nil {
		return err
	}
	rep.Alerts = summarize(catalog, scs, rep.Runs)
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeMarkdown(out, rep, scs)
}

// evalPlan is an evaluation interval and the scenarios to replay at it.
type evalPlan struct {
	interval  time.Duration
	scenarios *regexp.Regexp
}

// runAll replays the scenarios with every seed at every evaluation interval
// that selects them, in interval, scenario, seed order.
func runAll(scs []*Scenario, seeds []uint64, intervals []evalPlan, cfg config, workers int) ([]scenarioResult, error) {
	type task struct {
		i    int
		sc   *Scenario
		seed uint64
		cfg  config
	}
	var tasks []task
	for _, plan := range intervals {
		c := cfg
		c.evalInterval = plan.interval
		for _, sc := range scs {
			if !plan.scenarios.MatchString(sc.Name) {
				continue
			}
			for _, s := range seeds {
				tasks = append(tasks, task{len(tasks), sc, s, c})
			}
		}
	}
	results := make([]scenarioResult, len(tasks))
	errs := make([]error, len(tasks))
	ch := make(chan task)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for t := range ch {
				firings, err := runScenario(t.sc, t.seed, t.cfg)
				if err != nil {
					errs[t.i] = fmt.Errorf("scenario %s, seed %d, evaluation every %s: %w", t.sc.Name, t.seed, t.cfg.evalInterval, err)
					continue
				}
				results[t.i] = score(t.sc, t.seed, firings, t.cfg.notifier.notify(firings, day))
				results[t.i].EvalInterval = t.cfg.evalInterval
			}
		})
	}
	for _, t := range tasks {
		ch <- t
	}
	close(ch)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// filesSHA256 identifies the files a report was made from: the SHA-256 of
// their contents, concatenated in the order given.
func filesSHA256(files ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type alertInfo struct{ name, severity string }

func alertCatalog(files []string) ([]alertInfo, error) {
	var out []alertInfo
	for _, f := range files {
		rgs, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			return nil, fmt.Errorf("parsing %s: %w", f, errs[0])
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					out = append(out, alertInfo{r.Alert, r.Labels["severity"]})
				}
			}
		}
	}
	return out, nil
}
