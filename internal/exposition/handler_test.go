package exposition

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// snapshotOf is a snapshot: parts of fixed series, one per job type, each
// counting how often the handler collected it. It is also a collector of
// all of them, for promhttp.
type snapshotOf struct {
	parts []*partOf
}

type partOf struct {
	metrics  []prometheus.Metric
	collects atomic.Int64
}

var (
	jobsDesc    = prometheus.NewDesc("test_jobs_total", "Jobs.", []string{"job_type", "reason"}, nil)
	activeDesc  = prometheus.NewDesc("test_jobs_active", "Active jobs.", []string{"job_type"}, nil)
	elapsedDesc = prometheus.NewDesc("test_job_duration_seconds", "Durations.", []string{"job_type"}, nil)
)

// newSnapshot returns a snapshot whose series all carry value v: a counter
// with an exemplar, a gauge and a histogram, for each of two job types,
// each job type a part.
func newSnapshot(t testing.TB, v float64) *snapshotOf {
	t.Helper()
	return &snapshotOf{parts: []*partOf{newPart(t, "download", v), newPart(t, "transcribe", v)}}
}

func newPart(t testing.TB, jobType string, v float64) *partOf {
	t.Helper()
	c := prometheus.MustNewConstMetric(jobsDesc, prometheus.CounterValue, v, jobType, "timeout")
	withExemplar, err := prometheus.NewMetricWithExemplars(c, prometheus.Exemplar{Value: 1, Labels: prometheus.Labels{"job_id": "job_" + jobType}})
	if err != nil {
		t.Fatal(err)
	}
	return &partOf{metrics: []prometheus.Metric{
		withExemplar,
		prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, v, jobType),
		prometheus.MustNewConstHistogram(elapsedDesc, uint64(v), 3*v, map[float64]uint64{1: 0, 10: uint64(v)}, jobType),
	}}
}

func (p *partOf) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- activeDesc
	ch <- elapsedDesc
}

func (p *partOf) Collect(ch chan<- prometheus.Metric) {
	p.collects.Add(1)
	for _, m := range p.metrics {
		ch <- m
	}
}

// collectors returns the parts, as Opts.Snapshot does.
func (s *snapshotOf) collectors() []prometheus.Collector {
	out := make([]prometheus.Collector, len(s.parts))
	for i, p := range s.parts {
		out[i] = p
	}
	return out
}

// collects is how often the handler collected the parts, in all.
func (s *snapshotOf) collects() int64 {
	n := int64(0)
	for _, p := range s.parts {
		n += p.collects.Load()
	}
	return n
}

func (s *snapshotOf) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- activeDesc
	ch <- elapsedDesc
}

func (s *snapshotOf) Collect(ch chan<- prometheus.Metric) {
	for _, p := range s.parts {
		for _, m := range p.metrics {
			ch <- m
		}
	}
}

// fixture is a handler over a replaceable snapshot and a live registry with
// a counter and a gauge, and the promhttp handler over the same series.
type fixture struct {
	snap     atomic.Pointer[snapshotOf]
	live     *prometheus.Registry
	scrapes  prometheus.Counter
	up       prometheus.Gauge
	errors   *errorLog
	handler  *Handler
	promhttp http.Handler
}

type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLog) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintln(v...))
}

func (l *errorLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func newFixture(t testing.TB, opts Opts) *fixture {
	t.Helper()
	f := &fixture{live: prometheus.NewRegistry(), errors: &errorLog{}}
	f.snap.Store(newSnapshot(t, 5))
	f.scrapes = prometheus.NewCounter(prometheus.CounterOpts{Name: "test_scrapes_total", Help: "Scrapes."})
	f.up = prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_up", Help: "Up."})
	f.live.MustRegister(f.scrapes, f.up)
	opts.Snapshot = func() []prometheus.Collector { return f.snap.Load().collectors() }
	if opts.Live == nil {
		opts.Live = f.live
	}
	opts.ErrorLog = f.errors
	f.handler = NewHandler(opts)

	f.promhttp = promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		snapshot := prometheus.NewRegistry()
		snapshot.MustRegister(f.snap.Load())
		return prometheus.Gatherers{snapshot, f.live}.Gather()
	}), promhttp.HandlerOpts{EnableOpenMetrics: true})
	return f
}

type response struct {
	status  int
	header  http.Header
	body    []byte // decompressed
	members int    // gzip members in the body, 0 if not compressed
}

