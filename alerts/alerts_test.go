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

	"github.com/videoconduit/videoconduit_exporter/dashboards"
	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// ruleFiles are the shipped rule files in the order users load them and the
// backtest evaluates them: recording rules first.
var ruleFiles = []string{"videoconduit.rules.yml", "videoconduit.alerts.yml"}

const runbookBase = "https://github.com/videoconduit/videoconduit_exporter/blob/main/alerts/runbook.md#"

type unitTestFile struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	GroupEvalOrder     []string `yaml:"group_eval_order"`
	Tests              []struct {
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
	// Each file at its own evaluation interval, and every file evaluated
	// every minute (Prometheus' default) again at 30 seconds, which many
	// users run: the rules must give the same answers at both. (A file that
	// sets a longer interval does so to replay days quickly.)
	var at30s []string
	dir := t.TempDir()
	for _, f := range files {
		var doc unitTestFile
		readYAML(t, f, &doc)
		if doc.EvaluationInterval != "1m" {
			continue
		}
		copied := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(copied, evaluatedEvery(t, f, "30s"), 0o644); err != nil {
			t.Fatal(err)
		}
		at30s = append(at30s, copied)
	}
	if len(at30s) == 0 {
		t.Fatal("no unit test file evaluates every minute")
	}
	for name, set := range map[string][]string{"own interval": files, "30s": at30s} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(promtool, append([]string{"test", "rules"}, set...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules: %v\n%s", err, out)
			}
			if got := strings.Count(string(out), "SUCCESS"); got != len(set) {
				t.Errorf("promtool test rules reported %d successes for %d files:\n%s", got, len(set), out)
			}
		})
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
	out, err := exec.Command(promtool, "test", "rules", wrong).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "VideoConduitExporterDown") {
		t.Errorf("promtool accepted a test expecting silence from a target down for 15 minutes (err %v):\n%s", err, out)
	}
}

// evaluatedEvery returns a unit test file with its evaluation interval set
// to interval and its rule files by absolute path, so that it runs from any
// folder.
func evaluatedEvery(t *testing.T, file, interval string) []byte {
	t.Helper()
	var doc map[string]any
	readYAML(t, file, &doc)
	doc["evaluation_interval"] = interval
	rules, _ := doc["rule_files"].([]any)
	for i, r := range rules {
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(file), r.(string)))
		if err != nil {
			t.Fatal(err)
		}
		rules[i] = abs
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	alertName     = regexp.MustCompile(`^VideoConduit[A-Z][A-Za-z0-9]+$`)
	recordingName = regexp.MustCompile(`^([a-z][a-z_]*):videoconduit_[a-z0-9_]+:[a-z0-9_]+$`)
	byClause      = regexp.MustCompile(`\bby\s*\(`)
	withoutClause = regexp.MustCompile(`\bwithout\s*\(([a-z_, ]*)\)`)
	runbookAnchor = regexp.MustCompile(`(?m)^## (\S+)$`)
	// dashboardURL is how every dashboard_url starts: the Grafana address
	// from the external label, then one of the two dashboards, filtered
	// to the alert's scrape job.
	dashboardURL = regexp.MustCompile(`^\{\{ \$externalLabels\.grafana_url \}\}/d/(videoconduit-jobs|videoconduit-exporter)/[a-z-]+\?var-job=\{\{ \$labels\.job \| urlquery \}\}`)
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

	panels := dashboardPanels(t)
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
					checkRunbookPanels(t, r.Alert, sections[strings.ToLower(r.Alert)], panels)
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

// dashboardPanels returns the panel titles of each dashboard, by dashboard
// title.
func dashboardPanels(t *testing.T) map[string]map[string]bool {
	t.Helper()
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, q := range qs {
		if out[q.Dashboard] == nil {
			out[q.Dashboard] = map[string]bool{}
		}
		out[q.Dashboard][q.Panel] = true
	}
	return out
}

var (
	dashboardParagraph = regexp.MustCompile(`(?s)\*\*Dashboard\.\*\*(.*?)(?:\n\n|$)`)
	emphasis           = regexp.MustCompile(`(?s)(?:^|[^*])\*([^*]+)\*`)
)

