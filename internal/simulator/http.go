package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

const (
	defaultLimit  = 20
	maxLimit      = 100
	endpointOther = "other" // Requests() key for paths outside the API
	// hugePadding is the whitespace a huge body carries: far beyond any page.
	hugePadding = 32<<20 + 17
)

// spaces is written over and over for huge bodies, which are never held in memory.
var spaces = bytes.Repeat([]byte{' '}, 64<<10)

type writeMode int

const (
	modeWhole     writeMode = iota // the body as it is
	modeDrop                       // close the connection without a response
	modeTruncated                  // only body[:cut]
	modeHuge                       // body with hugePadding after its first byte
)

// reply is a response decided under the lock and written without it.
type reply struct {
	status   int
	header   http.Header
	body     []byte
	mode     writeMode
	declared bool // truncated or huge: Content-Length announces the whole body
	cut      int
}

func jsonReply(status int, body []byte) reply {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return reply{status: status, header: h, body: body}
}

func detailReply(status int, detail string) reply {
	return jsonReply(status, appendDetail(nil, detail))
}

func textReply(status int, contentType, body string) reply {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	return reply{status: status, header: h, body: []byte(body)}
}

// route maps a path to an endpoint and, for "get", the job id.
func route(path string) (endpoint, id string) {
	if path == "/v1/jobs" {
		return client.EndpointList, ""
	}
	if id, ok := strings.CutPrefix(path, "/v1/jobs/"); ok && id != "" && !strings.Contains(id, "/") {
		return client.EndpointGet, id
	}
	return endpointOther, ""
}

// ServeHTTP serves the VideoConduit Jobs API over the simulated world:
// GET /v1/jobs/{id} (the full job, unset optional fields as null) and
// GET /v1/jobs?cursor=&limit=&status=&job_type= (items newest first, ties
// in creation order, with the sample's fields or, with FullListItems,
// every field). A filter value is valid when the API page
// documents it or the world has produced it (a custom type or status).
// Errors are JSON {"detail": "..."}: 400 for a bad limit, filter or cursor,
// 401 for a missing or wrong key, 404 for an unknown job or path, 405 for
// any method but GET. Faults (SetFaults) and the server rate limit come
// before the world is consulted.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(r)
	}
	endpoint, id := route(r.URL.Path)
	s.mu.Lock()
	s.requests[endpoint]++
	f := s.faults
	s.mu.Unlock()
	if f.Latency > 0 && !sleep(r.Context(), f.Latency) {
		return
	}
	s.mu.Lock()
	rep := s.respond(r, endpoint, id, &f)
	s.mu.Unlock()
	writeReply(w, r, rep, f.SlowBody)
}

func (s *Sim) respond(r *http.Request, endpoint, id string, f *Faults) reply {
	switch {
	case endpoint == endpointOther:
		return detailReply(http.StatusNotFound, "Not Found")
	case r.Method != http.MethodGet:
		rep := detailReply(http.StatusMethodNotAllowed, "Method Not Allowed")
		rep.header.Set("Allow", http.MethodGet)
		return rep
	case f.Unauthorized:
		return unauthorized("Invalid API key")
	case f.Forbidden:
		return detailReply(http.StatusForbidden, "This API key has been revoked")
	}
	if s.cfg.APIKey != "" {
		switch auth := r.Header.Get("Authorization"); {
		case auth == "":
			return unauthorized("Missing API key: send Authorization: Bearer <key>")
		case auth != "Bearer "+s.cfg.APIKey:
			return unauthorized("Invalid API key")
		}
	}
	limits := http.Header{}
	if s.cfg.RateLimit > 0 {
		now := time.Now()
		ok, left, wait := s.bucket.take(now)
		limits.Set("X-RateLimit-Limit", strconv.Itoa(int(s.bucket.burst)))
		limits.Set("X-RateLimit-Remaining", strconv.Itoa(left))
		// Unix seconds, rounded up, when the budget is whole again (or, over
		// it, when the next request is allowed).
		limits.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(wait+time.Second-1).Unix(), 10))
		if !ok {
			return withHeaders(s.tooManyRequests(wait, false), limits)
		}
	}
	switch {
	case s.draw(f.ConnectionDropRate):
		return reply{mode: modeDrop}
	case s.draw(f.ServerErrorRate):
		return withHeaders(s.serverError(), limits)
	case s.draw(f.RateLimitRate):
		return withHeaders(s.tooManyRequests(f.RetryAfter, f.RetryAfterDate), limits)
	case s.draw(f.HTMLRate):
		return withHeaders(s.htmlPage(), limits)
	}
	s.advance()
	var rep reply
	if endpoint == client.EndpointList {
		rep = s.list(r.URL.Query(), f)
	} else {
		rep = s.get(id, f)
	}
	if rep.status == http.StatusOK {
		s.bodyFault(&rep, f)
	}
	return withHeaders(rep, limits)
}