func get(t testing.TB, h http.Handler, target, accept, acceptEncoding string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if r.header.Get("Content-Encoding") == "gzip" {
		r.body, r.members = gunzipMembers(t, r.body)
	}
	return r
}

// gunzipMembers decompresses every gzip member of b, checking each one's
// CRC and length, and counts them.
func gunzipMembers(t testing.TB, b []byte) ([]byte, int) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	members := 0
	for {
		zr, err := gzip.NewReader(br)
		if errors.Is(err, io.EOF) && members > 0 {
			return out.Bytes(), members
		}
		if err != nil {
			t.Fatalf("gzip member %d: %v", members+1, err)
		}
		zr.Multistream(false)
		if _, err := io.Copy(&out, zr); err != nil {
			t.Fatalf("gzip member %d: %v", members+1, err)
		}
		members++
	}
}

const (
	acceptOpenMetrics    = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2" // Prometheus 3
	acceptOpenMetrics0   = "application/openmetrics-text;version=0.0.1"
	acceptText           = "text/plain;version=0.0.4"
	acceptProtobuf       = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	acceptAnything       = ""
	acceptGzip           = "gzip"
	acceptIdentity       = ""
	acceptGzipAmongOther = "br;q=1.0, gzip;q=0.8, *;q=0.1"
)

// TestServesWhatPromhttpServes compares the handler with promhttp over the
// same series in every format, compressed or not: the same lines (the order
// of families differs: the snapshot's come first), the same families for
// protobuf, and the same headers.
func TestServesWhatPromhttpServes(t *testing.T) {
	f := newFixture(t, Opts{})
	f.scrapes.Add(3)
	f.up.Set(1)
	for _, accept := range []string{acceptOpenMetrics, acceptOpenMetrics0, acceptText, acceptProtobuf, acceptAnything} {
		for _, encoding := range []string{acceptGzip, acceptIdentity, acceptGzipAmongOther} {
			t.Run(fmt.Sprintf("accept=%q/encoding=%q", accept, encoding), func(t *testing.T) {
				want := get(t, f.promhttp, "/metrics", accept, encoding)
				for i := range 2 { // the second scrape serves the cached snapshot
					got := get(t, f.handler, "/metrics", accept, encoding)
					if got.status != http.StatusOK {
						t.Fatalf("scrape %d: status %d: %s", i, got.status, got.body)
					}
					for _, h := range []string{"Content-Type", "Content-Encoding"} {
						if got.header.Get(h) != want.header.Get(h) {
							t.Errorf("scrape %d: %s %q, promhttp %q", i, h, got.header.Get(h), want.header.Get(h))
						}
					}
					if !slices.Equal(got.header.Values("Vary"), want.header.Values("Vary")) {
						t.Errorf("scrape %d: Vary %q, promhttp %q", i, got.header.Values("Vary"), want.header.Values("Vary"))
					}
					if want.members > 0 && got.members != 1 {
						t.Errorf("scrape %d: %d gzip members, want 1", i, got.members)
					}
					format := expfmt.Format(got.header.Get("Content-Type"))
					if format.FormatType() == expfmt.TypeProtoDelim {
						if g, w := decodeFamilies(t, got.body, format), decodeFamilies(t, want.body, format); !equalFamilies(g, w) {
							t.Errorf("scrape %d: families\n%v\npromhttp\n%v", i, g, w)
						}
						continue
					}
					if g, w := sortedLines(got.body), sortedLines(want.body); !slices.Equal(g, w) {
						t.Errorf("scrape %d: lines\n%s\npromhttp\n%s", i, strings.Join(g, "\n"), strings.Join(w, "\n"))
					}
					if format.FormatType() == expfmt.TypeOpenMetrics && !bytes.HasSuffix(got.body, []byte("\n# EOF\n")) {
						t.Errorf("scrape %d: OpenMetrics body does not end with # EOF:\n%s", i, got.body)
					}
				}
			})
		}
	}
	// Once per format and part: OpenMetrics 1.0.0 and 0.0.1, text 0.0.4,
	// protobuf.
	if n := f.snap.Load().collects(); n != 4*2 {
		t.Errorf("the handler collected the parts %d times, want 8: once per format and part", n)
	}
	if lines := f.errors.all(); len(lines) > 0 {
		t.Errorf("errors logged: %q", lines)
	}
}

