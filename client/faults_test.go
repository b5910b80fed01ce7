package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// noKeepAlive gives every attempt a fresh connection, so a hung-up
// connection is never retried silently by net/http's reuse logic.
func noKeepAlive(cfg *Config) { cfg.Transport = &http.Transport{DisableKeepAlives: true} }

// stall sends the status line, then waits for the client to give up.
func stall(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// stallBody sends headers and half a body, then waits for the client to give up.
func stallBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(200)
	_, _ = w.Write([]byte(`{"items":[`))
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// cutBody promises 1000 bytes, sends a few, and hangs up.
func cutBody(w http.ResponseWriter, _ *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"items\":[")
	_ = buf.Flush()
	_ = conn.Close()
}

func TestBadAnswersAreRetried(t *testing.T) {
	t.Parallel()
	good := respond(200, pageBody("", false, "j1"))
	tests := []struct {
		name  string
		bad   step
		code  string // what Observe reports for the bad attempt
		edit  func(*Config)
		inErr string // what the error says once retries run out
	}{
		{"hung up", hangUp, "error", noKeepAlive, "EOF"},
		{"body cut short", cutBody, "error", noKeepAlive, "read body"},
		{"timeout before headers", stall, "error", func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond }, "deadline exceeded"},
		{"timeout in body", stallBody, "error", func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond }, "read body"},
		{"malformed JSON", respond(200, `{"items":[{"job_id":"a",}]}`), "200", nil, "decode response"},
		{"truncated JSON", respond(200, `{"items":[{"job_id":"a"`), "200", nil, "decode response"},
		{"HTML page", respond(200, "<!DOCTYPE html><html><body>Bad gateway</body></html>", "Content-Type", "text/html"), "200", nil, "decode response"},
		{"HTML 502", respond(502, "<html>\n<h1>502 Bad Gateway</h1>\n</html>", "Content-Type", "text/html"), "502", nil, "<html> <h1>502 Bad Gateway</h1> </html>"},
		{"no items", respond(200, `{"detail":"ok"}`), "200", nil, "no items array"},
		{"empty body", respond(200, ""), "200", nil, "decode response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, tt.bad, good)
			c, _, obs := newTestClient(t, srv, tt.edit)
			page, err := c.ListJobs(context.Background(), ListOptions{}, "")
			if err != nil || len(page.Items) != 1 {
				t.Fatalf("ListJobs after one bad answer = %+v, %v", page, err)
			}
			if got, want := obs.All(), []observation{{"list", tt.code}, {"list", "200"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("observed %v, want %v", got, want)
			}

			always := newScriptServer(t, tt.bad)
			c, _, obs = newTestClient(t, always, func(cfg *Config) {
				cfg.MaxRetries = 2
				if tt.edit != nil {
					tt.edit(cfg)
				}
			})
			_, err = c.ListJobs(context.Background(), ListOptions{}, "")
			if err == nil {
				t.Fatal("ListJobs succeeded against a server that always fails")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "list: ") || !strings.Contains(msg, tt.inErr) || !strings.Contains(msg, "gave up after 3 attempts") {
				t.Errorf("error %q should name the endpoint, the cause (%q) and the attempts", msg, tt.inErr)
			}
			if tt.code != "error" && !strings.Contains(msg, "HTTP "+tt.code) {
				t.Errorf("error %q does not name HTTP %s", msg, tt.code)
			}
			if n := len(obs.All()); n != 3 {
				t.Errorf("observed %d attempts, want 3", n)
			}
		})
	}
}

func TestOversizeAnswersAreNotRetried(t *testing.T) {
	t.Parallel()
	small := pageBody("", false, "j1")
	tests := []struct {
		name    string
		body    string
		limit   int64 // MaxBodyBytes; 0 for the default
		wantErr bool
	}{
		{"body at the limit", small + strings.Repeat(" ", 1024-len(small)), 1024, false},
		{"body over the limit", small + strings.Repeat(" ", 1025-len(small)), 1024, true},
		{"body far over the limit", small + strings.Repeat(" ", 1<<20), 1024, true},
		{"too many items", pageOf(MaxPageItems + 1), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, respond(200, tt.body))
			c, _, obs := newTestClient(t, srv, func(cfg *Config) { cfg.MaxBodyBytes = tt.limit })
			_, err := c.ListJobs(context.Background(), ListOptions{}, "")
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("ListJobs: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPageTooLarge) || !strings.HasPrefix(err.Error(), "list: HTTP 200") {
				t.Fatalf("error = %v, want ErrPageTooLarge naming list and HTTP 200", err)
			}
			if got, want := obs.All(), []observation{{"list", "200"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("observed %v, want one attempt: %v", got, want)
			}
		})
	}
}

