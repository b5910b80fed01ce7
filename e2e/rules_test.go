package e2e

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

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
	pagingAlert = "VideoConduitSourceFailureSpike"
	// speedUp is how much faster the copy's windows, `for` and
	// keep_firing_for are: the shipped rule looks at 10 minutes and keeps
	// firing 10 more, longer than a test may take.
	speedUp = 10
	// copyLabel marks the copy's alerts, so they never share a label set
	// (and an ALERTS series) with the shipped rule's.
	copyLabel      = "e2e_copy"
	copyLabelValue = "10x_faster"
	fastGroup      = "e2e_fast_copy"
	// copySuffix ends the names of the copies of the recording rules the
	// alert reads, which run beside the shipped ones.
	copySuffix = "_10x_faster"
)

// fastCopy returns a rule group with a copy of the shipped pagingAlert and of
// the recording rules it reads, every window speedUp times shorter (see
// scaledRule). The copies of the recording rules get the names of the
// shipped ones with copySuffix. The labels and annotations are the shipped
// alert's, plus copyLabel.
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
	rename := func(expr string) string {
		return metricToken.ReplaceAllStringFunc(expr, func(name string) string {
			if needed[name] {
				return name + copySuffix
			}
			return name
		})
	}

	var g ruleGroup
	g.Name = fastGroup
	for _, name := range order {
		if !needed[name] {
			continue
		}
		r, err := scaledRule(recordings[name], speedUp)
		if err != nil {
			return ruleGroup{}, rule{}, err
		}
		g.Rules = append(g.Rules, rule{Record: name + copySuffix, Expr: rename(r.Expr)})
	}
	copied, err := scaledRule(*alert, speedUp)
	if err != nil {
		return ruleGroup{}, rule{}, err
	}
	copied.Expr = rename(copied.Expr)
	copied.Labels = map[string]string{copyLabel: copyLabelValue}
	maps.Copy(copied.Labels, alert.Labels)
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
