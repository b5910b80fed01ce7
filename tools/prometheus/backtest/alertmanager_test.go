package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// exampleConfig is the Alertmanager configuration the project ships.
const exampleConfig = "../../../examples/alertmanager.yml"

func loadExample(t *testing.T) *notifier {
	t.Helper()
	n, err := loadNotifier(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func alert(name, severity string, from, to time.Duration, kv ...string) firing {
	l := map[string]string{"job": "videoconduit", "account": "acme"}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return firing{Alert: name, Severity: severity, Labels: l, Start: from, End: to}
}

// pages returns the times of the notifications that start an episode, by
// receiver.
func pages(notes []notification) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for _, n := range notes {
		if n.New {
			out[n.Receiver] = append(out[n.Receiver], n.At)
		}
	}
	return out
}

func TestExampleAlertmanagerRoutes(t *testing.T) {
	n := loadExample(t)
	for severity, want := range map[string]string{"critical": "pager", "warning": "ticket", "info": "default"} {
		r := n.root.match(map[string]string{"severity": severity, "job_type": "download"})
		if r.receiver != want || !slices.Equal(r.groupBy, []string{"account", "job_type"}) || r.groupWait != 30*time.Second || r.groupInterval != 5*time.Minute {
			t.Errorf("%s alerts: route %+v, want receiver %s grouping by account and job type, 30s, 5m", severity, r, want)
		}
	}
}

func TestOneIncidentIsOnePage(t *testing.T) {
	n := loadExample(t)
	notes := n.notify([]firing{
		// The ratio alert comes first; the source spike mutes it from
		// 10:04; the job type's spike, muted by the source's, never shows;
		// the refund warning is muted by the critical alerts of its job type.
		alert("VideoConduitJobFailureRatioHigh", "critical", hm(10, 2), hm(10, 40), "job_type", "download"),
		alert("VideoConduitSourceFailureSpike", "critical", hm(10, 4), hm(10, 40), "job_type", "download", "source", "youtube"),
		alert("VideoConduitJobFailureSpike", "critical", hm(10, 5), hm(10, 35), "job_type", "download"),
		alert("VideoConduitRefundSpike", "warning", hm(10, 20), hm(10, 50), "job_type", "download"),
		// Another account's alert is its own page.
		alert("VideoConduitSourceFailureSpike", "critical", hm(10, 6), hm(10, 20), "account", "globex", "job_type", "download", "source", "youtube"),
	}, day)
	got := pages(notes)
	want := []time.Duration{hm(10, 2) + 30*time.Second, hm(10, 6) + 30*time.Second}
	if !slices.Equal(got["pager"], want) || len(got["ticket"]) != 1 {
		t.Fatalf("pages %v, want pager %v and one ticket once the pages resolve; notifications %+v", got, want, notes)
	}
	// The ticket comes when nothing critical of its job type fires any more.
	if at := got["ticket"][0]; at < hm(10, 40) {
		t.Errorf("the refund ticket went out at %s, while critical alerts of its job type still fired", fmtClock(at))
	}
	var updates []string
	for _, m := range notes {
		if !m.New && m.Receiver == "pager" {
			for _, f := range m.Alerts {
				updates = append(updates, f.Alert)
			}
		}
	}
	if slices.Contains(updates, "VideoConduitJobFailureSpike") {
		t.Errorf("the muted job type spike was notified: %v", updates)
	}
	if !slices.Contains(updates, "VideoConduitSourceFailureSpike") {
		t.Errorf("the source spike joining the group sent no update: %v", updates)
	}
}

func TestAPIDownMutesTheJobAlertsOfItsAccount(t *testing.T) {
	n := loadExample(t)
	notes := n.notify([]firing{
		alert("VideoConduitAPIDown", "critical", hm(12, 5), hm(12, 40)),
		alert("VideoConduitJobsStuck", "warning", hm(12, 20), hm(12, 35), "job_type", "download", "status", "pending"),
		alert("VideoConduitThroughputStalled", "critical", hm(12, 25), hm(12, 35), "job_type", "download"),
		alert("VideoConduitThroughputStalled", "critical", hm(12, 25), hm(12, 35), "account", "globex", "job_type", "download"),
	}, day)
	got := pages(notes)
	if len(got["pager"]) != 2 || len(got["ticket"]) != 0 {
		t.Errorf("pages %v, want the API's page and globex's stall only", got)
	}
}

func TestEpisodes(t *testing.T) {
	n := loadExample(t)
	// Resolved, then firing again an hour later: a second page. Gone for a
	// minute between two flushes: the group resolved at the flush, so a
	// page again (keep_firing_for in the rules is what bridges such gaps).
	notes := n.notify([]firing{
		alert("VideoConduitAPIDown", "critical", hm(1, 0), hm(1, 20)),
		alert("VideoConduitAPIDown", "critical", hm(2, 0), hm(2, 10)),
		alert("VideoConduitAPIDown", "critical", hm(2, 11), hm(2, 30)),
	}, day)
	want := []time.Duration{hm(1, 0) + 30*time.Second, hm(2, 0) + 30*time.Second, hm(2, 11) + 30*time.Second}
	if got := pages(notes)["pager"]; !slices.Equal(got, want) {
		t.Errorf("pages at %v, want %v", got, want)
	}
	// A gap that no flush sees is no new page.
	notes = n.notify([]firing{
		alert("VideoConduitAPIDown", "critical", hm(3, 0), hm(3, 2)),
		alert("VideoConduitAPIDown", "critical", hm(3, 3), hm(3, 20)),
	}, day)
	if got := pages(notes)["pager"]; len(got) != 1 {
		t.Errorf("pages at %v, want one", got)
	}
}

func TestLoadNotifierRejectsWhatItDoesNotModel(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]string{
		"continue":    "route:\n  receiver: a\n  routes:\n    - receiver: b\n      continue: true\n",
		"no receiver": "route:\n  group_by: [job]\n",
		"bad matcher": "route:\n  receiver: a\ninhibit_rules:\n  - source_matchers: ['severity=~\"(\"']\n",
		"bad timer":   "route:\n  receiver: a\n  group_wait: soon\n",
	} {
		path := filepath.Join(dir, "am.yml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadNotifier(path); err == nil {
			t.Errorf("%s: loadNotifier accepted %q", name, cfg)
		}
	}
}
