// Package scrape loads a /metrics endpoint with concurrent scrapers and
// reports the latency of whole scrapes (headers and body, as sent: a gzip
// body is read, not inflated, so that fifty scrapers inflating megabytes a
// second do not take the CPUs the exporter they measure runs on).
package scrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// PrometheusAccept is the Accept header of a Prometheus 3 scrape with the
// default scrape protocols.
const PrometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4," +
	"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// Config describes a load.
type Config struct {
	URL         string
	Concurrency int           // scrapers
	Duration    time.Duration // no scrape starts after it; those in flight finish
	// Interval, when positive, paces each scraper to one scrape per
	// interval, their phases spread evenly over it, as Prometheus servers
	// scraping one target would. Zero means back to back: each scraper
	// starts its next scrape as soon as the last one ends.
	Interval time.Duration
	Timeout  time.Duration // per scrape; zero means 10s, Prometheus' default
	Accept   string        // zero means PrometheusAccept
}

// Result is what a load measured.
type Result struct {
	Config  Config
	Elapsed time.Duration
	// Latencies of the successful scrapes, sorted.
	Latencies []time.Duration
	// Errors counts failed scrapes by cause: an HTTP status or a transport error.
	Errors map[string]int
	Bytes  int64 // body bytes of the successful scrapes, as sent (gzip)
}

// Run runs a load until cfg.Duration has passed and every scrape in flight
// has ended, or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Interval < 0 {
		return Result{}, fmt.Errorf("scrape: want at least one scraper and a positive duration, got %d and %v", cfg.Concurrency, cfg.Duration)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Accept == "" {
		cfg.Accept = PrometheusAccept
	}
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: cfg.Timeout}

	var (
		mu  sync.Mutex
		res = Result{Config: cfg, Errors: map[string]int{}}
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for i := range cfg.Concurrency {
		wg.Go(func() {
			var own []time.Duration
			var bytes int64
			errs := map[string]int{}
			next := start
			if cfg.Interval > 0 {
				next = start.Add(cfg.Interval * time.Duration(i) / time.Duration(cfg.Concurrency))
			}
			for next.Before(deadline) {
				if !sleepUntil(ctx, next) {
					break
				}
				began := time.Now()
				n, err := once(ctx, hc, cfg)
				took := time.Since(began)
				if err != nil {
					errs[err.Error()]++
				} else {
					own = append(own, took)
					bytes += n
				}
				// Paced scrapers keep to their schedule, as Prometheus does,
				// so a slow scrape does not shift the ones after it.
				next = next.Add(cfg.Interval)
				if cfg.Interval == 0 {
					next = time.Now()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Latencies = append(res.Latencies, own...)
			res.Bytes += bytes
			for k, v := range errs {
				res.Errors[k] += v
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	return res, ctx.Err()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// once runs one scrape and returns the body size. Errors are short causes,
// so that they group: "HTTP 503", "timeout", "transport".
func once(ctx context.Context, hc *http.Client, cfg Config) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", cfg.Accept)
	// Asked for by name, gzip is not inflated by the transport.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, cause(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	switch {
	case err != nil:
		return 0, cause(err)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return n, nil
}

func cause(err error) error {
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return errors.New("timeout")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("canceled")
	}
	return errors.New("transport")
}

// Count is the number of scrapes that ended, failed or not.
func (r Result) Count() int {
	n := len(r.Latencies)
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Quantile returns the q-quantile (0 to 1) of the successful scrapes'
// latencies by the nearest-rank method, 0 when there are none.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	rank := int(q*float64(len(r.Latencies))+0.999999) - 1
	return r.Latencies[min(max(rank, 0), len(r.Latencies)-1)]
}

// Summary is one line of figures.
func (r Result) Summary() string {
	var errs []string
	for k, v := range r.Errors {
		errs = append(errs, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(errs)
	errText := "0"
	if len(errs) > 0 {
		errText = strings.Join(errs, ",")
	}
	rate := float64(r.Count()) / r.Elapsed.Seconds()
	avg := int64(0)
	if len(r.Latencies) > 0 {
		avg = r.Bytes / int64(len(r.Latencies))
	}
	return fmt.Sprintf("scrapes=%d rate=%.1f/s p50=%s p90=%s p99=%s max=%s errors=%s body=%dB sent",
		r.Count(), rate, ms(r.Quantile(0.5)), ms(r.Quantile(0.9)), ms(r.Quantile(0.99)), ms(r.Quantile(1)), errText, avg)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
