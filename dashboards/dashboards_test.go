package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/alerts"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

const (
	datasourceVar = "${datasource}"
	buildInfo     = "videoconduit_exporter_build_info"
	// webInfo, like buildInfo, describes the process, not an account; main
	// registers both.
	webInfo     = "videoconduit_exporter_web_info"
	gridColumns = 24
)

// stableUIDs pins each file's dashboard uid: links, bookmarks and alert
// annotations point at it, so changing one is a breaking change.
var stableUIDs = map[string]string{
	"videoconduit-jobs.json":     "videoconduit-jobs",
	"videoconduit-exporter.json": "videoconduit-exporter",
}

var (
	rangeFunctions    = setOf("rate", "irate", "increase")
	counterSuffixes   = []string{"_total", "_bucket", "_count", "_sum"}
	histogramSuffixes = []string{"_bucket", "_sum", "_count"}
	labelValuesQuery  = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	validUID          = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
)

type (
	ruleFile  = alerts.RuleFile
	ruleGroup = alerts.RuleGroup
	rule      = alerts.Rule
)

func readDashboard(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func loadAll(t *testing.T) []*dashboard {
	t.Helper()
	all, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// problems collects what the linter finds, one line each.
type problems []string

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// lintDashboard checks one dashboard file against the conventions that do not
// depend on the other dashboard or on the exporter's metric names.
func lintDashboard(name string, raw []byte) []string {
	var p problems
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return []string{fmt.Sprintf("%s does not parse: %v", name, err)}
	}
	p.datasourceRefs("", generic)
	d, err := decode(name, raw)
	if err != nil {
		p.addf("%v", err)
		return p
	}
	p.datasourceVariable(d, string(raw))
	p.header(d)
	p.variables(d)
	p.panels(d)
	p.queries(d)
	return p
}

// datasourceRefs walks the whole JSON: every datasource reference, wherever it
// sits, goes through the datasource variable.
func (p *problems) datasourceRefs(path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		if ds, ok := v["datasource"]; ok {
			switch ds := ds.(type) {
			case map[string]any:
				if ds["uid"] != datasourceVar {
					p.addf("%s: datasource uid %v, want %s", path, ds["uid"], datasourceVar)
				}
				if ds["type"] != "prometheus" {
					p.addf("%s: datasource type %v, want prometheus", path, ds["type"])
				}
			default:
				p.addf("%s: datasource %v is not a {type, uid} reference to %s", path, ds, datasourceVar)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.datasourceRefs(path+"."+k, v[k])
		}
	case []any:
		for i, item := range v {
			p.datasourceRefs(fmt.Sprintf("%s[%d]", path, i), item)
		}
	}
}

// datasourceVariable checks that the dashboard picks its datasource through
// the datasource variable, starting on Grafana's default datasource: that
// works both when the file is imported and when it is provisioned, where no
// import input would ever be filled in.
func (p *problems) datasourceVariable(d *dashboard, raw string) {
	if len(d.Inputs) > 0 || strings.Contains(raw, "${DS_") {
		p.addf("__inputs or ${DS_...}: a provisioned dashboard never fills them in; start the datasource variable on \"default\"")
	}
	if v, _ := d.variable("datasource"); v.Current.Value != "default" || v.Label != "Data source" {
		p.addf("the datasource variable starts on %v labelled %q, want \"default\" labelled \"Data source\"", v.Current.Value, v.Label)
	}
	required := map[string]bool{}
	for _, r := range d.Requires {
		required[r.Type+"/"+r.ID] = true
	}
	for _, want := range []string{"grafana/grafana", "datasource/prometheus"} {
		if !required[want] {
			p.addf("__requires lacks %s", want)
		}
	}
	for _, pn := range d.allPanels() {
		if pn.Type != "row" && !required["panel/"+pn.Type] {
			p.addf("panel %q: type %s missing from __requires", pn.Title, pn.Type)
		}
	}
}

func (p *problems) header(d *dashboard) {
	if d.ID != nil {
		p.addf("id is %d, want null so that an import creates the dashboard", *d.ID)
	}
	if !validUID.MatchString(d.UID) {
		p.addf("uid %q is not a stable lowercase uid of at most 40 characters", d.UID)
	}
	if d.Title == "" {
		p.addf("no title")
	}
	if len(d.Links) == 0 {
		p.addf("no links to the other VideoConduit dashboard")
	}
	if d.Editable {
		p.addf("editable: the files are the source of truth, so the dashboard is not editable in the UI")
	}
}

// allValues is what each query variable sends when All is selected: .+ (any
// value, as dashboard-linter wants for job and instance), except for the
// account, which exporters from before the account label do not set.
func allValueOf(name string) string {
	if name == "account" {
		return ".*"
	}
	return ".+"
}

func (p *problems) variables(d *dashboard) {
	if v, ok := d.variable("datasource"); !ok || v.Type != "datasource" || v.Query.Text != "prometheus" {
		p.addf("no variable datasource of type datasource for prometheus")
	}
	for _, name := range []string{"job", "account", "instance"} {
		v, ok := d.variable(name)
		if !ok || v.Type != "query" || !strings.HasPrefix(v.Query.Text, "label_values(videoconduit_up") {
			p.addf("no variable %s of type query over label_values(videoconduit_up...)", name)
		}
		if want := strings.ToUpper(name[:1]) + name[1:]; ok && v.Label != want {
			p.addf("variable %s: label %q, want %q", name, v.Label, want)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if _, _, ok := v.labelValues(); !ok {
			p.addf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query.Text)
		}
		if v.Definition != v.Query.Text {
			p.addf("variable %s: definition %q differs from its query %q", v.Name, v.Definition, v.Query.Text)
		}
		if v.Datasource == nil {
			p.addf("variable %s: no datasource", v.Name)
		}
		if want := allValueOf(v.Name); !v.Multi || !v.IncludeAll || v.AllValue != want {
			p.addf("variable %s: want a multi-value variable that offers All with allValue %q", v.Name, want)
		}
		if v.Refresh != 2 {
			p.addf("variable %s: refresh %d, want 2 (on time range change), so that new accounts and jobs appear", v.Name, v.Refresh)
		}
	}
}

// labelValues splits a label_values(selector, label) query.
func (v variable) labelValues() (sel, label string, ok bool) {
	m := labelValuesQuery.FindStringSubmatch(v.Query.Text)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func (p *problems) panels(d *dashboard) {
	ids := map[int]string{}
	var placed []panel
	for _, pn := range d.allPanels() {
		if other, dup := ids[pn.ID]; dup || pn.ID <= 0 {
			p.addf("panel %q: duplicate or missing panel id %d (also %q)", pn.Title, pn.ID, other)
		}
		ids[pn.ID] = pn.Title
		g := pn.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > gridColumns {
			p.addf("panel %q: gridPos %+v is outside the %d-column grid", pn.Title, g, gridColumns)
		}
		for _, q := range placed {
			o := q.GridPos
			if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
				p.addf("panel %q: gridPos overlaps panel %q", pn.Title, q.Title)
			}
		}
		placed = append(placed, pn)
		if pn.Type == "row" {
			continue
		}
		if pn.Title == "" {
			p.addf("panel %d: no title", pn.ID)
		}
		if strings.TrimSpace(pn.Description) == "" {
			p.addf("panel %q: no description", pn.Title)
		}
		if pn.FieldConfig.Defaults.Unit == "" {
			p.addf("panel %q: no unit in fieldConfig.defaults", pn.Title)
		}
		if pn.Datasource == nil {
			p.addf("panel %q: no datasource", pn.Title)
		}
		if len(pn.Targets) == 0 {
			p.addf("panel %q: no query", pn.Title)
		}
		refIDs := map[string]bool{}
		for _, t := range pn.Targets {
			if t.RefID == "" || refIDs[t.RefID] {
				p.addf("panel %q: empty or duplicate refId %q", pn.Title, t.RefID)
			}
			refIDs[t.RefID] = true
			if t.Exemplar && t.Instant {
				p.addf("panel %q: exemplars on an instant query are never shown", pn.Title)
			}
		}
	}
}

// queries checks every panel and annotation query, and that every variable
// filters something.
func (p *problems) queries(d *dashboard) {
	placed, err := d.placedQueries()
	if err != nil {
		p.addf("%v", err)
		return
	}
	if _, err := d.queries(); err != nil {
		p.addf("%v", err)
	}
	for _, q := range placed {
		sels, err := selectors(q.Expr)
		if err != nil {
			p.addf("%s: %q: %v", q.where, q.Expr, err)
			continue
		}
		for _, s := range sels {
			p.selector(q.where, q.Instant, s)
		}
	}
	firingAlerts := slices.ContainsFunc(d.Annotations.List, func(a annotation) bool {
		sels, err := selectors(a.Expr)
		return a.Enable && err == nil && slices.ContainsFunc(sels, func(s selector) bool {
			return s.name == "ALERTS" && s.has("alertstate", "=", "firing")
		})
	})
	if !firingAlerts {
		p.addf("no enabled annotation shows firing alerts (ALERTS{alertstate=\"firing\"})")
	}
	used := map[string]bool{}
	for _, q := range placed {
		for _, m := range variableRef.FindAllStringSubmatch(q.Expr, -1) {
			used[m[1]+m[2]+m[3]] = true
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "datasource" && !used[v.Name] {
			p.addf("variable %s filters no panel query", v.Name)
		}
	}
}

func (p *problems) selector(where string, instant bool, s selector) {
	if s.name == "" {
		p.addf("%s: a selector names no metric", where)
		return
	}
	// ALERTS carries the labels of each alert's expression, which need not
	// keep job and instance. Recorded series have no instance (the rules
	// count replicas once); every series of the exporter's but the build
	// and web info describes an account.
	recorded := strings.Contains(s.name, ":")
	var filters []string
	switch {
	case s.name == "ALERTS":
	case recorded:
		filters = []string{"job", "account"}
	case s.name == buildInfo || s.name == webInfo || !strings.HasPrefix(s.name, "videoconduit_"):
		filters = []string{"job", "instance"}
	default:
		filters = []string{"job", "instance", "account"}
	}
	for _, label := range filters {
		if !s.has(label, "=~", "$"+label) {
			p.addf("%s: %s is not filtered by %s=~\"$%s\"", where, s.name, label, label)
		}
	}
	// A counter's value means nothing on its own; as the right operand of
	// and, or, unless it stands for the series' presence, or for a series
	// born within the range, which counts from zero.
	if isCounter(s.name) && (!rangeFunctions[s.call] || s.window == "") && !s.setOperand {
		p.addf("%s: counter %s outside rate/irate/increase", where, s.name)
	}
	switch {
	case s.setOperand:
		// A presence test, as in last_over_time(x[1h] offset $__range):
		// its window says how far back to look, not a rate.
	case s.window == "", s.window == "$__rate_interval":
	case s.window == "$__range":
		if !instant {
			p.addf("%s: %s[$__range] in a range query: every point would cover the whole dashboard range", where, s.name)
		}
	default:
		p.addf("%s: %s has window [%s]; use [$__rate_interval], or [$__range] for totals over the range", where, s.name, s.window)
	}
	for _, m := range s.matchers {
		if strings.Contains(m.value, "$") && m.op != "=~" && m.op != "!~" {
			p.addf("%s: %s%s%q: a variable needs =~ so that multiple values and All work", where, m.label, m.op, m.value)
		}
	}
}

func isCounter(name string) bool {
	for _, suffix := range counterSuffixes {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

func TestDashboardsFollowConventions(t *testing.T) {
	for _, name := range files {
		for _, problem := range lintDashboard(name, readDashboard(t, name)) {
			t.Errorf("%s: %s", name, problem)
		}
	}
}

// TestEveryDashboardFileIsListed keeps a new dashboard file from escaping the
// linter and Queries.
func TestEveryDashboardFileIsListed(t *testing.T) {
	found, err := filepath.Glob(filepath.Join(dir(), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range found {
		names = append(names, filepath.Base(f))
	}
	want := slices.Clone(files)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("dashboard files %v, want %v", names, want)
	}
}

func TestStableUIDsAndLinksBothWays(t *testing.T) {
	all := loadAll(t)
	for _, d := range all {
		if d.UID != stableUIDs[d.file] {
			t.Errorf("%s: uid %q, want the stable %q", d.file, d.UID, stableUIDs[d.file])
		}
		for _, other := range all {
			if other == d {
				continue
			}
			linked := slices.ContainsFunc(d.Links, func(l link) bool {
				return l.Type == "link" && strings.HasPrefix(l.URL, "/d/"+other.UID+"/") && l.KeepTime && l.IncludeVars
			})
			if !linked {
				t.Errorf("%s: no link to /d/%s/ keeping time and variables", d.file, other.UID)
			}
		}
	}
}

func TestJobsDashboardFiltersByJobTypeAndSource(t *testing.T) {
	d, err := decode("videoconduit-jobs.json", readDashboard(t, "videoconduit-jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"job_type", "source"} {
		v, ok := d.variable(name)
		if !ok {
			t.Errorf("no variable %s", name)
			continue
		}
		if _, label, _ := v.labelValues(); label != name || !v.Multi || !v.IncludeAll || v.AllValue != ".+" {
			t.Errorf("variable %s: want label_values(..., %s), multi-select with All = .+; got %+v", name, name, v)
		}
	}
}

func TestFailuresPanelShowsExemplars(t *testing.T) {
	for _, d := range loadAll(t) {
		for _, pn := range d.allPanels() {
			for _, tg := range pn.Targets {
				if tg.Exemplar && !tg.Instant && strings.Contains(tg.Expr, "videoconduit_job_failures_total") {
					return
				}
			}
		}
	}
	t.Error("no range query of videoconduit_job_failures_total has exemplars on: the failures' job_id exemplars would not show")
}

// knownMetrics returns the series names the exporter exposes.
func knownMetrics() map[string]bool {
	known := map[string]bool{buildInfo: true, webInfo: true}
	for _, name := range collector.MetricNames() {
		known[name] = true
		if !strings.HasSuffix(name, "_total") {
			// MetricNames lists families without their types; any one that
			// is not a counter may be a histogram, whose series carry these
			// suffixes.
			for _, suffix := range histogramSuffixes {
				known[name+suffix] = true
			}
		}
	}
	return known
}

// alertRules reads the rule files in alerts/ and returns the names they record
// and the names of their alerts.
func alertRules(t *testing.T) (recorded, alerts map[string]bool) {
	t.Helper()
	recorded, alerts = map[string]bool{}, map[string]bool{}
	for _, g := range ruleGroups(t) {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			if r.Alert != "" {
				alerts[r.Alert] = true
			}
		}
	}
	return recorded, alerts
}

// ruleGroups reads the rule groups of the rule files in alerts/.
func ruleGroups(t *testing.T) []ruleGroup {
	t.Helper()
	var groups []ruleGroup
	var paths []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		found, err := filepath.Glob(filepath.Join(dir(), "..", "alerts", pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, found...)
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(raw, &rf); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		groups = append(groups, rf.Groups...)
	}
	return groups
}

// comparedNumber is a number an alert compares with: "> 0.10", ">= 10".
var comparedNumber = regexp.MustCompile(`[<>]=?\s*([0-9]+(?:\.[0-9]+)?)\b`)

// TestDrawnLinesAreTheAlerts keeps the constant lines the panels draw (the
// 10% of the failure ratio alert, the burn rates) equal to numbers the alerts
// compare with, and the recordings the job alerts read on a panel: "what the
// alerts see" shows what they see.
func TestDrawnLinesAreTheAlerts(t *testing.T) {
	groups := ruleGroups(t)
	compared := map[float64]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			for _, m := range comparedNumber.FindAllStringSubmatch(r.Expr, -1) {
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatal(err)
				}
				compared[v] = true
			}
		}
	}
	lines := 0
	for _, d := range loadAll(t) {
		for _, pn := range d.allPanels() {
			defaults := pn.FieldConfig.Defaults
			if mode := defaults.Custom.ThresholdsStyle.Mode; mode == "" || mode == "off" {
				continue
			}
			for _, step := range defaults.Thresholds.Steps {
				if step.Value == nil {
					continue
				}
				lines++
				if !compared[*step.Value] {
					t.Errorf("%s: panel %q draws a line at %v, which no alert compares with", d.file, pn.Title, *step.Value)
				}
			}
		}
	}
	if lines == 0 {
		t.Error("no panel draws an alert's threshold")
	}

	shown := map[string]bool{}
	for _, u := range usedMetrics(t, loadAll(t)) {
		shown[u.name] = true
	}
	recorded, _ := alertRules(t)
	for _, g := range groups {
		if g.Name != "videoconduit_jobs.alerts" {
			continue
		}
		for _, r := range g.Rules {
			for _, name := range recordedName.FindAllString(r.Expr, -1) {
				if recorded[name] && !shown[name] {
					t.Errorf("%s reads %s, which no panel shows", r.Alert, name)
				}
			}
		}
	}
}

var recordedName = regexp.MustCompile(`[a-z_]+:videoconduit_[a-z0-9_]+:[a-z0-9_]+`)

// usedMetric is a metric name that a dashboard query names.
type usedMetric struct {
	name, where string
}

// usedMetrics returns the exporter and recording rule names that panel,
// annotation and variable queries select.
func usedMetrics(t *testing.T, all []*dashboard) []usedMetric {
	t.Helper()
	var out []usedMetric
	add := func(where, expr string) {
		sels, err := selectors(expr)
		if err != nil {
			t.Fatalf("%s: %q: %v", where, expr, err)
		}
		for _, s := range sels {
			if strings.HasPrefix(s.name, "videoconduit_") || strings.Contains(s.name, ":") {
				out = append(out, usedMetric{s.name, where})
			}
		}
	}
	for _, d := range all {
		placed, err := d.placedQueries()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range placed {
			add(d.file+": "+q.where, q.Expr)
		}
		for _, v := range d.Templating.List {
			if sel, _, ok := v.labelValues(); ok {
				add(d.file+": variable "+v.Name, sel)
			}
		}
	}
	return out
}

// unknownMetrics returns the used names that neither the exporter exposes nor
// a rule records.
func unknownMetrics(used []usedMetric, known, recorded map[string]bool) []usedMetric {
	var out []usedMetric
	for _, u := range used {
		if !known[u.name] && !recorded[u.name] {
			out = append(out, u)
		}
	}
	return out
}

// unshownMetrics returns the exporter's families that no query selects.
func unshownMetrics(families []string, used []usedMetric) []string {
	names := map[string]bool{}
	for _, u := range used {
		names[u.name] = true
	}
	var out []string
	for _, family := range families {
		shown := names[family]
		for _, suffix := range histogramSuffixes {
			shown = shown || names[family+suffix]
		}
		if !shown {
			out = append(out, family)
		}
	}
	return out
}

func TestQueriedMetricsExist(t *testing.T) {
	recorded, _ := alertRules(t)
	for _, u := range unknownMetrics(usedMetrics(t, loadAll(t)), knownMetrics(), recorded) {
		if strings.Contains(u.name, ":") {
			t.Errorf("%s: %s is not recorded by any rule in alerts/", u.where, u.name)
		} else {
			t.Errorf("%s: %s is not exposed by the exporter (collector.MetricNames)", u.where, u.name)
		}
	}
}

func TestEveryExporterMetricIsShown(t *testing.T) {
	families := append(collector.MetricNames(), buildInfo)
	for _, family := range unshownMetrics(families, usedMetrics(t, loadAll(t))) {
		t.Errorf("no panel shows %s", family)
	}
}

// TestMetricChecksCatchMistakes proves that the two checks above can fail.
func TestMetricChecksCatchMistakes(t *testing.T) {
	used := []usedMetric{
		{"videoconduit_up", "a"},
		{"videoconduit_job_duration_seconds_bucket", "b"},
		{"videoconduit_jobs_finishd_total", "c"},
		{"job_type:videoconduit_job_failure:ratio_rate10m", "d"},
		{"job_type:videoconduit_job_failure:ratio_rate1h", "e"},
	}
	known := map[string]bool{"videoconduit_up": true, "videoconduit_job_duration_seconds_bucket": true}
	recorded := map[string]bool{"job_type:videoconduit_job_failure:ratio_rate10m": true}
	got := unknownMetrics(used, known, recorded)
	want := []usedMetric{used[2], used[4]}
	if !slices.Equal(got, want) {
		t.Errorf("unknownMetrics = %v, want %v", got, want)
	}
	families := []string{"videoconduit_up", "videoconduit_job_duration_seconds", "videoconduit_jobs_vanished_total"}
	if got := unshownMetrics(families, used); !slices.Equal(got, []string{"videoconduit_jobs_vanished_total"}) {
		t.Errorf("unshownMetrics = %v, want only videoconduit_jobs_vanished_total", got)
	}
}

// TestAlertAnnotationsMatchAlerts keeps the alert annotations pointed at the
// alerts that alerts/ defines.
func TestAlertAnnotationsMatchAlerts(t *testing.T) {
	_, alerts := alertRules(t)
	if len(alerts) == 0 {
		t.Fatal("alerts/ defines no alert: the dashboards' alert annotations would never show anything")
	}
	for _, d := range loadAll(t) {
		for _, a := range d.Annotations.List {
			sels, err := selectors(a.Expr)
			if err != nil {
				t.Fatalf("%s: annotation %s: %v", d.file, a.Name, err)
			}
			for _, s := range sels {
				for _, m := range s.matchers {
					if s.name != "ALERTS" || m.label != "alertname" || m.op != "=~" {
						continue
					}
					re, err := regexp.Compile("^(?:" + m.value + ")$")
					if err != nil {
						t.Fatalf("%s: annotation %s: %v", d.file, a.Name, err)
					}
					matched := 0
					for name := range alerts {
						if re.MatchString(name) {
							matched++
						}
					}
					if matched != len(alerts) {
						t.Errorf("%s: annotation %s: alertname=~%q matches %d of the %d alerts in alerts/", d.file, a.Name, m.value, matched, len(alerts))
					}
				}
			}
		}
	}
}

// TestLinterCatchesViolations breaks the jobs dashboard one convention at a
// time and expects the linter to name the break.
func TestLinterCatchesViolations(t *testing.T) {
	const name = "videoconduit-jobs.json"
	original := readDashboard(t, name)
	setExpr := func(expr string) func(map[string]any) {
		return func(d map[string]any) { firstTarget(t, d)["expr"] = expr }
	}
	for _, tc := range []struct {
		name   string
		mutate func(map[string]any)
		want   string
	}{
		{"hard-coded datasource uid", func(d map[string]any) {
			firstPanel(t, d)["datasource"] = map[string]any{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
		}, "datasource uid P1809F7CD0C75ACF3"},
		{"datasource by name", func(d map[string]any) { firstPanel(t, d)["datasource"] = "Prometheus" }, "is not a {type, uid} reference"},
		{"no unit", func(d map[string]any) {
			delete(firstPanel(t, d)["fieldConfig"].(map[string]any)["defaults"].(map[string]any), "unit")
		}, "no unit"},
		{"no description", func(d map[string]any) { firstPanel(t, d)["description"] = " " }, "no description"},
		{"fixed rate window", setExpr(`sum(rate(videoconduit_jobs_created_total{job=~"$job", instance=~"$instance", job_type=~"$job_type", source=~"$source"}[5m]))`), "has window [5m]"},
		{"counter outside rate", setExpr(`sum(videoconduit_jobs_created_total{job=~"$job", instance=~"$instance", job_type=~"$job_type", source=~"$source"})`), "counter videoconduit_jobs_created_total outside rate"},
		{"bucket outside rate", setExpr(`histogram_quantile(0.9, videoconduit_job_duration_seconds_bucket{job=~"$job", instance=~"$instance", job_type=~"$job_type", source=~"$source"})`), "counter videoconduit_job_duration_seconds_bucket outside"},
		{"no job filter", setExpr(`sum(videoconduit_jobs_active{instance=~"$instance", job_type=~"$job_type", source=~"$source"})`), `not filtered by job=~"$job"`},
		{"range window in a range query", func(d map[string]any) {
			tg := firstTarget(t, d)
			tg["expr"] = `sum(increase(videoconduit_jobs_created_total{job=~"$job", instance=~"$instance", job_type=~"$job_type", source=~"$source"}[$__range]))`
			tg["instant"] = false
		}, "[$__range] in a range query"},
		{"variable in an equality matcher", setExpr(`sum(videoconduit_jobs_active{job=~"$job", instance=~"$instance", job_type="$job_type", source=~"$source"})`), "a variable needs =~"},
		{"undefined variable", setExpr(`sum(videoconduit_jobs_active{job=~"$job", instance=~"$instance", job_type=~"$jobtype", source=~"$source"})`), "without an All value: $jobtype"},
		{"unbalanced query", setExpr(`sum(rate(videoconduit_jobs_created_total{job=~"$job", instance=~"$instance"}[$__rate_interval])`), "unbalanced parentheses"},
		{"no instance variable", func(d map[string]any) {
			tmpl := d["templating"].(map[string]any)
			tmpl["list"] = slices.DeleteFunc(tmpl["list"].([]any), func(v any) bool { return v.(map[string]any)["name"] == "instance" })
		}, "no variable instance"},
		{"unused variable", func(d map[string]any) {
			tmpl := d["templating"].(map[string]any)
			tmpl["list"] = append(tmpl["list"].([]any), map[string]any{
				"name": "status", "type": "query", "definition": "label_values(videoconduit_jobs_active, status)",
				"query":      map[string]any{"query": "label_values(videoconduit_jobs_active, status)"},
				"datasource": map[string]any{"type": "prometheus", "uid": datasourceVar},
			})
		}, "variable status filters no panel query"},
		{"multi-value variable without All", func(d map[string]any) {
			for _, v := range d["templating"].(map[string]any)["list"].([]any) {
				if v.(map[string]any)["name"] == "source" {
					v.(map[string]any)["includeAll"] = false
				}
			}
		}, "variable source: want a multi-value variable that offers All"},
		{"duplicate panel id", func(d map[string]any) { d["panels"].([]any)[1].(map[string]any)["id"] = 1.0 }, "duplicate or missing panel id 1"},
		{"overlapping panels", func(d map[string]any) {
			d["panels"].([]any)[1].(map[string]any)["gridPos"] = map[string]any{"h": 4.0, "w": 4.0, "x": 2.0, "y": 0.0}
		}, "overlaps panel"},
		{"wider than the grid", func(d map[string]any) {
			firstPanel(t, d)["gridPos"] = map[string]any{"h": 4.0, "w": 30.0, "x": 0.0, "y": 0.0}
		}, "outside the 24-column grid"},
		{"not importable as new", func(d map[string]any) { d["id"] = 7.0 }, "id is 7"},
		{"panel type not required", func(d map[string]any) { firstPanel(t, d)["type"] = "gauge" }, "type gauge missing from __requires"},
		{"import input used in a panel", func(d map[string]any) {
			firstPanel(t, d)["datasource"] = map[string]any{"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
		}, "a provisioned dashboard never fills them in"},
		{"datasource variable starting on an import input", func(d map[string]any) {
			variableNamed(t, d, "datasource")["current"] = map[string]any{"text": "Prometheus", "value": "${DS_PROMETHEUS}"}
		}, "the datasource variable starts on ${DS_PROMETHEUS}"},
		{"editable", func(d map[string]any) { d["editable"] = true }, "editable: the files are the source of truth"},
		{"single-value job variable", func(d map[string]any) { variableNamed(t, d, "job")["multi"] = false }, "variable job: want a multi-value variable"},
		{"job variable matching an empty job", func(d map[string]any) { variableNamed(t, d, "job")["allValue"] = ".*" }, `variable job: want a multi-value variable that offers All with allValue ".+"`},
		{"no account variable", func(d map[string]any) {
			tmpl := d["templating"].(map[string]any)
			tmpl["list"] = slices.DeleteFunc(tmpl["list"].([]any), func(v any) bool { return v.(map[string]any)["name"] == "account" })
		}, "no variable account"},
		{"variables loaded once", func(d map[string]any) { variableNamed(t, d, "account")["refresh"] = 1.0 }, "variable account: refresh 1, want 2"},
		{"no account filter", setExpr(`sum(videoconduit_jobs_active{job=~"$job", instance=~"$instance", job_type=~"$job_type", source=~"$source"})`), `not filtered by account=~"$account"`},
		{"recorded series without account filter", setExpr(`sum(account_job_type:videoconduit_jobs_failed:ratio_rate10m{job=~"$job", job_type=~"$job_type"})`), `account_job_type:videoconduit_jobs_failed:ratio_rate10m is not filtered by account`},
		{"counter added to a rate", setExpr(`sum(rate(videoconduit_jobs_created_total{job=~"$job", instance=~"$instance", account=~"$account"}[$__rate_interval]) + videoconduit_jobs_created_total{job=~"$job", instance=~"$instance", account=~"$account"})`), "counter videoconduit_jobs_created_total outside rate"},
		{"no alert annotation", func(d map[string]any) { d["annotations"] = map[string]any{"list": []any{}} }, "no enabled annotation shows firing alerts"},
		{"alert annotation disabled", func(d map[string]any) {
			d["annotations"].(map[string]any)["list"].([]any)[0].(map[string]any)["enable"] = false
		}, "no enabled annotation shows firing alerts"},
		{"exemplars on an instant query", func(d map[string]any) { firstTarget(t, d)["exemplar"] = true }, "exemplars on an instant query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(original, &d); err != nil {
				t.Fatal(err)
			}
			tc.mutate(d)
			mutated, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			got := lintDashboard(name, mutated)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("linter found %q, want a problem containing %q", got, tc.want)
			}
		})
	}
}

// variableNamed returns a template variable of a decoded dashboard.
func variableNamed(t *testing.T, d map[string]any, name string) map[string]any {
	t.Helper()
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		if v.(map[string]any)["name"] == name {
			return v.(map[string]any)
		}
	}
	t.Fatalf("no variable %s", name)
	return nil
}

