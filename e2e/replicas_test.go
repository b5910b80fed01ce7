package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// The incident of the two-replica test: late enough that the rules, ten
// times faster, have a baseline of two minutes (twenty, scaled) of healthy
// jobs when it starts; a baseline of a few jobs may well be 50%. The page
// and its resolve are then over before the credit alerts' baseline of an
// hour ago, scaled to 6 minutes, exists.
const (
	replicasIncidentAfter    = 130 * time.Second
	replicasIncidentDuration = 60 * time.Second
	// replicasQuiet is how long the test listens after the resolve for a
	// notification that should not come.
	replicasQuiet = 15 * time.Second
)

// TestEndToEndTwoReplicasPageOnce runs what an HA deployment runs: two
// replicas of the exporter watching one (simulated) account, the real
// Prometheus with every shipped rule, ten times faster, and the real
// Alertmanager with the example configuration, its grouping timers ten times
// shorter. One incident, YouTube downloads failing at 90%, must reach the
// webhook as exactly one page, carrying one alert without the replicas'
// instance, and then as its resolve: nothing else.
func TestEndToEndTwoReplicasPageOnce(t *testing.T) {
	t.Parallel()
	promBin, amBin := realtools.Path(t, "prometheus"), realtools.Path(t, "alertmanager")
	s := &stack{dir: t.TempDir(), webhook: newWebhook()}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})

	amAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.amURL = "http://" + amAddr
	amConfig := filepath.Join(s.dir, "alertmanager.yml")
	writeFile(t, amConfig, scaledAlertmanagerConfig(t, s.webhook.url()))
	am, err := s.launch("alertmanager", amBin, "--config.file="+amConfig, "--storage.path="+filepath.Join(s.dir, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	if err != nil {
		t.Fatal(err)
	}
	if err := am.waitReady(s.amURL+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}

	// Replica 1 runs the demo; replica 2 polls replica 1's simulated API
	// with the key of the demo's prod account, under the same account name,
	// so both watch the same account. (Replica 1 also follows staging.)
	first, firstAddr, err := startExporter(raceEnabled, "--demo", "--collector.interval=1s",
		"--demo.incident-after="+replicasIncidentAfter.String(), "--demo.incident-duration="+replicasIncidentDuration.String(),
		"--demo.incident-every=24h")
	if err != nil {
		t.Fatal(err)
	}
	s.procs = append(s.procs, first)
	if err := first.waitReady("http://"+firstAddr+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}
	logged := first.out.String()
	api, incident := demoAPIField.FindStringSubmatch(logged), incidentField.FindStringSubmatch(logged)
	if api == nil || incident == nil {
		t.Fatalf("the first replica did not log its demo API and first incident; its output:\n%s", first.out.tail())
	}
	incidentStart, err := time.Parse(time.RFC3339, incident[1])
	if err != nil {
		t.Fatal(err)
	}
	incidentEnd := incidentStart.Add(replicasIncidentDuration)
	keyFile := filepath.Join(s.dir, "key")
	writeFile(t, keyFile, []byte(demoKey+"\n"))
	second, secondAddr, err := startExporter(raceEnabled, "--videoconduit.url="+api[1], "--videoconduit.api-key-file="+keyFile,
		"--videoconduit.account=prod", "--collector.interval=1s")
	if err != nil {
		t.Fatal(err)
	}
	s.procs = append(s.procs, second)
	if err := second.waitReady("http://"+secondAddr+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}

	promAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.promURL = "http://" + promAddr
	promConfig := filepath.Join(s.dir, "prometheus.yml")
	writeFile(t, promConfig, replicasPrometheusConfig(t, s.dir, amAddr, firstAddr, secondAddr))
	prom, err := s.launch("prometheus", promBin, "--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(s.dir, "prom-data"),
		"--web.listen-address="+promAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := prom.waitReady(s.promURL+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}

	// Both replicas are scraped and export the same series.
	eventually(t, time.Now().Add(30*time.Second), "both replicas are scraped", func() error {
		up, err := s.query(`sum(up{job="` + scrapeJob + `"})`)
		if err != nil {
			return err
		}
		failed, err := s.query(`count(videoconduit_jobs_finished_total{job="` + scrapeJob + `",account="prod",job_type="download",source="youtube",status="failed"})`)
		if err != nil {
			return err
		}
		if len(up) != 1 || up[0].Value != "2" || len(failed) != 1 || failed[0].Value != "2" {
			return fmt.Errorf("targets up %v, YouTube download failure series %v; want 2 of each", up, failed)
		}
		return nil
	})

	want := map[string]string{"alertname": "VideoConduitSourceFailureSpike", "severity": "critical", "job": scrapeJob,
		"account": "prod", "job_type": "download", "source": "youtube"}
	maps.Copy(want, exampleExternalLabels(t))
	ctx, cancel := context.WithDeadline(context.Background(), incidentStart.Add(3*time.Minute))
	defer cancel()
	page, alert, err := s.webhook.waitFor(ctx, func(_ notification, a alertPayload) bool { return a.Status == "firing" })
	if err != nil {
		firing, qerr := s.query(`ALERTS`)
		t.Fatalf("no page for the incident: %v\nPrometheus' ALERTS: %v %v", err, firing, qerr)
	}
	if page.Receiver != criticalReceiver || len(page.Alerts) != 1 || !maps.Equal(alert.Labels, want) {
		t.Errorf("the page went to %q with alerts %v; want one alert %v to %q", page.Receiver, page.Alerts, want, criticalReceiver)
	}
	t.Logf("paged %s after the incident began: %s", alert.StartsAt.Sub(incidentStart).Round(time.Second), alert.Annotations["description"])

	ctx, cancel = context.WithDeadline(context.Background(), incidentEnd.Add(4*time.Minute))
	defer cancel()
	if _, _, err := s.webhook.waitFor(ctx, func(n notification, a alertPayload) bool {
		return n.Status == "resolved" && a.Fingerprint == alert.Fingerprint
	}); err != nil {
		t.Fatalf("the page never resolved: %v", err)
	}
	time.Sleep(replicasQuiet)

	s.webhook.mu.Lock()
	got, summary := slices.Clone(s.webhook.got), s.webhook.summaryLocked()
	s.webhook.mu.Unlock()
	// The resolve may list alerts that the page's alert muted while it
	// fired (the job type's spike): they resolve with it.
	if len(got) != 2 || got[0].Status != "firing" || got[1].Status != "resolved" ||
		!slices.ContainsFunc(got[1].Alerts, func(a alertPayload) bool { return a.Fingerprint == alert.Fingerprint }) {
		t.Errorf("the webhook received %d notifications, want the page and its resolve: %s", len(got), summary)
	}
	// Whatever else fired was muted: report it, so that a reader sees the
	// inhibitions at work.
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	if err := getJSON(s.amURL+"/api/v2/alerts?"+url.Values{"active": {"true"}, "inhibited": {"true"}}.Encode(), &alerts); err == nil {
		for _, a := range alerts {
			t.Logf("Alertmanager holds %s %v, inhibited by %v", a.Labels["alertname"], a.Labels, a.Status.InhibitedBy)
		}
	}
}

// scaledAlertmanagerConfig is examples/alertmanager.yml with every webhook at
// the test's server (testAlertmanagerConfig) and the example's own grouping
// timers, divided by speedUp like the rules' windows.
func scaledAlertmanagerConfig(t *testing.T, webhookURL string) []byte {
	t.Helper()
	example, err := readYAMLMap(examplePath("alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := testAlertmanagerConfig(webhookURL)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	exampleRoute, route := example["route"].(map[string]any), cfg["route"].(map[string]any)
	for _, key := range []string{"group_wait", "group_interval"} {
		text, ok := exampleRoute[key].(string)
		if !ok {
			t.Fatalf("examples/alertmanager.yml sets no %s on its route", key)
		}
		if route[key], err = scaleDuration(text, speedUp); err != nil {
			t.Fatal(err)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replicasPrometheusConfig is examples/prometheus.yml for the test
// (testPrometheusConfig) with the shipped rules ten times faster in place of
// the shipped files, and both replicas as targets of the scrape job.
func replicasPrometheusConfig(t *testing.T, dir, amAddr string, targets ...string) []byte {
	t.Helper()
	paths, err := exampleRuleFiles()
	if err != nil {
		t.Fatal(err)
	}
	var files []ruleFile
	for _, p := range paths {
		var f ruleFile
		if err := decodeYAMLFile(p, &f); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	groups, err := scaledRules(files, speedUp)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := yaml.Marshal(ruleFile{Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	rulesPath := filepath.Join(dir, "scaled.rules.yml")
	writeFile(t, rulesPath, rules)

	raw, err := testPrometheusConfig(targets[0], amAddr)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []any{rulesPath}
	cfg["scrape_configs"].([]any)[0].(map[string]any)["static_configs"] = []any{map[string]any{"targets": targets}}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exampleExternalLabels returns the external labels of examples/prometheus.yml,
// which Prometheus adds to every alert it sends.
func exampleExternalLabels(t *testing.T) map[string]string {
	t.Helper()
	var cfg struct {
		Global struct {
			ExternalLabels map[string]string `yaml:"external_labels"`
		} `yaml:"global"`
	}
	readYAMLInto(t, examplePath("prometheus.yml"), &cfg)
	return cfg.Global.ExternalLabels
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
