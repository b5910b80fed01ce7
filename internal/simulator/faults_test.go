package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func faultySim(t *testing.T, f Faults) (*Sim, string) {
	t.Helper()
	clk := NewManualClock(t0)
	s := New(Config{Seed: 51, Clock: clk, History: 100})
	clk.Advance(time.Minute)
	s.SetFaults(f)
	return s, serve(t, s).URL
}

// fresh is a client without connection reuse, so a dropped connection is not
// retried behind the test's back.
var fresh = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func TestLatency(t *testing.T) {
	_, base := faultySim(t, Faults{Latency: 100 * time.Millisecond})
	start := time.Now()
	if r := get(t, base+"/v1/jobs"); r.status != http.StatusOK || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("status %d after %v", r.status, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs", nil)
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request shorter than the latency: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	_, base := faultySim(t, Faults{ServerErrorRate: 1})
	codes, kinds := map[int]bool{}, map[string]bool{}
	for range 40 {
		r := get(t, base+"/v1/jobs")
		codes[r.status] = true
		kinds[r.header.Get("Content-Type")] = true
		if r.status == http.StatusOK {
			t.Fatal("a 200 at rate 1")
		}
	}
	if len(codes) != 3 || !codes[500] || !codes[502] || !codes[503] || len(kinds) != 2 {
		t.Fatalf("codes %v, content types %v", codes, kinds)
	}
}

func TestRateLimitFault(t *testing.T) {
	s, base := faultySim(t, Faults{RateLimitRate: 1, RetryAfter: 2500 * time.Millisecond})
	r := get(t, base+"/v1/jobs/x")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3" {
		t.Fatalf("%d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	s.SetFaults(Faults{RateLimitRate: 1, RetryAfter: 30 * time.Second, RetryAfterDate: true})
	r = get(t, base+"/v1/jobs")
	when, err := http.ParseTime(r.header.Get("Retry-After"))
	if wait := time.Until(when); err != nil || wait < 25*time.Second || wait > 35*time.Second {
		t.Fatalf("Retry-After %q: wait %v (%v)", r.header.Get("Retry-After"), wait, err)
	}
	s.SetFaults(Faults{})
	if r := get(t, base+"/v1/jobs"); r.status != http.StatusOK {
		t.Fatalf("a good day: %d", r.status)
	}
}

func TestServerRateLimit(t *testing.T) {
	s := New(Config{Seed: 1, Clock: NewManualClock(t0), RateLimit: 2})
	base := serve(t, s).URL
	first := get(t, base+"/v1/jobs")
	if first.status != http.StatusOK || first.header.Get("X-RateLimit-Limit") != "2" || first.header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	get(t, base+"/v1/jobs")
	third := get(t, base+"/v1/jobs")
	reset, err := strconv.ParseInt(third.header.Get("X-RateLimit-Reset"), 10, 64)
	if third.status != http.StatusTooManyRequests || third.header.Get("Retry-After") != "1" ||
		third.header.Get("X-RateLimit-Remaining") != "0" || err != nil || reset < time.Now().Unix() {
		t.Fatalf("third: %d %v", third.status, third.header)
	}
	// The budget refills in real time.
	deadline := time.Now().Add(5 * time.Second)
	for get(t, base+"/v1/jobs").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the rate limit never lifts")
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline: the bucket refills with time
	}
}

func TestAuthFaults(t *testing.T) {
	s, base := faultySim(t, Faults{Unauthorized: true})
	if r := get(t, base+"/v1/jobs"); r.status != http.StatusUnauthorized {
		t.Fatalf("unauthorized: %d", r.status)
	}
	s.SetFaults(Faults{Forbidden: true})
	if r := get(t, base+"/v1/jobs"); r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte(`"detail"`)) {
		t.Fatalf("forbidden: %d %s", r.status, r.body)
	}
}

func TestConnectionDrop(t *testing.T) {
	s, base := faultySim(t, Faults{ConnectionDropRate: 1})
	for range 3 {
		resp, err := fresh.Get(base + "/v1/jobs")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a response: %d", resp.StatusCode)
		}
	}
	if n := s.Requests()["list"]; n != 3 {
		t.Fatalf("%d requests counted", n)
	}
}

// Without a hijackable connection, a drop aborts the handler.
func TestConnectionDropWithoutHijack(t *testing.T) {
	s, _ := faultySim(t, Faults{ConnectionDropRate: 1})
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v", r)
		}
	}()
	s.ServeHTTP(nopWriter{}, mustRequest(t, "/v1/jobs"))
}

type nopWriter struct{}

func (nopWriter) Header() http.Header         { return http.Header{} }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

func mustRequest(t *testing.T, target string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, "http://sim"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestMalformed(t *testing.T) {
	_, base := faultySim(t, Faults{MalformedRate: 1})
	starts := map[byte]bool{}
	for _, path := range []string{"/v1/jobs", "/v1/jobs?limit=3"} {
		for range 15 {
			r := get(t, base+path)
			if r.status != http.StatusOK || json.Valid(r.body) {
				t.Fatalf("%d %s", r.status, r.body)
			}
			starts[r.body[0]] = true
		}
	}
	if len(starts) != 2 { // the XSSI prefix, and the two that start well
		t.Fatalf("variants %v", starts)
	}
}

func TestTruncated(t *testing.T) {
	_, base := faultySim(t, Faults{TruncatedRate: 1})
	var readErrors, shortBodies int
	for range 20 {
		resp, err := fresh.Get(base + "/v1/jobs")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			readErrors++ // Content-Length promised more
		case json.Valid(body) || resp.StatusCode != http.StatusOK:
			t.Fatalf("%d %s", resp.StatusCode, body)
		default:
			shortBodies++
		}
	}
	if readErrors == 0 || shortBodies == 0 {
		t.Fatalf("%d read errors, %d short bodies", readErrors, shortBodies)
	}
}