// checkRunbookPanels requires the runbook section's Dashboard paragraph to
// name a dashboard, then panels of it that exist: *Dashboard* → *Panel*.
func checkRunbookPanels(t *testing.T, alert, section string, panels map[string]map[string]bool) {
	t.Helper()
	m := dashboardParagraph.FindStringSubmatch(section)
	if m == nil {
		return // checkAlert reports the missing paragraph
	}
	var board string
	named := 0
	for _, e := range emphasis.FindAllStringSubmatch(m[1], -1) {
		title := strings.Join(strings.Fields(e[1]), " ")
		switch {
		case panels[title] != nil:
			board = title
		case board == "":
			t.Errorf("%s: the runbook's Dashboard paragraph names %q before a dashboard", alert, title)
		case !panels[board][title]:
			t.Errorf("%s: the runbook names panel %q, which dashboard %q does not have", alert, title, board)
		default:
			named++
		}
	}
	if named == 0 {
		t.Errorf("%s: the runbook's Dashboard paragraph names no panel", alert)
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
	if byClause.MatchString(r.Expr) {
		t.Errorf("%s: aggregates with by (...): use without (...), so that account, job and the labels users add survive", r.Alert)
	}
	url := r.Annotations["dashboard_url"]
	if m := dashboardURL.FindStringSubmatch(url); m == nil {
		t.Errorf("%s: dashboard_url %q does not open a VideoConduit dashboard at {{ $externalLabels.grafana_url }} for the alert's job", r.Alert, url)
	} else if m[1] == "videoconduit-jobs" && !strings.Contains(url, "&var-job_type={{ $labels.job_type | urlquery }}") {
		t.Errorf("%s: dashboard_url %q opens the jobs dashboard without selecting the alert's job type", r.Alert, url)
	}
	if !strings.Contains(url, "{{ with $labels.account }}&var-account={{ . | urlquery }}{{ end }}") && strings.Contains(r.Expr, "videoconduit_") {
		t.Errorf("%s: dashboard_url %q does not select the alert's account", r.Alert, url)
	}
	anchor := strings.ToLower(r.Alert)
	if got := r.Annotations["runbook_url"]; got != runbookBase+anchor {
		t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, runbookBase+anchor)
	}
	body, ok := sections[anchor]
	if !ok {
		t.Errorf("%s: runbook.md has no section \"## %s\"", r.Alert, r.Alert)
	}
	for _, part := range []string{"**What it means.**", "**How to confirm.**", "**What to do.**", "**Dashboard.**"} {
		if ok && !strings.Contains(body, part) {
			t.Errorf("%s: runbook section lacks %s", r.Alert, part)
		}
	}
}

// levelLabels are the labels a recording rule's level may name, in the
// order it names them.
var levelLabels = []string{"account", "instance", "job_type", "source", "status", "reason"}

func checkRecording(t *testing.T, r rule) {
	t.Helper()
	m := recordingName.FindStringSubmatch(r.Record)
	if m == nil {
		t.Errorf("recording rule %q is not named level:videoconduit_metric:operations", r.Record)
		return
	}
	// Aggregations name what they drop, so that every other label (the
	// account, the scrape job, a user's cluster) survives.
	if byClause.MatchString(r.Expr) {
		t.Errorf("recording rule %s aggregates with by (...): use without (...)", r.Record)
	}
	// The level names the labels the series keep, in a fixed order: the
	// account first, never a label the rule drops.
	level, rest := m[1], m[1]
	var named []string
	for _, l := range levelLabels {
		if after, ok := strings.CutPrefix(rest, l); ok && (after == "" || after[0] == '_') {
			named = append(named, l)
			rest = strings.TrimPrefix(after, "_")
		}
	}
	if rest != "" || len(named) == 0 || named[0] != "account" {
		t.Errorf("recording rule %s: level %q is not the account followed by labels of %v, in that order", r.Record, level, levelLabels)
	}
	for _, w := range withoutClause.FindAllStringSubmatch(r.Expr, -1) {
		for _, dropped := range strings.Split(w[1], ",") {
			if slices.Contains(named, strings.TrimSpace(dropped)) {
				t.Errorf("recording rule %s drops %s (without (%s)) but its level names it", r.Record, strings.TrimSpace(dropped), w[1])
			}
		}
	}
}

// backtestReport is the part of the backtest's JSON output the test checks.
type backtestReport struct {
	RulesSHA256        string `json:"rules_sha256"`
	AlertmanagerSHA256 string `json:"alertmanager_sha256"`
	Runs               []struct {
		Scenario     string        `json:"scenario"`
		Seed         uint64        `json:"seed"`
		EvalInterval time.Duration `json:"eval_interval"`
		Incidents    []struct {
			Incident string        `json:"incident"`
			Need     string        `json:"need"`
			Deadline time.Duration `json:"deadline"`
			Caught   bool          `json:"caught"`
			First    *struct {
				Alert string        `json:"alert"`
				After time.Duration `json:"after"`
			} `json:"first"`
			Pages   int `json:"pages"`
			Tickets int `json:"tickets"`
		} `json:"incidents"`
		False []struct {
			Alert       string        `json:"alert"`
			Severity    string        `json:"severity"`
			Start       time.Duration `json:"start"`
			Description string        `json:"description"`
		} `json:"false"`
		FalseNotifications []struct {
			Receiver string        `json:"receiver"`
			Severity string        `json:"severity"`
			At       time.Duration `json:"at"`
			Alerts   []struct {
				Alert string `json:"alert"`
			} `json:"alerts"`
		} `json:"false_notifications"`
	} `json:"runs"`
}

