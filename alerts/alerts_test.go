package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// ruleFiles are the shipped rule files in the order users load them and the
// backtest evaluates them: recording rules first.
var ruleFiles = []string{"videoconduit.rules.yml", "videoconduit.alerts.yml"}

const runbookBase = "https://github.com/videoconduit/videoconduit_exporter/blob/main/alerts/runbook.md#"

type unitTestFile struct {
	RuleFiles      []string `yaml:"rule_files"`
	GroupEvalOrder []string `yaml:"group_eval_order"`
	Tests          []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

type (
	rule      = Rule
	ruleGroup = RuleGroup
)

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(into); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

// groupsOf returns the rule groups of each shipped file, in file order.
func groupsOf(t *testing.T) map[string][]ruleGroup {
	t.Helper()
	out := map[string][]ruleGroup{}
	for _, f := range ruleFiles {
		var rf struct {
			Groups []ruleGroup `yaml:"groups"`
		}
		readYAML(t, f, &rf)
		if len(rf.Groups) == 0 {
			t.Fatalf("%s has no rule groups", f)
		}
		out[f] = rf.Groups
	}
	return out
}

func unitTestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no unit test files under tests/ (%v)", err)
	}
	return files
}

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(realtools.Path(t, "promtool"), append([]string{"check", "rules"}, ruleFiles...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// promtool must have read every rule the conventions test reads.
	for f, groups := range groupsOf(t) {
		n := 0
		for _, g := range groups {
			n += len(g.Rules)
		}
		if want := fmt.Sprintf("Checking %s\n  SUCCESS: %d rules found", f, n); !strings.Contains(string(out), want) {
			t.Errorf("promtool check rules output lacks %q:\n%s", want, out)
		}
	}
}

func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	promtool := realtools.Path(t, "promtool")
	files := unitTestFiles(t)
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "SUCCESS"); got != len(files) {
		t.Errorf("promtool test rules reported %d successes for %d files:\n%s", got, len(files), out)
	}

	// The same promtool must reject a wrong expectation, or the passing
	// run above proves nothing.
	abs := make([]string, len(ruleFiles))
	for i, f := range ruleFiles {
		p, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		abs[i] = p
	}
	wrong := filepath.Join(t.TempDir(), "wrong.test.yml")
	content := fmt.Sprintf(`rule_files: [%q, %q]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="videoconduit",instance="exporter-1:9000"}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: VideoConduitExporterDown
        exp_alerts: []
`, abs[0], abs[1])
	if err := os.WriteFile(wrong, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(promtool, "test", "rules", wrong).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "VideoConduitExporterDown") {
		t.Errorf("promtool accepted a test expecting silence from a target down for 15 minutes (err %v):\n%s", err, out)
	}
}

var (
	alertName     = regexp.MustCompile(`^VideoConduit[A-Z][A-Za-z0-9]+$`)
	recordingName = regexp.MustCompile(`^([a-z][a-z_]*):videoconduit_[a-z0-9_]+:[a-z0-9_]+$`)
	byClause      = regexp.MustCompile(`\bby \(([a-z_, ]+)\)`)
	runbookAnchor = regexp.MustCompile(`(?m)^## (\S+)$`)
)