func TestHTML(t *testing.T) {
	_, base := faultySim(t, Faults{HTMLRate: 1})
	codes := map[int]bool{}
	for range 20 {
		r := get(t, base+"/v1/jobs")
		codes[r.status] = true
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.HasPrefix(r.body, []byte("<")) {
			t.Fatalf("%v %s", r.header, r.body)
		}
	}
	if !codes[http.StatusOK] || !codes[http.StatusBadGateway] {
		t.Fatalf("codes %v", codes)
	}
}

func TestStuckCursor(t *testing.T) {
	_, base := faultySim(t, Faults{StuckCursorRate: 1})
	first := getPage(t, base, vals("limit", "5"))
	if !first.HasMore || first.NextCursor == nil {
		t.Fatalf("first page %+v", first)
	}
	again := getPage(t, base, vals("limit", "5", "cursor", *first.NextCursor))
	if !again.HasMore || again.NextCursor == nil || *again.NextCursor != *first.NextCursor || again.Items[0].ID != first.Items[0].ID {
		t.Fatalf("the cursor moved: %+v", again)
	}
}

func TestMissingCursor(t *testing.T) {
	_, base := faultySim(t, Faults{MissingCursorRate: 1})
	p := getPage(t, base, vals("cursor", encodeCursor(1, t0)))
	if !p.HasMore || p.NextCursor != nil {
		t.Fatalf("page %+v", p)
	}
}

func TestRepeats(t *testing.T) {
	s, base := faultySim(t, Faults{})
	good := getPage(t, base, vals("limit", "10"))
	s.SetFaults(Faults{RepeatRate: 1})
	first := getPage(t, base, vals("limit", "10"))
	ids := map[string]int{}
	for _, it := range first.Items {
		ids[it.ID]++
	}
	if len(first.Items) != 10 || len(ids) == 10 {
		t.Fatalf("first page has no duplicates: %d items, %d ids", len(first.Items), len(ids))
	}
	second := getPage(t, base, vals("limit", "10", "cursor", *good.NextCursor))
	if second.Items[0].ID == good.Items[9].ID {
		return
	}
	for _, it := range second.Items {
		if it.ID == good.Items[9].ID {
			return
		}
	}
	t.Fatalf("page two does not repeat page one's tail: %+v", second.Items)
}

func TestUnknownFields(t *testing.T) {
	_, base := faultySim(t, Faults{UnknownFields: true})
	r := get(t, base+"/v1/jobs?limit=2")
	var env map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &env); err != nil || env["request_id"] == nil || env["total_estimate"] == nil {
		t.Fatalf("envelope %s (%v)", r.body, err)
	}
	var p struct{ Items []map[string]any }
	if err := json.Unmarshal(r.body, &p); err != nil || len(p.Items) != 2 || p.Items[1]["region"] == nil {
		t.Fatalf("items %s (%v)", r.body, err)
	}
	if job := getObject(t, base+"/v1/jobs/"+p.Items[0]["job_id"].(string)); job["_meta"] == nil {
		t.Fatalf("job %v", job)
	}
}

// countingWriter checks a huge body without keeping it.
type countingWriter struct {
	n           int64
	first, last byte
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.n == 0 && len(b) > 0 {
		c.first = b[0]
	}
	if trimmed := bytes.TrimRight(b, " "); len(trimmed) > 0 {
		c.last = trimmed[len(trimmed)-1]
	}
	c.n += int64(len(b))
	return len(b), nil
}

func TestHugeBody(t *testing.T) {
	_, base := faultySim(t, Faults{HugeBodyRate: 1})
	lengths := map[bool]bool{}
	for range 2 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := fresh.Get(base + "/v1/jobs")
		if err != nil {
			t.Fatal(err)
		}
		var c countingWriter
		_, err = io.Copy(&c, resp.Body)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		if err != nil || c.n < 32<<20 || c.first != '{' || c.last != '}' {
			t.Fatalf("%d bytes from %q to %q (%v)", c.n, c.first, c.last, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("%d bytes allocated to stream a huge body", grew)
		}
		lengths[resp.ContentLength > 0] = true
	}
	if len(lengths) != 2 {
		t.Fatalf("Content-Length declared: %v", lengths)
	}
	// A client that gives up early ends the stream.
	resp, err := fresh.Get(base + "/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestSlowBody(t *testing.T) {
	_, base := faultySim(t, Faults{SlowBody: 200 * time.Millisecond})
	resp, err := http.Get(base + "/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	body, err := io.ReadAll(resp.Body)
	if took := time.Since(start); err != nil || !json.Valid(body) || took < 150*time.Millisecond {
		t.Fatalf("body in %v (%v)", took, err)
	}
	// A client that times out mid-body stops the trickle.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/jobs", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read past the deadline: %v", err)
		}
	}
}
