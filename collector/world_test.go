package collector_test

import (
	"cmp"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// epoch is the simulated start of every test world.
var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const testKey = "vc_test_key_0123456789"

// world is a simulator behind real HTTP on loopback, a real client and a
// collector whose clock is the simulator's.
type world struct {
	sim      *simulator.Sim
	clock    *simulator.ManualClock
	api      *client.Client
	pageSize int
	coll     *collector.JobCollector
	reg      *prometheus.Registry
}

func newWorld(t testing.TB, cfg simulator.Config, pageSize int) *world {
	t.Helper()
	clock := simulator.NewManualClock(epoch)
	cfg.Clock = clock
	cfg.APIKey = testKey
	if cfg.Start.IsZero() {
		cfg.Start = epoch
	}
	w := &world{sim: simulator.New(cfg), clock: clock, pageSize: pageSize}
	srv := httptest.NewServer(w.sim)
	t.Cleanup(srv.Close)
	api, err := client.New(client.Config{
		BaseURL:        srv.URL,
		Key:            func() string { return testKey },
		UserAgent:      "videoconduit_exporter/test",
		Timeout:        5 * time.Second,
		MaxRetries:     1,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  time.Millisecond,
		MaxRetryAfter:  10 * time.Millisecond,
		Observe: func(endpoint, code string, d time.Duration) {
			w.coll.ObserveRequest(endpoint, code, d)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.api = api
	w.start(t, collector.Config{})
	return w
}

// start (re)starts the collector, as a process start would: base is the
// configuration beyond the world's own (a state file, a logger, an interval
// other than 30 s).
func (w *world) start(t testing.TB, base collector.Config) {
	t.Helper()
	base.Source, base.PageSize, base.Now = w.api, w.pageSize, w.clock.Now
	base.Interval = cmp.Or(base.Interval, 30*time.Second)
	coll, err := collector.New(base)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll)
	w.coll, w.reg = coll, reg
}

func (w *world) poll(t testing.TB) {
	t.Helper()
	if err := w.coll.Poll(context.Background()); err != nil {
		t.Fatalf("poll at %s: %v", w.clock.Now().Format(time.TimeOnly), err)
	}
}

// series returns the value of every series of a family, keyed by its label
// values in label-name order (e.g. "download|youtube|completed").
func (w *world) series(t testing.TB, name string) map[string]float64 {
	t.Helper()
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += "|"
				}
				key += l.GetValue()
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// quietProfiles returns the default job types with no arrivals, for
// scripted worlds where the test decides every event.
func quietProfiles() map[string]simulator.TypeProfile {
	p := simulator.DefaultProfiles()
	for k, v := range p {
		v.PerMinute = 0
		p[k] = v
	}
	return p
}