func sortedLines(b []byte) []string {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

func decodeFamilies(t testing.TB, b []byte, format expfmt.Format) map[string]*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(bytes.NewReader(b), format)
	out := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[mf.GetName()]; dup {
			t.Fatalf("family %s appears twice", mf.GetName())
		}
		out[mf.GetName()] = mf
	}
}

func equalFamilies(a, b map[string]*dto.MetricFamily) bool {
	if len(a) != len(b) {
		return false
	}
	for name, mf := range a {
		if !proto.Equal(mf, b[name]) {
			return false
		}
	}
	return true
}

// TestSnapshotEncodedOncePerValueLiveEveryScrape checks what is cached and
// what is not: the live series change from one scrape to the next, the
// snapshot's bytes stay until the snapshot is replaced, and then change.
func TestSnapshotEncodedOncePerValueLiveEveryScrape(t *testing.T) {
	f := newFixture(t, Opts{})
	first := f.snap.Load()
	for _, encoding := range []string{acceptGzip, acceptIdentity} {
		for i := range 3 {
			f.scrapes.Inc()
			body := string(get(t, f.handler, "/metrics", acceptText, encoding).body)
			wantLive := fmt.Sprintf("test_scrapes_total %d\n", int(testutilValue(f.scrapes)))
			if !strings.Contains(body, wantLive) {
				t.Errorf("%q scrape %d: no %q in\n%s", encoding, i, wantLive, body)
			}
			if !strings.Contains(body, `test_jobs_active{job_type="download"} 5`+"\n") {
				t.Errorf("%q scrape %d: the snapshot's value is missing:\n%s", encoding, i, body)
			}
		}
	}
	if n := first.collects(); n != 2 {
		t.Errorf("6 scrapes collected the snapshot's 2 parts %d times, want 2", n)
	}

	f.snap.Store(newSnapshot(t, 7))
	for _, encoding := range []string{acceptGzip, acceptIdentity} {
		got := get(t, f.handler, "/metrics", acceptOpenMetrics, encoding)
		body := string(got.body)
		if values := activeValues(t, got); !maps.Equal(values, map[string]bool{"7": true}) {
			t.Errorf("%q: after the snapshot changed, the scrape shows the values %v:\n%s", encoding, values, body)
		}
		if !strings.Contains(body, `test_jobs_total{job_type="download",reason="timeout"} 7.0 # {job_id="job_download"} 1.0`) {
			t.Errorf("%q: the OpenMetrics scrape lacks the exemplar:\n%s", encoding, body)
		}
	}
	if n := first.collects(); n != 2 {
		t.Errorf("the replaced snapshot was collected again (%d times)", n)
	}
}

