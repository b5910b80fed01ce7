package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// demoKey is the key of the built-in simulated API; it guards nothing.
const demoKey = "vc_demo_key"

// demoSeed fixes the demo's world. The simulator's world depends only on
// its seed, and with this one the first minute holds created, completed and
// failed jobs (a few seeds in a hundred have no failure that early).
const demoSeed = 1

// demoOptions schedule the demo's incidents, so that alerts and dashboards
// can be watched doing their work without waiting for a real outage.
type demoOptions struct {
	enabled          bool
	incidentAfter    time.Duration
	incidentDuration time.Duration
	incidentEvery    time.Duration
}

func (d *demoOptions) addFlags(app *kingpin.Application) {
	app.Flag("demo", "Run against a built-in simulated VideoConduit API on loopback: no key, no network.").BoolVar(&d.enabled)
	app.Flag("demo.incident-after", "Demo: time from start to the first incident (YouTube downloads failing).").Default("10m").DurationVar(&d.incidentAfter)
	app.Flag("demo.incident-duration", "Demo: length of each incident.").Default("15m").DurationVar(&d.incidentDuration)
	app.Flag("demo.incident-every", "Demo: time between the starts of two incidents.").Default("1h").DurationVar(&d.incidentEvery)
}

func (d *demoOptions) validate() error {
	switch {
	case d.incidentAfter < 0:
		return fmt.Errorf("--demo.incident-after must not be negative, got %v", d.incidentAfter)
	case d.incidentDuration <= 0:
		return fmt.Errorf("--demo.incident-duration must be positive, got %v", d.incidentDuration)
	case d.incidentEvery < d.incidentDuration:
		return errors.New("--demo.incident-every must not be shorter than --demo.incident-duration")
	}
	return nil
}

// demoWeek is how far ahead the demo schedules incidents.
const demoWeek = 7 * 24 * time.Hour

// demoRetention is how long the demo's API keeps finished jobs. The demo may
// run for days at ~90 jobs a minute; the exporter pages back only to the
// newest jobs and follows active ones, which are never forgotten.
const demoRetention = time.Hour

// startDemo serves a simulated API on a loopback port and returns its URL.
// Its world alternates: a YouTube download failure spike, then, half a
// period later, a stall of transcriptions.
func startDemo(d demoOptions, logger log.Logger) (string, func(), error) {
	start := time.Now()
	var incidents []simulator.Incident
	for at := d.incidentAfter; at < demoWeek; at += d.incidentEvery {
		incidents = append(incidents,
			simulator.Incident{Kind: simulator.FailureSpike, Start: start.Add(at), Duration: d.incidentDuration, JobType: "download", Platform: "youtube", FailureRate: 0.9},
			simulator.Incident{Kind: simulator.Stall, Start: start.Add(at + d.incidentEvery/2), Duration: d.incidentDuration, JobType: "transcribe"},
		)
	}
	sim := simulator.New(simulator.Config{
		Seed:      demoSeed,
		APIKey:    demoKey,
		Start:     start,
		History:   5000,
		Incidents: incidents,
		Retention: demoRetention,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String()
	level.Info(logger).Log("msg", "demo mode: polling a simulated VideoConduit API on loopback, not the real service", "api", url,
		"first_incident", start.Add(d.incidentAfter).Format(time.RFC3339))
	return url, func() { srv.Close() }, nil
}
