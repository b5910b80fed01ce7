// Package exposition serves the /metrics endpoint. Most of the exporter's
// series change only now and then: an account's job series when its poll
// succeeds, every 30 seconds or so, and its health series at each API
// request; while several Prometheus servers may scrape every few seconds,
// and one exporter may follow fifty accounts. The series come in parts (an
// account's job series, its health series): the handler encodes and
// compresses a part once per format, in the background while scrapes serve
// the encoding before, reuses the encodings of the parts that did not
// change, and keeps them only compressed. A scrape splices the parts'
// compressed bytes family by family, and gathers, encodes and compresses
// only the few live series (the Go and process collectors).
//
// It answers like promhttp.HandlerFor with EnableOpenMetrics: the same
// content negotiation (OpenMetrics, text, protobuf; gzip), the name[]
// filter, the limit of requests in flight, and errors that skip what failed
// and serve the rest.
package exposition

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protowire"
)

// Logger receives the errors of gathering and encoding; promhttp.Logger and
// *log.Logger satisfy it.
type Logger interface {
	Println(v ...any)
}

// Opts configures a Handler.
type Opts struct {
	// Snapshot returns the series that change only now and then, in parts.
	// The handler gathers and encodes a part once per format and serves
	// those bytes for as long as Snapshot returns an equal part (==, so
	// parts must be comparable values: pointers, or structs of them); a
	// part whose series may have changed must come as a new value; the
	// scrapes until it is encoded serve the value it replaces. Parts must
	// not share a series; a family may span parts, which must then give it
	// the same help and type.
	Snapshot func() []prometheus.Collector
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

// Handler serves the snapshot's series, encoded part by part, followed by
// the live series.
type Handler struct {
	opts     Opts
	inFlight chan struct{}
	// compressors bounds the scrapes that compress their live series at
	// once; more would only queue for the CPUs, each holding a compressor.
	compressors chan struct{}

	mu sync.Mutex // guards encoded and renewing
	// encoded is the last encoding of the snapshot in each format, and
	// renewing the formats whose next encoding is being made.
	encoded  map[expfmt.Format]*encoding
	renewing map[expfmt.Format]bool
	// assembling is held by whoever encodes new parts; parts holds the
	// encodings of the parts last assembled, for the next assembly.
	assembling sync.Mutex
	parts      map[prometheus.Collector]*partEncodings
}

// NewHandler returns a Handler; Opts.Snapshot and Opts.Live are required.
func NewHandler(opts Opts) *Handler {
	h := &Handler{
		opts:        opts,
		compressors: make(chan struct{}, runtime.GOMAXPROCS(0)),
		encoded:     map[expfmt.Format]*encoding{},
		renewing:    map[expfmt.Format]bool{},
		parts:       map[prometheus.Collector]*partEncodings{},
	}
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

	format := expfmt.NegotiateAccept(req.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	snap := h.snapshot(format)
	live, err := h.opts.Live.Gather()
	if err != nil {
		h.logError("error gathering live metrics:", err)
	}
	live = h.dropShadowed(live, snap)
	if err != nil && len(live) == 0 && len(snap.families) == 0 {
		http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}

	filter := nameFilter(req)
	gzipped := acceptsGzip(req)

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

	// The body goes out in hundreds of pieces (a few per account and
	// family): gathered into 64 KB writes, not the server's 4 KB, they
	// cost a tenth of the write calls; the calls took a third of the
	// exporter's CPU time at 50 scrapes/s of fifty accounts.
	out := responseBuffers.Get().(*bufio.Writer)
	out.Reset(w)
	defer func() {
		out.Reset(nil) // the pool keeps no response
		responseBuffers.Put(out)
	}()
	if gzipped {
		// A compressor holds ~0.8 MB: the scrapes that find every one of a
		// few busy send their live series stored, trading bytes for memory.
		select {
		case h.compressors <- struct{}{}:
			err = snap.writeGzip(out, filter, tail.Bytes(), true)
			<-h.compressors
		default:
			err = snap.writeGzip(out, filter, tail.Bytes(), false)
		}
	} else {
		err = snap.writePlain(out, filter, tail.Bytes())
	}
	if err == nil {
		err = out.Flush()
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

// snapshot returns the snapshot encoded in format. When its parts have
// changed since the last encoding, the new parts are encoded in the
// background while scrapes go on serving the last encoding: a scrape never
// waits for an account's series to be encoded, except the first one in a
// format, which has nothing else to serve. The scrapes after the new
// encoding is stored serve it.
func (h *Handler) snapshot(format expfmt.Format) *encoding {
	parts := h.opts.Snapshot()
	h.mu.Lock()
	last := h.encoded[format]
	if last != nil && (h.renewing[format] || slices.Equal(last.parts, parts)) {
		h.mu.Unlock()
		return last
	}
	if last == nil {
		h.mu.Unlock()
		return h.renew(format)
	}
	h.renewing[format] = true
	h.mu.Unlock()
	go h.renew(format)
	return last
}

// renew encodes the parts in format, stores the result as the format's
// last encoding and returns it. It asks for the parts once it may encode
// them, not before: they are then as fresh as they can be.
func (h *Handler) renew(format expfmt.Format) *encoding {
	h.assembling.Lock()
	next := h.assemble(h.opts.Snapshot(), format)
	h.assembling.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.encoded[format] = next
	h.renewing[format] = false
	return next
}

// dropShadowed removes the live families named like a snapshot family:
// two families of one name would make the exposition invalid.
func (h *Handler) dropShadowed(live []*dto.MetricFamily, snap *encoding) []*dto.MetricFamily {
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

var tailBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var responseBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

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

// partEncodings are the encodings of one part of the snapshot, by format,
// each made on first use.
type partEncodings struct {
	byFormat map[expfmt.Format]*partEncoding
}

// partEncoding is one part in one format, family by family.
type partEncoding struct {
	families []partFamily
}

// partFamily is what one part has of a family: its lead (the HELP, TYPE and
// UNIT lines; in protobuf, the fields other than the metrics), the same in
// every part, and its samples, which follow the other parts' samples of
// the family.
type partFamily struct {
	name    string
	lead    []byte
	samples *deflated
}

// deflated is a part's samples of one family, kept only compressed (the
// text of fifty accounts' series is some 15 times the size of its deflate
// encoding): deflate blocks of their own, the first not reaching back before
// them and the last flushed to a byte boundary and not final, so that any
// run of them, in any order, splices into one deflate stream.
type deflated struct {
	blocks []byte
	// crc is the CRC-32 of the samples, size their length, and shift
	// crcShift(size): what a gzip trailer over a run of samples needs.
	crc, shift uint32
	size       int
}

// metricField is the field of MetricFamily that holds its metrics.
var metricField = (&dto.MetricFamily{}).ProtoReflect().Descriptor().Fields().ByName("metric").Number()

func encodePart(part prometheus.Collector, format expfmt.Format, logError func(...any)) *partEncoding {
	pe := &partEncoding{}
	reg := prometheus.NewRegistry()
	if err := reg.Register(part); err != nil {
		logError("error registering a part of the snapshot:", err)
		return pe
	}
	families, err := reg.Gather()
	if err != nil {
		logError("error gathering the snapshot:", err)
	}
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	ranges := encodeFamilies(buf, expfmt.NewEncoder(buf, format), families, nil, logError)
	for _, r := range ranges {
		lead, samples, err := split(buf.Bytes()[r.start:r.end], format)
		if err != nil {
			logError("error encoding metric family:", r.name, err)
			continue
		}
		pe.families = append(pe.families, partFamily{name: r.name, lead: lead, samples: deflate(samples)})
	}
	return pe
}

// split cuts an encoded family into its lead, a copy, and its samples.
func split(b []byte, format expfmt.Format) (lead, samples []byte, err error) {
	if format.FormatType() != expfmt.TypeProtoDelim {
		// Text and OpenMetrics: the comment lines come first, and no sample
		// line starts with #.
		i := 0
		for i < len(b) && b[i] == '#' {
			end := bytes.IndexByte(b[i:], '\n')
			if end < 0 {
				return nil, nil, fmt.Errorf("unterminated line %q", b[i:])
			}
			i += end + 1
		}
		return bytes.Clone(b[:i]), b[i:], nil
	}
	// Protobuf: a length, then the fields of the message in any order.
	// Concatenated fields of one message are that message, repeated fields
	// appended: the lead and each part's metric fields make the family.
	_, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return nil, nil, protowire.ParseError(n)
	}
	for msg := b[n:]; len(msg) > 0; {
		num, typ, tagLen := protowire.ConsumeTag(msg)
		if tagLen < 0 {
			return nil, nil, protowire.ParseError(tagLen)
		}
		valueLen := protowire.ConsumeFieldValue(num, typ, msg[tagLen:])
		if valueLen < 0 {
			return nil, nil, protowire.ParseError(valueLen)
		}
		if field := msg[:tagLen+valueLen]; num == metricField {
			samples = append(samples, field...)
		} else {
			lead = append(lead, field...)
		}
		msg = msg[tagLen+valueLen:]
	}
	return lead, samples, nil
}

// deflate compresses b into blocks of their own (see deflated).
func deflate(b []byte) *deflated {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	fw := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(fw)
	fw.Reset(buf) // forgets what it compressed before: the blocks stand alone
	// Writes to a bytes.Buffer do not fail.
	_, _ = fw.Write(b)
	_ = fw.Flush()
	return &deflated{blocks: bytes.Clone(buf.Bytes()), crc: crc32.ChecksumIEEE(b), shift: crcShift(len(b)), size: len(b)}
}

// endOfStream is an empty stored deflate block, final: it ends a stream.
var endOfStream = []byte{1, 0, 0, 0xff, 0xff}

// inflate writes the samples to w.
func (d *deflated) inflate(w io.Writer) error {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(d.blocks), bytes.NewReader(endOfStream)), nil); err != nil {
		return err
	}
	_, err := io.Copy(w, r)
	return err
}

var (
	encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	deflaters     = sync.Pool{New: func() any {
		fw, _ := flate.NewWriter(nil, flate.DefaultCompression) // the level is valid: no error
		return fw
	}}
	fastDeflaters = sync.Pool{New: func() any {
		fw, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid: no error
		return fw
	}}
	inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(endOfStream)) }}
)

