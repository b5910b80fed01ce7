package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testKey = "vc_live_0123456789abcdefSECRET"

// fakeClock stands in for time: sleeping advances it at once and records
// the wait, so tests assert exact delays without waiting for them.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.slept...)
}

// seenRequest is what the test server recorded of one request.
type seenRequest struct {
	EscapedPath string
	RawQuery    string
	Header      http.Header
}

// step answers one request.
type step func(w http.ResponseWriter, r *http.Request)

// scriptServer answers requests with its steps in order; the last step
// repeats once the script runs out.
type scriptServer struct {
	*httptest.Server
	mu    sync.Mutex
	steps []step
	seen  []seenRequest
	conns int
}

func newScriptServer(t *testing.T, steps ...step) *scriptServer {
	t.Helper()
	s := &scriptServer{steps: steps}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		i := min(len(s.seen), len(s.steps)-1)
		s.seen = append(s.seen, seenRequest{r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone()})
		s.mu.Unlock()
		s.steps[i](w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) Requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

func (s *scriptServer) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// respond writes a fixed answer; headers come as name, value pairs.
func respond(code int, body string, headers ...string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

// echoKey answers code with a body that repeats the Authorization header,
// as a careless server might.
func echoKey(code int, headers ...string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		respond(code, `{"detail":"invalid credentials `+r.Header.Get("Authorization")+`"}`, headers...)(w, r)
	}
}

func pageBody(next string, hasMore bool, ids ...string) string {
	items := make([]string, len(ids))
	for i, id := range ids {
		items[i] = fmt.Sprintf(`{"job_id":%q,"job_type":"download","status":"completed","credits_charged":1,`+
			`"created_at":"2025-01-15T10:00:00Z"}`, id)
	}
	cursor := "null"
	if next != "" {
		cursor = fmt.Sprintf("%q", next)
	}
	return fmt.Sprintf(`{"items":[%s],"next_cursor":%s,"has_more":%t}`, strings.Join(items, ","), cursor, hasMore)
}

// observation is one call of Config.Observe.
type observation struct{ endpoint, code string }

type observer struct {
	mu  sync.Mutex
	got []observation
}

func (o *observer) Observe(endpoint, code string, d time.Duration) {
	if d < 0 {
		panic("negative attempt duration")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observation{endpoint, code})
}

func (o *observer) All() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observation(nil), o.got...)
}

// newTestClient builds a client for srv with tiny delays, a fake clock and
// jitter that always takes the full backoff ceiling; edit adjusts the config.
func newTestClient(t *testing.T, srv *scriptServer, edit func(*Config)) (*Client, *fakeClock, *observer) {
	t.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	obs := &observer{}
	cfg := Config{
		BaseURL:        srv.URL,
		Key:            func() string { return testKey },
		UserAgent:      "videoconduit_exporter/test",
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  8 * time.Millisecond,
		Transport:      transport,
		Observe:        obs.Observe,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clock := newFakeClock()
	c.now = clock.Now
	c.sleep = clock.Sleep
	c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	return c, clock, obs
}
