// Command sync copies alerts/*.yml and dashboards/*.json into the Helm chart,
// which cannot read files outside its folder, then renders the plain
// manifests of deploy/kubernetes from the chart. Run it from the repository's
// root after changing any of them:
//
//	go -C tools/kubernetes run ./sync
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
	"github.com/videoconduit/videoconduit_exporter/tools/kubernetes"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sync:", err)
		os.Exit(1)
	}
}

func run() error {
	root := realtools.RepoRoot()
	if err := kubernetes.SyncCopies(root); err != nil {
		return fmt.Errorf("copying into the chart: %w", err)
	}
	helm, err := realtools.Build("helm")
	if err != nil {
		return err
	}
	for _, m := range kubernetes.Manifests {
		out, err := kubernetes.Render(helm, root, m)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, kubernetes.ManifestDir, m.File), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
