package e2e

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
)

// demoKey is the key of the demo's prod account (demo.go).
const demoKey = "vc_demo_prod"

// demoKeys are the keys of the demo's accounts (demo.go), by account.
var demoKeys = map[string]string{"prod": demoKey, "staging": "vc_demo_staging"}

const (
	failuresMetric = "videoconduit_job_failures_total"
	finishedMetric = "videoconduit_jobs_finished_total"
)

// exemplarLine is a counter sample with an exemplar in OpenMetrics:
// name{labels} value # {job_id="…"} value timestamp
var exemplarLine = regexp.MustCompile(`^(\w+)\{([^}]*)\} \S+ # \{job_id="([^"]*)"\} (\S+) (\S+)$`)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestEndToEndExporterShowsFailureExemplarsInOpenMetricsOnly checks the
// exposition of the failure counters' exemplars: OpenMetrics carries the
// job_id of a real failed job; the classic text format stays valid and
// carries none.
func TestEndToEndExporterShowsFailureExemplarsInOpenMetricsOnly(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)

	var found map[string]exemplarSeen // by metric name
	eventually(t, s.incidentEnd, "the exporter's OpenMetrics output has exemplars on both failure counters", func() error {
		body, err := s.scrape("application/openmetrics-text; version=1.0.0", "application/openmetrics-text")
		if err != nil {
			return err
		}
		if !strings.HasSuffix(body, "# EOF\n") {
			return fmt.Errorf("the OpenMetrics output does not end with # EOF")
		}
		found = map[string]exemplarSeen{}
		for line := range strings.Lines(body) {
			line = strings.TrimSuffix(line, "\n")
			if !strings.Contains(line, " # {") {
				continue
			}
			m := exemplarLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("an exemplar line of an unexpected shape: %s", line)
			}
			labels := parseLabels(m[2])
			if m[1] != failuresMetric && !(m[1] == finishedMetric && labels["status"] == "failed") {
				t.Fatalf("an exemplar on a series that does not count failures: %s", line)
			}
			if !uuidPattern.MatchString(m[3]) || m[4] != "1.0" {
				t.Fatalf("an exemplar that does not name one job by its UUID: %s", line)
			}
			if _, err := strconv.ParseFloat(m[5], 64); err != nil {
				t.Fatalf("an exemplar without a timestamp: %s", line)
			}
			found[m[1]] = exemplarSeen{series: labels, jobID: m[3]}
		}
		for _, name := range []string{failuresMetric, finishedMetric} {
			if _, ok := found[name]; !ok {
				return fmt.Errorf("no exemplar on %s yet", name)
			}
		}
		return nil
	})
	for _, ex := range found {
		s.checkNamesFailedJob(t, ex)
	}

	body, err := s.scrape("text/plain; version=0.0.4", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "# {") {
		t.Error("the classic text format carries exemplars, which its parsers reject")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the classic text format does not parse: %v", err)
	}
	for _, name := range []string{failuresMetric, finishedMetric} {
		f, ok := families[name]
		if !ok || f.GetType().String() != "COUNTER" || len(f.GetMetric()) == 0 {
			t.Errorf("the classic text format lacks the counter %s", name)
		}
	}
}

// TestEndToEndPrometheusStoresFailureExemplars checks that a Prometheus with
// exemplar storage keeps the job_id exemplars of both failure counters, and
// that they name failed jobs of the series' job type.
func TestEndToEndPrometheusStoresFailureExemplars(t *testing.T) {
	t.Parallel()
	s := sharedStack(t)
	for metric, query := range map[string]string{failuresMetric: failuresMetric, finishedMetric: finishedMetric + `{status="failed"}`} {
		var ex exemplarSeen
		eventually(t, s.incidentEnd, "Prometheus stores exemplars of "+query, func() error {
			var data []struct {
				SeriesLabels map[string]string `json:"seriesLabels"`
				Exemplars    []struct {
					Labels map[string]string `json:"labels"`
					Value  string            `json:"value"`
				} `json:"exemplars"`
			}
			params := url.Values{
				"query": {query},
				"start": {strconv.FormatInt(s.started.Add(-time.Minute).Unix(), 10)},
				"end":   {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)},
			}
			if err := s.promAPI("/api/v1/query_exemplars", params, &data); err != nil {
				return err
			}
			for _, series := range data {
				for _, e := range series.Exemplars {
					if len(e.Labels) != 1 || !uuidPattern.MatchString(e.Labels["job_id"]) || e.Value != "1" {
						return fmt.Errorf("an exemplar %v (value %s) that does not name one job", e.Labels, e.Value)
					}
					ex = exemplarSeen{series: series.SeriesLabels, jobID: e.Labels["job_id"]}
				}
			}
			if ex.jobID == "" {
				return fmt.Errorf("no exemplar stored for %s", query)
			}
			return nil
		})
		if ex.series["job"] != scrapeJob || ex.series["__name__"] != metric {
			t.Errorf("the exemplar's series %v is not a %s series scraped from the exporter", ex.series, metric)
		}
		s.checkNamesFailedJob(t, ex)
	}
}

// exemplarSeen is a job_id exemplar and the labels of its series.
type exemplarSeen struct {
	series map[string]string
	jobID  string
}

// checkNamesFailedJob asks the demo API for the exemplar's job, with the key
// of the series' account: it must have failed, be of the series' job type
// and, on the failures counter, fail for the series' reason.
func (s *stack) checkNamesFailedJob(t *testing.T, ex exemplarSeen) {
	t.Helper()
	key, ok := demoKeys[ex.series["account"]]
	if !ok {
		t.Fatalf("the exemplar's series %v is of no account of the demo", ex.series)
	}
	api, err := client.New(client.Config{BaseURL: s.demoAPI, Key: func() string { return key }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := api.GetJob(ctx, ex.jobID)
	if err != nil {
		t.Fatalf("the exemplar's job %s: %v", ex.jobID, err)
	}
	if job.Status != client.StatusFailed || job.Type != ex.series["job_type"] {
		t.Errorf("the exemplar of %v names job %s, which is a %s %s job", ex.series, ex.jobID, job.Status, job.Type)
	}
	if reason, ok := ex.series["reason"]; ok {
		if got := collector.DefaultFailureClassifier().Classify(job.ErrorMessage); got != reason {
			t.Errorf("the exemplar of %v names job %s, which failed for %s (%q)", ex.series, ex.jobID, got, job.ErrorMessage)
		}
	}
}

// scrape GETs the exporter's metrics with an Accept header and requires the
// answer's media type.
func (s *stack) scrape(accept, wantType string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, s.exporterURL+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scraping the exporter: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("reading the exporter's metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scraping the exporter: %s", resp.Status)
	}
	if mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mediaType != wantType {
		return "", fmt.Errorf("asked for %s, got Content-Type %q", accept, resp.Header.Get("Content-Type"))
	}
	return string(body), nil
}

// parseLabels reads `a="x",b="y"` as the exporter writes label pairs; its
// label values hold no quotes or commas.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		name, value, _ := strings.Cut(pair, "=")
		out[name] = strings.Trim(value, `"`)
	}
	return out
}
