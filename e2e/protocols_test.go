package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// scrapeProtocols are the exposition formats a Prometheus server may ask
// for, by the names of its scrape_protocols setting.
var scrapeProtocols = []string{"PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"}

// TestEndToEndPrometheusReadsEveryScrapeProtocol: the exporter splices its
// series account by account, so that a family's HELP and TYPE come once in
// text and, in protobuf, a family is the concatenation of each account's
// part of it. A real Prometheus scraping the demo once in each protocol,
// one scrape job per protocol, must store the same series under each job:
// the same names, and as many series of each.
func TestEndToEndPrometheusReadsEveryScrapeProtocol(t *testing.T) {
	s := sharedStack(t)
	bin, err := realtools.Build("prometheus")
	if err != nil {
		t.Fatalf("obtaining the real Prometheus: %v", err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(s.exporterURL, "http://")
	var jobs []any
	for _, protocol := range scrapeProtocols {
		jobs = append(jobs, map[string]any{
			"job_name":         protocol,
			"scrape_protocols": []string{protocol},
			"static_configs":   []any{map[string]any{"targets": []string{target}}},
		})
	}
	cfg, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": testInterval, "scrape_timeout": testInterval},
		"scrape_configs": jobs,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	prom, err := startProcess("prometheus-protocols", bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := prom.stop(); err != nil {
			t.Errorf("stopping Prometheus: %v", err)
		}
	})
	probe := &stack{promURL: "http://" + addr}
	if err := prom.waitReady(probe.promURL+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}

	// Series per name and job, the scrape's own series left out.
	seriesByJob := func() (map[string]map[string]string, error) {
		rows, err := probe.query(`count by (job, __name__) ({__name__=~"videoconduit_.+|go_.+|process_.+"})`)
		if err != nil {
			return nil, err
		}
		out := map[string]map[string]string{}
		for _, r := range rows {
			if out[r.Metric["job"]] == nil {
				out[r.Metric["job"]] = map[string]string{}
			}
			out[r.Metric["job"]][r.Metric["__name__"]] = r.Value
		}
		return out, nil
	}
	eventually(t, time.Now().Add(time.Minute), "every protocol's job stores the exporter's series, the same under each", func() error {
		up, err := probe.query(`up == 1`)
		if err != nil {
			return err
		}
		if len(up) != len(scrapeProtocols) {
			return fmt.Errorf("%d of %d scrape jobs up: %v", len(up), len(scrapeProtocols), up)
		}
		byJob, err := seriesByJob()
		if err != nil {
			return err
		}
		want := byJob["OpenMetricsText1.0.0"]
		if want["videoconduit_jobs_created_total"] == "" || want["videoconduit_up"] == "" {
			return fmt.Errorf("the OpenMetrics job has no job or health series yet: %v", want)
		}
		for _, protocol := range scrapeProtocols {
			if got := byJob[protocol]; !maps.Equal(got, want) {
				return fmt.Errorf("job %s stores series per name\n%v\nthe OpenMetrics job\n%v", protocol, got, want)
			}
		}
		return nil
	})
}