func testutilValue(c prometheus.Counter) float64 {
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestNameFilter serves only the families name[] asks for, from the
// snapshot and the live series, as promhttp does.
func TestNameFilter(t *testing.T) {
	f := newFixture(t, Opts{})
	target := "/metrics?name[]=test_jobs_active&name[]=test_up&name[]=test_absent"
	for _, accept := range []string{acceptOpenMetrics, acceptText} {
		for _, encoding := range []string{acceptGzip, acceptIdentity} {
			got := get(t, f.handler, target, accept, encoding)
			want := get(t, f.promhttp, target, accept, encoding)
			if g, w := sortedLines(got.body), sortedLines(want.body); !slices.Equal(g, w) {
				t.Errorf("%q %q: lines\n%s\npromhttp\n%s", accept, encoding, strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
			if !bytes.Contains(got.body, []byte("test_up 0")) || bytes.Contains(got.body, []byte("test_jobs_total")) {
				t.Errorf("%q %q: not the filtered families:\n%s", accept, encoding, got.body)
			}
		}
	}
}

// blockingGatherer holds each Gather until released.
type blockingGatherer struct {
	entered chan struct{}
	release chan struct{}
}

func (g blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, nil
}

func TestMaxRequestsInFlight(t *testing.T) {
	g := blockingGatherer{entered: make(chan struct{}), release: make(chan struct{})}
	f := newFixture(t, Opts{Live: g, MaxRequestsInFlight: 1})
	done := make(chan response)
	go func() { done <- get(t, f.handler, "/metrics", acceptText, acceptIdentity) }()
	<-g.entered // the first scrape holds the only slot

	refused := get(t, f.handler, "/metrics", acceptText, acceptIdentity)
	if refused.status != http.StatusServiceUnavailable || !strings.Contains(string(refused.body), "Limit of concurrent requests reached (1)") {
		t.Errorf("second scrape: %d %q, want 503 naming the limit", refused.status, refused.body)
	}
	close(g.release)
	if first := <-done; first.status != http.StatusOK {
		t.Errorf("first scrape: status %d", first.status)
	}
	go func() { <-g.entered }() // the slot is free again
	if again := get(t, f.handler, "/metrics", acceptText, acceptIdentity); again.status != http.StatusOK {
		t.Errorf("scrape after the first ended: status %d %q", again.status, again.body)
	}
}

// failingGatherer returns what it has and an error, as a registry does
// when one collector fails.
type failingGatherer struct {
	families []*dto.MetricFamily
}

func (g failingGatherer) Gather() ([]*dto.MetricFamily, error) {
	return g.families, errors.New("collector broke")
}

// TestLiveErrorsServeTheRest follows promhttp's ContinueOnError: a failed
// live collector is logged and the rest is served; a family that shadows a
// snapshot family is dropped.
func TestLiveErrorsServeTheRest(t *testing.T) {
	shadow := &dto.MetricFamily{
		Name: proto.String("test_jobs_active"), Help: proto.String("Shadow."), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(99)}}},
	}
	own := &dto.MetricFamily{
		Name: proto.String("test_live"), Help: proto.String("Live."), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(2)}}},
	}
	// A counter family without counter values cannot be encoded.
	broken := &dto.MetricFamily{
		Name: proto.String("test_broken_total"), Help: proto.String("Broken."), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}},
	}
	f := newFixture(t, Opts{Live: failingGatherer{families: []*dto.MetricFamily{shadow, broken, own}}})
	got := get(t, f.handler, "/metrics", acceptText, acceptGzip)
	body := string(got.body)
	if got.status != http.StatusOK || !strings.Contains(body, "test_live 2\n") || !strings.Contains(body, `test_jobs_active{job_type="download"} 5`) {
		t.Errorf("status %d, body\n%s", got.status, body)
	}
	if strings.Contains(body, "test_jobs_active 99") || strings.Count(body, "# TYPE test_jobs_active ") != 1 {
		t.Errorf("the shadowing live family was served:\n%s", body)
	}
	if strings.Contains(body, "test_broken") {
		t.Errorf("a part of the family that failed to encode was served:\n%s", body)
	}
	logged := strings.Join(f.errors.all(), "")
	for _, want := range []string{"collector broke", "test_jobs_active is also in the snapshot", "error encoding metric family"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log %q lacks %q", logged, want)
		}
	}

	empty := newFixture(t, Opts{Live: failingGatherer{}})
	empty.snap.Store(&snapshotOf{})
	if got := get(t, empty.handler, "/metrics", acceptText, acceptIdentity); got.status != http.StatusInternalServerError || !strings.Contains(string(got.body), "collector broke") {
		t.Errorf("nothing gathered: %d %q, want 500 with the error", got.status, got.body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"x-gzip":                 true,
		"gzip;q=0":               false,
		"gzip; q=0.5, br":        true,
		"br, deflate":            false,
		"*":                      true,
		"*;q=0":                  false,
		"*, gzip;q=0":            false,
		"identity;q=1, *;q=0.1":  true,
		"gzip;q=zero":            false,
		"zstd,gzip;q=0.1,br;q=1": true,
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", header)
		if got := acceptsGzip(req); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

// TestConcurrentScrapesWhileSnapshotsChange is for the race detector, and
// checks that every scrape shows one whole snapshot.
func TestConcurrentScrapesWhileSnapshotsChange(t *testing.T) {
	f := newFixture(t, Opts{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			accept := []string{acceptOpenMetrics, acceptText, acceptProtobuf}[w%3]
			encoding := []string{acceptGzip, acceptIdentity}[w%2]
			for range 50 {
				values := activeValues(t, get(t, f.handler, "/metrics", accept, encoding))
				if len(values) != 1 {
					t.Errorf("one scrape shows the values %v of several snapshots", values)
				}
			}
		})
	}
	for v := range 100 {
		f.snap.Store(newSnapshot(t, float64(v)))
		f.scrapes.Inc()
	}
	wg.Wait()
}

// activeValues returns the values of test_jobs_active in a scrape.
func activeValues(t testing.TB, r response) map[string]bool {
	t.Helper()
	values := map[string]bool{}
	format := expfmt.Format(r.header.Get("Content-Type"))
	if format.FormatType() == expfmt.TypeProtoDelim {
		for _, m := range decodeFamilies(t, r.body, format)["test_jobs_active"].GetMetric() {
			values[fmt.Sprint(m.GetGauge().GetValue())] = true
		}
		return values
	}
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, "test_jobs_active{") {
			values[strings.TrimSuffix(line[strings.LastIndexByte(line, ' ')+1:], ".0")] = true
		}
	}
	return values
}

