package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// TestPlainManifestsAreTheChartRendered: each file of deploy/kubernetes is
// what helm template renders from the chart, and decodes strictly.
func TestPlainManifestsAreTheChartRendered(t *testing.T) {
	helm := realtools.Path(t, "helm")
	var want []string
	for _, m := range Manifests {
		want = append(want, m.File)
		rendered, err := Render(helm, root, m)
		if err != nil {
			t.Fatal(err)
		}
		shipped, err := os.ReadFile(filepath.Join(root, ManifestDir, m.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shipped, rendered) {
			t.Errorf("%s/%s is not the chart rendered; run `%s` from the repository's root", ManifestDir, m.File, SyncCommand)
		}
		if _, err := decode(shipped); err != nil {
			t.Errorf("%s: %v", m.File, err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, ManifestDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			t.Errorf("%s/%s is not rendered from the chart", ManifestDir, e.Name())
		}
	}
}
