package dashboards

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// selector is a vector selector of a PromQL expression, with what the linter
// needs to know about it. promtool proves the expressions valid; this small
// scanner only has to find the selectors of valid ones, and Grafana's
// variables ($job, [$__rate_interval]) pass through it untouched.
type selector struct {
	name     string
	matchers []matcher
	window   string // inside [...] after the selector, "" for an instant vector
	call     string // innermost function or aggregation around it, "" at top level
	// setOperand: the selector is the right operand of and, or, unless.
	setOperand bool
}

type matcher struct {
	label, op, value string
}

func (s selector) has(label, op, value string) bool {
	for _, m := range s.matchers {
		if m.label == label && m.op == op && m.value == value {
			return true
		}
	}
	return false
}

var (
	aggregations = setOf("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")
	// groupingKeywords take a parenthesised list of label names, not an expression.
	groupingKeywords = setOf("by", "without", "on", "ignoring", "group_left", "group_right")
	setOperators     = setOf("and", "or", "unless")
	otherKeywords    = setOf("bool", "offset", "atan2", "inf", "nan")
	matchOperators   = []string{"=~", "!~", "!=", "="} // two-character ones first
)

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}

// selectors returns the vector selectors of expr, in order.
func selectors(expr string) ([]selector, error) {
	s := &scanner{src: expr}
	var out []selector
	// Enclosing parentheses: a call's name ("" for grouping), and whether
	// they open the right operand of a set operator.
	type frame struct {
		call string
		set  bool
	}
	var frames []frame
	pendingAggregation := ""
	afterSet := false // the previous token was and, or, unless
	innermost := func() frame {
		if len(frames) == 0 {
			return frame{}
		}
		return frames[len(frames)-1]
	}
	for {
		c := s.peek()
		wasSet := afterSet
		afterSet = false
		switch {
		case c == 0:
			if len(frames) > 0 {
				return nil, errors.New("unbalanced parentheses")
			}
			return out, nil
		case c == '"' || c == '\'' || c == '`':
			if _, err := s.str(); err != nil {
				return nil, err
			}
		case c == '$': // a Grafana variable, as in offset $__range
			s.pos++
			if s.peek() == '{' {
				if _, err := s.until('}'); err != nil {
					return nil, err
				}
			} else {
				s.ident()
			}
		case isDigit(c) || c == '.':
			s.number()
		case isIdentStart(c):
			name := s.ident()
			switch {
			case setOperators[strings.ToLower(name)]:
				afterSet = true
			case groupingKeywords[name]:
				if s.peek() == '(' {
					s.pos++
					if _, err := s.until(')'); err != nil {
						return nil, err
					}
				}
				afterSet = wasSet // "or sum by (x) (...)" is still the operand
			case otherKeywords[strings.ToLower(name)]:
			case s.peek() == '(':
				s.pos++
				frames = append(frames, frame{name, wasSet || innermost().set})
			case aggregations[name]:
				// "sum by (le) (...)": the aggregation's parenthesis comes after its grouping.
				pendingAggregation = name
				afterSet = wasSet
			default:
				sel, err := s.selectorRest(name, innermost().call)
				if err != nil {
					return nil, err
				}
				sel.setOperand = wasSet || innermost().set
				out = append(out, sel)
			}
		case c == '{':
			sel, err := s.selectorRest("", innermost().call)
			if err != nil {
				return nil, err
			}
			sel.setOperand = wasSet || innermost().set
			out = append(out, sel)
		case c == '(':
			s.pos++
			frames = append(frames, frame{pendingAggregation, wasSet || innermost().set})
			pendingAggregation = ""
		case c == ')':
			if len(frames) == 0 {
				return nil, errors.New("unbalanced parentheses")
			}
			s.pos++
			frames = frames[:len(frames)-1]
		case c == '[': // a subquery's range
			s.pos++
			if _, err := s.until(']'); err != nil {
				return nil, err
			}
		default:
			s.pos++
		}
	}
}