// TestSplicedGzipStream checks the spliced gzip stream byte for byte:
// families of several parts, each part's samples compressed on its own,
// then a tail compressed or stored, across stored-block boundaries, whole
// and filtered; and the plain body, inflated piece by piece.
func TestSplicedGzipStream(t *testing.T) {
	sample := []byte("videoconduit_jobs_created_total{job_type=\"download\"} 12\n")
	e := &encoding{families: []family{{name: "a", lead: []byte("# TYPE a counter\n")}, {name: "b", lead: []byte("# TYPE b counter\n")}}}
	bodies := map[string][]byte{}
	for i := range e.families {
		f := &e.families[i]
		bodies[f.name] = slices.Clone(f.lead)
		for _, n := range []int{0, 1, 500, 2 * maxStoredBlock / len(sample)} {
			samples := bytes.Repeat(sample, n)
			f.samples = append(f.samples, deflate(samples))
			bodies[f.name] = append(bodies[f.name], samples...)
		}
	}
	for _, filter := range []map[string]bool{nil, {"b": true}} {
		var body []byte
		for _, f := range e.families {
			if filter == nil || filter[f.name] {
				body = append(body, bodies[f.name]...)
			}
		}
		for _, size := range []int{0, 1, maxStoredBlock, maxStoredBlock + 1, 3*maxStoredBlock + 7} {
			tail := make([]byte, size)
			for i := range tail {
				tail[i] = byte('a' + i*7%26)
			}
			want := append(slices.Clone(body), tail...)
			for _, compress := range []bool{true, false} {
				var out bytes.Buffer
				if err := e.writeGzip(&out, filter, tail, compress); err != nil {
					t.Fatal(err)
				}
				got, members := gunzipMembers(t, out.Bytes())
				if members != 1 || !bytes.Equal(got, want) {
					t.Errorf("filter %v, tail of %d bytes, compressed %v: %d members, %d bytes out of %d", filter, size, compress, members, len(got), len(want))
				}
			}
			var plain bytes.Buffer
			if err := e.writePlain(&plain, filter, tail); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain.Bytes(), want) {
				t.Errorf("filter %v, tail of %d bytes: plain body of %d bytes, want %d", filter, size, plain.Len(), len(want))
			}
		}
	}
}

