package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeMetricTable checks the README's metric table against the
// families the exporter really exposes, name and type.
func TestReadmeMetricTable(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `(videoconduit_[a-z_]+)` \\| (counter|gauge|histogram) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(readFile(t, "README.md"), -1) {
		documented[m[1]] = m[2]
	}

	sim := simulator.New(simulator.Config{Seed: 1, APIKey: "k", Clock: simulator.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	api, err := client.New(client.Config{BaseURL: srv.URL, Key: func() string { return "k" }})
	if err != nil {
		t.Fatal(err)
	}
	coll, err := collector.New(collector.Config{Source: api, Interval: time.Minute, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := coll.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll, versioncollector.NewCollector(exporterName), webInfo(&url.URL{Scheme: "https", Host: "exporter.example"}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]string{}
	for _, f := range families {
		exposed[f.GetName()] = strings.ToLower(f.GetType().String())
	}
	for _, name := range collector.MetricNames() {
		if _, ok := exposed[name]; !ok {
			t.Errorf("collector.MetricNames() lists %s, which is not exposed", name)
		}
	}
	if !maps.Equal(documented, exposed) {
		t.Errorf("README metric table = %v\nexposed = %v", documented, exposed)
	}
}

// TestReadmeFlags checks that the README documents every flag --help shows.
func TestReadmeFlags(t *testing.T) {
	var help bytes.Buffer
	if code := run([]string{"--help"}, &help, io.Discard); code != 0 {
		t.Fatalf("--help exit code %d", code)
	}
	readme := readFile(t, "README.md")
	flags := regexp.MustCompile(`--[a-z][a-z.-]+`).FindAllString(help.String(), -1)
	for _, f := range slices.Compact(slices.Sorted(slices.Values(flags))) {
		if strings.HasPrefix(f, "--help") {
			continue // kingpin's own
		}
		if !strings.Contains(readme, "`"+f+"`") && !strings.Contains(readme, "`"+f+"=") {
			t.Errorf("README does not document %s", f)
		}
	}
}

// TestDefaultPortEverywhere checks that the one default port is the one the
// Dockerfile exposes and the README and examples use.
func TestDefaultPortEverywhere(t *testing.T) {
	if !strings.Contains(readFile(t, "Dockerfile"), "EXPOSE "+defaultPort+"\n") {
		t.Errorf("Dockerfile does not EXPOSE %s", defaultPort)
	}
	readme := readFile(t, "README.md")
	if !strings.Contains(readme, "localhost:"+defaultPort+"/metrics") || !strings.Contains(readme, "`:"+defaultPort+"`") {
		t.Errorf("README does not give the default port %s", defaultPort)
	}
	for _, other := range regexp.MustCompile(`:(\d{4,5})\b`).FindAllStringSubmatch(readme, -1) {
		if other[1] != defaultPort {
			t.Errorf("README mentions port %s, the default is %s", other[1], defaultPort)
		}
	}
}

// TestReadmeLayoutListsEveryPackage checks that the README's layout table
// names every folder that holds Go code.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	readme := readFile(t, "README.md")
	_, layout, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "."):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".go") && filepath.Dir(path) != ".":
			dirs[filepath.ToSlash(filepath.Dir(path))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if !strings.Contains(layout, "`"+dir+"/`") {
			t.Errorf("the README's layout table does not list %s/", dir)
		}
	}
	if len(dirs) < 10 {
		t.Errorf("found only %d folders with Go code: %v", len(dirs), dirs)
	}
}