func TestConventions(t *testing.T) {
	groups := groupsOf(t)
	runbook, err := os.ReadFile("runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // lower-case anchor -> section text
	for _, part := range strings.Split(string(runbook), "\n## ")[1:] {
		heading, body, _ := strings.Cut(part, "\n")
		sections[strings.ToLower(heading)] = body
	}

	var alerts []string
	var recordingGroups, alertGroups []string
	for _, f := range ruleFiles {
		for _, g := range groups[f] {
			hasRecord, hasAlert := false, false
			for _, r := range g.Rules {
				switch {
				case r.Alert != "":
					hasAlert = true
					alerts = append(alerts, r.Alert)
					checkAlert(t, r, sections)
				case r.Record != "":
					hasRecord = true
					checkRecording(t, r)
				}
			}
			switch {
			case hasRecord && hasAlert:
				t.Errorf("group %s mixes recording and alerting rules", g.Name)
			case hasRecord:
				recordingGroups = append(recordingGroups, g.Name)
			default:
				alertGroups = append(alertGroups, g.Name)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts found")
	}
	for anchor := range sections {
		if !slices.ContainsFunc(alerts, func(a string) bool { return strings.ToLower(a) == anchor }) {
			t.Errorf("runbook.md has a section %q for no alert", anchor)
		}
	}
	if got := runbookAnchor.FindAllStringSubmatch(string(runbook), -1); len(got) != len(alerts) {
		t.Errorf("runbook.md has %d sections for %d alerts", len(got), len(alerts))
	}

	// Every alert is proven both ways by the unit tests, which evaluate
	// recordings before alerts and load exactly the shipped files.
	firing, silent := map[string]int{}, map[string]int{}
	wantOrder := append(slices.Clone(recordingGroups), alertGroups...)
	for _, f := range unitTestFiles(t) {
		var utf unitTestFile
		readYAML(t, f, &utf)
		wantFiles := []string{"../" + ruleFiles[0], "../" + ruleFiles[1]}
		if !slices.Equal(utf.RuleFiles, wantFiles) {
			t.Errorf("%s: rule_files %v, want %v", f, utf.RuleFiles, wantFiles)
		}
		if !slices.Equal(utf.GroupEvalOrder, wantOrder) {
			t.Errorf("%s: group_eval_order %v, want %v", f, utf.GroupEvalOrder, wantOrder)
		}
		for _, tc := range utf.Tests {
			for _, at := range tc.AlertRuleTest {
				if !slices.Contains(alerts, at.Alertname) {
					t.Errorf("%s: test %q checks unknown alert %s", f, tc.Name, at.Alertname)
				}
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname]++
					continue
				}
				firing[at.Alertname]++
				for _, ea := range at.ExpAlerts {
					if ea.ExpLabels["severity"] == "" {
						t.Errorf("%s: test %q expects %s without checking its severity", f, tc.Name, at.Alertname)
					}
				}
			}
		}
	}
	for _, a := range alerts {
		if firing[a] == 0 {
			t.Errorf("%s has no unit test case where it fires", a)
		}
		if silent[a] == 0 {
			t.Errorf("%s has no unit test case where it must stay silent", a)
		}
	}
}

func checkAlert(t *testing.T, r rule, sections map[string]string) {
	t.Helper()
	if !alertName.MatchString(r.Alert) {
		t.Errorf("alert %q: name is not CamelCase with the VideoConduit prefix", r.Alert)
	}
	if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
		t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
	}
	summary, description := r.Annotations["summary"], r.Annotations["description"]
	if summary == "" || strings.Contains(summary, "{{") {
		t.Errorf("%s: summary %q must be a static sentence", r.Alert, summary)
	}
	// absent() has no value worth naming: it is always 1.
	wantValue := !strings.HasPrefix(strings.TrimSpace(r.Expr), "absent(")
	if !strings.Contains(description, "$labels.") || (wantValue && !strings.Contains(description, "$value")) {
		t.Errorf("%s: description %q must name its labels and the value", r.Alert, description)
	}
	anchor := strings.ToLower(r.Alert)
	if got := r.Annotations["runbook_url"]; got != runbookBase+anchor {
		t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, runbookBase+anchor)
	}
	body, ok := sections[anchor]
	if !ok {
		t.Errorf("%s: runbook.md has no section \"## %s\"", r.Alert, r.Alert)
	}
	for _, part := range []string{"**What it means.**", "**How to confirm.**", "**What to do.**"} {
		if ok && !strings.Contains(body, part) {
			t.Errorf("%s: runbook section lacks %s", r.Alert, part)
		}
	}
}