// TestCRCOfConcatenation: the CRC spliced from the pieces' CRCs is that of
// the concatenated bytes, for empty, short and long pieces.
func TestCRCOfConcatenation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := make([]byte, rng.IntN(3)*rng.IntN(70000)), make([]byte, rng.IntN(3)*rng.IntN(70000))
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		got := crcConcat(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), crcShift(len(b)))
		if want := crc32.ChecksumIEEE(append(slices.Clone(a), b...)); got != want {
			t.Fatalf("%d then %d bytes: CRC %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

// TestScrapesBeyondTheCompressorsSendTheTailStored: with every compressor
// busy, a gzip scrape is still whole and valid.
func TestScrapesBeyondTheCompressorsSendTheTailStored(t *testing.T) {
	f := newFixture(t, Opts{})
	f.handler.compressors = make(chan struct{}) // none free
	want := get(t, f.promhttp, "/metrics", acceptOpenMetrics, acceptGzip)
	got := get(t, f.handler, "/metrics", acceptOpenMetrics, acceptGzip)
	if got.members != 1 {
		t.Errorf("%d gzip members, want 1", got.members)
	}
	if g, w := sortedLines(got.body), sortedLines(want.body); !slices.Equal(g, w) {
		t.Errorf("lines\n%s\npromhttp\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// getUntil scrapes h until a scrape shows values, the new parts being
// encoded in the background, and returns that scrape.
func getUntil(t testing.TB, h http.Handler, accept, acceptEncoding string, values map[string]bool) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := get(t, h, "/metrics", accept, acceptEncoding)
		if maps.Equal(activeValues(t, got), values) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the scrapes still show %v, want %v", activeValues(t, got), values)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOnlyChangedPartsEncodedAgain: a new snapshot that keeps a part
// reuses its encoding, and shows the new part's values beside it.
func TestOnlyChangedPartsEncodedAgain(t *testing.T) {
	f := newFixture(t, Opts{})
	first := f.snap.Load()
	get(t, f.handler, "/metrics", acceptText, acceptGzip)
	kept, replaced := first.parts[0], first.parts[1]
	changed := newPart(t, "transcribe", 7)
	f.snap.Store(&snapshotOf{parts: []*partOf{kept, changed}})
	for _, encoding := range []string{acceptGzip, acceptIdentity} {
		got := getUntil(t, f.handler, acceptText, encoding, map[string]bool{"5": true, "7": true})
		for _, want := range []string{`test_jobs_active{job_type="download"} 5` + "\n", `test_jobs_active{job_type="transcribe"} 7` + "\n"} {
			if !bytes.Contains(got.body, []byte(want)) {
				t.Errorf("%q: no %q in\n%s", encoding, want, got.body)
			}
		}
		if got.members > 1 {
			t.Errorf("%q: %d gzip members, want 1", encoding, got.members)
		}
	}
	if n := kept.collects.Load(); n != 1 {
		t.Errorf("the kept part was collected %d times, want once", n)
	}
	if n, m := replaced.collects.Load(), changed.collects.Load(); n != 1 || m != 1 {
		t.Errorf("the replaced part was collected %d times and its successor %d, want once each", n, m)
	}
}

// blockingPart is a part whose Collect waits until released.
type blockingPart struct {
	*partOf
	entered, release chan struct{}
}

func (p blockingPart) Collect(ch chan<- prometheus.Metric) {
	p.entered <- struct{}{}
	<-p.release
	p.partOf.Collect(ch)
}

// TestScrapesServeTheLastEncodingWhileTheNextIsMade: a new part is encoded
// in the background; meanwhile every scrape serves the snapshot it
// replaces at once, and once it is encoded the scrapes serve it.
func TestScrapesServeTheLastEncodingWhileTheNextIsMade(t *testing.T) {
	f := newFixture(t, Opts{})
	first := f.snap.Load()
	get(t, f.handler, "/metrics", acceptText, acceptGzip)

	slow := blockingPart{partOf: newPart(t, "transcribe", 7), entered: make(chan struct{}), release: make(chan struct{})}
	parts := []prometheus.Collector{first.parts[0], slow}
	f.handler.opts.Snapshot = func() []prometheus.Collector { return parts }
	for i := range 3 {
		if values := activeValues(t, get(t, f.handler, "/metrics", acceptText, acceptGzip)); !maps.Equal(values, map[string]bool{"5": true}) {
			t.Errorf("scrape %d during the encoding shows the values %v, want those of the last snapshot (5)", i, values)
		}
		if i == 0 {
			<-slow.entered // the first scrape started the encoding, which now waits
		}
	}
	close(slow.release)
	getUntil(t, f.handler, acceptText, acceptGzip, map[string]bool{"5": true, "7": true})
	if n := slow.collects.Load(); n != 1 {
		t.Errorf("the new part was collected %d times, want once", n)
	}
}

// TestPartsDisagreeingOnAFamily: a part that gives a family another help
// is left out of that family, and logged; the rest is served.
func TestPartsDisagreeingOnAFamily(t *testing.T) {
	f := newFixture(t, Opts{})
	otherDesc := prometheus.NewDesc("test_jobs_active", "Other help.", []string{"job_type"}, nil)
	other := &partOf{metrics: []prometheus.Metric{prometheus.MustNewConstMetric(otherDesc, prometheus.GaugeValue, 9, "upload")}}
	f.handler.opts.Snapshot = func() []prometheus.Collector { return append(f.snap.Load().collectors(), other) }
	for _, accept := range []string{acceptOpenMetrics, acceptProtobuf} {
		got := get(t, f.handler, "/metrics", accept, acceptGzip)
		if values := activeValues(t, got); !maps.Equal(values, map[string]bool{"5": true}) {
			t.Errorf("%s: test_jobs_active shows the values %v, want 5 only", accept, values)
		}
	}
	if logged := strings.Join(f.errors.all(), ""); !strings.Contains(logged, "family test_jobs_active has another help or type in another part") {
		t.Errorf("log %q lacks the disagreement", logged)
	}
}
