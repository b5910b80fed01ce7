package charts

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// TestChart runs the tests of tools/kubernetes: the chart rendered over a
// matrix of values and decoded into the Kubernetes and operator types, its
// PrometheusRule against alerts/ and their promtool tests, its copies of
// alerts/ and dashboards/, the plain manifests, and the exporter started
// with the rendered Deployment's arguments.
func TestChart(t *testing.T) {
	root := realtools.RepoRoot()
	readInputs(t, root)
	// Without -race: the chart's tests start processes and share little
	// memory, and the race detector would double the time spent compiling
	// the Kubernetes types.
	args := []string{"test", "-count=1"}
	if testing.Short() {
		args = append(args, "-short")
	}
	if testing.Verbose() {
		args = append(args, "-v")
	}
	if deadline, ok := t.Deadline(); ok {
		// Leave a minute to report what the inner run printed.
		args = append(args, "-timeout", (time.Until(deadline) - time.Minute).Round(time.Second).String())
	}
	cmd := exec.Command("go", append(args, "./...")...)
	cmd.Dir = filepath.Join(root, "tools", "kubernetes")
	out, err := cmd.CombinedOutput()
	t.Logf("go %v in tools/kubernetes:\n%s", args, out)
	if err != nil {
		t.Fatalf("the chart's tests failed: %v (their output is above)", err)
	}
}

// readInputs reads every file of the checkout. The go command caches a
// test's result against the files the test itself opens; the inner run's
// inputs (the chart, alerts/, dashboards/, the exporter's sources it builds)
// would otherwise go unseen, and a change to them would replay a stale pass.
func readInputs(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
