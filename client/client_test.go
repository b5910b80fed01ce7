package client

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	key := func() string { return testKey }
	tests := []struct {
		name string
		cfg  Config
	}{
		{"empty URL", Config{Key: key}},
		{"no scheme", Config{BaseURL: "videoconduit.com", Key: key}},
		{"wrong scheme", Config{BaseURL: "ftp://videoconduit.com", Key: key}},
		{"no host", Config{BaseURL: "https://", Key: key}},
		{"unparseable", Config{BaseURL: "http://[::1", Key: key}},
		{"query", Config{BaseURL: "https://videoconduit.com?x=1", Key: key}},
		{"fragment", Config{BaseURL: "https://videoconduit.com#top", Key: key}},
		{"no key func", Config{BaseURL: "https://videoconduit.com"}},
	}
	for _, tt := range tests {
		if c, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New = %v, want an error", tt.name, c)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{BaseURL: "https://videoconduit.com/", Key: func() string { return "k" }})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		BaseURL:        "https://videoconduit.com",
		UserAgent:      defaultUserAgent,
		Timeout:        10 * time.Second,
		MaxRetries:     3,
		RetryBaseDelay: 500 * time.Millisecond,
		RetryMaxDelay:  30 * time.Second,
		MaxRetryAfter:  60 * time.Second,
		MaxBodyBytes:   8 << 20,
	}
	got := c.cfg
	got.Key, got.Observe, got.Transport = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", got, want)
	}
	if c.limiter != nil {
		t.Error("RequestsPerSecond 0 built a limiter")
	}
	if _, ok := c.hc.Transport.(*http.Transport); !ok || c.hc.Transport == http.DefaultTransport {
		t.Errorf("transport = %T, want a clone of http.DefaultTransport", c.hc.Transport)
	}

	neg, err := New(Config{BaseURL: "http://127.0.0.1", Key: func() string { return "k" }, MaxRetries: -2})
	if err != nil {
		t.Fatal(err)
	}
	if neg.cfg.MaxRetries != 0 {
		t.Errorf("MaxRetries -2 became %d, want 0", neg.cfg.MaxRetries)
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t,
		respond(200, pageBody("", false)),
		respond(200, pageBody("", false)),
		respond(200, `{"job_id":"a/b c?"}`),
	)
	keys := []string{"  " + testKey + "\n", "vc_rotated"}
	calls := 0
	c, _, _ := newTestClient(t, srv, func(cfg *Config) {
		cfg.BaseURL += "/" // a trailing slash must not double the path separator
		cfg.Key = func() string { k := keys[min(calls, len(keys)-1)]; calls++; return k }
	})
	ctx := context.Background()
	if _, err := c.ListJobs(ctx, ListOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	opts := ListOptions{Status: "pending", JobType: "transcribe", Limit: 100}
	if _, err := c.ListJobs(ctx, opts, "eyJh+/=="); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetJob(ctx, "a/b c?"); err != nil {
		t.Fatal(err)
	}

	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(reqs))
	}
	if reqs[0].EscapedPath != "/v1/jobs" || reqs[0].RawQuery != "" {
		t.Errorf("bare list = %s?%s, want /v1/jobs without a query", reqs[0].EscapedPath, reqs[0].RawQuery)
	}
	q, err := url.ParseQuery(reqs[1].RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := url.Values{"cursor": {"eyJh+/=="}, "limit": {"100"}, "status": {"pending"}, "job_type": {"transcribe"}}
	if !reflect.DeepEqual(q, wantQ) {
		t.Errorf("query = %v, want %v", q, wantQ)
	}
	if reqs[2].EscapedPath != "/v1/jobs/a%2Fb%20c%3F" {
		t.Errorf("get path = %s, want the id path-escaped", reqs[2].EscapedPath)
	}
	for i, want := range []string{"Bearer " + testKey, "Bearer vc_rotated", "Bearer vc_rotated"} {
		h := reqs[i].Header
		if h.Get("Authorization") != want || h.Get("User-Agent") != "videoconduit_exporter/test" ||
			h.Get("Accept") != "application/json" {
			t.Errorf("request %d headers = %v, want Authorization %q", i, h, want)
		}
	}
}

