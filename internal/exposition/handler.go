// Package exposition serves the /metrics endpoint. Most of the exporter's
// series change only when a poll of the API succeeds, every 30 seconds or
// so, while several Prometheus servers may scrape every few seconds: the
// handler encodes (and compresses) those series once per poll and format,
// and gathers and encodes only the few live series on each scrape.
//
// It answers like promhttp.HandlerFor with EnableOpenMetrics: the same
// content negotiation (OpenMetrics, text, protobuf; gzip), the name[]
// filter, the limit of requests in flight, and errors that skip what failed
// and serve the rest.
package exposition

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Logger receives the errors of gathering and encoding; promhttp.Logger and
// *log.Logger satisfy it.
type Logger interface {
	Println(v ...any)
}

// Opts configures a Handler.
type Opts struct {
	// Snapshot returns the series that change only as a whole: a value it
	// returned must never change its output. The handler encodes a value
	// once per format and serves the bytes until Snapshot returns another,
	// told apart with ==, so the values must be comparable (pointers).
	Snapshot func() prometheus.Collector
	// Live are the series gathered on every scrape. Their names must differ
	// from the snapshot's; a live family named like a snapshot family is
	// dropped and logged.
	Live prometheus.Gatherer
	// ErrorLog, if not nil, receives gathering and encoding errors.
	ErrorLog Logger
	// MaxRequestsInFlight limits concurrent scrapes; the excess gets HTTP
	// 503. 0 means no limit.
	MaxRequestsInFlight int
}

// Handler serves the snapshot's series, encoded once, followed by the live
// series.
type Handler struct {
	opts     Opts
	inFlight chan struct{}
	// compressors bounds the scrapes that compress their live series at
	// once; more would only queue for the CPUs, each holding a compressor.
	compressors chan struct{}

	mu      sync.Mutex
	encoded *encodedSnapshot // of the snapshot value last seen
}

