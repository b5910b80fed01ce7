package realtools

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinariesRun builds (or finds cached) every real component and checks
// that each runs and reports the pinned version.
func TestBinariesRun(t *testing.T) {
	for name, want := range map[string]string{
		"prometheus":   "0.316.0",
		"promtool":     "0.316.0",
		"alertmanager": "0.30.0",
		"amtool":       "0.30.0",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(Path(t, name), "--version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", name, err, out)
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("%s --version = %q, want it to mention %q", name, out, want)
			}
		})
	}
}
