package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// criticalReceiver is the receiver of examples/alertmanager.yml that pages.
const criticalReceiver = "pager"

// TestEndToEndFailureSpikePagesAPerson follows the path the user cares about:
// the demo's YouTube downloads start failing, Prometheus sees it through the
// exporter, the failure alert fires, Alertmanager routes it to the pager, and
// when the incident is over the resolve reaches the pager too.
func TestEndToEndFailureSpikePagesAPerson(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)

	s.requireTargetUp(t)
	s.requireRulesHealthy(t)

	want := maps.Clone(s.fastAlert.Labels)
	want["alertname"] = s.fastAlert.Alert
	want["job"] = scrapeJob
	want["job_type"], want["source"] = "download", "youtube" // the incident's
	maps.Copy(want, exampleExternalLabels(t))
	ctx, cancel := context.WithDeadline(context.Background(), s.incidentEnd.Add(90*time.Second))
	defer cancel()
	fired, alert, err := s.webhook.waitFor(ctx, func(_ notification, a alertPayload) bool {
		return a.Status == "firing" && a.Labels["alertname"] == want["alertname"] && a.Labels["job_type"] == want["job_type"]
	})
	want["account"] = "prod" // the demo's account with the YouTube incident
	if err != nil {
		t.Fatalf("no firing %s for download jobs reached the webhook: %v", pagingAlert, err)
	}
	if fired.Receiver != criticalReceiver || fired.path != "/"+criticalReceiver {
		t.Errorf("the alert went to receiver %q at %s, want %q", fired.Receiver, fired.path, criticalReceiver)
	}
	if !maps.Equal(alert.Labels, want) {
		t.Errorf("labels of the notified alert = %v, want %v", alert.Labels, want)
	}
	checkAnnotations(t, alert, s.fastAlert.Annotations)
	// The description names the top failure reason, which Prometheus queried
	// from the exporter's failure counters: the incident's YouTube videos
	// are unavailable.
	if want := "Top reason: unavailable ("; !strings.Contains(alert.Annotations["description"], want) {
		t.Errorf("description %q does not say %q", alert.Annotations["description"], want)
	}
	t.Logf("the page's description: %s", alert.Annotations["description"])
	checkFailuresLink(t, s, alert)
	// Prometheus sends the time the alert fired as startsAt: it went
	// pending `for` earlier, which must be in the incident, not before it.
	pendingFor := model.Duration(0)
	if s.fastAlert.For != "" {
		if pendingFor, err = model.ParseDuration(s.fastAlert.For); err != nil {
			t.Fatal(err)
		}
	}
	if pending := alert.StartsAt.Add(-time.Duration(pendingFor)); pending.Before(s.incidentStart) {
		t.Errorf("the alert fired at %v, so it was pending from %v, before the incident began at %v", alert.StartsAt, pending, s.incidentStart)
	}

	ctx, cancel = context.WithDeadline(context.Background(), s.incidentEnd.Add(4*time.Minute))
	defer cancel()
	resolved, gone, err := s.webhook.waitFor(ctx, func(_ notification, a alertPayload) bool {
		return a.Status == "resolved" && a.Fingerprint == alert.Fingerprint
	})
	if err != nil {
		t.Fatalf("the resolve of %v never reached the webhook: %v", want, err)
	}
	if resolved.Receiver != criticalReceiver {
		t.Errorf("the resolve went to receiver %q, want %q", resolved.Receiver, criticalReceiver)
	}
	if gone.EndsAt.Before(s.incidentEnd) {
		t.Errorf("the alert resolved at %v, before the incident ended at %v", gone.EndsAt, s.incidentEnd)
	}
}

// checkFailuresLink opens the alert's failures_url, at the exporter's real
// address in place of its external one: the page must list failed jobs of
// the alert's account, job type and source, and only those.
func checkFailuresLink(t *testing.T, s *stack, alert alertPayload) {
	t.Helper()
	link := alert.Annotations["failures_url"]
	rest, ok := strings.CutPrefix(link, strings.TrimSuffix(exporterExternalURL, "/")+"/failures?")
	if !ok {
		t.Errorf("failures_url %q is not the failures page under the exporter's external URL %s", link, exporterExternalURL)
		return
	}
	var page struct {
		Failures []struct {
			Account string `json:"account"`
			JobType string `json:"job_type"`
			Source  string `json:"source"`
			Reason  string `json:"reason"`
		} `json:"failures"`
	}
	if err := getJSON(s.exporterURL+"/failures?format=json&"+rest, &page); err != nil {
		t.Fatalf("opening the alert's failures_url %s: %v", link, err)
	}
	if len(page.Failures) == 0 {
		t.Errorf("the alert's failures_url %s lists no failed jobs", link)
	}
	for _, f := range page.Failures {
		if f.Account != alert.Labels["account"] || f.JobType != alert.Labels["job_type"] || f.Source != alert.Labels["source"] {
			t.Errorf("the alert's failures_url %s lists a failure of %+v, want only account %s, %s from %s", link, f,
				alert.Labels["account"], alert.Labels["job_type"], alert.Labels["source"])
			break
		}
	}
	t.Logf("the page's failures_url %s lists %d failed jobs", link, len(page.Failures))
}

