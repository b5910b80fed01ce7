package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/videoconduit/videoconduit_exporter/bench/benchmeter"
	"github.com/videoconduit/videoconduit_exporter/bench/naive"
	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/exposition"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// The collector's benchmarks; BENCHMARKS.md holds the commands and figures.
//
//   - BenchmarkPollNewJobs: decode and aggregate pages of new jobs, per job.
//   - BenchmarkPollCycle: one poll against the simulator by history size and
//     active jobs, beside the naive poller that re-pages the whole history.
//   - BenchmarkScrape: Collect and exposition at full label cardinality,
//     idle and with a poll stuck on the API; BenchmarkScrapeRuntimeCollectors:
//     the Go and process collectors every scrape also runs.

// BenchmarkPollNewJobs measures what a poll costs per new job: list pages
// decoded by the real client, each job counted by the collector, failed jobs
// looked up for their error message (one in 16 fails). The API is in memory:
// besides the exporter's work, only its rendering of the pages is timed, and
// it allocates nothing. The per-poll overhead
// (state clone, the two empty active lists, rendering the snapshot) is
// spread over the page's jobs; new=0 measures that overhead alone.
func BenchmarkPollNewJobs(b *testing.B) {
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("new=%d", n), func(b *testing.B) {
			api := &fakeAPI{}
			w := newFakeWorld(b, api)
			// The ring covers 100 polls: an id comes back long after the
			// lookback has forgotten it.
			stream := newJobStream(100*n + 1)
			var batch []fakeJob
			next := func() {
				batch = stream.batch(batch, n)
				api.set(batch)
				w.now = stream.newest().Add(time.Second)
			}
			next()
			w.poll(b) // start-up: learns where the list stands, counts nothing
			m := benchmeter.Start()
			for b.Loop() {
				next()
				w.poll(b)
			}
			if n > 0 {
				m.Report(b, n*b.N, "job")
			}
			if got, want := sumFamily(b, w.reg, "videoconduit_jobs_created_total"), float64(n*b.N); got != want {
				b.Fatalf("counted %v created jobs, want %v", got, want)
			}
		})
	}
}

// BenchmarkPollCycle runs polls 30 simulated seconds apart against the
// in-process simulator (loopback HTTP) holding old finished jobs and active
// jobs that stay pending or processing, while the default world adds and
// finishes some 45 jobs per interval. The exporter's poll is set beside the
// naive poller's, which pages the whole history every time. ns/op includes
// the simulator answering in the same process; calls/poll is the figure
// that must not grow with the history.
func BenchmarkPollCycle(b *testing.B) {
	for _, old := range []int{1_000, 100_000, 1_000_000} {
		for _, active := range []int{1_000, 10_000} {
			name := fmt.Sprintf("old=%s/active=%s", short(old), short(active))
			b.Run(name+"/poller=exporter", func(b *testing.B) {
				w := activeWorld(b, old, active)
				w.poll(b) // start-up
				w.clock.Advance(30 * time.Second)
				w.poll(b)
				before := w.sim.Requests()
				for b.Loop() {
					w.clock.Advance(30 * time.Second)
					w.poll(b)
				}
				reportCalls(b, before, w.sim.Requests())
				truth, got := 0, 0.0
				for _, n := range w.sim.TruthSince(w.clock.Now()).Active {
					truth += n
				}
				for _, v := range w.series(b, "videoconduit_jobs_active") {
					got += v
				}
				if got != float64(truth) {
					b.Fatalf("jobs_active sums to %v, the simulator has %d active jobs", got, truth)
				}
			})
			b.Run(name+"/poller=naive", func(b *testing.B) {
				w := activeWorld(b, old, active)
				before := w.sim.Requests()
				for b.Loop() {
					w.clock.Advance(30 * time.Second)
					r, err := naive.Poll(context.Background(), w.api, w.pageSize)
					if err != nil {
						b.Fatal(err)
					}
					if r.Jobs < old+active {
						b.Fatalf("naive poll read %d jobs, the API holds at least %d", r.Jobs, old+active)
					}
				}
				reportCalls(b, before, w.sim.Requests())
			})
		}
	}
}

