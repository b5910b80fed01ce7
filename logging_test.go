package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-logfmt/logfmt"
)

// TestLogLinesShareTheirKeys starts the exporter on its demo in each log
// format and reads its start-up log, which holds lines of ours and of
// exporter-toolkit (through the slog bridge): every line must carry ts,
// caller, level and msg, in the same order on all of them (first, in
// logfmt), ts as an RFC 3339 UTC time, and none of slog's own keys.
func TestLogLinesShareTheirKeys(t *testing.T) {
	for _, format := range []string{"logfmt", "json"} {
		t.Run(format, func(t *testing.T) {
			r := runInBackground("--demo", "--web.listen-address=127.0.0.1:0", "--log.format="+format)
			r.waitFor(t, 30*time.Second, "exporter-toolkit's start-up lines", func() bool {
				return strings.Contains(r.stderr.String(), "TLS is disabled")
			})
			r.stop(t)
			logged := r.stderr.String()
			for _, want := range []string{"starting videoconduit_exporter", "Listening on", "shutting down"} {
				if !strings.Contains(logged, want) {
					t.Errorf("no line with %q: the test did not see both sources of lines; log:\n%s", want, logged)
				}
			}
			var order []string // of lineKeys, on the first line
			for line := range strings.Lines(logged) {
				keys, values, err := parseLogLine(format, line)
				if err != nil {
					t.Fatalf("%v: %q", err, line)
				}
				var got []string
				for _, k := range keys {
					if slices.Contains(lineKeys, k) {
						got = append(got, k)
					}
				}
				if order == nil {
					order = got
				}
				switch {
				case len(got) != len(lineKeys) || !slices.Equal(got, order):
					t.Errorf("keys %v, want each of %v once, in the order of the first line %v: %q", keys, lineKeys, order, line)
				case format == "logfmt" && !slices.Equal(keys[:len(lineKeys)], lineKeys):
					t.Errorf("keys %v, want %v first: %q", keys, lineKeys, line)
				case slices.Contains(keys, "time") || slices.Contains(keys, "source"):
					t.Errorf("slog's own keys in %q", line)
				}
				if ts, err := time.Parse(time.RFC3339Nano, values["ts"]); err != nil || ts.Location() != time.UTC {
					t.Errorf("ts=%q, want an RFC 3339 UTC time: %q", values["ts"], line)
				}
				if !callerValue.MatchString(values["caller"]) {
					t.Errorf("caller=%q, want file.go:line: %q", values["caller"], line)
				}
			}
		})
	}
}

var callerValue = regexp.MustCompile(`^[a-z_]+\.go:\d+$`)

// parseLogLine returns the keys of a log line in the order written, and
// their values as text.
func parseLogLine(format, line string) ([]string, map[string]string, error) {
	var keys []string
	values := map[string]string{}
	if format == "logfmt" {
		d := logfmt.NewDecoder(strings.NewReader(line))
		for d.ScanRecord() {
			for d.ScanKeyval() {
				keys = append(keys, string(d.Key()))
				values[string(d.Key())] = string(d.Value())
			}
		}
		return keys, values, d.Err()
	}
	d := json.NewDecoder(strings.NewReader(line))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, nil, err
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		values[tok.(string)] = fmt.Sprint(v)
	}
	return keys, values, nil
}

// TestLeadingKeysLoseNothing checks that reordering keeps every pair: a
// key given twice, a nil value, a key without a value.
func TestLeadingKeysLoseNothing(t *testing.T) {
	var got []any
	l := leadingKeys(log.LoggerFunc(func(keyvals ...any) error { got = keyvals; return nil }))
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	if err := l.Log("a", 1, "msg", "m", "level", "info", "msg", "again", "time", at, "b", nil, "caller", "x.go:1", "odd"); err != nil {
		t.Fatal(err)
	}
	want := []any{"ts", "2026-01-02T02:04:05.000000006Z", "caller", "x.go:1", "level", "info", "msg", "m",
		"a", 1, "msg", "again", "b", nil, "odd", log.ErrMissingValue}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