// requireTargetUp waits for Prometheus to scrape the exporter successfully.
func (s *stack) requireTargetUp(t *testing.T) {
	t.Helper()
	eventually(t, time.Now().Add(30*time.Second), "the exporter's target is up", func() error {
		var data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				ScrapeURL string            `json:"scrapeUrl"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := s.promAPI("/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
			return err
		}
		if len(data.ActiveTargets) != 1 {
			return fmt.Errorf("%d active targets, want the exporter alone", len(data.ActiveTargets))
		}
		tg := data.ActiveTargets[0]
		if tg.Labels["job"] != scrapeJob || !strings.HasPrefix(tg.ScrapeURL, s.exporterURL+"/") {
			return fmt.Errorf("the target is %s in job %q, want %s in job %q", tg.ScrapeURL, tg.Labels["job"], s.exporterURL, scrapeJob)
		}
		if tg.Health != "up" {
			return fmt.Errorf("target health %q (last error %q)", tg.Health, tg.LastError)
		}
		up, err := s.query(`up{job="` + scrapeJob + `"}`)
		if err != nil {
			return err
		}
		if len(up) != 1 || up[0].Value != "1" {
			return fmt.Errorf("up = %v, want a single 1", up)
		}
		return nil
	})
}

// requireRulesHealthy waits until every rule has been evaluated, then
// requires that Prometheus loaded every group of the shipped rule files and
// of the fast copy, from the right file, and that every rule evaluates
// without error.
func (s *stack) requireRulesHealthy(t *testing.T) {
	t.Helper()
	type apiGroup struct {
		Name  string `json:"name"`
		File  string `json:"file"`
		Rules []struct {
			Name      string `json:"name"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"rules"`
	}
	var groups []apiGroup
	eventually(t, time.Now().Add(30*time.Second), "every rule has been evaluated", func() error {
		var data struct {
			Groups []apiGroup `json:"groups"`
		}
		if err := s.promAPI("/api/v1/rules", nil, &data); err != nil {
			return err
		}
		groups = data.Groups
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Health == "unknown" {
					return fmt.Errorf("rule %s of group %s not evaluated yet", r.Name, g.Name)
				}
			}
		}
		return nil
	})

	// group name → where it comes from and how many rules it has
	describe := func(file string, rules int) string { return fmt.Sprintf("%s, %d rules", filepath.Base(file), rules) }
	want := map[string]string{s.fastGroup.Name: describe(fastRulesFile, len(s.fastGroup.Rules))}
	for path, f := range s.shipped {
		for _, g := range f.Groups {
			want[g.Name] = describe(path, len(g.Rules))
		}
	}
	got := map[string]string{}
	for _, g := range groups {
		got[g.Name] = describe(g.File, len(g.Rules))
		for _, r := range g.Rules {
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s of group %s (%s): health %q, last error %q", r.Name, g.Name, g.File, r.Health, r.LastError)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Prometheus loaded the rule groups %v, want %v", got, want)
	}
}

// checkAnnotations requires the alert's annotations to be the rule's
// templates, rendered: each {{ $labels.x }} replaced by the alert's label x,
// a {{ range }}, {{ with }} or {{ if }} block rendered once or not at all, and
// every other action by some text.
func checkAnnotations(t *testing.T, a alertPayload, templates map[string]string) {
	t.Helper()
	if !slices.Equal(sortedKeys(a.Annotations), sortedKeys(templates)) {
		t.Errorf("annotations %v, want the keys of %v", a.Annotations, templates)
	}
	for key, tmpl := range templates {
		re, err := renderedPattern(tmpl, a.Labels)
		if err != nil {
			t.Errorf("annotation %s: %v", key, err)
			continue
		}
		if got := a.Annotations[key]; !re.MatchString(got) {
			t.Errorf("annotation %s = %q, want the rendering of %q (%s)", key, got, tmpl, re)
		}
	}
}

var (
	templateAction = regexp.MustCompile(`(?s)\{\{(-\s)?(.*?)(\s-)?\}\}`)
	labelAction    = regexp.MustCompile(`^\s*\$labels\.(\w+)\s*$`)
	blockAction    = regexp.MustCompile(`^\s*(range|with|if)\s`)
	endAction      = regexp.MustCompile(`^\s*end\s*$`)
)

// renderedPattern turns a template into a regexp of its renderings. The
// {{- and -}} markers trim the whitespace beside them, as text/template does.
func renderedPattern(tmpl string, labels map[string]string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	text, trimNext, open := "", false, 0
	writeText := func(trimRight bool) {
		if trimNext {
			text = strings.TrimLeft(text, " \t\r\n")
		}
		if trimRight {
			text = strings.TrimRight(text, " \t\r\n")
		}
		b.WriteString(regexp.QuoteMeta(text))
	}
	last := 0
	for _, m := range templateAction.FindAllStringSubmatchIndex(tmpl, -1) {
		text = tmpl[last:m[0]]
		writeText(m[2] >= 0)
		action := tmpl[m[4]:m[5]]
		switch {
		case labelAction.MatchString(action):
			b.WriteString(regexp.QuoteMeta(labels[labelAction.FindStringSubmatch(action)[1]]))
		case blockAction.MatchString(action):
			b.WriteString("(?:")
			open++
		case endAction.MatchString(action):
			if open == 0 {
				return nil, fmt.Errorf("template %q: {{ end }} without a block", tmpl)
			}
			b.WriteString(")?")
			open--
		default:
			b.WriteString(`[^{}]+`) // rendered, so no template braces left
		}
		trimNext, last = m[6] >= 0, m[1]
	}
	if open != 0 {
		return nil, fmt.Errorf("template %q: a block without {{ end }}", tmpl)
	}
	text = tmpl[last:]
	writeText(false)
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// TestEndToEndCriticalInhibitsWarningOfTheSameJobType checks the inhibition
// of examples/alertmanager.yml on the real Alertmanager: while a job type
// pages, its warnings are muted, and the warnings of other job types are not.
func TestEndToEndCriticalInhibitsWarningOfTheSameJobType(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)
	critical := map[string]string{"alertname": "E2EInhibitionCritical", "severity": "critical", "job_type": "translate"}
	muted := map[string]string{"alertname": "E2EInhibitionWarning", "severity": "warning", "job_type": "translate"}
	other := map[string]string{"alertname": "E2EInhibitionWarning", "severity": "warning", "job_type": "preview"}
	now := time.Now()
	if err := s.postAlerts(now.Add(10*time.Minute), critical, muted, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.postAlerts(time.Now(), critical, muted, other); err != nil {
			t.Errorf("resolving the test's alerts: %v", err)
		}
	})

	eventually(t, now.Add(30*time.Second), "Alertmanager mutes the warning of the paging job type only", func() error {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State       string   `json:"state"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := getJSON(s.amURL+`/api/v2/alerts?filter=`+url.QueryEscape(`alertname=~"E2EInhibition.*"`), &alerts); err != nil {
			return err
		}
		states := map[string]string{}
		for _, a := range alerts {
			state := a.Status.State
			if state == "suppressed" && len(a.Status.InhibitedBy) == 0 {
				state = "silenced" // suppressed, but not by an inhibition
			}
			states[a.Labels["severity"]+"/"+a.Labels["job_type"]] = state
		}
		want := map[string]string{"critical/translate": "active", "warning/translate": "suppressed", "warning/preview": "active"}
		if !maps.Equal(states, want) {
			return fmt.Errorf("alert states %v, want %v", states, want)
		}
		return nil
	})

	// The warning that is not muted reaches the ticket receiver.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, _, err := s.webhook.waitFor(ctx, func(_ notification, a alertPayload) bool {
		return a.Labels["alertname"] == other["alertname"] && a.Labels["job_type"] == other["job_type"]
	})
	if err != nil {
		t.Fatalf("the warning for preview jobs never reached a receiver: %v", err)
	}
	if n.Receiver != "ticket" {
		t.Errorf("the warning went to %q, want ticket", n.Receiver)
	}
}

// postAlerts sends alerts to Alertmanager as Prometheus would, active until endsAt.
func (s *stack) postAlerts(endsAt time.Time, labelSets ...map[string]string) error {
	type postable struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	var body []postable
	for _, l := range labelSets {
		body = append(body, postable{Labels: l, StartsAt: s.started, EndsAt: endsAt})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding alerts: %w", err)
	}
	resp, err := http.Post(s.amURL+"/api/v2/alerts", "application/json", bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("posting alerts to Alertmanager: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("posting alerts to Alertmanager: %s", resp.Status)
	}
	return nil
}