// activeWorld is a simulated account with old finished jobs and active
// jobs that move only when told to (none is told), half of them processing.
// The active jobs are ten minutes old when the exporter starts: jobs within
// the lookback of the newest are paged again by every poll, which would
// charge a burst created at start-up to every poll measured.
func activeWorld(b *testing.B, old, active int) *world {
	b.Helper()
	w := newWorld(b, simulator.Config{Seed: 7, History: old}, 100)
	for i := range active {
		id := w.sim.Submit(client.JobTypes[i%len(client.JobTypes)], benchURLs[i%len(benchURLs)], 1)
		if i%2 == 1 {
			if err := w.sim.SetStatus(id, client.StatusProcessing, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
	w.clock.Advance(10 * time.Minute)
	return w
}

func reportCalls(b *testing.B, before, after map[string]int) {
	list := after[client.EndpointList] - before[client.EndpointList]
	get := after[client.EndpointGet] - before[client.EndpointGet]
	b.ReportMetric(float64(list+get)/float64(b.N), "calls/poll")
	b.ReportMetric(float64(list)/float64(b.N), "lists/poll")
	b.ReportMetric(float64(get)/float64(b.N), "gets/poll")
}

func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}

// Accept headers of a text-format scrape and of Prometheus 3's default.
const (
	acceptText        = "text/plain;version=0.0.4;q=1"
	acceptOpenMetrics = "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.3"
)

// BenchmarkScrape measures a scrape at full label cardinality: "documented"
// fills every series the documented job types, platforms, terminal statuses
// and failure reasons can make; "max" also fills the undocumented values each
// label admits up to its cap, plus "other". Steps: the collector's Collect
// alone, the registry's Gather, and the whole /metrics handler in the text
// format and in OpenMetrics with gzip (what Prometheus asks for), the last
// also while a poll is stuck waiting on the API.
func BenchmarkScrape(b *testing.B) {
	for _, card := range []cardinality{documentedCardinality(), maxCardinality()} {
		api := &fakeAPI{listDetails: true}
		w := newFakeWorld(b, api)
		jobs := card.jobs()
		api.set(nil)
		w.poll(b) // start-up on an empty account
		api.set(jobs)
		w.now = jobs[0].created.Add(time.Second)
		w.poll(b)
		if got := sumFamily(b, w.reg, "videoconduit_jobs_created_total"); got != float64(len(jobs)) {
			b.Fatalf("%s: counted %v created jobs, want %d", card.name, got, len(jobs))
		}
		handler := promhttp.HandlerFor(w.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
		series := countSeries(b, handler)

		b.Run(card.name+"/step=collect", func(b *testing.B) {
			ch := make(chan prometheus.Metric, series+1024)
			for b.Loop() {
				w.coll.Collect(ch)
				for len(ch) > 0 {
					<-ch
				}
			}
			b.ReportMetric(float64(series), "series")
		})
		b.Run(card.name+"/step=gather", func(b *testing.B) {
			for b.Loop() {
				if _, err := w.reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(series), "series")
		})
		// promhttp gathers and encodes every series on every scrape;
		// main.go's exposition handler encodes the job series once per poll.
		live := prometheus.NewRegistry()
		live.MustRegister(w.coll.Health())
		for _, h := range []struct {
			name    string
			handler http.Handler
		}{
			{"promhttp", handler},
			{"exposition", exposition.NewHandler(exposition.Opts{Snapshot: func() []prometheus.Collector { return []prometheus.Collector{w.coll.JobMetrics()} }, Live: live})},
		} {
			b.Run(card.name+"/step=text/handler="+h.name, func(b *testing.B) {
				benchHandler(b, h.handler, acceptText, false, series)
			})
			b.Run(card.name+"/step=openmetrics-gzip/handler="+h.name, func(b *testing.B) {
				benchHandler(b, h.handler, acceptOpenMetrics, true, series)
			})
			b.Run(card.name+"/step=openmetrics-gzip-poll-in-flight/handler="+h.name, func(b *testing.B) {
				api.stall = newStall()
				polled := make(chan error, 1)
				go func() { polled <- w.coll.Poll(context.Background()) }()
				<-api.stall.entered
				benchHandler(b, h.handler, acceptOpenMetrics, true, series)
				close(api.stall.release)
				if err := <-polled; err != nil {
					b.Fatal(err)
				}
				api.stall = nil
			})
		}
	}
}

// BenchmarkScrapeRuntimeCollectors measures the Go and process collectors
// that main.go registers beside the job collector (unless
// --web.disable-exporter-metrics): their share of every scrape.
func BenchmarkScrapeRuntimeCollectors(b *testing.B) {
	for _, c := range []struct {
		name string
		c    prometheus.Collector
	}{
		{"go", collectors.NewGoCollector()},
		{"process", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c.c)
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
		series := countSeries(b, h)
		b.Run("collector="+c.name, func(b *testing.B) {
			benchHandler(b, h, acceptOpenMetrics, false, series)
		})
	}
}

func benchHandler(b *testing.B, h http.Handler, accept string, gzip bool, series int) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	size := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(series), "series")
	b.ReportMetric(float64(size), "body-bytes")
}

// countSeries scrapes once in the text format and counts the sample lines.
func countSeries(b *testing.B, h http.Handler) int {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", acceptText)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	n := 0
	for line := range strings.Lines(rec.Body.String()) {
		if !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// cardinality is the set of label values a scrape benchmark fills.
type cardinality struct {
	name     string
	types    []string // job types the API sends
	terminal []string // terminal statuses the API sends, failed among them
}

func documentedCardinality() cardinality {
	return cardinality{
		name:     "documented",
		types:    client.JobTypes,
		terminal: []string{client.StatusCompleted, client.StatusFailed},
	}
}

// maxCardinality sends more undocumented types and statuses than a label
// admits, so each label reaches its cap and its "other".
func maxCardinality() cardinality {
	c := documentedCardinality()
	c.name = "max"
	c.types = append([]string(nil), client.JobTypes...)
	c.terminal = append([]string(nil), c.terminal...)
	for i := range 11 {
		c.types = append(c.types, fmt.Sprintf("custom%02d", i))
		c.terminal = append(c.terminal, fmt.Sprintf("ended%02d", i))
	}
	return c
}

// jobs returns, newest first, a job for every type × platform × terminal
// status, a failed one for every type × platform × failure reason (the
// simulator's messages, one matching nothing, and none at all), and a
// pending and a processing job of every type.
func (c cardinality) jobs() []fakeJob {
	messages := []string{"Job failed: quux", ""}
	for _, reason := range simulator.FailureReasons {
		messages = append(messages, simulator.FailureMessages(reason, benchURLs[0])[0])
	}
	var jobs []fakeJob
	add := func(jobType, status, url, message string) {
		k := len(jobs)
		j := fakeJob{
			id:      fmt.Sprintf("ca4d1a11-0000-4000-8000-%012d", k),
			jobType: jobType, status: status, url: url, message: message,
			created: epoch.Add(time.Duration(k) * time.Second),
			credits: int64(1 + k%3),
		}
		if !client.IsActive(status) {
			// Durations spread over every bucket, from a second to past 8 h.
			j.completed = j.created.Add(time.Duration(1+k*37%40_000) * time.Second)
		}
		jobs = append(jobs, j)
	}
	for _, t := range c.types {
		add(t, client.StatusPending, benchURLs[0], "")
		add(t, client.StatusProcessing, benchURLs[1], "")
		for _, u := range benchURLs {
			for _, s := range c.terminal {
				if s != client.StatusFailed {
					add(t, s, u, "")
				}
			}
			for _, m := range messages {
				add(t, client.StatusFailed, u, m)
			}
		}
	}
	// The list is newest first; completion may lie past the newest
	// creation, which the collector accepts.
	for i, j := 0, len(jobs)-1; i < j; i, j = i+1, j-1 {
		jobs[i], jobs[j] = jobs[j], jobs[i]
	}
	return jobs
}

// sumFamily adds up every series of a counter or gauge family.
func sumFamily(tb testing.TB, g prometheus.Gatherer, name string) float64 {
	tb.Helper()
	families, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += value(m)
			}
		}
	}
	return sum
}

