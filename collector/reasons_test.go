package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultFailureClassifier(t *testing.T) {
	c := DefaultFailureClassifier()
	for msg, want := range map[string]string{
		"Video unavailable":                                              "unavailable",
		"This video has been removed by the uploader":                    "unavailable",
		"This video is private":                                          "private",
		"Sign in to confirm your age":                                    "private",
		"The uploader has not made this video available in your country": "geo_restricted",
		"Video not available in your country":                            "geo_restricted",
		"This video is blocked on copyright grounds":                     "copyright",
		"Unsupported URL: https://example.org/x":                         "unsupported_url",
		"Video exceeds the maximum duration of 4 hours":                  "too_large",
		"File too large":                                                 "too_large",
		"Download timed out after 300s":                                  "timeout",
		"HTTP Error 429: Too Many Requests from upstream":                "rate_limited",
		"Internal error, please retry":                                   "internal",
		"something nobody foresaw":                                       "other",
		"":                                                               "unknown",
	} {
		if got := c.Classify(msg); got != want {
			t.Errorf("Classify(%q) = %q, want %q", msg, got, want)
		}
	}
	reasons := c.Reasons()
	if reasons[len(reasons)-2] != "other" || reasons[len(reasons)-1] != "unknown" {
		t.Errorf("Reasons() must end with other, unknown: %v", reasons)
	}
}

func TestLoadFailureClassifier(t *testing.T) {
	write := func(t *testing.T, body string) string {
		path := filepath.Join(t.TempDir(), "reasons.yml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("replaces the default table, first match wins", func(t *testing.T) {
		c, err := LoadFailureClassifier(write(t, `
reasons:
  - reason: drm
    patterns: ["widevine", "drm"]
  - reason: gone
    patterns: ["unavailable"]
`))
		if err != nil {
			t.Fatal(err)
		}
		for msg, want := range map[string]string{
			"DRM protected (Widevine)": "drm",
			"Video unavailable":        "gone",
			"This video is private":    "other",
		} {
			if got := c.Classify(msg); got != want {
				t.Errorf("Classify(%q) = %q, want %q", msg, got, want)
			}
		}
	})
	for name, tc := range map[string]struct{ body, wantErr string }{
		"not YAML":         {"reasons: [", "parsing YAML"},
		"unknown key":      {"reasons:\n  - reason: a\n    pattern: [x]\n", "field pattern not found"},
		"empty":            {"reasons: []\n", "no reasons"},
		"bad name":         {"reasons:\n  - reason: Bad Name\n    patterns: [x]\n", "not a lower-case identifier"},
		"reserved other":   {"reasons:\n  - reason: other\n    patterns: [x]\n", "reserved"},
		"reserved unknown": {"reasons:\n  - reason: unknown\n    patterns: [x]\n", "reserved"},
		"twice":            {"reasons:\n  - reason: a\n    patterns: [x]\n  - reason: a\n    patterns: [y]\n", "listed twice"},
		"no patterns":      {"reasons:\n  - reason: a\n", "no patterns"},
		"bad regexp":       {"reasons:\n  - reason: a\n    patterns: ['(']\n", "missing closing )"},
		"too many reasons": {"reasons:\n" + manyReasons(maxReasons+1), "at most"},
	} {
		t.Run(name, func(t *testing.T) {
			path := write(t, tc.body)
			_, err := LoadFailureClassifier(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error = %v, want one naming the file and containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := LoadFailureClassifier(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Error("a missing file must be an error")
	}
}

func manyReasons(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("  - reason: r" + strings.Repeat("x", i) + "\n    patterns: [x]\n")
	}
	return b.String()
}
