package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// scrapeJob is the scrape job name the shipped alerts select (up{job=...}).
const scrapeJob = "videoconduit"

// testInterval is the scrape and evaluation interval of the test copy of
// examples/prometheus.yml: the demo moves in seconds, not minutes.
const testInterval = "1s"

func examplesDir() string { return filepath.Join(realtools.RepoRoot(), "examples") }

func examplePath(name string) string { return filepath.Join(examplesDir(), name) }

// exampleRuleFiles returns the absolute paths of the rule files that
// examples/prometheus.yml loads, its globs expanded: the shipped rules.
func exampleRuleFiles() ([]string, error) {
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := decodeYAMLFile(examplePath("prometheus.yml"), &cfg); err != nil {
		return nil, err
	}
	var out []string
	for _, pattern := range cfg.RuleFiles {
		if !filepath.IsAbs(pattern) { // Prometheus resolves them from the config's folder
			pattern = filepath.Join(examplesDir(), pattern)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("rule_files entry %q: %w", pattern, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("rule_files entry %q matches no file", pattern)
		}
		out = append(out, matches...)
	}
	if len(out) == 0 {
		return nil, errors.New("the example Prometheus config loads no rule files")
	}
	return out, nil
}

// testPrometheusConfig rewrites examples/prometheus.yml for the test stack:
// the scrape job at the exporter, the Alertmanager at ours, every interval at
// testInterval, the rule files by absolute path followed by extraRules.
// Anything else of the example is kept; a shape the rewrite does not know is
// an error, so the test never runs a config it only half rewrote.
func testPrometheusConfig(exporterAddr, amAddr string, extraRules ...string) ([]byte, error) {
	cfg, err := readYAMLMap(examplePath("prometheus.yml"))
	if err != nil {
		return nil, err
	}
	global, ok := cfg["global"].(map[string]any)
	if !ok {
		global = map[string]any{}
		cfg["global"] = global
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = testInterval, testInterval, testInterval

	rules, err := exampleRuleFiles()
	if err != nil {
		return nil, err
	}
	cfg["rule_files"] = append(rules, extraRules...)

	scrapes, _ := cfg["scrape_configs"].([]any)
	if len(scrapes) != 1 {
		return nil, fmt.Errorf("the example has %d scrape jobs; the rewrite knows one, %q", len(scrapes), scrapeJob)
	}
	job, _ := scrapes[0].(map[string]any)
	if job == nil || job["job_name"] != scrapeJob {
		return nil, fmt.Errorf("the example's scrape job is not named %q, which the alerts select", scrapeJob)
	}
	if _, ok := job["static_configs"]; !ok {
		return nil, errors.New("the example's scrape job has no static_configs to point at the exporter")
	}
	job["scrape_interval"], job["scrape_timeout"] = testInterval, testInterval
	job["static_configs"] = []any{map[string]any{"targets": []any{exporterAddr}}}

	alerting, _ := cfg["alerting"].(map[string]any)
	ams, _ := alerting["alertmanagers"].([]any)
	if len(ams) != 1 {
		return nil, fmt.Errorf("the example has %d alertmanagers entries; the rewrite knows one", len(ams))
	}
	am, _ := ams[0].(map[string]any)
	if _, ok := am["static_configs"]; !ok {
		return nil, errors.New("the example's alertmanagers entry has no static_configs")
	}
	am["static_configs"] = []any{map[string]any{"targets": []any{amAddr}}}
	return yaml.Marshal(cfg)
}

// testAlertmanagerConfig rewrites examples/alertmanager.yml for the test
// stack: every webhook posts to webhookURL + "/" + its receiver's name, and
// grouping waits a second instead of minutes. A receiver with anything but
// webhooks is an error: the test would notify the outside world.
func testAlertmanagerConfig(webhookURL string) ([]byte, error) {
	cfg, err := readYAMLMap(examplePath("alertmanager.yml"))
	if err != nil {
		return nil, err
	}
	route, ok := cfg["route"].(map[string]any)
	if !ok {
		return nil, errors.New("the example Alertmanager config has no route")
	}
	shortenTimers(route, true)
	receivers, _ := cfg["receivers"].([]any)
	for _, r := range receivers {
		rcv, _ := r.(map[string]any)
		name, _ := rcv["name"].(string)
		for key := range rcv {
			if key != "name" && key != "webhook_configs" {
				return nil, fmt.Errorf("receiver %q has %s: the example's integrations must stay commented out", name, key)
			}
		}
		hooks, _ := rcv["webhook_configs"].([]any)
		for _, h := range hooks {
			hook, _ := h.(map[string]any)
			if hook == nil {
				return nil, fmt.Errorf("receiver %q: a webhook config is not a mapping", name)
			}
			hook["url"] = webhookURL + "/" + name
		}
	}
	return yaml.Marshal(cfg)
}

// shortenTimers sets the grouping timers of a route and of every sub-route
// that sets its own; the root always gets them, so nothing inherits minutes.
func shortenTimers(route map[string]any, root bool) {
	for key, value := range map[string]string{"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"} {
		if _, ok := route[key]; ok || root {
			route[key] = value
		}
	}
	routes, _ := route["routes"].([]any)
	for _, r := range routes {
		if sub, ok := r.(map[string]any); ok {
			shortenTimers(sub, false)
		}
	}
}

func readYAMLMap(path string) (map[string]any, error) {
	var m map[string]any
	if err := decodeYAMLFile(path, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return m, nil
}

func decodeYAMLFile(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}