func sha256Of(t *testing.T, files ...string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// alertmanagerConfig is the example Alertmanager configuration whose
// grouping and inhibitions the backtest applies.
const alertmanagerConfig = "../examples/alertmanager.yml"

// backtestEvalIntervals replays every scenario at Prometheus' default
// evaluation interval, and the two that test the spike alerts' limits
// (bursts that must not page, partial outages that must) at 30 seconds too.
const backtestEvalIntervals = "1m,30s:^(bursts|partial-outage)$"

// TestBacktest replays the simulated days of tools/prometheus/backtest
// through the shipped rules and the example Alertmanager: every incident
// must be reported within its deadline, with one page if it needs one (a
// ticket at most besides) and none if it needs a ticket, and nothing may
// page on a healthy period.
func TestBacktest(t *testing.T) {
	t.Parallel()
	bin := realtools.Path(t, "backtest")
	cmd := exec.Command(bin, append([]string{"-json", "-scrape-interval", "60s", "-parallel", "2",
		"-eval-interval", backtestEvalIntervals, "-alertmanager-config", alertmanagerConfig}, ruleFiles...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backtest: %v", err)
	}
	var rep backtestReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("backtest output: %v\n%s", err, out)
	}
	rulesSum, amSum := sha256Of(t, ruleFiles...), sha256Of(t, alertmanagerConfig)
	if rep.RulesSHA256 != rulesSum || rep.AlertmanagerSHA256 != amSum {
		t.Fatalf("backtest evaluated rules %s and Alertmanager config %s, the shipped files are %s and %s", rep.RulesSHA256, rep.AlertmanagerSHA256, rulesSum, amSum)
	}

	scenarios := map[string]bool{}
	incidents := 0
	for _, run := range rep.Runs {
		scenarios[run.Scenario+" "+run.EvalInterval.String()] = true
		where := fmt.Sprintf("%s, evaluated every %s", run.Scenario, run.EvalInterval)
		for _, inc := range run.Incidents {
			incidents++
			switch {
			case inc.First == nil:
				t.Errorf("%s: %q: no %s alert fired", where, inc.Incident, inc.Need)
			case !inc.Caught:
				t.Errorf("%s: %q: first %s alert %s fired after %s, deadline %s",
					where, inc.Incident, inc.Need, inc.First.Alert, inc.First.After, inc.Deadline)
			default:
				t.Logf("%s: %q: %s after %s; %d pages, %d tickets", where, inc.Incident, inc.First.Alert, inc.First.After, inc.Pages, inc.Tickets)
			}
			wantPages := 0
			if inc.Need == "critical" {
				wantPages = 1
			}
			if inc.Pages != wantPages || inc.Tickets > 1 {
				t.Errorf("%s: %q: %d pages and %d tickets, want %d page and at most one ticket", where, inc.Incident, inc.Pages, inc.Tickets, wantPages)
			}
		}
		for _, f := range run.False {
			report := t.Errorf // a page on a healthy period misses the target
			if f.Severity != "critical" {
				report = t.Logf // a ticket is reported, and counted in BACKTEST.md
			}
			report("%s (seed %d): %s (%s) fired on a healthy period at %s: %s", where, run.Seed, f.Alert, f.Severity, f.Start, f.Description)
		}
		for _, n := range run.FalseNotifications {
			report := t.Errorf
			if n.Severity != "critical" {
				report = t.Logf
			}
			report("%s (seed %d): %s notified %s about no incident at %s: %v", where, run.Seed, n.Severity, n.Receiver, n.At, n.Alerts)
		}
	}
	for _, want := range []string{"clean-day 1m0s", "youtube-outage 1m0s", "partial-outage 1m0s", "bursts 1m0s", "quiet-night 1m0s",
		"slow-ramp 1m0s", "exporter-outage 1m0s", "stall-and-runaway 1m0s", "partial-outage 30s", "bursts 30s"} {
		if !scenarios[want] {
			t.Errorf("backtest did not replay %s", want)
		}
	}
	if incidents == 0 {
		t.Error("backtest reported no incidents")
	}

	doc, err := os.ReadFile("BACKTEST.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("rules sha256: `%s`; Alertmanager configuration sha256: `%s`", rulesSum, amSum); !strings.Contains(string(doc), want) {
		t.Errorf("BACKTEST.md was not generated from the current rule files and Alertmanager configuration (%s); regenerate it as README.md says", want)
	}
}
