package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/browser"
	"github.com/videoconduit/videoconduit_exporter/internal/failures"
	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

var update = flag.Bool("update", false, "rewrite docs/failures.png, the README's screenshot of the failures page")

// screenshotFile is the README's screenshot, relative to the repository.
const screenshotFile = "docs/failures.png"

// TestEndToEndFailuresPageShowsTheIncident is what the person paged for the
// demo's incident does: open the failures page in a browser, find the
// failing YouTube downloads and what the API said of each, and click their
// source, then their job type, to see only them. The screenshot of that is
// the README's.
func TestEndToEndFailuresPageShowsTheIncident(t *testing.T) {
	t.Parallel()
	pageURL, deadline := incidentFailuresPage(t)
	b := browser.ForTest(t)

	isIncident := func(r map[string]string) bool { return r["job_type"] == "download" && r["source"] == "youtube" }
	var rows []map[string]string
	incident := 0
	// Few enough for the shared stack's one-minute incident, which fails
	// about 17 YouTube downloads of the demo's world.
	const enough = 5
	eventually(t, deadline, fmt.Sprintf("the failures page shows at least %d failed YouTube downloads with reason, job id and message", enough), func() error {
		if status, err := b.Open(pageURL); err != nil || status != http.StatusOK {
			return fmt.Errorf("opening %s: %d, %v", pageURL, status, err)
		}
		rows, incident = readRows(t, b), 0
		for _, r := range rows {
			if isIncident(r) && r["reason"] == "unavailable" && uuidPattern.MatchString(r["job_id"]) && r["error_message"] != "" {
				incident++
			}
		}
		if incident < enough {
			return fmt.Errorf("%d among %d rows", incident, len(rows))
		}
		return nil
	})

	// The source of a failed YouTube download, then its job type.
	for _, step := range []struct {
		cell, query string
	}{
		{"source", "?source=youtube"},
		{"job_type", "?job_type=download&source=youtube"},
	} {
		row := slices.IndexFunc(rows, isIncident) + 1
		link := fmt.Sprintf("#failures tbody tr:nth-child(%d) .%s a", row, step.cell)
		if err := b.Click(link); err != nil {
			t.Fatal(err)
		}
		var query string
		if err := b.Eval(`location.search`, &query); err != nil {
			t.Fatal(err)
		}
		if query != step.query {
			t.Fatalf("clicking %s opened %q, want %q", link, query, step.query)
		}
		rows = readRows(t, b)
	}
	for _, r := range rows {
		if !isIncident(r) {
			t.Fatalf("filtered by download and youtube, the page shows %v", r)
		}
	}
	if len(rows) < incident {
		t.Fatalf("filtered by download and youtube: %d rows, fewer than the %d seen unfiltered", len(rows), incident)
	}

	shot, err := b.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.ArtifactDir(), "failures.png")
	if *update {
		out = filepath.Join(realtools.RepoRoot(), screenshotFile)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}

func readRows(t *testing.T, b *browser.Browser) []map[string]string {
	t.Helper()
	rows, err := b.Table("#failures")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// incidentFailuresPage returns the address of a failures page over a
// collector that polled the demo's world through the first ten minutes of
// its incident (YouTube downloads failing), ending now, and the time by
// which the page must show them. It serves the page in process while the
// exporter's binary does not route it.
func incidentFailuresPage(t *testing.T) (string, time.Time) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	start := now.Add(-15 * time.Minute)
	clock := simulator.NewManualClock(start)
	sim := simulator.New(simulator.Config{
		Seed: 1, Clock: clock, APIKey: demoKey, History: 5000,
		Incidents: []simulator.Incident{{
			Kind: simulator.FailureSpike, Start: start.Add(5 * time.Minute), Duration: 15 * time.Minute,
			JobType: "download", Platform: "youtube", FailureRate: 0.9,
		}},
	})
	api := httptest.NewServer(sim)
	t.Cleanup(api.Close)
	src, err := client.New(client.Config{BaseURL: api.URL, Key: func() string { return demoKey }, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	coll, err := collector.New(collector.Config{Source: src, Interval: 30 * time.Second, PageSize: 100, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for ; !clock.Now().After(now); clock.Advance(30 * time.Second) {
		if err := coll.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(failures.Path, failures.NewHandler(func() []failures.Account {
		return []failures.Account{{Name: "default", Failures: coll.RecentFailures()}}
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + failures.Path, time.Now().Add(time.Minute)
}
