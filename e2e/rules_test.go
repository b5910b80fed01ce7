package e2e

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/videoconduit/videoconduit_exporter/alerts"
)

// The rule-file types are the alerts package's.
type (
	ruleFile  = alerts.RuleFile
	ruleGroup = alerts.RuleGroup
	rule      = alerts.Rule
)

// shippedRules reads the rule files that examples/prometheus.yml loads, by path.
func shippedRules() (map[string]ruleFile, error) {
	paths, err := exampleRuleFiles()
	if err != nil {
		return nil, err
	}
	out := make(map[string]ruleFile, len(paths))
	for _, p := range paths {
		var f ruleFile
		if err := decodeYAMLFile(p, &f); err != nil {
			return nil, err
		}
		out[p] = f
	}
	return out, nil
}

// The alert that the demo's incident (YouTube downloads failing at 90%)
// must page with, and how its test copy differs from it.
const (
	pagingAlert = "VideoConduitJobFailureRatioHigh"
	// speedUp is how much faster the copy's windows and `for` are: the
	// shipped rule waits 5 minutes on 10-minute windows, longer than a test
	// may take.
	speedUp = 10
	// copyLabel marks the copy's alerts, so they never share a label set
	// (and an ALERTS series) with the shipped rule's.
	copyLabel      = "e2e_copy"
	copyLabelValue = "10x_faster"
	fastGroup      = "e2e_fast_copy"
)

// fastCopy returns a rule group with a copy of the shipped pagingAlert and of
// the recording rules it reads, with windows and `for` speedUp times
// shorter: 10m windows become 1m, the "at least 5 failed jobs in the window"
// guard (rate * 600) becomes rate * 60, and the copies of the recording
// rules get names with the shorter window, beside the shipped ones. The
// labels and annotations are the shipped alert's, plus copyLabel.
func fastCopy(files map[string]ruleFile) (ruleGroup, rule, error) {
	recordings := map[string]rule{}
	var order []string // the shipped order, which is evaluation order
	var alert *rule
	for _, path := range sortedKeys(files) {
		for _, g := range files[path].Groups {
			for _, r := range g.Rules {
				switch {
				case r.Record != "":
					recordings[r.Record] = r
					order = append(order, r.Record)
				case r.Alert == pagingAlert:
					alert = &r
				}
			}
		}
	}
	if alert == nil {
		return ruleGroup{}, rule{}, fmt.Errorf("no shipped rule file defines the alert %s", pagingAlert)
	}

	needed := map[string]bool{}
	var need func(expr string)
	need = func(expr string) {
		for _, name := range metricToken.FindAllString(expr, -1) {
			if r, ok := recordings[name]; ok && !needed[name] {
				needed[name] = true
				need(r.Expr)
			}
		}
	}
	need(alert.Expr)

	faster := strings.NewReplacer("10m", "1m", "* 600", "* 60")
	var g ruleGroup
	g.Name = fastGroup
	for _, name := range order {
		if !needed[name] {
			continue
		}
		renamed := faster.Replace(name)
		if _, clash := recordings[renamed]; clash || renamed == name {
			return ruleGroup{}, rule{}, fmt.Errorf("the copy of %s would be named %s, which is not a new name", name, renamed)
		}
		g.Rules = append(g.Rules, rule{Record: renamed, Expr: faster.Replace(recordings[name].Expr)})
	}

	copied := rule{
		Alert:       alert.Alert,
		Expr:        faster.Replace(alert.Expr),
		Labels:      map[string]string{copyLabel: copyLabelValue},
		Annotations: alert.Annotations,
	}
	maps.Copy(copied.Labels, alert.Labels)
	for _, r := range append(slices.Clone(g.Rules), copied) {
		if strings.Contains(r.Expr, "10m") || strings.Contains(r.Expr, "600") {
			return ruleGroup{}, rule{}, fmt.Errorf("%s no longer has the 10-minute windows the copy shortens: update fastCopy (copied expression: %s)", pagingAlert, r.Expr)
		}
	}
	shippedFor, err := model.ParseDuration(alert.For)
	if err != nil {
		return ruleGroup{}, rule{}, fmt.Errorf("%s: for %q: %w", pagingAlert, alert.For, err)
	}
	copied.For = model.Duration(time.Duration(shippedFor) / speedUp).String()
	g.Rules = append(g.Rules, copied)
	return g, copied, nil
}

// metricToken matches metric and recording rule names in PromQL.
var metricToken = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