// firstPanel returns the first panel of a decoded dashboard: a stat with an
// instant query in the jobs dashboard.
func firstPanel(t *testing.T, d map[string]any) map[string]any {
	t.Helper()
	p := d["panels"].([]any)[0].(map[string]any)
	if p["type"] == "row" {
		t.Fatal("the first panel is a row")
	}
	return p
}

func firstTarget(t *testing.T, d map[string]any) map[string]any {
	t.Helper()
	return firstPanel(t, d)["targets"].([]any)[0].(map[string]any)
}

// collectExprs returns every "expr" string of a decoded JSON document: the
// queries Queries must return, found without the dashboard model.
func collectExprs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "expr" {
				out = append(out, s)
			}
			out = append(out, collectExprs(child)...)
		}
	case []any:
		for _, child := range v {
			out = append(out, collectExprs(child)...)
		}
	}
	return out
}

func TestQueries(t *testing.T) {
	// Queries must find the files from any working directory.
	t.Chdir(t.TempDir())
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	titles := map[string]bool{}
	for _, name := range files {
		var generic any
		if err := json.Unmarshal(readDashboard(t, name), &generic); err != nil {
			t.Fatal(err)
		}
		want += len(collectExprs(generic))
		titles[generic.(map[string]any)["title"].(string)] = true
	}
	if len(qs) != want {
		t.Errorf("Queries returned %d queries, the files hold %d", len(qs), want)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		seen[q.Dashboard] = true
		if q.Panel == "" || !titles[q.Dashboard] {
			t.Errorf("query %+v: want a dashboard title and a panel", q)
		}
		if strings.Contains(q.Expr, "$") {
			t.Errorf("%s / %s: variables left in %s", q.Dashboard, q.Panel, q.Expr)
		}
	}
	if len(seen) != len(files) {
		t.Errorf("queries come from %d dashboards, want %d", len(seen), len(files))
	}
}