func TestGetJob(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(200, fullJob), respond(404, `{"detail":"Job not found"}`))
	c, _, obs := newTestClient(t, srv, nil)
	job, err := c.GetJob(context.Background(), "a1b2c3d4-e5f6-7890-abcd-ef1234567890")
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != StatusCompleted || job.CreditsCharged != 3 || !job.CompletedAt.Equal(utc("2025-01-15T10:00:42.5Z")) {
		t.Errorf("job = %+v", job)
	}
	_, err = c.GetJob(context.Background(), "gone")
	var se *StatusError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &se) || se.Endpoint != EndpointGet || se.StatusCode != 404 {
		t.Fatalf("GetJob(gone) error = %v, want a 404 StatusError", err)
	}
	if _, err := c.GetJob(context.Background(), ""); err == nil || !strings.HasPrefix(err.Error(), "get: ") {
		t.Errorf("empty id error = %v", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("server saw %d requests, want 2 (none for the empty id, no retry on 404)", n)
	}
	want := []observation{{"get", "200"}, {"get", "404"}}
	if got := obs.All(); !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code     int
		attempts int
		is       error // sentinel the error must match, nil for none
	}{
		{400, 1, nil},
		{401, 1, ErrUnauthorized},
		{403, 1, ErrUnauthorized},
		{404, 1, ErrNotFound},
		{405, 1, nil},
		{409, 1, nil},
		{422, 1, nil},
		{500, 4, nil},
		{502, 4, nil},
		{503, 4, nil},
		{504, 4, nil},
		{429, 4, ErrRateLimited},
	}
	sentinels := []error{ErrUnauthorized, ErrNotFound, ErrRateLimited, ErrBadPagination, ErrPageTooLarge}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, respond(tt.code, "{\"detail\":\n\"nope\"}"))
			c, clock, obs := newTestClient(t, srv, nil)
			_, err := c.ListJobs(context.Background(), ListOptions{}, "")
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.Endpoint != EndpointList || se.StatusCode != tt.code || se.Body != `{"detail": "nope"}` {
				t.Errorf("StatusError = %+v", se)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tt.is) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !(s == tt.is))
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "list: HTTP ") || !strings.Contains(msg, http.StatusText(tt.code)) {
				t.Errorf("message %q does not name the endpoint and status", msg)
			}
			if n := len(srv.Requests()); n != tt.attempts {
				t.Errorf("server saw %d requests, want %d", n, tt.attempts)
			}
			if n := len(obs.All()); n != tt.attempts {
				t.Errorf("observed %d attempts, want %d", n, tt.attempts)
			}
			// Retries wait the full backoff ceiling (jitter is fixed in tests): 1, 2, 4 ms.
			wantSlept := []time.Duration(nil)
			if tt.attempts == 4 {
				wantSlept = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
				if !strings.Contains(err.Error(), "gave up after 4 attempts") {
					t.Errorf("message %q does not say retries ran out", err)
				}
			}
			if got := clock.Slept(); !reflect.DeepEqual(got, wantSlept) {
				t.Errorf("slept %v, want %v", got, wantSlept)
			}
		})
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t,
		respond(503, "busy"),
		respond(500, "oops"),
		respond(200, pageBody("c2", true, "j1", "j2")),
	)
	c, _, obs := newTestClient(t, srv, nil)
	page, err := c.ListJobs(context.Background(), ListOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.NextCursor != "c2" || !page.HasMore {
		t.Errorf("page = %+v", page)
	}
	want := []observation{{"list", "503"}, {"list", "500"}, {"list", "200"}}
	if got := obs.All(); !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestNoRetriesWhenNegative(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(500, ""))
	c, _, _ := newTestClient(t, srv, func(cfg *Config) { cfg.MaxRetries = -1 })
	if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err == nil {
		t.Fatal("want an error")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := &Client{cfg: Config{RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond},
		jitter: func(d time.Duration) time.Duration { return d }}
	want := []time.Duration{1, 2, 4, 5, 5}
	for attempt, w := range want {
		if got := c.backoff(attempt); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, w*time.Millisecond)
		}
	}
	huge := &Client{cfg: Config{RetryBaseDelay: time.Hour, RetryMaxDelay: time.Duration(1<<63 - 1)},
		jitter: func(d time.Duration) time.Duration { return d }}
	if got := huge.backoff(200); got <= 0 {
		t.Errorf("backoff overflowed to %v", got)
	}
	seen := map[bool]bool{}
	for range 1000 {
		d := fullJitter(10)
		if d < 0 || d > 10 {
			t.Fatalf("fullJitter(10) = %v, outside [0, 10]", d)
		}
		seen[d < 5] = true
	}
	if len(seen) != 2 {
		t.Errorf("fullJitter does not spread its delays: %v", seen)
	}
	if d := fullJitter(math.MaxInt64); d < 0 {
		t.Errorf("fullJitter(max) = %v", d)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	start := newFakeClock().Now()
	ok := respond(200, pageBody("", false))
	tests := []struct {
		name       string
		first      step
		wantSlept  []time.Duration
		wantErr    bool
		wantWait   time.Duration // StatusError.RetryAfter when wantErr
		wantTries  int
		editConfig func(*Config)
	}{
		{
			name:      "delta seconds",
			first:     respond(429, "", "Retry-After", "2"),
			wantSlept: []time.Duration{2 * time.Second},
			wantTries: 2,
		},
		{
			name:      "HTTP date",
			first:     respond(429, "", "Retry-After", start.Add(3*time.Second).Format(http.TimeFormat)),
			wantSlept: []time.Duration{3 * time.Second},
			wantTries: 2,
		},
		{
			name:      "HTTP date in the past",
			first:     respond(429, "", "Retry-After", start.Add(-time.Hour).Format(http.TimeFormat)),
			wantSlept: nil,
			wantTries: 2,
		},
		{
			name:      "missing: backoff",
			first:     respond(429, ""),
			wantSlept: []time.Duration{time.Millisecond},
			wantTries: 2,
		},
		{
			name:      "garbage: backoff",
			first:     respond(429, "", "Retry-After", "soon"),
			wantSlept: []time.Duration{time.Millisecond},
			wantTries: 2,
		},
		{
			name:      "over the cap: give up at once",
			first:     respond(429, "", "Retry-After", "120"),
			wantErr:   true,
			wantWait:  120 * time.Second,
			wantTries: 1,
		},
		{
			name:       "at the cap: wait",
			first:      respond(429, "", "Retry-After", "5"),
			wantSlept:  []time.Duration{5 * time.Second},
			wantTries:  2,
			editConfig: func(cfg *Config) { cfg.MaxRetryAfter = 5 * time.Second },
		},
		{
			name:      "on 503 too",
			first:     respond(503, "", "Retry-After", "4"),
			wantSlept: []time.Duration{4 * time.Second},
			wantTries: 2,
		},
		{
			name:      "on 503 capped, not fatal",
			first:     respond(503, "", "Retry-After", "3600"),
			wantSlept: []time.Duration{time.Minute},
			wantTries: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, tt.first, ok)
			c, clock, _ := newTestClient(t, srv, tt.editConfig)
			_, err := c.ListJobs(context.Background(), ListOptions{}, "")
			if tt.wantErr {
				var se *StatusError
				if !errors.Is(err, ErrRateLimited) || !errors.As(err, &se) || se.RetryAfter != tt.wantWait {
					t.Fatalf("error = %v (%+v), want ErrRateLimited with RetryAfter %v", err, se, tt.wantWait)
				}
			} else if err != nil {
				t.Fatalf("ListJobs: %v", err)
			}
			if got := clock.Slept(); !reflect.DeepEqual(got, tt.wantSlept) {
				t.Errorf("slept %v, want %v", got, tt.wantSlept)
			}
			if n := len(srv.Requests()); n != tt.wantTries {
				t.Errorf("server saw %d requests, want %d", n, tt.wantTries)
			}
		})
	}
}

