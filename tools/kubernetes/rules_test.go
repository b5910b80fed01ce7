package kubernetes

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// ruleFile is a Prometheus rule file, read into the operator's types.
type ruleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// sourceGroups are the rule groups of alerts/*.yml in the repository (not
// the chart's copies), in the order of the file names, as helm reads them.
func sourceGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "alerts", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in alerts/: %v", err)
	}
	var groups []monitoringv1.RuleGroup
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.UnmarshalStrict(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		groups = append(groups, rf.Groups...)
	}
	return groups
}

func renderRules(t *testing.T, extra values) *monitoringv1.PrometheusRule {
	t.Helper()
	pr := values{"enabled": true}
	maps.Copy(pr, extra)
	o := render(t, values{"prometheusRule": pr})
	if o.PrometheusRule == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	return o.PrometheusRule
}

// TestPrometheusRuleHoldsTheAlertFiles: the PrometheusRule holds the groups
// of alerts/*.yml as they are, Prometheus' own {{ $labels }} templates
// included.
func TestPrometheusRuleHoldsTheAlertFiles(t *testing.T) {
	got, want := renderRules(t, nil).Spec.Groups, sourceGroups(t)
	if !reflect.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Fatalf("PrometheusRule groups differ from alerts/*.yml\n--- rendered:\n%s\n--- alerts/:\n%s", g, w)
	}
	templated := 0
	for _, g := range got {
		for _, r := range g.Rules {
			for _, a := range r.Annotations {
				if strings.Contains(a, "{{ $labels.") || strings.Contains(a, "{{ $value") {
					templated++
				}
			}
		}
	}
	if templated == 0 {
		t.Error("no annotation holds a Prometheus template: the comparison proves nothing about them")
	}
}

// TestPrometheusRuleDisablesAndLabels: disabled alerts are left out (a group
// left empty with them), and extra labels join every alert's own, which keep
// their values; recording rules are left as they are.
func TestPrometheusRuleDisablesAndLabels(t *testing.T) {
	want := sourceGroups(t)
	// Disable every alert of the last alerting group, and the first alert of
	// the first one.
	var disabled []any
	first, last := -1, -1
	for i, g := range want {
		if len(g.Rules) > 0 && g.Rules[0].Alert != "" {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || first == last {
		t.Fatal("the rule files need two alerting groups for this test")
	}
	for _, r := range want[last].Rules {
		disabled = append(disabled, r.Alert)
	}
	disabled = append(disabled, want[first].Rules[0].Alert)
	severity := want[first].Rules[1].Labels["severity"]
	if severity == "" {
		t.Fatalf("alert %s has no severity", want[first].Rules[1].Alert)
	}

	got := renderRules(t, values{"disabled": disabled, "extraLabels": map[string]any{"team": "video", "severity": "overridden"}}).Spec.Groups

	off := map[string]bool{}
	for _, d := range disabled {
		off[d.(string)] = true
	}
	var expect []monitoringv1.RuleGroup
	for _, g := range want {
		var rules []monitoringv1.Rule
		for _, r := range g.Rules {
			if r.Alert != "" {
				if off[r.Alert] {
					continue
				}
				r.Labels = maps.Clone(r.Labels)
				if r.Labels == nil {
					r.Labels = map[string]string{}
				}
				r.Labels["team"] = "video"
				if _, ok := r.Labels["severity"]; !ok {
					r.Labels["severity"] = "overridden"
				}
			}
			rules = append(rules, r)
		}
		if len(rules) > 0 {
			g.Rules = rules
			expect = append(expect, g)
		}
	}
	if len(expect) != len(want)-1 {
		t.Fatalf("expected %d groups from %d: the disabled group should be gone", len(expect), len(want))
	}
	if !reflect.DeepEqual(got, expect) {
		g, _ := yaml.Marshal(got)
		e, _ := yaml.Marshal(expect)
		t.Fatalf("rendered groups:\n%s\nwant:\n%s", g, e)
	}
	if r := got[first].Rules[0]; r.Labels["severity"] != severity || r.Labels["team"] != "video" {
		t.Errorf("%s labels %v: want its own severity %s and team video", r.Alert, r.Labels, severity)
	}
}

// TestPrometheusRulePassesTheRuleTests extracts the rendered groups into a
// rule file and runs the promtool unit tests of alerts/tests on it.
func TestPrometheusRulePassesTheRuleTests(t *testing.T) {
	promtool := realtools.Path(t, "promtool")
	dir := t.TempDir()
	rules, err := yaml.Marshal(ruleFile{Groups: renderRules(t, nil).Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	ruleFile := filepath.Join(dir, "prometheusrule.yml")
	if err := os.WriteFile(ruleFile, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", ruleFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	tests, err := filepath.Glob(filepath.Join(root, "alerts", "tests", "*.test.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in alerts/tests: %v", err)
	}
	ruleFiles := regexp.MustCompile(`(?m)^rule_files:\n(?:  - .*\n)+`)
	var args []string
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(ruleFiles.FindAll(b, -1)) != 1 {
			t.Fatalf("%s: want one rule_files list of the form this test rewrites", f)
		}
		b = ruleFiles.ReplaceAll(b, []byte("rule_files:\n  - "+ruleFile+"\n"))
		out := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, out)
	}
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules on the PrometheusRule's groups: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("SUCCESS")); n != len(args) {
		t.Errorf("promtool reported %d successes for %d files:\n%s", n, len(args), out)
	}
}
