package alerts

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// scrapeJob is the scrape job name the target alerts select.
const scrapeJob = "videoconduit"

var (
	jobMatcher = regexp.MustCompile(`\bjob\s*=\s*"([^"]*)"`)
	docJobName = regexp.MustCompile(`(?m)^\s*(?:-\s*)?job_name:\s*['"]?([^\s'"#]+)`)
)

// TestScrapeJobNameAgrees keeps the one job name the rules select in step with
// every way the project tells users to scrape the exporter: the scrape
// configurations in the READMEs, examples/prometheus.yml (the one the compose
// stack loads), and the Kubernetes chart's ServiceMonitor.
func TestScrapeJobNameAgrees(t *testing.T) {
	// The rules: up{job="videoconduit"} in the target alerts, nowhere else.
	var selecting []string
	for f, groups := range groupsOf(t) {
		for _, g := range groups {
			for _, r := range g.Rules {
				for _, m := range jobMatcher.FindAllStringSubmatch(r.Expr, -1) {
					if m[1] != scrapeJob {
						t.Errorf("%s: %s selects job %q, want %q", f, r.Alert+r.Record, m[1], scrapeJob)
					}
					selecting = append(selecting, r.Alert)
				}
			}
		}
	}
	slices.Sort(selecting)
	selecting = slices.Compact(selecting)
	want := []string{"VideoConduitExporterAbsent", "VideoConduitExporterDown", "VideoConduitExporterReplicaDown"}
	if !slices.Equal(selecting, want) {
		t.Errorf("the rules that select a scrape job are %v, want %v (README.md documents these)", selecting, want)
	}

	root := realtools.RepoRoot()
	for _, doc := range []string{"README.md", "alerts/README.md"} {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		names := docJobName.FindAllStringSubmatch(string(raw), -1)
		if len(names) == 0 {
			t.Errorf("%s shows no scrape configuration (job_name)", doc)
		}
		for _, m := range names {
			if m[1] != scrapeJob {
				t.Errorf("%s tells users to scrape with job_name %q, the rules select %q", doc, m[1], scrapeJob)
			}
		}
	}

	// The compose stack's Prometheus reads its config from a mounted file:
	// that file's scrape job.
	promConfig := composePrometheusConfig(t, filepath.Join(root, "examples", "docker-compose.yml"))
	var prom struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, promConfig, &prom)
	if len(prom.ScrapeConfigs) == 0 {
		t.Errorf("%s has no scrape job", promConfig)
	}
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != scrapeJob {
			t.Errorf("%s scrapes with job_name %q, the rules select %q", promConfig, sc.JobName, scrapeJob)
		}
	}

	chart := filepath.Join(root, "charts", "videoconduit-exporter")
	for _, job := range serviceMonitorJobs(t, chart) {
		if job != scrapeJob {
			t.Errorf("the chart's ServiceMonitor sets job %q, the rules select %q", job, scrapeJob)
		}
	}
}

// composePrometheusConfig returns the host file that the compose file's
// prometheus service reads as --config.file.
func composePrometheusConfig(t *testing.T, composePath string) string {
	t.Helper()
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, composePath, &compose)
	svc, ok := compose.Services["prometheus"]
	if !ok {
		t.Fatalf("%s has no prometheus service", composePath)
	}
	var inContainer string
	for _, arg := range svc.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			inContainer = v
		}
	}
	for _, v := range svc.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if dst == inContainer && (strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")) {
			return filepath.Join(filepath.Dir(composePath), src)
		}
	}
	t.Fatalf("%s: Prometheus reads %q, which no bind mount provides", composePath, inContainer)
	return ""
}

// serviceMonitorJobs renders the chart with its ServiceMonitor enabled and
// returns the job label each of its endpoints sets.
func serviceMonitorJobs(t *testing.T, chart string) []string {
	t.Helper()
	// helm built from source reports Kubernetes 1.20 unless told, and the
	// chart needs 1.25 or later (tools/kubernetes renders for the same).
	out, err := exec.Command(realtools.Path(t, "helm"), "template", "videoconduit", chart, "--kube-version", "1.33.0",
		"--set", "serviceMonitor.enabled=true").Output()
	if err != nil {
		t.Fatalf("helm template %s: %v", chart, err)
	}
	var jobs []string
	found := false
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Endpoints []struct {
					Relabelings []struct {
						Action      string `yaml:"action"`
						TargetLabel string `yaml:"targetLabel"`
						Replacement string `yaml:"replacement"`
					} `yaml:"relabelings"`
				} `yaml:"endpoints"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm template output: %v", err)
		}
		if doc.Kind != "ServiceMonitor" {
			continue
		}
		found = true
		for i, ep := range doc.Spec.Endpoints {
			job := ""
			for _, r := range ep.Relabelings {
				if r.TargetLabel == "job" && (r.Action == "" || strings.EqualFold(r.Action, "replace")) {
					job = r.Replacement
				}
			}
			if job == "" {
				// Without a relabelling the Prometheus Operator names the
				// job after the Service, which the rules cannot know.
				t.Errorf("ServiceMonitor endpoint %d does not set the job label", i)
			}
			jobs = append(jobs, job)
		}
	}
	if !found {
		t.Fatalf("helm template %s with serviceMonitor.enabled=true rendered no ServiceMonitor", path.Base(chart))
	}
	return jobs
}
