// Package kubernetes holds what keeps the Helm chart (charts/videoconduit-exporter)
// and the plain manifests (deploy/kubernetes) in step with the rest of the
// repository: the chart's copies of alerts/ and dashboards/, which helm needs
// inside the chart, and the manifests rendered from the chart. Its tests
// prove the chart; the sync command rewrites the copies and the manifests.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// KubeVersion is the Kubernetes version the chart is rendered and linted
// for. helm reports 1.20 unless its release build stamps the version of its
// Kubernetes libraries, and the chart needs 1.25 or later.
const KubeVersion = "1.33.0"

// Release is the release name of the plain manifests and of the tests: the
// objects are then named after the chart alone.
const Release = "videoconduit-exporter"

// ChartDir and ManifestDir are relative to the repository's root.
const (
	ChartDir    = "charts/videoconduit-exporter"
	ManifestDir = "deploy/kubernetes"
)

// SyncCommand rewrites the chart's copies and the plain manifests.
const SyncCommand = "go -C tools/kubernetes run ./sync"

// copied are the files of the repository that the chart holds a copy of
// (helm reads no file outside the chart): source pattern, chart folder.
var copied = []struct{ pattern, dir string }{
	{"alerts/*.yml", "files/alerts"},
	{"dashboards/*.json", "files/dashboards"},
}

// Copy is a file of the repository and its copy in the chart, both relative
// to the repository's root.
type Copy struct{ Source, Chart string }

// Copies lists the files the chart must hold a copy of.
func Copies(root string) ([]Copy, error) {
	var out []Copy
	for _, c := range copied {
		sources, err := filepath.Glob(filepath.Join(root, c.pattern))
		if err != nil {
			return nil, err
		}
		if len(sources) == 0 {
			return nil, fmt.Errorf("no file matches %s", c.pattern)
		}
		for _, s := range sources {
			rel, _ := filepath.Rel(root, s)
			out = append(out, Copy{rel, filepath.Join(ChartDir, c.dir, filepath.Base(s))})
		}
	}
	return out, nil
}

// Stale lists, one line each, the copies that differ from their source or
// are missing, and the files in the chart's copy folders that have no source.
func Stale(root string) ([]string, error) {
	copies, err := Copies(root)
	if err != nil {
		return nil, err
	}
	var stale []string
	want := map[string]bool{}
	for _, c := range copies {
		want[c.Chart] = true
		src, err := os.ReadFile(filepath.Join(root, c.Source))
		if err != nil {
			return nil, err
		}
		dst, err := os.ReadFile(filepath.Join(root, c.Chart))
		switch {
		case os.IsNotExist(err):
			stale = append(stale, c.Chart+" is missing: it should be a copy of "+c.Source)
		case err != nil:
			return nil, err
		case !bytes.Equal(src, dst):
			stale = append(stale, c.Chart+" differs from "+c.Source)
		}
	}
	for _, c := range copied {
		dir := filepath.Join(ChartDir, c.dir)
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, e := range entries {
			if p := filepath.Join(dir, e.Name()); !want[p] {
				stale = append(stale, p+" has no source any more")
			}
		}
	}
	return stale, nil
}

// SyncCopies makes the chart's copies equal to their sources, and removes
// copies whose source is gone.
func SyncCopies(root string) error {
	copies, err := Copies(root)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, c := range copies {
		keep[c.Chart] = true
		b, err := os.ReadFile(filepath.Join(root, c.Source))
		if err != nil {
			return err
		}
		dst := filepath.Join(root, c.Chart)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	for _, c := range copied {
		dir := filepath.Join(ChartDir, c.dir)
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if p := filepath.Join(dir, e.Name()); !keep[p] {
				if err := os.Remove(filepath.Join(root, p)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Manifest is a file of the plain manifests and the helm template arguments
// that render it from the chart.
type Manifest struct {
	File  string
	About string // what the file holds, for its header
	Args  []string
}

// Manifests are the plain manifests: the exporter with the chart's default
// values, and apart, for clusters that run the Prometheus Operator and the
// Grafana dashboard sidecar, its ServiceMonitor, PrometheusRule and
// dashboards.
var Manifests = []Manifest{
	{"videoconduit-exporter.yaml", "the exporter, with the chart's default values", nil},
	{"monitoring.yaml", "the ServiceMonitor, PrometheusRule and Grafana dashboards of the exporter", []string{
		"--set", "serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboards.enabled=true",
		"--show-only", "templates/servicemonitor.yaml",
		"--show-only", "templates/prometheusrule.yaml",
		"--show-only", "templates/dashboards.yaml",
	}},
}

// Template runs helm template on the chart with the given arguments.
func Template(helm, root string, args ...string) ([]byte, error) {
	cmd := exec.Command(helm, slices.Concat([]string{"template", Release, filepath.Join(root, ChartDir), "--kube-version", KubeVersion}, args)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Render returns the content of a plain manifest: a header saying where it
// comes from, then the chart rendered.
func Render(helm, root string, m Manifest) ([]byte, error) {
	out, err := Template(helm, root, m.Args...)
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# %s: %s.\n# Rendered from %s by `%s`: edit the chart, not this file.\n",
		m.File, m.About, ChartDir, SyncCommand)
	return append([]byte(header), out...), nil
}
