package collector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"

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
// label with an ordered table of patterns: the first matching rule wins. It
// is safe for concurrent use.
type FailureClassifier struct {
	rules []reasonRule

	mu sync.Mutex
	// memo holds the reasons of messages classified before: error messages
	// repeat, and trying every pattern on one takes tens of microseconds (a
	// case-insensitive regexp has no literal prefix to scan for).
	memo map[string]string
}

type reasonRule struct {
	reason   string
	patterns []*regexp.Regexp
}

// The memo keeps at most maxMemo messages of at most maxMemoLength bytes, so
// a flood of distinct messages (each naming its own video) holds a few
// hundred kilobytes at worst: a full memo is cleared.
const (
	maxMemo       = 1000
	maxMemoLength = 256
)

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
	c := &FailureClassifier{memo: map[string]string{}}
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
			rule.patterns = append(rule.patterns, re)
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
	if len(message) > maxMemoLength {
		return c.match(message)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reason, ok := c.memo[message]
	if !ok {
		reason = c.match(message)
		if len(c.memo) >= maxMemo {
			clear(c.memo)
		}
		c.memo[message] = reason
	}
	return reason
}

// match tries the rules in order.
func (c *FailureClassifier) match(message string) string {
	for _, r := range c.rules {
		for _, re := range r.patterns {
			if re.MatchString(message) {
				return r.reason
			}
		}
	}
	return reasonOther
}