func withHeaders(rep reply, h http.Header) reply {
	for k, v := range h {
		if rep.header.Get(k) == "" {
			rep.header[k] = v
		}
	}
	return rep
}

func unauthorized(detail string) reply {
	rep := detailReply(http.StatusUnauthorized, detail)
	rep.header.Set("WWW-Authenticate", `Bearer realm="videoconduit"`)
	return rep
}

func (s *Sim) tooManyRequests(wait time.Duration, asDate bool) reply {
	rep := detailReply(http.StatusTooManyRequests, "Rate limit exceeded")
	if asDate {
		// An HTTP-date has whole seconds: round up so the wait is never cut short.
		rep.header.Set("Retry-After", time.Now().Add(wait+time.Second).UTC().Format(http.TimeFormat))
	} else {
		rep.header.Set("Retry-After", strconv.FormatInt(ceilSeconds(wait), 10))
	}
	rep.header.Set("X-RateLimit-Remaining", "0")
	return rep
}

func (s *Sim) serverError() reply {
	codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
	code := codes[s.faultRNG.intn(len(codes))]
	if s.faultRNG.chance(0.5) {
		return detailReply(code, http.StatusText(code))
	}
	return textReply(code, "text/plain; charset=utf-8",
		"upstream connect error or disconnect/reset before headers. reset reason: "+http.StatusText(code))
}

const (
	htmlBadGateway = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
		"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	htmlMaintenance = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
		`<title>VideoConduit - Down for maintenance</title></head><body><h1>We'll be right back</h1>` +
		`<p>VideoConduit is undergoing scheduled maintenance.</p></body></html>`
)

func (s *Sim) htmlPage() reply {
	if s.faultRNG.chance(0.5) {
		return textReply(http.StatusBadGateway, "text/html", htmlBadGateway)
	}
	return textReply(http.StatusOK, "text/html; charset=utf-8", htmlMaintenance)
}

// bodyFault spoils a good response's body, at most one way.
func (s *Sim) bodyFault(rep *reply, f *Faults) {
	switch {
	case s.draw(f.MalformedRate):
		rep.body = s.malform(rep.body)
	case s.draw(f.TruncatedRate):
		rep.mode = modeTruncated
		rep.declared = s.faultRNG.chance(0.5)
		rep.cut = 1 + s.faultRNG.intn(len(rep.body)-1)
	case s.draw(f.HugeBodyRate):
		rep.mode = modeHuge
		rep.declared = s.faultRNG.chance(0.5)
	}
}

// malform makes a full-length body invalid JSON, in ways seen in the wild.
// Every body starts with `{"`.
func (s *Sim) malform(b []byte) []byte {
	switch s.faultRNG.intn(3) {
	case 0: // an anti-XSSI prefix
		return append([]byte(")]}'\n"), b...)
	case 1: // a broken serializer
		out := bytes.Clone(b)
		out[bytes.IndexByte(out, ':')] = '='
		return out
	default: // a raw control character inside the first key
		return append(append(append([]byte{}, b[:2]...), '\n'), b[2:]...)
	}
}

func (s *Sim) get(id string, f *Faults) reply {
	j := s.findJob(id)
	if j == nil {
		return detailReply(http.StatusNotFound, "Job not found")
	}
	return jsonReply(http.StatusOK, s.appendJob(nil, &j.j, true, f.UnknownFields))
}

// findJob returns a job the API knows, generating an untouched old one.
func (s *Sim) findJob(id string) *job {
	if j, ok := s.byID[id]; ok {
		if j.deleted {
			return nil
		}
		return j
	}
	if i, ok := s.hist.index(id); ok {
		return s.oldJob(i, true)
	}
	return nil
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		return maxLimit, nil
	}
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit must be an integer from 1 to %d, got %q", maxLimit, v)
	}
	return min(n, maxLimit), nil
}