// assemble encodes the parts in format, reusing the encodings of the parts
// it met last time; it keeps those of these parts for the next time.
func (h *Handler) assemble(parts []prometheus.Collector, format expfmt.Format) *encoding {
	seen := make(map[prometheus.Collector]*partEncodings, len(parts))
	encoded := make([]*partEncoding, len(parts))
	for i, part := range parts {
		pe := h.parts[part]
		if pe == nil {
			pe = &partEncodings{byFormat: map[expfmt.Format]*partEncoding{}}
		}
		seen[part] = pe
		e := pe.byFormat[format]
		if e == nil {
			e = encodePart(part, format, h.logError)
			pe.byFormat[format] = e
		}
		encoded[i] = e
	}
	h.parts = seen
	return newEncoding(parts, encoded, format, h.logError)
}

// encoding is the snapshot in one format: its families in name order, each
// with the samples of every part that has it.
type encoding struct {
	parts    []prometheus.Collector
	families []family
	names    map[string]bool
}

type family struct {
	name    string
	lead    []byte      // in protobuf, with the length of the whole family first
	samples []*deflated // of each part that has the family, in the parts' order
}

func newEncoding(parts []prometheus.Collector, encoded []*partEncoding, format expfmt.Format, logError func(...any)) *encoding {
	e := &encoding{parts: parts, names: map[string]bool{}}
	index := map[string]int{}
	for _, pe := range encoded {
		for _, f := range pe.families {
			i, ok := index[f.name]
			if !ok {
				i = len(e.families)
				index[f.name] = i
				e.families = append(e.families, family{name: f.name, lead: f.lead})
				e.names[f.name] = true
			} else if !bytes.Equal(e.families[i].lead, f.lead) {
				logError("error gathering the snapshot: family " + f.name + " has another help or type in another part; serving the first part's")
				continue
			}
			e.families[i].samples = append(e.families[i].samples, f.samples)
		}
	}
	if format.FormatType() == expfmt.TypeProtoDelim {
		for i, f := range e.families {
			size := len(f.lead)
			for _, s := range f.samples {
				size += s.size
			}
			e.families[i].lead = append(protowire.AppendVarint(nil, uint64(size)), f.lead...)
		}
	}
	slices.SortFunc(e.families, func(a, b family) int { return strings.Compare(a.name, b.name) })
	return e
}

