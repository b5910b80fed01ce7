package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config configures a Client. Zero durations and sizes take the defaults
// named on each field.
type Config struct {
	// BaseURL is the API root, e.g. https://videoconduit.com (without /v1).
	BaseURL string
	// Key returns the current API key; it is called for every request so a
	// rotated key is picked up without a restart. Surrounding space is ignored.
	Key func() string
	// UserAgent is sent on every request, e.g. videoconduit_exporter/1.2.3.
	UserAgent string
	// Timeout bounds each HTTP attempt, body included (default 10s).
	Timeout time.Duration
	// RequestsPerSecond is the client-side request budget; <= 0 is unlimited.
	RequestsPerSecond float64
	// MaxRetries is how many retries follow the first attempt for 5xx, 429,
	// transport and decode errors (default 3; negative means none).
	MaxRetries int
	// RetryBaseDelay is the first backoff ceiling (default 500ms); it doubles
	// per retry and the actual delay is drawn uniformly below it.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the backoff ceiling (default 30s).
	RetryMaxDelay time.Duration
	// MaxRetryAfter is the longest server-requested wait the client sleeps
	// itself (default 60s). A longer Retry-After on a 429 ends the call with
	// ErrRateLimited at once.
	MaxRetryAfter time.Duration
	// MaxBodyBytes limits a successful response body (default 8 MiB).
	MaxBodyBytes int64
	// Transport carries the requests; nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Observe, when set, is called once per HTTP attempt with the endpoint
	// (EndpointList, EndpointGet), the status code in decimal or "error" when
	// no complete response arrived, and the attempt's duration.
	Observe func(endpoint, code string, d time.Duration)
}

const (
	defaultTimeout        = 10 * time.Second
	defaultMaxRetries     = 3
	defaultRetryBaseDelay = 500 * time.Millisecond
	defaultRetryMaxDelay  = 30 * time.Second
	defaultMaxRetryAfter  = 60 * time.Second
	defaultMaxBodyBytes   = 8 << 20
	defaultUserAgent      = "videoconduit_exporter"
	// drainLimit bounds how much of an unread body is discarded to keep the
	// connection reusable; past it closing the connection is cheaper.
	drainLimit = 64 << 10
	// codeError is the Observe code for attempts without a complete response.
	codeError = "error"
)

// Client calls the VideoConduit Jobs API. It is safe for concurrent use.
type Client struct {
	cfg     Config
	hc      *http.Client
	limiter *rate.Limiter

	// now, sleep and jitter are replaced by tests to make waits observable
	// and deterministic.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(ceiling time.Duration) time.Duration

	mu sync.Mutex
	// notBefore holds requests back after the server said its quota is spent.
	notBefore time.Time
}

// New checks cfg and returns a Client. BaseURL must be an absolute http or
// https URL and Key must be set.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q must not carry a query or fragment", cfg.BaseURL)
	}
	if cfg.Key == nil {
		return nil, errors.New("client: Config.Key is nil")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	setDefaults(&cfg)

	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := &Client{
		cfg:    cfg,
		hc:     &http.Client{Transport: transport},
		now:    time.Now,
		sleep:  sleepCtx,
		jitter: fullJitter,
	}
	if cfg.RequestsPerSecond > 0 {
		// A burst of one spaces every request evenly: the API never sees a spike.
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), 1)
	}
	return c, nil
}

func setDefaults(cfg *Config) {
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUserAgent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = defaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = defaultRetryBaseDelay
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = defaultRetryMaxDelay
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = defaultMaxRetryAfter
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, string, time.Duration) {}
	}
}

// GetJob fetches one job: GET /v1/jobs/{id}. An unknown id gives an error
// matching ErrNotFound.
func (c *Client) GetJob(ctx context.Context, id string) (Job, error) {
	if id == "" {
		return Job{}, fmt.Errorf("%s: empty job id", EndpointGet)
	}
	var job Job
	err := c.call(ctx, EndpointGet, c.cfg.BaseURL+"/v1/jobs/"+url.PathEscape(id), func(data []byte) error {
		var err error
		job, err = decodeJob(data)
		return err
	})
	return job, err
}

