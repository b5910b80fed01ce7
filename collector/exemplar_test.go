package collector_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestFailureExemplars checks that the failure counters carry the id of the
// latest failed job as an exemplar in OpenMetrics, and that the classic text
// format stays valid without it.
func TestFailureExemplars(t *testing.T) {
	w := newWorld(t, simulator.Config{Seed: 31, Profiles: quietProfiles()}, 100)
	w.poll(t)
	first := w.sim.Submit("download", "https://youtu.be/a", 1)
	latest := w.sim.Submit("download", "https://youtu.be/b", 1)
	for _, id := range []string{first, latest} {
		if err := w.sim.SetStatus(id, client.StatusFailed, "Video unavailable"); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(5 * time.Second)
		w.poll(t)
	}
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}

	var om bytes.Buffer
	enc := expfmt.NewEncoder(&om, expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`videoconduit_job_failures_total{job_type="download",reason="unavailable",source="youtube"} 2.0 # {job_id="` + latest + `"} 1.0`,
		`videoconduit_jobs_finished_total{job_type="download",source="youtube",status="failed"} 2.0 # {job_id="` + latest + `"} 1.0`,
	} {
		if !strings.Contains(om.String(), want) {
			t.Errorf("OpenMetrics output lacks %q", want)
		}
	}
	if strings.Contains(om.String(), first) {
		t.Errorf("the exemplar must name the latest failed job, not %s", first)
	}

	var text bytes.Buffer
	enc = expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(text.String(), "job_id") {
		t.Error("the classic text format must not carry exemplars")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(&text); err != nil {
		t.Errorf("classic text exposition does not parse: %v", err)
	}
}
