package collector

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// classifyByRegexp is Classify without the lower-case rewrite: the meaning
// the rewrite must keep.
func classifyByRegexp(c *FailureClassifier, message string) string {
	if message == "" {
		return reasonUnknown
	}
	for _, r := range c.rules {
		for _, p := range r.patterns {
			if p.re.MatchString(message) {
				return r.reason
			}
		}
	}
	return reasonOther
}

// trickyReasons has patterns the rewrite must refuse or handle with care.
const trickyReasons = `
reasons:
  - reason: sensitive
    patterns: ["(?-i)ERROR", "(?-i)[A-Z]x", "(?-i)[A-Z][0-9]"]
  - reason: folded_class
    patterns: ["[A-Z]{3}[0-9]", "[[:upper:]]q", "[^a-z ]{4}"]
  - reason: non_ascii
    patterns: ["ſtop", "KELVIN", "café"]
  - reason: escapes
    patterns: ["\\x41\\x42c", "\\bfoo\\b", "^timeout$", "5\\d\\d", "log ?in"]
`

func TestLowerRewriteKeepsMeaning(t *testing.T) {
	tricky, err := parseFailureClassifier([]byte(trickyReasons))
	if err != nil {
		t.Fatal(err)
	}
	corpus := []string{"ERROR here", "error here", "Ax", "ax", "AX", "A1", "a1", "ABC1", "abc1", "Q q", "ſtop", "stop", "STOP",
		"kelvin", "KELVIN", "Kelvin", "CAFÉ", "café", "ABc", "abc", "foo", "xfoo", "FOO bar", "timeout", "TIMEOUT",
		"Timeout ", "HTTP 503", "LOGIN", "log in", "!!!!", "a-b-"}
	for _, reason := range simulator.FailureReasons {
		for _, u := range []string{"https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://cdn.example.org/media/x.mp4"} {
			corpus = append(corpus, simulator.FailureMessages(reason, u)...)
		}
	}
	// Random recombinations of the corpus's words, each in a random case.
	var words []string
	for _, m := range corpus {
		words = append(words, strings.Fields(m)...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 3000 {
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
	for _, c := range []*FailureClassifier{DefaultFailureClassifier(), tricky} {
		for _, m := range corpus {
			if got, want := c.Classify(m), classifyByRegexp(c, m); got != want {
				t.Errorf("Classify(%q) = %q, the regexps alone say %q", m, got, want)
			}
		}
	}
}

func TestLowerRewriteCoverage(t *testing.T) {
	for _, r := range DefaultFailureClassifier().rules {
		for _, p := range r.patterns {
			if p.lower == nil {
				t.Errorf("built-in pattern %q of %s has no lower-case rewrite: it is matched the slow way", p.re, r.reason)
			}
		}
	}
	tricky, err := parseFailureClassifier([]byte(trickyReasons))
	if err != nil {
		t.Fatal(err)
	}
	// The parser folds ſ to S, which lowers; a folded é stays beyond ASCII.
	refused := map[string]bool{"(?i)(?-i)ERROR": true, "(?i)(?-i)[A-Z]x": true, "(?i)(?-i)[A-Z][0-9]": true, "(?i)café": true, "(?i)ſtop": false, "(?i)[A-Z]{3}[0-9]": false}
	for _, r := range tricky.rules {
		for _, p := range r.patterns {
			if want, ok := refused[p.re.String()]; ok && (p.lower == nil) != want {
				t.Errorf("pattern %q: rewrite refused = %v, want %v", p.re, p.lower == nil, want)
			}
		}
	}
}