// fakeAPI is an in-memory Jobs API that the real client reaches through its
// Transport: no sockets and no simulator, so that a benchmark measures the
// client's decoding and the collector's aggregation rather than loopback
// HTTP or the simulated world. It serves a fixed list of jobs, newest first,
// with decimal offsets as cursors, and GET by id.
type fakeAPI struct {
	mu   sync.Mutex
	jobs []fakeJob
	byID map[string]int
	// listDetails adds error_message and completed_at to list items; without
	// it items carry only the fields of the API page's sample.
	listDetails bool
	// stall, when set, holds every request until it is released: a poll
	// stuck on a slow API. Set and cleared only while no poll runs.
	stall *stall
	// bodies recycles response buffers, so that the fake's own allocations
	// stay out of the per-job figures.
	bodies sync.Pool
}

type fakeJob struct {
	id, jobType, status, url, message string
	created, completed                time.Time
	credits                           int64
}

type stall struct {
	once             sync.Once
	entered, release chan struct{}
}

func newStall() *stall {
	return &stall{entered: make(chan struct{}), release: make(chan struct{})}
}

// set replaces the jobs the API knows; jobs must be newest first.
func (f *fakeAPI) set(jobs []fakeJob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = jobs
	if f.byID == nil {
		f.byID = map[string]int{}
	}
	clear(f.byID)
	for i, j := range jobs {
		f.byID[j.id] = i
	}
}

