package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The end-to-end tests cannot wait the tens of minutes the shipped rules take
// to fire and resolve, so they run the rules faster: every time window of a
// rule (range selectors, subqueries, offsets, `for`, `keep_firing_for`) is
// divided by a factor, and nothing else changes. Counts over a window stay
// counts over that (shorter) window, and thresholds on ages and timestamps
// stay in seconds: they compare with real time, which does not speed up.

// promDuration matches a PromQL duration literal where the rules use one: in
// a range or subquery selector, and after offset.
var promDuration = regexp.MustCompile(`\[(\d+[smhdwy])(?::(\d+[smhdwy])?)?\]|\boffset\s+(\d+[smhdwy])`)

// quoted matches a PromQL string literal, which scaling leaves alone.
var quoted = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")

// scaleDuration divides a duration by factor and formats it as Prometheus does.
func scaleDuration(text string, factor int) (string, error) {
	d, err := model.ParseDuration(text)
	if err != nil {
		return "", fmt.Errorf("duration %q: %w", text, err)
	}
	scaled := time.Duration(d) / time.Duration(factor)
	if scaled < time.Second || scaled%time.Second != 0 {
		return "", fmt.Errorf("duration %s divided by %d is not a whole number of seconds", text, factor)
	}
	return model.Duration(scaled).String(), nil
}

// scaleExpr divides every time window of a PromQL expression by factor.
func scaleExpr(expr string, factor int) (string, error) {
	var firstErr error
	scale := func(text string) string {
		out, err := scaleDuration(text, factor)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return out
	}
	var b strings.Builder
	last := 0
	for _, q := range append(quoted.FindAllStringIndex(expr, -1), []int{len(expr), len(expr)}) {
		code := expr[last:q[0]]
		b.WriteString(promDuration.ReplaceAllStringFunc(code, func(m string) string {
			sub := promDuration.FindStringSubmatch(m)
			switch {
			case sub[3] != "":
				return "offset " + scale(sub[3])
			case strings.Contains(m, ":") && sub[2] == "":
				return "[" + scale(sub[1]) + ":]"
			case sub[2] != "":
				return "[" + scale(sub[1]) + ":" + scale(sub[2]) + "]"
			default:
				return "[" + scale(sub[1]) + "]"
			}
		}))
		b.WriteString(expr[q[0]:q[1]])
		last = q[1]
	}
	return b.String(), firstErr
}

// scaledRule returns a copy of a rule with its windows divided by factor.
func scaledRule(r rule, factor int) (rule, error) {
	out := r
	var err error
	if out.Expr, err = scaleExpr(r.Expr, factor); err != nil {
		return rule{}, fmt.Errorf("%s%s: %w", r.Alert, r.Record, err)
	}
	for _, d := range []*string{&out.For, &out.KeepFiringFor} {
		if *d == "" {
			continue
		}
		if *d, err = scaleDuration(*d, factor); err != nil {
			return rule{}, fmt.Errorf("%s%s: %w", r.Alert, r.Record, err)
		}
	}
	return out, nil
}

// scaledRules returns the groups of the rule files, in the order given, with
// every rule's windows divided by factor. Names and labels do not change.
func scaledRules(files []ruleFile, factor int) ([]ruleGroup, error) {
	var out []ruleGroup
	for _, f := range files {
		for _, g := range f.Groups {
			sg := ruleGroup{Name: g.Name}
			for _, r := range g.Rules {
				sr, err := scaledRule(r, factor)
				if err != nil {
					return nil, fmt.Errorf("group %s: %w", g.Name, err)
				}
				sg.Rules = append(sg.Rules, sr)
			}
			out = append(out, sg)
		}
	}
	return out, nil
}

func TestScaleExpr(t *testing.T) {
	for expr, want := range map[string]string{
		`rate(x[10m]) * 600`:                                   `rate(x[1m]) * 600`,
		`max_over_time((a - b)[10m:1m]) > 3`:                   `max_over_time((a - b)[1m:6s]) > 3`,
		`x offset 1h or x offset 10m or sum_over_time(y[30d])`: `x offset 6m or x offset 1m or sum_over_time(y[3d])`,
		`increase(z[1d]) and last_over_time(z[1h] offset 3d)`:  `increase(z[2h24m]) and last_over_time(z[6m] offset 7h12m)`,
		`rate(y{code=~"[5m]"}[5m:])`:                           `rate(y{code=~"[5m]"}[30s:])`,
		`time() - t > 900`:                                     `time() - t > 900`,
	} {
		got, err := scaleExpr(expr, 10)
		if err != nil || got != want {
			t.Errorf("scaleExpr(%s) = %q, %v; want %q", expr, got, err, want)
		}
	}
	if got, err := scaleExpr(`rate(x[5s])`, 10); err == nil {
		t.Errorf("scaleExpr accepted a window that does not divide into seconds: %q", got)
	}
	r, err := scaledRule(rule{Alert: "A", Expr: `x[10m]`, For: "5m", KeepFiringFor: "10m"}, 10)
	if err != nil || r.For != "30s" || r.KeepFiringFor != "1m" || r.Expr != `x[1m]` {
		t.Errorf("scaledRule = %+v, %v; want windows, for and keep_firing_for divided by 10", r, err)
	}
}