func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	bigError := strings.Repeat("e", 10<<10)
	srv := newScriptServer(t,
		respond(200, pageBody("", false, "j1")),
		respond(500, bigError),
		respond(404, bigError),
		respond(429, "", "Retry-After", "3600"),
		respond(200, pageBody("", false, "j2")),
	)
	c, _, _ := newTestClient(t, srv, func(cfg *Config) { cfg.MaxRetries = -1 })
	for range 5 {
		_, _ = c.ListJobs(context.Background(), ListOptions{}, "")
	}
	if n := len(srv.Requests()); n != 5 {
		t.Fatalf("server saw %d requests, want 5", n)
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("5 sequential requests used %d connections, want 1 (bodies drained and closed)", n)
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"":   pageBody("c1", true, "j5", "j4"),
		"c1": pageBody("c2", true, "j3", "j2"),
		"c2": pageBody("", false, "j1"),
	}
	with := func(cursor, body string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		m[cursor] = body
		return m
	}
	tests := []struct {
		name     string
		pages    map[string]string
		failOn   string // cursor answered with 401
		breakAt  int    // stop after this many pages; 0: never
		wantIDs  []string
		wantSent []string
		wantErr  error
	}{
		{name: "walk to the end", pages: ok,
			wantIDs: []string{"j5", "j4", "j3", "j2", "j1"}, wantSent: []string{"", "c1", "c2"}},
		{name: "cursor loops back", pages: with("c2", pageBody("c1", true, "j1")),
			wantIDs: []string{"j5", "j4", "j3", "j2", "j1"}, wantSent: []string{"", "c1", "c2"}, wantErr: ErrBadPagination},
		{name: "cursor does not advance", pages: with("c1", pageBody("c1", true, "j3", "j2")),
			wantIDs: []string{"j5", "j4", "j3", "j2"}, wantSent: []string{"", "c1"}, wantErr: ErrBadPagination},
		{name: "has_more without cursor", pages: with("c1", pageBody("", true, "j3")),
			wantIDs: []string{"j5", "j4", "j3"}, wantSent: []string{"", "c1"}, wantErr: ErrBadPagination},
		{name: "first page has_more without cursor", pages: with("", pageBody("", true, "j5")),
			wantIDs: []string{"j5"}, wantSent: []string{""}, wantErr: ErrBadPagination},
		{name: "request fails mid-walk", pages: ok, failOn: "c1",
			wantIDs: []string{"j5", "j4"}, wantSent: []string{"", "c1"}, wantErr: ErrUnauthorized},
		{name: "caller stops early", pages: ok, breakAt: 1,
			wantIDs: []string{"j5", "j4"}, wantSent: []string{""}},
		{name: "empty history", pages: with("", pageBody("", false)),
			wantIDs: nil, wantSent: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, func(w http.ResponseWriter, r *http.Request) {
				cursor := r.URL.Query().Get("cursor")
				if cursor == tt.failOn && tt.failOn != "" {
					respond(401, `{"detail":"Invalid API key"}`)(w, r)
					return
				}
				respond(200, tt.pages[cursor])(w, r)
			})
			c, _, _ := newTestClient(t, srv, nil)
			var ids []string
			var errs []error
			pages := 0
			for page, err := range c.Pages(context.Background(), ListOptions{Status: "completed", Limit: 2}) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				pages++
				for _, j := range page.Items {
					ids = append(ids, j.ID)
				}
				if pages == tt.breakAt {
					break
				}
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
			switch {
			case tt.wantErr == nil && len(errs) > 0:
				t.Errorf("errors %v, want none", errs)
			case tt.wantErr != nil && (len(errs) != 1 || !errors.Is(errs[0], tt.wantErr)):
				t.Errorf("errors %v, want exactly one matching %v", errs, tt.wantErr)
			case tt.wantErr != nil && !strings.HasPrefix(errs[0].Error(), "list: "):
				t.Errorf("error %q does not name the endpoint", errs[0])
			}
			var sent []string
			for _, r := range srv.Requests() {
				q := r.RawQuery
				if !strings.Contains(q, "status=completed") || !strings.Contains(q, "limit=2") {
					t.Errorf("request %q lost the filters", q)
				}
				cursor := ""
				if i := strings.Index(q, "cursor="); i >= 0 {
					cursor = strings.SplitN(q[i+len("cursor="):], "&", 2)[0]
				}
				sent = append(sent, cursor)
			}
			if !reflect.DeepEqual(sent, tt.wantSent) {
				t.Errorf("cursors sent %q, want %q", sent, tt.wantSent)
			}
		})
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	straddle := func(w http.ResponseWriter, r *http.Request) {
		// The key starts just before the excerpt's end: cutting first and
		// redacting after would leak its first bytes.
		respond(500, strings.Repeat("x", maxExcerpt-15)+" "+r.Header.Get("Authorization"))(w, r)
	}
	deep := func(w http.ResponseWriter, r *http.Request) {
		respond(400, strings.Repeat("y", excerptWindow-20)+r.Header.Get("Authorization"))(w, r)
	}
	echoHTML := func(w http.ResponseWriter, r *http.Request) {
		respond(200, "<html>"+r.Header.Get("Authorization")+"</html>")(w, r)
	}
	tests := []struct {
		name     string
		answer   step
		redacted bool // the excerpt must show the redaction marker
	}{
		{"401", echoKey(401), true},
		{"403", echoKey(403), true},
		{"404", echoKey(404), true},
		{"400", echoKey(400), true},
		{"500 after retries", echoKey(500), true},
		{"429 over the cap", echoKey(429, "Retry-After", "99999"), true},
		{"key at the excerpt boundary", straddle, false},
		{"key at the read window boundary", deep, false},
		{"HTML 200 echoing the key", echoHTML, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newScriptServer(t, tt.answer)
			c, _, _ := newTestClient(t, srv, nil)
			for _, err := range []error{
				func() error { _, err := c.ListJobs(context.Background(), ListOptions{}, ""); return err }(),
				func() error { _, err := c.GetJob(context.Background(), "j1"); return err }(),
			} {
				if err == nil {
					t.Fatal("want an error")
				}
				msg := fmt.Sprintf("%v %+v %#v", err, err, errors.Unwrap(err))
				for i := 0; i+6 <= len(testKey); i++ {
					if strings.Contains(msg, testKey[i:i+6]) {
						t.Fatalf("error leaks part of the key (%q): %s", testKey[i:i+6], msg)
					}
				}
				var se *StatusError
				if tt.redacted && (!errors.As(err, &se) || !strings.Contains(se.Body, redacted)) {
					t.Errorf("error %v: body excerpt should show %s", err, redacted)
				}
			}
		})
	}
}