func (f *fakeAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	if s := f.stall; s != nil {
		s.once.Do(func() { close(s.entered) })
		select {
		case <-s.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	buf, _ := f.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	code := http.StatusOK
	f.mu.Lock()
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/jobs/"); ok {
		if i, found := f.byID[id]; found {
			*buf = appendFakeJob((*buf)[:0], &f.jobs[i], true)
		} else {
			code, *buf = http.StatusNotFound, append((*buf)[:0], `{"detail":"Job not found"}`...)
		}
	} else {
		*buf = f.appendList((*buf)[:0], r.URL.Query())
	}
	f.mu.Unlock()
	return &http.Response{
		StatusCode:    code,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          &fakeBody{Reader: bytes.NewReader(*buf), buf: buf, pool: &f.bodies},
		ContentLength: int64(len(*buf)),
		Request:       r,
	}, nil
}

// fakeBody hands its buffer back to the pool when the client closes it.
type fakeBody struct {
	*bytes.Reader
	buf  *[]byte
	pool *sync.Pool
}

func (b *fakeBody) Close() error {
	if b.buf != nil {
		b.pool.Put(b.buf)
		b.buf = nil
	}
	return nil
}

func (f *fakeAPI) appendList(b []byte, q map[string][]string) []byte {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	status := get("status")
	limit, _ := strconv.Atoi(get("limit"))
	offset, _ := strconv.Atoi(get("cursor"))
	b = append(b, `{"items":[`...)
	n, next := 0, -1
	for i := offset; i < len(f.jobs); i++ {
		j := &f.jobs[i]
		if status != "" && j.status != status {
			continue
		}
		if n == limit {
			next = i
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendFakeJob(b, j, f.listDetails)
		n++
	}
	if next < 0 {
		return append(b, `],"next_cursor":null,"has_more":false}`...)
	}
	b = append(b, `],"next_cursor":"`...)
	b = strconv.AppendInt(b, int64(next), 10)
	return append(b, `","has_more":true}`...)
}

// appendFakeJob writes a job as the API does. Its strings are plain ASCII
// without quotes, so they need no escaping.
func appendFakeJob(b []byte, j *fakeJob, details bool) []byte {
	b = append(b, `{"job_id":"`...)
	b = append(b, j.id...)
	b = append(b, `","job_type":"`...)
	b = append(b, j.jobType...)
	b = append(b, `","status":"`...)
	b = append(b, j.status...)
	b = append(b, `","source_url":"`...)
	b = append(b, j.url...)
	b = append(b, `","credits_charged":`...)
	b = strconv.AppendInt(b, j.credits, 10)
	b = append(b, `,"created_at":"`...)
	b = j.created.AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	if details {
		if j.message != "" {
			b = append(b, `,"error_message":"`...)
			b = append(b, j.message...)
			b = append(b, '"')
		}
		if !j.completed.IsZero() {
			b = append(b, `,"completed_at":"`...)
			b = j.completed.AppendFormat(b, time.RFC3339)
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// fakeWorld is a collector polling a fakeAPI through the real client, with
// a clock the benchmark sets.
type fakeWorld struct {
	api  *fakeAPI
	coll *collector.JobCollector
	reg  *prometheus.Registry
	now  time.Time
}

func newFakeWorld(tb testing.TB, api *fakeAPI) *fakeWorld {
	tb.Helper()
	w := &fakeWorld{api: api, now: epoch}
	c, err := client.New(client.Config{
		BaseURL:   "http://api.invalid",
		Key:       func() string { return testKey },
		Transport: api,
		Observe:   func(endpoint, code string, d time.Duration) { w.coll.ObserveRequest(endpoint, code, d) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.coll, err = collector.New(collector.Config{
		Source:   c,
		Interval: 30 * time.Second,
		PageSize: 100,
		Now:      func() time.Time { return w.now },
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.reg = prometheus.NewRegistry()
	w.reg.MustRegister(w.coll)
	return w
}

func (w *fakeWorld) poll(tb testing.TB) {
	tb.Helper()
	if err := w.coll.Poll(context.Background()); err != nil {
		tb.Fatalf("poll: %v", err)
	}
}

// benchURLs holds one source URL per platform of the source label.
var benchURLs = []string{
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.tiktok.com/@user/video/7301234567890123456",
	"https://www.instagram.com/reel/C1a2b3c4d5e/",
	"https://vimeo.com/123456789",
	"https://x.com/user/status/1734567890123456789",
	"https://www.facebook.com/watch/?v=1234567890",
	"https://www.twitch.tv/videos/1987654321",
	"https://www.reddit.com/r/videos/comments/abc123/title/",
	"https://soundcloud.com/artist/track-name",
	"https://www.dailymotion.com/video/x8abcde",
	"https://cdn.example.org/media/bcdf1235.mp4",
}

// jobStream hands out jobs with ever newer created_at, one second apart,
// cycling through the documented types and the platforms; one job in 16
// fails. Ids come from a ring made up front, so that handing out jobs
// allocates nothing the per-job figures would count.
type jobStream struct {
	ids  []string
	next int
}

func newJobStream(ring int) *jobStream {
	s := &jobStream{ids: make([]string, ring)}
	for i := range s.ids {
		s.ids[i] = fmt.Sprintf("0b5e7a11-0000-4000-8000-%012d", i)
	}
	return s
}

// batch fills dst with n new jobs, newest first.
func (s *jobStream) batch(dst []fakeJob, n int) []fakeJob {
	dst = dst[:0]
	for i := range n {
		k := s.next + n - 1 - i
		j := fakeJob{
			id:      s.ids[k%len(s.ids)],
			jobType: client.JobTypes[k%len(client.JobTypes)],
			status:  client.StatusCompleted,
			url:     benchURLs[k%len(benchURLs)],
			created: epoch.Add(time.Duration(k) * time.Second),
			credits: int64(1 + k%3),
		}
		if k%16 == 0 {
			j.status, j.message = client.StatusFailed, "ERROR: Video unavailable. This video has been removed by the uploader"
		}
		dst = append(dst, j)
	}
	s.next += n
	return dst
}

// newest is the created_at of the last job handed out.
func (s *jobStream) newest() time.Time { return epoch.Add(time.Duration(s.next-1) * time.Second) }