// writePlain writes the families filter names (all of them if filter is
// nil), then tail.
func (e *encoding) writePlain(w io.Writer, filter map[string]bool, tail []byte) error {
	for _, f := range e.families {
		if filter != nil && !filter[f.name] {
			continue
		}
		if _, err := w.Write(f.lead); err != nil {
			return err
		}
		for _, s := range f.samples {
			if err := s.inflate(w); err != nil {
				return err
			}
		}
	}
	_, err := w.Write(tail)
	return err
}

// gzipHeader is the start of every gzip stream the handler sends: the
// header, and an empty deflate block that leaves the stream at a byte
// boundary.
var gzipHeader = func() []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_ = gz.Flush() // writes to a bytes.Buffer do not fail
	return buf.Bytes()
}()

// writeGzip writes what writePlain writes as one gzip member, splicing the
// samples' deflate blocks as they are, each family's lead before them in
// a stored block; tail is compressed if compressTail, else stored. Nothing
// but the tail is compressed here, and the CRC of the whole comes from the
// samples' own CRCs.
func (e *encoding) writeGzip(w io.Writer, filter map[string]bool, tail []byte, compressTail bool) error {
	if _, err := w.Write(gzipHeader); err != nil {
		return err
	}
	var crc, size uint32 // size modulo 2^32, as the trailer wants it
	for _, f := range e.families {
		if filter != nil && !filter[f.name] {
			continue
		}
		if err := writeStored(w, f.lead, false); err != nil {
			return err
		}
		crc = crc32.Update(crc, crc32.IEEETable, f.lead)
		size += uint32(len(f.lead))
		for _, s := range f.samples {
			if _, err := w.Write(s.blocks); err != nil {
				return err
			}
			crc = crcConcat(crc, s.crc, s.shift)
			size += uint32(s.size)
		}
	}
	var err error
	if compressTail {
		err = writeDeflated(w, tail)
	} else {
		err = writeStored(w, tail, true)
	}
	if err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc32.Update(crc, crc32.IEEETable, tail))
	binary.LittleEndian.PutUint32(trailer[4:], size+uint32(len(tail)))
	_, err = w.Write(trailer[:])
	return err
}

// familyRange locates one encoded family in a buffer.
type familyRange struct {
	name       string
	start, end int
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

// writeDeflated compresses b as deflate blocks, the last one final, at the
// fastest level: the live series are a few kilobytes, and readying a
// default-level compressor for them (clearing its 512 KB of hash chains)
// cost more than compressing them.
func writeDeflated(w io.Writer, b []byte) error {
	fw := fastDeflaters.Get().(*flate.Writer)
	defer fastDeflaters.Put(fw)
	fw.Reset(w)
	if _, err := fw.Write(b); err != nil {
		return err
	}
	return fw.Close()
}

// maxStoredBlock is the most a stored deflate block holds (RFC 1951 3.2.4).
const maxStoredBlock = 1<<16 - 1

// writeStored writes b as stored deflate blocks, the last one final if
// final is set. It needs the stream at a byte boundary, where a sync flush
// or a stored block leaves it, and leaves it at one.
func writeStored(w io.Writer, b []byte, final bool) error {
	for {
		n := min(len(b), maxStoredBlock)
		var header [5]byte
		if n == len(b) && final {
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