func TestExpandReplacesVariables(t *testing.T) {
	d := &dashboard{}
	d.Templating.List = []variable{
		{Name: "job", Type: "query", AllValue: ".+"}, {Name: "account", Type: "query", AllValue: ".*"},
		{Name: "single", Type: "query"}, {Name: "datasource", Type: "datasource"},
	}
	got, err := d.expand(`rate(x{job=~"$job", a=~"${job:regex}", b=~"[[job]]", account=~"$account"}[$__rate_interval]) / increase(y[$__range]) + z[${__interval}]`)
	want := `rate(x{job=~".+", a=~".+", b=~".+", account=~".*"}[1m]) / increase(y[5m]) + z[15s]`
	if err != nil || got != want {
		t.Errorf("expand = %q, %v; want %q", got, err, want)
	}
	for _, expr := range []string{`x{a=~"$nope"}`, `x{a=~"$datasource"}`, `x{a=~"$single"}`} {
		if got, err := d.expand(expr); err == nil {
			t.Errorf("expand(%s) = %q, want an error for the variable", expr, got)
		}
	}
}

// checkPromQL writes exprs as recording rules and runs promtool check rules.
func checkPromQL(t *testing.T, promtool string, exprs []string) (string, error) {
	t.Helper()
	rf := ruleFile{Groups: []ruleGroup{{Name: "dashboards"}}}
	for i, expr := range exprs {
		rf.Groups[0].Rules = append(rf.Groups[0].Rules, rule{Record: fmt.Sprintf("dashboard:query_%03d:check", i), Expr: expr})
	}
	raw, err := yaml.Marshal(rf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	return string(out), err
}

func TestQueriesAreValidPromQL(t *testing.T) {
	promtool := realtools.Path(t, "promtool")
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	var exprs, where []string
	for _, q := range qs {
		exprs = append(exprs, q.Expr)
		where = append(where, q.Dashboard+" / "+q.Panel)
	}
	for _, d := range loadAll(t) {
		for _, v := range d.Templating.List {
			if sel, _, ok := v.labelValues(); ok {
				expanded, err := d.expand(sel)
				if err != nil {
					t.Fatal(err)
				}
				exprs = append(exprs, expanded)
				where = append(where, d.Title+" / variable "+v.Name)
			}
		}
	}
	out, err := checkPromQL(t, promtool, exprs)
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(exprs))) {
		for i := range exprs {
			t.Logf("dashboard:query_%03d:check = %s: %s", i, where[i], exprs[i])
		}
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}

	// The same run must reject what Prometheus would reject, or the check
	// above proves nothing.
	for _, bad := range []string{
		`rate(videoconduit_jobs_created_total)`,
		`sum by (le) (rate(videoconduit_up[1m])`,
		`videoconduit_up{job=~"("}`,
	} {
		if out, err := checkPromQL(t, promtool, []string{bad}); err == nil {
			t.Errorf("promtool accepted %s:\n%s", bad, out)
		}
	}
}

type provisionedProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type provisionedDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name     string `yaml:"name"`
		Type     string `yaml:"type"`
		UID      string `yaml:"uid"`
		URL      string `yaml:"url"`
		JSONData struct {
			ExemplarTraceIDDestinations []struct {
				Name string `yaml:"name"`
				URL  string `yaml:"url"`
			} `yaml:"exemplarTraceIdDestinations"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir(), "provisioning", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestProvisioningExamples(t *testing.T) {
	var providers provisionedProviders
	readYAML(t, "dashboards.yml", &providers)
	if providers.APIVersion != 1 || len(providers.Providers) != 1 {
		t.Fatalf("dashboards.yml: want apiVersion 1 and one provider, got %+v", providers)
	}
	if p := providers.Providers[0]; p.Type != "file" || !filepath.IsAbs(p.Options.Path) {
		t.Errorf("dashboards.yml: provider %+v, want type file with an absolute options.path", p)
	}

	var datasources provisionedDatasources
	readYAML(t, "datasources.yml", &datasources)
	if datasources.APIVersion != 1 || len(datasources.Datasources) != 1 {
		t.Fatalf("datasources.yml: want apiVersion 1 and one datasource, got %+v", datasources)
	}
	ds := datasources.Datasources[0]
	if ds.Type != "prometheus" || ds.UID == "" || ds.URL == "" {
		t.Errorf("datasources.yml: datasource %+v, want a prometheus with a uid and a url", ds)
	}
	for _, name := range files {
		if strings.Contains(string(readDashboard(t, name)), ds.UID) {
			t.Errorf("%s names the provisioned datasource uid %q: it must go through $datasource", name, ds.UID)
		}
	}
	// The failures' exemplars link to their job. Grafana expands ${...} in
	// provisioning files, so the link's own variable is written $${...}.
	links := ds.JSONData.ExemplarTraceIDDestinations
	if len(links) != 1 || links[0].Name != "job_id" || !strings.HasSuffix(links[0].URL, "/v1/jobs/$${__value.raw}") {
		t.Errorf("datasources.yml: exemplar links %+v, want job_id linking to /v1/jobs/$${__value.raw}", links)
	}
}

// TestDashboardsAreTidy keeps the files in the layout that json.Indent gives,
// so that diffs of hand edits and of UI exports stay readable.
func TestDashboardsAreTidy(t *testing.T) {
	for _, name := range files {
		raw := readDashboard(t, name)
		var compact, tidy bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.Indent(&tidy, compact.Bytes(), "", "  "); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tidy.WriteByte('\n')
		if !bytes.Equal(raw, tidy.Bytes()) {
			t.Errorf("%s is not indented with two spaces as json.Indent does", name)
		}
	}
}