// NewHandler returns a Handler; Opts.Snapshot and Opts.Live are required.
func NewHandler(opts Opts) *Handler {
	h := &Handler{opts: opts, compressors: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if opts.MaxRequestsInFlight > 0 {
		h.inFlight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	return h
}

// The same response headers promhttp sets.
const (
	headerVary            = "Vary"
	headerContentType     = "Content-Type"
	headerContentEncoding = "Content-Encoding"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", h.opts.MaxRequestsInFlight), http.StatusServiceUnavailable)
			return
		}
	}

	snap := h.snapshot()
	live, err := h.opts.Live.Gather()
	if err != nil {
		h.logError("error gathering live metrics:", err)
	}
	live = h.dropShadowed(live, snap)
	if err != nil && len(live) == 0 && len(snap.families) == 0 {
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}

	format := expfmt.NegotiateAccept(req.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	filter := nameFilter(req)
	gzipped := acceptsGzip(req)
	cached := snap.in(format, gzipped && filter == nil, h.logError)

	w.Header().Add(headerVary, "Accept")
	w.Header().Add(headerVary, "Accept-Encoding")
	w.Header().Set(headerContentType, string(format))
	if gzipped {
		w.Header().Set(headerContentEncoding, "gzip")
	}

	// The live families and the format's end (# EOF in OpenMetrics).
	tail := tailBuffers.Get().(*bytes.Buffer)
	defer tailBuffers.Put(tail)
	tail.Reset()
	enc := expfmt.NewEncoder(tail, format)
	encodeFamilies(tail, enc, live, filter, h.logError)
	if closer, ok := enc.(expfmt.Closer); ok {
		if err := closer.Close(); err != nil {
			h.logError("error encoding metric family:", err)
		}
	}

	switch {
	case gzipped && filter == nil:
		// A compressor holds ~0.8 MB: the scrapes that find every one of a
		// few busy send their live series stored, trading bytes for memory.
		select {
		case h.compressors <- struct{}{}:
			err = cached.gzip.writeWith(w, tail.Bytes(), true)
			<-h.compressors
		default:
			err = cached.gzip.writeWith(w, tail.Bytes(), false)
		}
	case gzipped:
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		err = writeFiltered(gz, cached, filter, tail.Bytes())
		if cerr := gz.Close(); err == nil {
			err = cerr
		}
		gzipWriters.Put(gz)
	case filter == nil:
		if _, err = w.Write(cached.body); err == nil {
			_, err = w.Write(tail.Bytes())
		}
	default:
		err = writeFiltered(w, cached, filter, tail.Bytes())
	}
	if err != nil {
		// The client went away or the connection broke: nothing to answer.
		h.logError("error sending metrics:", err)
	}
}

func (h *Handler) logError(v ...any) {
	if h.opts.ErrorLog != nil {
		h.opts.ErrorLog.Println(v...)
	}
}

// snapshot returns the encodings of the current snapshot value, gathering
// it first if it is new.
func (h *Handler) snapshot() *encodedSnapshot {
	src := h.opts.Snapshot()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.encoded == nil || h.encoded.source != src {
		h.encoded = gatherSnapshot(src, h.logError)
	}
	return h.encoded
}

// dropShadowed removes the live families named like a snapshot family:
// two families of one name would make the exposition invalid.
func (h *Handler) dropShadowed(live []*dto.MetricFamily, snap *encodedSnapshot) []*dto.MetricFamily {
	kept := live[:0]
	for _, mf := range live {
		if snap.names[mf.GetName()] {
			h.logError("error gathering live metrics: family " + mf.GetName() + " is also in the snapshot; serving the snapshot's")
			continue
		}
		kept = append(kept, mf)
	}
	return kept
}

// nameFilter returns the families a request asks for with name[]=…, or nil
// for all of them.
func nameFilter(req *http.Request) map[string]bool {
	if req.URL == nil {
		return nil
	}
	names := req.URL.Query()["name[]"]
	if len(names) == 0 {
		return nil
	}
	filter := make(map[string]bool, len(names))
	for _, n := range names {
		filter[n] = true
	}
	return filter
}

// writeFiltered writes the snapshot families the filter names, then tail.
func writeFiltered(w io.Writer, cached *encoding, filter map[string]bool, tail []byte) error {
	for _, f := range cached.families {
		if !filter[f.name] {
			continue
		}
		if _, err := w.Write(cached.body[f.start:f.end]); err != nil {
			return err
		}
	}
	_, err := w.Write(tail)
	return err
}

var tailBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (by name or by *) with a quality above 0. Identity is always acceptable
// here: a scraper that refuses it gets it anyway, as promhttp does.
func acceptsGzip(req *http.Request) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, header := range req.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(header, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				parsed, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					continue
				}
				q = parsed
			}
			switch strings.ToLower(strings.TrimSpace(coding)) {
			case "gzip", "x-gzip":
				gzipQ = q
			case "*":
				starQ = q
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// encodedSnapshot is one snapshot value, gathered, with its encodings made
// on first use.
type encodedSnapshot struct {
	source   prometheus.Collector
	families []*dto.MetricFamily
	names    map[string]bool

	mu       sync.Mutex
	byFormat map[expfmt.Format]*encoding
}

func gatherSnapshot(src prometheus.Collector, logError func(...any)) *encodedSnapshot {
	s := &encodedSnapshot{source: src, names: map[string]bool{}, byFormat: map[expfmt.Format]*encoding{}}
	reg := prometheus.NewRegistry()
	if err := reg.Register(src); err != nil {
		logError("error registering the snapshot:", err)
		return s
	}
	families, err := reg.Gather()
	if err != nil {
		logError("error gathering the snapshot:", err)
	}
	s.families = families
	for _, mf := range families {
		s.names[mf.GetName()] = true
	}
	return s
}

// in returns the snapshot's encoding in format, making it on first use;
// withGzip also compresses it for unfiltered scrapes.
func (s *encodedSnapshot) in(format expfmt.Format, withGzip bool, logError func(...any)) *encoding {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.byFormat[format]
	if e == nil {
		e = encode(s.families, format, logError)
		s.byFormat[format] = e
	}
	if withGzip && e.gzip == nil {
		e.gzip = newGzipPrefix(e.body)
	}
	return e
}

// encoding is the snapshot in one format: the bytes of every family, in
// order, without the format's end.
type encoding struct {
	body     []byte
	families []familyRange
	gzip     *gzipPrefix // made for the first unfiltered gzip scrape
}

// familyRange locates one family in encoding.body, for name[] filters.
type familyRange struct {
	name       string
	start, end int
}

func encode(families []*dto.MetricFamily, format expfmt.Format, logError func(...any)) *encoding {
	var body bytes.Buffer
	ranges := encodeFamilies(&body, expfmt.NewEncoder(&body, format), families, nil, logError)
	return &encoding{body: body.Bytes(), families: ranges}
}

// encodeFamilies encodes the families filter names (all of them if filter
// is nil) with enc, which writes to buf, and says where each one went. A
// family that fails to encode is logged and left out whole.
func encodeFamilies(buf *bytes.Buffer, enc expfmt.Encoder, families []*dto.MetricFamily, filter map[string]bool, logError func(...any)) []familyRange {
	ranges := make([]familyRange, 0, len(families))
	for _, mf := range families {
		if filter != nil && !filter[mf.GetName()] {
			continue
		}
		start := buf.Len()
		if err := enc.Encode(mf); err != nil {
			logError("error encoding metric family:", err)
			buf.Truncate(start)
			continue
		}
		ranges = append(ranges, familyRange{name: mf.GetName(), start: start, end: buf.Len()})
	}
	return ranges
}

// gzipPrefix is the start of a gzip stream: the header and the snapshot's
// bytes compressed and flushed to a byte boundary, not final. A scrape
// appends its live bytes as further deflate blocks, the last one final,
// then the trailer: one gzip member, as if compressed in one go, for the
// cost of compressing the live bytes only.
type gzipPrefix struct {
	compressed []byte
	crc        uint32 // CRC-32 of the uncompressed snapshot bytes
	size       uint32 // their length, modulo 2^32 as the trailer wants
}

func newGzipPrefix(body []byte) *gzipPrefix {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	// Writes to a bytes.Buffer do not fail.
	_, _ = gz.Write(body)
	_ = gz.Flush() // a sync flush: byte-aligned, and the stream goes on
	return &gzipPrefix{compressed: buf.Bytes(), crc: crc32.ChecksumIEEE(body), size: uint32(len(body))}
}

var deflaters = sync.Pool{New: func() any {
	fw, _ := flate.NewWriter(nil, flate.DefaultCompression) // the level is valid: no error
	return fw
}}

// writeWith writes the gzip stream of the snapshot's bytes followed by tail.
// With compress false, tail goes in stored (uncompressed) deflate blocks.
func (p *gzipPrefix) writeWith(w io.Writer, tail []byte, compress bool) error {
	if _, err := w.Write(p.compressed); err != nil {
		return err
	}
	write := writeStored
	if compress {
		write = writeDeflated
	}
	if err := write(w, tail); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Update(p.crc, crc32.IEEETable, tail))
	binary.LittleEndian.PutUint32(trailer[4:], p.size+uint32(len(tail)))
	_, err := w.Write(trailer[:])
	return err
}

// writeDeflated compresses b as deflate blocks, the last one final.
func writeDeflated(w io.Writer, b []byte) error {
	fw := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(fw)
	fw.Reset(w)
	if _, err := fw.Write(b); err != nil {
		return err
	}
	return fw.Close()
}

// maxStoredBlock is the most a stored deflate block holds (RFC 1951 3.2.4).
const maxStoredBlock = 1<<16 - 1

// writeStored writes b as stored deflate blocks, the last one final. It
// needs the stream at a byte boundary, where the prefix's sync flush left it.
func writeStored(w io.Writer, b []byte) error {
	for {
		n := min(len(b), maxStoredBlock)
		var header [5]byte
		if n == len(b) {
			header[0] = 1 // BFINAL; BTYPE 00 is a stored block
		}
		binary.LittleEndian.PutUint16(header[1:3], uint16(n))
		binary.LittleEndian.PutUint16(header[3:5], ^uint16(n))
		if _, err := w.Write(header[:]); err != nil {
			return err
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		if n == len(b) {
			return nil
		}
		b = b[n:]
	}
}
