package scrape

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsScrapesAndErrors(t *testing.T) {
	var n atomic.Int64
	var accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept.Store(r.Header.Get("Accept"))
		if n.Add(1)%4 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("up 1\n")) // a failed write shows as a client error
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 3, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	served := int(n.Load())
	if res.Count() != served || served == 0 {
		t.Fatalf("counted %d scrapes, the server answered %d", res.Count(), served)
	}
	if want := served / 4; res.Errors["HTTP 503"] != want {
		t.Errorf("errors %v, want %d× HTTP 503", res.Errors, want)
	}
	if res.Bytes != int64(len("up 1\n")*len(res.Latencies)) {
		t.Errorf("%d body bytes for %d scrapes", res.Bytes, len(res.Latencies))
	}
	if got := accept.Load(); got != PrometheusAccept {
		t.Errorf("Accept %q, want Prometheus' %q", got, PrometheusAccept)
	}
	if !strings.Contains(res.Summary(), "errors=HTTP 503×") {
		t.Errorf("summary hides the errors: %s", res.Summary())
	}
}

func TestRunPacesScrapers(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	// Two scrapers, one scrape each per 100ms, for 250ms: scheduled at 0,
	// 100, 200ms and at 50, 150ms, however late each one runs.
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 2, Duration: 250 * time.Millisecond, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 5 || res.Count() != 5 {
		t.Errorf("%d scrapes served, %d counted, want 5", got, res.Count())
	}
}

func TestQuantile(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := r.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := (Result{}).Quantile(0.5); got != 0 {
		t.Errorf("Quantile of no scrapes = %v, want 0", got)
	}
}

// TestRunReadsGzipAsSent: the scrapers ask for gzip, as Prometheus does,
// and count the body as sent, without inflating it.
func TestRunReadsGzipAsSent(t *testing.T) {
	compressed := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0} // an empty gzip stream
	var acceptEncoding atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(compressed) // a failed write shows as a client error
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 1, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) == 0 || res.Bytes != int64(len(compressed)*len(res.Latencies)) {
		t.Errorf("%d body bytes for %d scrapes, want %d each", res.Bytes, len(res.Latencies), len(compressed))
	}
	if got := acceptEncoding.Load(); got != "gzip" {
		t.Errorf("Accept-Encoding %q, want gzip", got)
	}
}