func TestRateLimitedAfterRetries(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(429, `{"detail":"slow down"}`, "Retry-After", "1"))
	c, clock, _ := newTestClient(t, srv, func(cfg *Config) { cfg.MaxRetries = 2 })
	_, err := c.ListJobs(context.Background(), ListOptions{}, "")
	var se *StatusError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &se) || se.RetryAfter != time.Second {
		t.Fatalf("error = %v, want ErrRateLimited with RetryAfter 1s", err)
	}
	if !strings.Contains(err.Error(), "retry after 1s") {
		t.Errorf("message %q does not give the server's wait", err)
	}
	if got, want := clock.Slept(), []time.Duration{time.Second, time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("slept %v, want %v", got, want)
	}
}

func TestQuotaHeaders(t *testing.T) {
	t.Parallel()
	start := newFakeClock().Now()
	epoch := func(d time.Duration) string { return strconv.FormatInt(start.Add(d).Unix(), 10) }
	tests := []struct {
		name    string
		headers []string
		want    []time.Duration // waits before the second request
	}{
		{"delta seconds", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "7"}, []time.Duration{7 * time.Second}},
		{"fractional delta", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1.5"}, []time.Duration{1500 * time.Millisecond}},
		{"epoch seconds", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(5 * time.Second)}, []time.Duration{5 * time.Second}},
		{"epoch millis", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(start.Add(2500*time.Millisecond).UnixMilli(), 10)}, []time.Duration{2500 * time.Millisecond}},
		{"HTTP date", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", start.Add(9 * time.Second).Format(http.TimeFormat)}, []time.Duration{9 * time.Second}},
		{"capped", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "86400"}, []time.Duration{time.Minute}},
		{"reset passed", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epoch(-time.Minute)}, nil},
		{"quota left", []string{"X-RateLimit-Remaining", "3", "X-RateLimit-Reset", "7"}, nil},
		{"no reset", []string{"X-RateLimit-Remaining", "0"}, nil},
		{"garbage", []string{"X-RateLimit-Remaining", "none", "X-RateLimit-Reset", "7"}, nil},
		{"negative reset", []string{"X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "-7"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, respond(200, pageBody("", false), tt.headers...), respond(200, pageBody("", false)))
			c, clock, _ := newTestClient(t, srv, nil)
			for i := range 2 {
				if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if i == 0 && len(clock.Slept()) != 0 {
					t.Fatalf("the answer that spent the quota was itself delayed: %v", clock.Slept())
				}
			}
			if got := clock.Slept(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("slept %v, want %v", got, tt.want)
			}
		})
	}
}
