package e2e

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/internal/browser"
	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
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
	s := sharedStack(t)
	pageURL, deadline := s.exporterURL+"/failures", s.incidentEnd
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