// ListJobs fetches one page of GET /v1/jobs starting at cursor ("" for the
// newest jobs). It does not check the cursor contract; Pages does.
func (c *Client) ListJobs(ctx context.Context, opts ListOptions, cursor string) (Page, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	if opts.JobType != "" {
		q.Set("job_type", opts.JobType)
	}
	target := c.cfg.BaseURL + "/v1/jobs"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var page Page
	err := c.call(ctx, EndpointList, target, func(data []byte) error {
		var err error
		page, err = decodePage(data)
		return err
	})
	return page, err
}

// Pages walks GET /v1/jobs from the newest job, yielding each page. It stops
// after a page with has_more false, or after yielding one error: a failed
// request, or ErrBadPagination when has_more is true but next_cursor is empty
// or repeats a cursor already sent in this walk. The page that broke the
// cursor contract is yielded (its items are valid) before that error. The
// caller may stop early.
func (c *Client) Pages(ctx context.Context, opts ListOptions) iter.Seq2[Page, error] {
	return func(yield func(Page, error) bool) {
		sent := map[string]struct{}{}
		cursor := ""
		for {
			sent[cursor] = struct{}{}
			page, err := c.ListJobs(ctx, opts, cursor)
			if err != nil {
				yield(Page{}, err)
				return
			}
			if !yield(page, nil) || !page.HasMore {
				return
			}
			if page.NextCursor == "" {
				yield(Page{}, fmt.Errorf("%s: has_more is true but next_cursor is empty: %w", EndpointList, ErrBadPagination))
				return
			}
			if _, dup := sent[page.NextCursor]; dup {
				// %.64q keeps an opaque, possibly huge server value log-sized.
				yield(Page{}, fmt.Errorf("%s: next_cursor %.64q was already sent in this walk: %w",
					EndpointList, page.NextCursor, ErrBadPagination))
				return
			}
			cursor = page.NextCursor
		}
	}
}

// outcome is the result of one HTTP attempt.
type outcome struct {
	err   error
	retry bool
	// wait is the server-requested delay before the retry; hasWait tells it
	// apart from an absent header.
	wait    time.Duration
	hasWait bool
}

// call runs one API call: attempts with the rate budget, retries with backoff
// or the server's Retry-After, all waits cut short by ctx.
func (c *Client) call(ctx context.Context, endpoint, target string, decode func([]byte) error) error {
	for attempt := 0; ; attempt++ {
		if err := c.waitTurn(ctx); err != nil {
			return fmt.Errorf("%s: waiting for the request budget: %w", endpoint, err)
		}
		out := c.attempt(ctx, endpoint, target, decode)
		if out.err == nil {
			return nil
		}
		if !out.retry || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			if attempt > 0 {
				return fmt.Errorf("%w (gave up after %d attempts)", out.err, attempt+1)
			}
			return out.err
		}
		delay := out.wait
		if !out.hasWait {
			delay = c.backoff(attempt)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return fmt.Errorf("%w (no time left to wait %v for attempt %d)", out.err, delay, attempt+2)
		}
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("%w; stopped waiting to retry: %w", out.err, err)
		}
	}
}

// waitTurn holds a request back until the server's quota resets and the
// client's own budget allows it.
func (c *Client) waitTurn(ctx context.Context) error {
	c.mu.Lock()
	notBefore := c.notBefore
	c.mu.Unlock()
	if d := notBefore.Sub(c.now()); d > 0 {
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
	}
	if c.limiter == nil {
		return nil
	}
	now := c.now()
	r := c.limiter.ReserveN(now, 1)
	if err := c.sleep(ctx, r.DelayFrom(now)); err != nil {
		r.CancelAt(c.now())
		return err
	}
	return nil
}

// backoff is the delay before retry number attempt+1: full jitter below an
// exponentially growing, capped ceiling.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.cfg.RetryBaseDelay
	for range attempt {
		if ceiling >= c.cfg.RetryMaxDelay/2 {
			ceiling = c.cfg.RetryMaxDelay
			break
		}
		ceiling *= 2
	}
	return c.jitter(min(ceiling, c.cfg.RetryMaxDelay))
}

