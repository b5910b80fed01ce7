package collector

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
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

// TestMemoAgreesWithPatterns classifies the simulator's failure messages and
// random recombinations of their words in random case, each twice (the
// second time from the memo), and compares with the patterns alone.
func TestMemoAgreesWithPatterns(t *testing.T) {
	var corpus []string
	for _, reason := range simulator.FailureReasons {
		for _, u := range []string{"https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://cdn.example.org/media/x.mp4"} {
			corpus = append(corpus, simulator.FailureMessages(reason, u)...)
		}
	}
	var words []string
	for _, m := range corpus {
		words = append(words, strings.Fields(m)...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 1000 {
		var b strings.Builder
		for i := range 1 + rng.IntN(6) {
			if i > 0 {
				b.WriteByte(' ')
			}
			w := words[rng.IntN(len(words))]
			switch rng.IntN(3) {
			case 0:
				w = strings.ToUpper(w)
			case 1:
				w = strings.ToLower(w)
			}
			b.WriteString(w)
		}
		corpus = append(corpus, b.String())
	}
	c := DefaultFailureClassifier()
	reasons := map[string]bool{}
	for round := range 2 {
		for _, m := range corpus {
			got, want := c.Classify(m), c.match(m)
			if got != want {
				t.Fatalf("round %d: Classify(%q) = %q, the patterns say %q", round, m, got, want)
			}
			reasons[got] = true
		}
	}
	if len(reasons) < len(c.Reasons())-1 { // every reason but unknown
		t.Errorf("the corpus reached only %d reasons of %v", len(reasons), c.Reasons())
	}
}

// TestMemoIsBounded floods the classifier with distinct messages: the memo
// never holds more than maxMemo of them, nor any longer than maxMemoLength,
// and the reasons stay right throughout.
func TestMemoIsBounded(t *testing.T) {
	c := DefaultFailureClassifier()
	for i := range 2*maxMemo + 1 {
		m := fmt.Sprintf("Video %d unavailable", i)
		if got := c.Classify(m); got != "unavailable" {
			t.Fatalf("Classify(%q) = %q", m, got)
		}
		if len(c.memo) > maxMemo {
			t.Fatalf("after %d messages the memo holds %d, more than %d", i+1, len(c.memo), maxMemo)
		}
	}
	long := strings.Repeat("x", maxMemoLength) + " timed out"
	if got := c.Classify(long); got != "timeout" {
		t.Errorf("Classify(a long message) = %q, want timeout", got)
	}
	if _, ok := c.memo[long]; ok {
		t.Errorf("a message of %d bytes was memoized", len(long))
	}
	if got := c.Classify("Video 1 unavailable"); got != "unavailable" || len(c.memo) == 0 {
		t.Errorf("after the flood: %q, memo of %d", got, len(c.memo))
	}
}
