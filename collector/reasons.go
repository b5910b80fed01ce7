package collector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Reasons a failed job can be classified into besides the table's own.
const (
	reasonOther   = otherValue // a message that no pattern matches
	reasonUnknown = "unknown"  // no error_message at all
)

// maxReasons bounds the reason label: the table is user-supplied.
const maxReasons = 30

// FailureClassifier maps a failed job's error_message to a bounded reason
// label with an ordered table of patterns: the first matching rule wins.
type FailureClassifier struct {
	rules []reasonRule
}

type reasonRule struct {
	reason   string
	patterns []pattern
}

// pattern is one case-insensitive pattern of a rule. A case-insensitive
// regexp cannot use Go's literal-prefix scan, so it is tried at every
// position of the message: with a few dozen patterns that made
// classification the hottest part of a poll. An ASCII message is matched
// instead, in lower case, by the pattern rewritten in lower case, which has
// literal prefixes (see lowerASCII); other messages by the pattern itself.
type pattern struct {
	re    *regexp.Regexp
	lower *regexp.Regexp // nil when no lower-case rewrite is equivalent
}

func (p pattern) matches(message, lowered string, ascii bool) bool {
	if ascii && p.lower != nil {
		return p.lower.MatchString(lowered)
	}
	return p.re.MatchString(message)
}

// reasonsFile is the YAML form of a classification table, as read by
// --collector.failure-reasons-file.
type reasonsFile struct {
	Reasons []struct {
		Reason   string   `yaml:"reason"`
		Patterns []string `yaml:"patterns"`
	} `yaml:"reasons"`
}

// defaultReasonsYAML is the built-in table, in the same form a user's file
// takes, so the two go through one validation. Patterns match
// case-insensitively anywhere in the message.
const defaultReasonsYAML = `
reasons:
  - reason: private
    patterns: ["private", "sign in", "log ?in", "login required", "members[- ]only", "confirm your age", "age[- ]restricted"]
  - reason: geo_restricted
    patterns: ["not available in your country", "geo[- ]?(restricted|blocked)", "your (country|region)", "region[- ]locked"]
  - reason: copyright
    patterns: ["copyright", "dmca", "content id"]
  - reason: unavailable
    patterns: ["unavailable", "removed", "deleted", "does not exist", "no longer available", "not found", "404"]
  - reason: unsupported_url
    patterns: ["unsupported url", "unsupported (site|platform|source)", "invalid url", "no video (formats )?found"]
  - reason: too_large
    patterns: ["too (large|long|big)", "exceeds the maximum", "maximum (duration|size|length)", "file size"]
  - reason: rate_limited
    patterns: ["429", "too many requests", "rate[- ]?limit"]
  - reason: timeout
    patterns: ["timed? ?out", "deadline exceeded"]
  - reason: internal
    patterns: ["internal", "unexpected error", "please retry", "server error", "5\\d\\d"]
`

// DefaultFailureClassifier returns the built-in classification table.
func DefaultFailureClassifier() *FailureClassifier {
	c, err := parseFailureClassifier([]byte(defaultReasonsYAML))
	if err != nil {
		panic("built-in failure reasons: " + err.Error())
	}
	return c
}

// LoadFailureClassifier reads a YAML table that replaces the built-in one.
func LoadFailureClassifier(path string) (*FailureClassifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading failure reasons file: %w", err)
	}
	c, err := parseFailureClassifier(data)
	if err != nil {
		return nil, fmt.Errorf("failure reasons file %s: %w", path, err)
	}
	return c, nil
}

func parseFailureClassifier(data []byte) (*FailureClassifier, error) {
	var f reasonsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if len(f.Reasons) == 0 {
		return nil, errors.New("no reasons: the file must list at least one under 'reasons:'")
	}
	if len(f.Reasons) > maxReasons {
		return nil, fmt.Errorf("%d reasons, at most %d are allowed", len(f.Reasons), maxReasons)
	}
	c := &FailureClassifier{}
	seen := map[string]bool{}
	for i, r := range f.Reasons {
		switch {
		case !isShortIdentifier(r.Reason):
			return nil, fmt.Errorf("reason %d: %q is not a lower-case identifier of at most 32 characters", i+1, r.Reason)
		case r.Reason == reasonOther || r.Reason == reasonUnknown:
			return nil, fmt.Errorf("reason %d: %q is reserved", i+1, r.Reason)
		case seen[r.Reason]:
			return nil, fmt.Errorf("reason %d: %q is listed twice", i+1, r.Reason)
		case len(r.Patterns) == 0:
			return nil, fmt.Errorf("reason %q: no patterns", r.Reason)
		}
		seen[r.Reason] = true
		rule := reasonRule{reason: r.Reason}
		for _, p := range r.Patterns {
			re, err := regexp.Compile("(?i)" + p)
			if err != nil {
				return nil, fmt.Errorf("reason %q: pattern %q: %w", r.Reason, p, err)
			}
			rule.patterns = append(rule.patterns, pattern{re: re, lower: lowerASCII("(?i)" + p)})
		}
		c.rules = append(c.rules, rule)
	}
	return c, nil
}

// Reasons returns every value the reason label can take, in table order.
func (c *FailureClassifier) Reasons() []string {
	out := make([]string, 0, len(c.rules)+2)
	for _, r := range c.rules {
		out = append(out, r.reason)
	}
	return append(out, reasonOther, reasonUnknown)
}

// Classify returns the reason of an error message.
func (c *FailureClassifier) Classify(message string) string {
	if message == "" {
		return reasonUnknown
	}
	ascii := allASCII(message)
	lowered := ""
	if ascii {
		lowered = strings.ToLower(message)
	}
	for _, r := range c.rules {
		for _, p := range r.patterns {
			if p.matches(message, lowered, ascii) {
				return r.reason
			}
		}
	}
	return reasonOther
}

func allASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII rewrites a case-insensitive expression into a case-sensitive
// one that matches strings.ToLower(m) exactly when expr matches m, for every
// ASCII m; nil when the expression has a part it cannot rewrite so.
func lowerASCII(expr string) *regexp.Regexp {
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || !lowerTree(tree) {
		return nil
	}
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return nil
	}
	return re
}

// lowerTree lowers the case-folded literals of a parsed expression in place.
// Against ASCII text, a folded ASCII rune matches a byte exactly when its
// lower case matches the byte's lower case; a character class parsed under
// (?i) holds both cases of each letter, so lowering the text changes nothing
// for it. The rewrite is refused (false) for what lowering would change: a
// case-sensitive letter, a class holding one case of a letter only (both can
// come from (?-i)), and a folded non-ASCII rune, whose fold may be an ASCII
// letter (ſ and s, K and k).
func lowerTree(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		folded := re.Flags&syntax.FoldCase != 0
		for i, r := range re.Rune {
			switch {
			case folded && r >= utf8.RuneSelf:
				return false
			case folded:
				re.Rune[i] = unicode.ToLower(r)
			case isASCIILetter(r):
				return false
			}
		}
		re.Flags &^= syntax.FoldCase
	case syntax.OpCharClass:
		for r := 'a'; r <= 'z'; r++ {
			if inClass(re.Rune, r) != inClass(re.Rune, unicode.ToUpper(r)) {
				return false
			}
		}
	}
	for _, sub := range re.Sub {
		if !lowerTree(sub) {
			return false
		}
	}
	return true
}

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// inClass reports whether r lies in a class's ranges (lo-hi pairs).
func inClass(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}