func TestBodyExcerpt(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150) // 300 bytes of two-byte runes
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"  plain  ", "plain"},
		{"<html>\r\n\t<h1>Bad\x00Gateway</h1>\n</html>\n", "<html> <h1>Bad Gateway</h1> </html>"},
		{"bad \xff\xfe utf8", "bad utf8"},
		{long, strings.Repeat("é", 100)},
		{"a" + long, "a" + strings.Repeat("é", 99)},
		{"token=" + testKey, "token=" + redacted},
	}
	for _, tt := range tests {
		got := bodyExcerpt(strings.NewReader(tt.in), testKey)
		if got != tt.want || len(got) > maxExcerpt || !utf8.ValidString(got) {
			t.Errorf("bodyExcerpt(%q) = %q (%d bytes), want %q", tt.in, got, len(got), tt.want)
		}
	}
}

func TestNoUsableKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "   \n", "vc_a\nb", "vc_\x7f"} {
		srv := newScriptServer(t, respond(200, pageBody("", false)))
		c, _, obs := newTestClient(t, srv, func(cfg *Config) { cfg.Key = func() string { return key } })
		_, err := c.ListJobs(context.Background(), ListOptions{}, "")
		if !errors.Is(err, ErrNoKey) || !strings.HasPrefix(err.Error(), "list: ") {
			t.Errorf("key %q: error = %v, want ErrNoKey naming the endpoint", key, err)
		}
		if len(srv.Requests()) != 0 || len(obs.All()) != 0 {
			t.Errorf("key %q: a request was sent", key)
		}
	}
}

