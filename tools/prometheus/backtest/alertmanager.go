package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// notifier models what Alertmanager makes of the firings: it routes each
// alert to a receiver, groups alerts by the route's group_by labels, mutes
// the targets of the inhibit rules while a source fires, and notifies a
// group group_wait after it forms and then every group_interval when its
// firing alerts changed. Only the parts of Alertmanager's configuration that
// decide who hears about what are read: routes, matchers, group_by, the two
// grouping timers and inhibit_rules. The end-to-end test runs the real
// Alertmanager on the same file.
type notifier struct {
	root    route
	inhibit []inhibitRule
}

type route struct {
	receiver      string
	groupBy       []string
	groupWait     time.Duration
	groupInterval time.Duration
	matchers      []*labels.Matcher
	routes        []route
}

type inhibitRule struct {
	source, target []*labels.Matcher
	equal          []string
}

// amConfig is the part of Alertmanager's configuration file the model reads.
type amConfig struct {
	Route        amRoute `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
}

type amRoute struct {
	Receiver      string    `yaml:"receiver"`
	GroupBy       []string  `yaml:"group_by"`
	GroupWait     string    `yaml:"group_wait"`
	GroupInterval string    `yaml:"group_interval"`
	Matchers      []string  `yaml:"matchers"`
	Continue      bool      `yaml:"continue"`
	Routes        []amRoute `yaml:"routes"`
}

// Alertmanager's defaults for a route that sets no timers.
const (
	defaultGroupWait     = 30 * time.Second
	defaultGroupInterval = 5 * time.Minute
)

func loadNotifier(path string) (*notifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading Alertmanager config: %w", err)
	}
	var cfg amConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("parsing Alertmanager config %s: %w", path, err)
	}
	p := parser.NewParser(parser.Options{})
	top := route{groupWait: defaultGroupWait, groupInterval: defaultGroupInterval}
	root, err := cfg.Route.resolve(p, top)
	if err != nil {
		return nil, fmt.Errorf("%s: route: %w", path, err)
	}
	if root.receiver == "" {
		return nil, fmt.Errorf("%s: the root route has no receiver", path)
	}
	n := &notifier{root: root}
	for i, ir := range cfg.InhibitRules {
		src, err := parseMatchers(p, ir.SourceMatchers)
		if err != nil {
			return nil, fmt.Errorf("%s: inhibit rule %d: %w", path, i+1, err)
		}
		tgt, err := parseMatchers(p, ir.TargetMatchers)
		if err != nil {
			return nil, fmt.Errorf("%s: inhibit rule %d: %w", path, i+1, err)
		}
		n.inhibit = append(n.inhibit, inhibitRule{source: src, target: tgt, equal: ir.Equal})
	}
	return n, nil
}

// resolve turns a configured route into one with its parent's settings
// filled in where it sets none, as Alertmanager inherits them.
func (r amRoute) resolve(p parser.Parser, parent route) (route, error) {
	if r.Continue {
		return route{}, fmt.Errorf("continue is not modelled")
	}
	out := route{receiver: parent.receiver, groupBy: parent.groupBy, groupWait: parent.groupWait, groupInterval: parent.groupInterval}
	if r.Receiver != "" {
		out.receiver = r.Receiver
	}
	if r.GroupBy != nil {
		out.groupBy = r.GroupBy
	}
	for _, d := range []struct {
		text string
		into *time.Duration
	}{{r.GroupWait, &out.groupWait}, {r.GroupInterval, &out.groupInterval}} {
		if d.text == "" {
			continue
		}
		v, err := model.ParseDuration(d.text)
		if err != nil {
			return route{}, err
		}
		*d.into = time.Duration(v)
	}
	var err error
	if out.matchers, err = parseMatchers(p, r.Matchers); err != nil {
		return route{}, err
	}
	for _, child := range r.Routes {
		c, err := child.resolve(p, out)
		if err != nil {
			return route{}, err
		}
		out.routes = append(out.routes, c)
	}
	return out, nil
}

func parseMatchers(p parser.Parser, ms []string) ([]*labels.Matcher, error) {
	var out []*labels.Matcher
	for _, m := range ms {
		parsed, err := p.ParseMetricSelector("{" + m + "}")
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", m, err)
		}
		out = append(out, parsed...)
	}
	return out, nil
}

func matchesAll(ms []*labels.Matcher, l map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(l[m.Name]) {
			return false
		}
	}
	return true
}

// match returns the route an alert ends in: the first child that matches,
// recursively, else this route.
func (r route) match(l map[string]string) route {
	for _, c := range r.routes {
		if matchesAll(c.matchers, l) {
			return c.match(l)
		}
	}
	return r
}

// muted reports whether an inhibit rule mutes the alert t while the alerts
// in firing fire. An alert never mutes itself.
func (n *notifier) muted(t map[string]string, firing []map[string]string) bool {
	for _, ir := range n.inhibit {
		if !matchesAll(ir.target, t) {
			continue
		}
		for _, s := range firing {
			if matchesAll(ir.source, s) && !maps.Equal(s, t) && equalOn(ir.equal, s, t) {
				return true
			}
		}
	}
	return false
}

func equalOn(names []string, a, b map[string]string) bool {
	for _, n := range names {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}

// notification is one message Alertmanager sends about a group: the first
// of an episode (New: a page, a ticket, a post), or an update of a group
// that already notified its firing alerts.
type notification struct {
	Receiver string        `json:"receiver"`
	Group    string        `json:"group"`
	At       time.Duration `json:"at"`       // offset from midnight
	Severity string        `json:"severity"` // the highest among its alerts
	New      bool          `json:"new"`
	Alerts   []firing      `json:"alerts"`
}

// alertLabels is a firing's full label set, as Alertmanager sees it.
func (f firing) alertLabels() map[string]string {
	l := map[string]string{"alertname": f.Alert, "severity": f.Severity}
	for k, v := range f.Labels {
		l[k] = v
	}
	return l
}

func (f firing) activeAt(t time.Duration) bool {
	return f.Start <= t && (f.End == 0 || t < f.End)
}

// group is an aggregation group: alerts of one receiver with the same values
// of the group_by labels.
type group struct {
	key       string
	route     route
	alerts    []firing
	nextFlush time.Duration
	notified  map[string]bool // the firing alerts of the last notification
}

// notify replays the firings of one simulated day through the model and
// returns every notification, in time order. Firings are evaluation-aligned
// intervals; Alertmanager's timers run between evaluations, so the model
// steps through the day second by second.
func (n *notifier) notify(firings []firing, end time.Duration) []notification {
	sorted := slices.Clone(firings)
	slices.SortStableFunc(sorted, func(a, b firing) int { return int(a.Start - b.Start) })
	groups := map[string]*group{}
	var keys []string // groups in creation order, for a stable output
	var out []notification
	next := 0
	for t := time.Duration(0); t <= end; t += time.Second {
		for ; next < len(sorted) && sorted[next].Start <= t; next++ {
			f := sorted[next]
			l := f.alertLabels()
			r := n.root.match(l)
			key := r.receiver + "/" + groupKey(r.groupBy, l)
			g := groups[key]
			if g == nil {
				g = &group{key: key, route: r, nextFlush: t + r.groupWait, notified: map[string]bool{}}
				groups[key] = g
				keys = append(keys, key)
			}
			g.alerts = append(g.alerts, f)
		}
		for _, key := range keys {
			g := groups[key]
			if g == nil || g.nextFlush != t {
				continue
			}
			msg, over := n.flush(g, sorted, t)
			if msg != nil {
				out = append(out, *msg)
			}
			if over {
				delete(groups, key)
			}
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return groups[k] == nil })
	}
	return out
}

func groupKey(by []string, l map[string]string) string {
	parts := make([]string, len(by))
	for i, name := range by {
		parts[i] = name + "=" + l[name]
	}
	return strings.Join(parts, ",")
}

// flush sends what the group has to say at t, and reports whether the group
// is over (every alert resolved).
func (n *notifier) flush(g *group, all []firing, t time.Duration) (*notification, bool) {
	g.nextFlush = t + g.route.groupInterval
	var active []map[string]string
	for _, f := range all {
		if f.activeAt(t) {
			active = append(active, f.alertLabels())
		}
	}
	var firing []firing
	anyActive := false
	for _, f := range g.alerts {
		if !f.activeAt(t) {
			continue
		}
		anyActive = true
		if !n.muted(f.alertLabels(), active) {
			firing = append(firing, f)
		}
	}
	if !anyActive {
		// Resolved: Alertmanager sends the resolve and forgets the group.
		return nil, true
	}
	if len(firing) == 0 {
		return nil, false // every alert muted: nothing is sent
	}
	now := map[string]bool{}
	fresh := false
	for _, f := range firing {
		k := labels.FromMap(f.alertLabels()).String()
		now[k] = true
		if !g.notified[k] {
			fresh = true
		}
	}
	if !fresh {
		return nil, false
	}
	msg := &notification{Receiver: g.route.receiver, Group: g.key, At: t, New: len(g.notified) == 0, Alerts: firing}
	for _, f := range firing {
		if severityRank[f.Severity] > severityRank[msg.Severity] || msg.Severity == "" {
			msg.Severity = f.Severity
		}
	}
	g.notified = now
	return msg, false
}
