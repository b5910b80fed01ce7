package kubernetes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChartCopiesEqualSources: the chart's copies of alerts/ and dashboards/
// are the files of the repository, byte for byte.
func TestChartCopiesEqualSources(t *testing.T) {
	stale, err := Stale(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("the chart's copies are out of date; run `%s` from the repository's root:\n%s",
			SyncCommand, strings.Join(stale, "\n"))
	}
	copies, err := Copies(root)
	if err != nil {
		t.Fatal(err)
	}
	var alerts, dashboards int
	for _, c := range copies {
		switch filepath.Dir(c.Source) {
		case "alerts":
			alerts++
		case "dashboards":
			dashboards++
		}
	}
	if alerts == 0 || dashboards == 0 {
		t.Errorf("copies %v: want the rule files and the dashboards", copies)
	}
}

// TestStaleFindsEveryDrift: a changed, a missing and a left-over copy are
// each reported, and SyncCopies repairs them all.
func TestStaleFindsEveryDrift(t *testing.T) {
	fake := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(fake, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("alerts/a.yml", "groups: []\n")
	write("alerts/b.yml", "groups: [x]\n")
	write("alerts/tests/t.test.yml", "not copied\n")
	write("dashboards/d.json", "{}\n")
	write(ChartDir+"/files/alerts/a.yml", "groups: []\n")
	write(ChartDir+"/files/alerts/b.yml", "groups: [y]\n")
	write(ChartDir+"/files/alerts/old.yml", "groups: []\n")

	stale, err := Stale(fake)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		ChartDir + "/files/alerts/b.yml differs from alerts/b.yml",
		ChartDir + "/files/dashboards/d.json is missing: it should be a copy of dashboards/d.json",
		ChartDir + "/files/alerts/old.yml has no source any more",
	}
	if !slices.Equal(stale, want) {
		t.Errorf("Stale = %q\nwant %q", stale, want)
	}
	if err := SyncCopies(fake); err != nil {
		t.Fatal(err)
	}
	if stale, err := Stale(fake); err != nil || len(stale) > 0 {
		t.Errorf("after SyncCopies, Stale = %q, %v", stale, err)
	}
}