func (s *Sim) list(q url.Values, f *Faults) reply {
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return detailReply(http.StatusBadRequest, err.Error())
	}
	fl := filter{status: q.Get("status"), jobType: q.Get("job_type"), now: s.now}
	if fl.status != "" && !s.knownStatuses[fl.status] {
		return detailReply(http.StatusBadRequest, fmt.Sprintf("Invalid status %q: expected one of %s", fl.status, strings.Join(client.Statuses, ", ")))
	}
	if fl.jobType != "" && !s.knownTypes[fl.jobType] {
		return detailReply(http.StatusBadRequest, fmt.Sprintf("Invalid job_type %q: expected one of %s", fl.jobType, strings.Join(client.JobTypes, ", ")))
	}
	cursor := q.Get("cursor")
	before := s.total()
	if cursor != "" {
		if before, err = s.decodeCursor(cursor); err != nil {
			return detailReply(http.StatusBadRequest, "Invalid cursor")
		}
	}
	repeat := 0
	if s.draw(f.RepeatRate) {
		repeat = min(1+s.faultRNG.intn(3), limit-1)
	}
	n := limit - repeat
	page := s.collect(fl, before, true, n+1)
	hasMore := len(page) > n
	next := ""
	if hasMore {
		page = page[:n]
		last := page[n-1]
		next = encodeCursor(last.pos, last.j.CreatedAt)
	}
	items := page
	switch {
	case repeat > 0 && cursor != "":
		// The tail of the previous page, as an offset-paged API shows it
		// when jobs arrive between two requests.
		prev := s.collect(fl, before, false, repeat)
		items = make([]*job, 0, len(prev)+len(page))
		for i := len(prev) - 1; i >= 0; i-- {
			items = append(items, prev[i])
		}
		items = append(items, page...)
	case repeat > 0:
		for range repeat {
			if len(items) == 0 {
				break
			}
			k := s.faultRNG.intn(len(items))
			items = append(items[:k+1:k+1], items[k:]...)
		}
	}
	switch {
	case s.draw(f.StuckCursorRate):
		hasMore = true
		if next = cursor; next == "" {
			next = encodeCursor(s.total(), s.now)
		}
	case s.draw(f.MissingCursorRate):
		hasMore, next = true, ""
	}
	return jsonReply(http.StatusOK, s.appendPage(items, next, hasMore, f.UnknownFields))
}

func (s *Sim) appendPage(items []*job, next string, hasMore, unknown bool) []byte {
	b := make([]byte, 0, 64+200*len(items))
	b = append(b, `{"items":[`...)
	for i, j := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendJob(b, &j.j, s.cfg.FullListItems, unknown)
	}
	b = append(b, `],"next_cursor":`...)
	b = appendOptString(b, next)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	if unknown {
		b = append(b, `,"total_estimate":`...)
		b = strconv.AppendInt(b, int64(s.total()), 10)
		b = append(b, `,"request_id":"req_`...)
		b = strconv.AppendUint(b, s.faultRNG.next(), 36)
		b = append(b, `","api_version":"2025-01-01"`...)
	}
	return append(b, '}')
}

// writeReply sends a reply decided under the lock.
func writeReply(w http.ResponseWriter, r *http.Request, rep reply, slow time.Duration) {
	if rep.mode == modeDrop {
		dropConnection(w)
		return
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	body := rep.body
	switch rep.mode {
	case modeHuge:
		writeHuge(w, rep)
		return
	case modeTruncated:
		if !rep.declared {
			w.WriteHeader(rep.status)
			writeSlowly(w, r.Context(), body[:rep.cut], slow)
			return
		}
		body = body[:rep.cut]
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	writeSlowly(w, r.Context(), body, slow)
}

// dropConnection closes the connection with no response at all. Without a
// hijackable connection (HTTP/2, a recorder) it aborts the handler, which
// net/http turns into a reset stream or closed connection.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close() // nothing to report: dropping is the point
		return
	}
	panic(http.ErrAbortHandler)
}

func writeHuge(w http.ResponseWriter, rep reply) {
	if rep.declared {
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)+hugePadding))
	}
	w.WriteHeader(rep.status)
	if _, err := w.Write(rep.body[:1]); err != nil {
		return
	}
	for left := hugePadding; left > 0; left -= len(spaces) {
		if _, err := w.Write(spaces[:min(left, len(spaces))]); err != nil {
			return // the client gave up, as it should
		}
	}
	_, _ = w.Write(rep.body[1:]) // an error here means the client left; nobody to tell
}

// writeSlowly sends body in up to 16 chunks, each after an equal share of d,
// flushing so the client really sees a trickle. It stops when the client goes.
func writeSlowly(w http.ResponseWriter, ctx context.Context, body []byte, d time.Duration) {
	if d <= 0 || len(body) == 0 {
		_, _ = w.Write(body) // a failed write means the client left
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush() // headers now; only the body is slow
	n := min(16, len(body))
	size := (len(body) + n - 1) / n
	for off := 0; off < len(body); off += size {
		if !sleep(ctx, d/time.Duration(n)) {
			return
		}
		if _, err := w.Write(body[off:min(off+size, len(body))]); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

// sleep waits for d of real time; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
