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

	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/apikey"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// demoAccounts are the demo's VideoConduit accounts: a busy production
// account and a quieter staging one, each with its own key, world and
// incidents, so that dashboards and alerts have accounts to tell apart. The
// keys guard nothing.
var demoAccounts = []struct {
	name, key string
	seed      int64
	// traffic scales the simulator's default arrival rates.
	traffic float64
}{
	// With seed 1 the first minute of prod holds created, completed and
	// failed jobs (a few seeds in a hundred have no failure that early).
	{"prod", "vc_demo_prod", 1, 1},
	{"staging", "vc_demo_staging", 2, 0.25},
}

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

// demoAPI is the demo's simulated API, serving every demo account.
type demoAPI struct {
	url string
	srv *http.Server
}

// startDemo serves a simulated API on a loopback port. In prod, YouTube
// downloads fail, then half a period later transcriptions stall; in
// staging, a quarter period after prod's first incident, translations
// fail.
func startDemo(d demoOptions, logger log.Logger) (*demoAPI, error) {
	start := time.Now()
	incidents := map[string][]simulator.Incident{}
	for at := d.incidentAfter; at < demoWeek; at += d.incidentEvery {
		incidents["prod"] = append(incidents["prod"],
			simulator.Incident{Kind: simulator.FailureSpike, Start: start.Add(at), Duration: d.incidentDuration, JobType: "download", Platform: "youtube", FailureRate: 0.9},
			simulator.Incident{Kind: simulator.Stall, Start: start.Add(at + d.incidentEvery/2), Duration: d.incidentDuration, JobType: "transcribe"},
		)
		incidents["staging"] = append(incidents["staging"],
			simulator.Incident{Kind: simulator.FailureSpike, Start: start.Add(at + d.incidentEvery/4), Duration: d.incidentDuration, JobType: "translate", FailureRate: 0.7},
		)
	}
	api := simulator.NewAccounts()
	demo := &demoAPI{}
	for _, a := range demoAccounts {
		profiles := simulator.DefaultProfiles()
		for name, p := range profiles {
			p.PerMinute *= a.traffic
			profiles[name] = p
		}
		api.Add(a.key, simulator.New(simulator.Config{
			Seed:      a.seed,
			Start:     start,
			History:   5000,
			Profiles:  profiles,
			Incidents: incidents[a.name],
			Retention: demoRetention,
		}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	demo.srv = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go demo.srv.Serve(ln)
	demo.url = "http://" + ln.Addr().String()
	level.Info(logger).Log("msg", "demo mode: polling a simulated VideoConduit API on loopback, not the real service", "api", demo.url,
		"accounts", "prod,staging", "first_incident", start.Add(d.incidentAfter).Format(time.RFC3339))
	return demo, nil
}

// config returns the demo's accounts with the settings of the flags.
func (d *demoAPI) config(settings config.Settings) *config.Config {
	settings.URL = d.url
	cfg := &config.Config{}
	for _, a := range demoAccounts {
		cfg.Accounts = append(cfg.Accounts, config.Account{Name: a.name, Settings: settings})
	}
	return cfg
}

// key returns the key of a demo account.
func (d *demoAPI) key(a config.Account, _ log.Logger) (*apikey.Source, error) {
	for _, da := range demoAccounts {
		if da.name == a.Name {
			return apikey.Fixed(da.key), nil
		}
	}
	return nil, fmt.Errorf("no demo account %q", a.Name)
}

func (d *demoAPI) close() { d.srv.Close() }
