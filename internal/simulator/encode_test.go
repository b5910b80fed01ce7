package simulator

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		`quote " and \ backslash`: `quote " and \ backslash`,
		"tab\tnew\nline\rret\x01": "tab\tnew\nline\rret\x01",
		"ünïcødé ✓ 🎬":             "ünïcødé ✓ 🎬",
		"bad \xff utf-8 \xe2\x82": "bad \ufffd utf-8 \ufffd\ufffd",
		"<script>&":               "<script>&",
	} {
		b := appendString(nil, in)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != want {
			t.Errorf("%q encoded as %s, decodes to %q (%v)", in, b, got, err)
		}
	}
}

// Whatever a script puts in a job comes back out as valid JSON.
func TestOddValuesSurviveTheAPI(t *testing.T) {
	s := New(Config{Seed: 1, Clock: NewManualClock(t0), Profiles: scripted()})
	srv := serve(t, s)
	url := "https://example.com/watch?v=\"x\"&t=\\1\n\xff"
	id := s.Submit("download", url, 1)
	msg := "ERROR: \"quoted\"\ttab \x00 nul"
	if err := s.SetStatus(id, "failed", msg); err != nil {
		t.Fatal(err)
	}
	job := getObject(t, srv.URL+"/v1/jobs/"+id)
	if job["error_message"] != msg || job["source_url"] != strings.ToValidUTF8(url, "\ufffd") {
		t.Fatalf("job %v", job)
	}
}