func fullJitter(ceiling time.Duration) time.Duration {
	// Unsigned, so a ceiling of the largest Duration cannot overflow the +1.
	return time.Duration(rand.Uint64N(uint64(ceiling) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt sends one request and classifies the answer.
func (c *Client) attempt(ctx context.Context, endpoint, target string, decode func([]byte) error) outcome {
	key := strings.TrimSpace(c.cfg.Key())
	if !usableKey(key) {
		return outcome{err: fmt.Errorf("%s: %w", endpoint, ErrNoKey)}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return outcome{err: fmt.Errorf("%s: build request: %w", endpoint, err)}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.cfg.Observe(endpoint, codeError, time.Since(start))
		return outcome{err: fmt.Errorf("%s: %w", endpoint, err), retry: true}
	}
	defer closeBody(resp.Body)
	c.noteQuota(resp.Header)
	code := resp.StatusCode

	if code >= 200 && code < 300 {
		data, err := readBody(resp, c.cfg.MaxBodyBytes)
		switch {
		case errors.Is(err, ErrPageTooLarge):
			c.cfg.Observe(endpoint, strconv.Itoa(code), time.Since(start))
			return outcome{err: fmt.Errorf("%s: HTTP %d: %w", endpoint, code, err)}
		case err != nil:
			// Headers arrived but the body did not: a transport failure.
			c.cfg.Observe(endpoint, codeError, time.Since(start))
			return outcome{err: fmt.Errorf("%s: HTTP %d: %w", endpoint, code, err), retry: true}
		}
		c.cfg.Observe(endpoint, strconv.Itoa(code), time.Since(start))
		switch err := decode(data); {
		case err == nil:
			return outcome{}
		case errors.Is(err, ErrPageTooLarge):
			return outcome{err: fmt.Errorf("%s: HTTP %d: %w", endpoint, code, err)}
		default:
			return outcome{err: fmt.Errorf("%s: HTTP %d: decode response: %w", endpoint, code, err), retry: true}
		}
	}

	se := &StatusError{Endpoint: endpoint, StatusCode: code, Body: bodyExcerpt(resp.Body, key)}
	wait, hasWait := parseWait(resp.Header.Get("Retry-After"), c.now())
	if hasWait {
		se.RetryAfter = wait
	}
	c.cfg.Observe(endpoint, strconv.Itoa(code), time.Since(start))
	switch {
	case code == http.StatusTooManyRequests:
		// Waiting longer than MaxRetryAfter inside one call would stall the
		// caller; the error carries the server's wait so the caller can plan.
		return outcome{err: se, retry: !hasWait || wait <= c.cfg.MaxRetryAfter, wait: wait, hasWait: hasWait}
	case code >= 500:
		return outcome{err: se, retry: true, wait: min(wait, c.cfg.MaxRetryAfter), hasWait: hasWait}
	default:
		return outcome{err: se}
	}
}

// usableKey refuses keys that would make an invalid Authorization header.
func usableKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if b := key[i]; b < ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// noteQuota reads X-RateLimit-Remaining/-Reset: when the quota is spent, the
// next request waits for the reset (at most MaxRetryAfter).
func (c *Client) noteQuota(h http.Header) {
	remaining, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Remaining")), 64)
	if err != nil || remaining > 0 {
		return
	}
	now := c.now()
	wait, ok := parseWait(h.Get("X-RateLimit-Reset"), now)
	if !ok || wait <= 0 {
		return
	}
	until := now.Add(min(wait, c.cfg.MaxRetryAfter))
	c.mu.Lock()
	if until.After(c.notBefore) {
		c.notBefore = until
	}
	c.mu.Unlock()
}

// parseWait reads a server-requested wait leniently: delta seconds (integer
// or fractional), a Unix time in seconds or milliseconds (numbers too large to
// be a sensible delay), or an HTTP-date. Moments in the past mean no wait.
func parseWait(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		const epochSeconds, epochMillis = 1e9, 1e12 // 2001-09-09 as seconds / as milliseconds
		switch {
		case n != n || n < 0: // NaN or negative
			return 0, false
		case n >= epochMillis:
			return untilTime(time.UnixMilli(int64(min(n, 1e15))), now), true
		case n >= epochSeconds:
			return untilTime(time.Unix(int64(n), 0), now), true
		default:
			return time.Duration(n * float64(time.Second)), true
		}
	}
	if t, err := http.ParseTime(v); err == nil {
		return untilTime(t, now), true
	}
	return 0, false
}

func untilTime(t, now time.Time) time.Duration {
	return max(t.Sub(now), 0)
}

// readBody reads a whole successful body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead) // room for the final read that sees EOF
	}
	// One byte past the limit tells an oversize body from one of exactly the limit.
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("body over %d bytes: %w", limit, ErrPageTooLarge)
	}
	return buf.Bytes(), nil
}

// closeBody discards a bounded rest of the body so the connection can be
// reused, then closes it.
func closeBody(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}