type scanner struct {
	src string
	pos int
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	for s.pos < len(s.src) && strings.IndexByte(" \t\r\n", s.src[s.pos]) >= 0 {
		s.pos++
	}
	if s.pos >= len(s.src) {
		return 0
	}
	return s.src[s.pos]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (s *scanner) ident() string {
	start := s.pos
	for s.pos < len(s.src) && (isIdentStart(s.src[s.pos]) || isDigit(s.src[s.pos])) {
		s.pos++
	}
	return s.src[start:s.pos]
}

// number skips a number or a duration (0.9, 1e3, 5m, 1h30m).
func (s *scanner) number() {
	for s.pos < len(s.src) && (isIdentStart(s.src[s.pos]) || isDigit(s.src[s.pos]) || s.src[s.pos] == '.') {
		s.pos++
	}
}

// str reads a quoted string at the current position and returns its content.
func (s *scanner) str() (string, error) {
	quote := s.src[s.pos]
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		s.pos++
		switch {
		case c == quote:
			return b.String(), nil
		case c == '\\' && quote != '`' && s.pos < len(s.src):
			b.WriteByte(s.src[s.pos])
			s.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}

// until returns the text up to the closing byte and moves past it.
func (s *scanner) until(closing byte) (string, error) {
	end := strings.IndexByte(s.src[s.pos:], closing)
	if end < 0 {
		return "", fmt.Errorf("missing %q", closing)
	}
	text := s.src[s.pos : s.pos+end]
	s.pos += end + 1
	return strings.TrimSpace(text), nil
}

// selectorRest reads the optional {matchers} and [window] after a metric name.
func (s *scanner) selectorRest(name, call string) (selector, error) {
	sel := selector{name: name, call: call}
	if s.peek() == '{' {
		s.pos++
		ms, err := s.matchers()
		if err != nil {
			return selector{}, fmt.Errorf("selector %s: %w", name, err)
		}
		sel.matchers = ms
		for _, m := range ms {
			if sel.name == "" && m.label == "__name__" && m.op == "=" {
				sel.name = m.value
			}
		}
	}
	if s.peek() == '[' {
		s.pos++
		w, err := s.until(']')
		if err != nil {
			return selector{}, fmt.Errorf("selector %s: %w", name, err)
		}
		sel.window = w
	}
	return sel, nil
}

// matchers reads label matchers up to and including the closing brace.
func (s *scanner) matchers() ([]matcher, error) {
	var out []matcher
	for {
		c := s.peek()
		switch {
		case c == '}':
			s.pos++
			return out, nil
		case c == ',':
			s.pos++
		case c == 0:
			return nil, errors.New("unterminated label matchers")
		case isIdentStart(c) || c == '"':
			var label string
			if c == '"' {
				quoted, err := s.str()
				if err != nil {
					return nil, err
				}
				if next := s.peek(); next == ',' || next == '}' {
					// Prometheus 3 allows a quoted metric name among the matchers.
					out = append(out, matcher{label: "__name__", op: "=", value: quoted})
					continue
				}
				label = quoted
			} else {
				label = s.ident()
			}
			s.peek()
			op := ""
			for _, candidate := range matchOperators {
				if strings.HasPrefix(s.src[s.pos:], candidate) {
					op = candidate
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("label %s: no match operator", label)
			}
			s.pos += len(op)
			if q := s.peek(); q != '"' && q != '\'' && q != '`' {
				return nil, fmt.Errorf("label %s: value is not a string", label)
			}
			value, err := s.str()
			if err != nil {
				return nil, err
			}
			out = append(out, matcher{label: label, op: op, value: value})
		default:
			return nil, fmt.Errorf("unexpected %q in label matchers", c)
		}
	}
}

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []selector
	}{
		{
			expr: `videoconduit_up`,
			want: []selector{{name: "videoconduit_up"}},
		},
		{
			expr: `sum by (job_type, le) (rate(videoconduit_job_duration_seconds_bucket{job=~"$job", status="failed"}[$__rate_interval]))`,
			want: []selector{{
				name:     "videoconduit_job_duration_seconds_bucket",
				matchers: []matcher{{"job", "=~", "$job"}, {"status", "=", "failed"}},
				window:   "$__rate_interval",
				call:     "rate",
			}},
		},
		{
			// Grouping after the argument, a number, an escaped quote, a comparison.
			expr: `topk(10, sum(increase(a_total{reason!~"x\"y}"}[$__range])) by (reason)) > 0.5`,
			want: []selector{{
				name:     "a_total",
				matchers: []matcher{{"reason", "!~", `x"y}`}},
				window:   "$__range",
				call:     "increase",
			}},
		},
		{
			// Binary operators with vector matching, or, offset, a function of no argument.
			expr: `time() - a offset 5m or on (job) group_left (instance) b:c:d{x!="1"} / ignoring(le) c`,
			want: []selector{
				{name: "a"},
				{name: "b:c:d", matchers: []matcher{{"x", "!=", "1"}}, setOperand: true},
				{name: "c"},
			},
		},
		{
			// A selector without a name outside braces, and one in a plain parenthesis.
			expr: `{__name__="a", job="j"} and (b)`,
			want: []selector{
				{name: "a", matchers: []matcher{{"__name__", "=", "a"}, {"job", "=", "j"}}},
				{name: "b", setOperand: true},
			},
		},
		{
			expr: `max_over_time((rate(x[1m]))[5m:1m])`,
			want: []selector{{name: "x", window: "1m", call: "rate"}},
		},
		{
			// Set operands, directly or inside a call; a variable as an offset.
			expr: `sum(increase(a[$__range]) and last_over_time(a[1h] offset $__range) or a) or vector(0)`,
			want: []selector{
				{name: "a", window: "$__range", call: "increase"},
				{name: "a", window: "1h", call: "last_over_time", setOperand: true},
				{name: "a", call: "sum", setOperand: true},
			},
		},
	} {
		got, err := selectors(tc.expr)
		if err != nil {
			t.Errorf("selectors(%s): %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("selectors(%s)\n got %+v\nwant %+v", tc.expr, got, tc.want)
		}
	}
}

func TestSelectorsRejectBrokenExpressions(t *testing.T) {
	for _, expr := range []string{
		`rate(x[1m]`,
		`x)`,
		`x{job="a}`,
		`x{job}`,
		`x{job=a}`,
		`x[1m`,
		`x{job="a"`,
	} {
		if got, err := selectors(expr); err == nil {
			t.Errorf("selectors(%s) = %+v, want an error", expr, got)
		}
	}
}
