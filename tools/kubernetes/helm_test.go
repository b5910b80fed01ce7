package kubernetes

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// root is the exporter's checkout, which holds the chart.
var root = realtools.RepoRoot()

// values are chart values, as a values file holds them.
type values = map[string]any

// valuesFile writes values to a file for helm's --values.
func valuesFile(t *testing.T, v values) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// template renders the chart with the given values, as helm template does.
func template(t *testing.T, v values, args ...string) ([]byte, error) {
	t.Helper()
	return Template(realtools.Path(t, "helm"), root, append([]string{"--values", valuesFile(t, v)}, args...)...)
}

// render renders the chart with the given values and decodes every object.
func render(t *testing.T, v values) *objects {
	t.Helper()
	out, err := template(t, v)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(out)
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v", err)
	}
	return objs
}

// lint runs helm lint --strict: a warning fails as an error does.
func lint(t *testing.T, v values) {
	t.Helper()
	cmd := exec.Command(realtools.Path(t, "helm"), "lint", "--strict", "--kube-version", KubeVersion,
		"--values", valuesFile(t, v), filepath.Join(root, ChartDir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, out)
	}
}