func TestObserveEveryAttempt(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(500, ""), hangUp, respond(429, ""), respond(200, pageBody("", false)))
	c, _, obs := newTestClient(t, srv, noKeepAlive)
	if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	want := []observation{{"list", "500"}, {"list", "error"}, {"list", "429"}, {"list", "200"}}
	if got := obs.All(); !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestCancelDuringRetryWait(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(429, "", "Retry-After", "30"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _, _ := newTestClient(t, srv, nil)
	waiting := make(chan struct{})
	c.now = time.Now
	c.sleep = func(ctx context.Context, d time.Duration) error {
		close(waiting)
		return sleepCtx(ctx, d)
	}
	go func() {
		<-waiting
		cancel()
	}()
	start := time.Now()
	_, err := c.ListJobs(ctx, ListOptions{}, "")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("error = %v, want both the 429 and the cancellation", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("cancellation took %v: the wait ignored ctx", elapsed)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestCancelDuringRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	srv := newScriptServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	c, _, obs := newTestClient(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.ListJobs(ctx, ListOptions{}, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if got, want := obs.All(), []observation{{"list", "error"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("observed %v, want %v: a cancelled call must not retry", got, want)
	}
}

func TestNoTimeLeftToWait(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(429, "", "Retry-After", "30"))
	c, clock, _ := newTestClient(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.ListJobs(ctx, ListOptions{}, "")
	var se *StatusError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &se) || se.RetryAfter != 30*time.Second {
		t.Fatalf("error = %v, want the 429 with its Retry-After", err)
	}
	if len(clock.Slept()) != 0 || len(srv.Requests()) != 1 {
		t.Errorf("slept %v and sent %d requests; want no wait that outlasts ctx", clock.Slept(), len(srv.Requests()))
	}
}

func TestCancelBeforeTurn(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	assertCancelled := func(c *Client, srv *scriptServer) {
		t.Helper()
		before := len(srv.Requests())
		_, err := c.ListJobs(cancelled, ListOptions{}, "")
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting for the request budget") {
			t.Errorf("error = %v, want a cancelled wait for the budget", err)
		}
		if len(srv.Requests()) != before {
			t.Error("a request was sent with a cancelled ctx")
		}
	}

	limited := newScriptServer(t, respond(200, pageBody("", false)))
	c, _, _ := newTestClient(t, limited, func(cfg *Config) { cfg.RequestsPerSecond = 5 })
	assertCancelled(c, limited)

	// Spend the quota; a cancelled caller must not wait for its reset.
	quota := newScriptServer(t, respond(200, pageBody("", false), "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "30"))
	c, _, _ = newTestClient(t, quota, nil)
	if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	assertCancelled(c, quota)
}

func TestRateLimiterSpacing(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(200, pageBody("", false)))
	c, clock, _ := newTestClient(t, srv, func(cfg *Config) { cfg.RequestsPerSecond = 10 })
	for range 5 {
		if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	slept := clock.Slept()
	if len(slept) != 4 {
		t.Fatalf("slept %v, want 4 waits between 5 requests", slept)
	}
	for _, d := range slept {
		if d < 99*time.Millisecond || d > 101*time.Millisecond {
			t.Errorf("waited %v between requests, want 100ms at 10 requests/s", d)
		}
	}
}

func TestRateLimiterRealTime(t *testing.T) {
	t.Parallel()
	srv := newScriptServer(t, respond(200, pageBody("", false)))
	c, _, _ := newTestClient(t, srv, func(cfg *Config) { cfg.RequestsPerSecond = 100 })
	c.now, c.sleep = time.Now, sleepCtx
	start := time.Now()
	for range 6 {
		if _, err := c.ListJobs(context.Background(), ListOptions{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Five gaps of 10ms; a loose lower bound only, since a busy machine is slower.
	if elapsed := time.Since(start); elapsed < 45*time.Millisecond {
		t.Errorf("6 requests at 100/s took %v, want at least ~50ms", elapsed)
	}
}

func TestParseWait(t *testing.T) {
	t.Parallel()
	now := newFakeClock().Now()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"12", 12 * time.Second, true},
		{" 12 ", 12 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{fmt.Sprint(now.Unix() + 30), 30 * time.Second, true},
		{fmt.Sprint(now.Unix() - 30), 0, true},
		{fmt.Sprint(now.UnixMilli() + 1500), 1500 * time.Millisecond, true},
		{"1e300", math.MaxInt64, true}, // far future: saturates, never overflows
		{now.Add(42 * time.Second).Format(http.TimeFormat), 42 * time.Second, true},
		{now.Add(-42 * time.Second).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := parseWait(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseWait(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