func checkRecording(t *testing.T, r rule) {
	t.Helper()
	m := recordingName.FindStringSubmatch(r.Record)
	if m == nil {
		t.Errorf("recording rule %q is not named level:videoconduit_metric:operations", r.Record)
		return
	}
	// Where the rule aggregates by labels, the level names them.
	if by := byClause.FindStringSubmatch(r.Expr); by != nil {
		if want := strings.ReplaceAll(strings.ReplaceAll(by[1], " ", ""), ",", "_"); m[1] != want {
			t.Errorf("recording rule %s aggregates by (%s): its level should be %s", r.Record, by[1], want)
		}
	}
}

// backtestReport is the part of the backtest's JSON output the test checks.
type backtestReport struct {
	RulesSHA256 string `json:"rules_sha256"`
	Runs        []struct {
		Scenario  string `json:"scenario"`
		Seed      uint64 `json:"seed"`
		Incidents []struct {
			Incident string        `json:"incident"`
			Need     string        `json:"need"`
			Deadline time.Duration `json:"deadline"`
			Caught   bool          `json:"caught"`
			First    *struct {
				Alert string        `json:"alert"`
				After time.Duration `json:"after"`
			} `json:"first"`
		} `json:"incidents"`
		False []struct {
			Alert       string        `json:"alert"`
			Severity    string        `json:"severity"`
			Start       time.Duration `json:"start"`
			Description string        `json:"description"`
		} `json:"false"`
	} `json:"runs"`
}

func rulesSHA256(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	for _, f := range ruleFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestBacktest replays the simulated days of tools/prometheus/backtest
// through the shipped rules: every incident must be reported within its
// deadline, and nothing may page on a healthy period.
func TestBacktest(t *testing.T) {
	t.Parallel()
	bin := realtools.Path(t, "backtest")
	cmd := exec.Command(bin, append([]string{"-json", "-scrape-interval", "60s", "-parallel", "2"}, ruleFiles...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backtest: %v", err)
	}
	var rep backtestReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("backtest output: %v\n%s", err, out)
	}
	sum := rulesSHA256(t)
	if rep.RulesSHA256 != sum {
		t.Fatalf("backtest evaluated rules with sha256 %s, the shipped files have %s", rep.RulesSHA256, sum)
	}

	scenarios := map[string]bool{}
	incidents := 0
	for _, run := range rep.Runs {
		scenarios[run.Scenario] = true
		for _, inc := range run.Incidents {
			incidents++
			switch {
			case inc.First == nil:
				t.Errorf("%s: %q: no %s alert fired", run.Scenario, inc.Incident, inc.Need)
			case !inc.Caught:
				t.Errorf("%s: %q: first %s alert %s fired after %s, deadline %s",
					run.Scenario, inc.Incident, inc.Need, inc.First.Alert, inc.First.After, inc.Deadline)
			default:
				t.Logf("%s: %q: %s after %s", run.Scenario, inc.Incident, inc.First.Alert, inc.First.After)
			}
		}
		for _, f := range run.False {
			report := t.Errorf // a page on a healthy period misses the target
			if f.Severity != "critical" {
				report = t.Logf // a ticket is reported, and counted in BACKTEST.md
			}
			report("%s (seed %d): %s (%s) fired on a healthy period at %s: %s",
				run.Scenario, run.Seed, f.Alert, f.Severity, f.Start, f.Description)
		}
	}
	for _, want := range []string{"clean-day", "youtube-outage", "quiet-night", "slow-ramp", "exporter-outage"} {
		if !scenarios[want] {
			t.Errorf("backtest has no %s scenario", want)
		}
	}
	if incidents == 0 {
		t.Error("backtest reported no incidents")
	}

	doc, err := os.ReadFile("BACKTEST.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "rules sha256: `"+sum+"`") {
		t.Errorf("BACKTEST.md was not generated from the current rule files (sha256 %s); regenerate it as README.md says", sum)
	}
}
