package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxPageItems is the most items one list page may hold. The API caps limit
// at 100; a page ten times larger is a broken server, and decoding stops there
// rather than letting it grow memory.
const MaxPageItems = 1000

// UnmarshalJSON decodes a job leniently: unknown fields are ignored, a missing
// or non-numeric credits_charged is 0, and a timestamp that is empty or does
// not parse leaves its field zero instead of failing the job.
func (j *Job) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	job, err := decodeJob(data)
	if err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	*j = job
	return nil
}

// decodeJob reads one GET /v1/jobs/{id} response, which must be a job object.
func decodeJob(data []byte) (Job, error) {
	p := parser{buf: data}
	job, err := p.job()
	if err == nil {
		err = p.end()
	}
	if err != nil {
		return Job{}, err
	}
	return job, nil
}

// job reads one job object. Field values of the wrong JSON type fail the job,
// except timestamps and credits, which degrade to zero (see Job).
func (p *parser) job() (Job, error) {
	if p.peek() != '{' {
		return Job{}, p.unexpected("want a job object")
	}
	var j Job
	err := p.object(func(key []byte, escaped bool) error {
		if escaped {
			key = []byte(unescape(key))
		}
		switch string(key) {
		case "job_id":
			return p.stringInto(&j.ID, nil)
		case "job_type":
			return p.stringInto(&j.Type, JobTypes)
		case "status":
			return p.stringInto(&j.Status, Statuses)
		case "source_url":
			return p.stringInto(&j.SourceURL, nil)
		case "download_url":
			return p.stringInto(&j.DownloadURL, nil)
		case "error_message":
			return p.stringInto(&j.ErrorMessage, nil)
		case "parameters":
			return p.rawInto(&j.Parameters)
		case "result_data":
			return p.rawInto(&j.ResultData)
		case "credits_charged":
			return p.creditsInto(&j.CreditsCharged)
		case "created_at":
			return p.timeInto(&j.CreatedAt)
		case "completed_at":
			return p.timeInto(&j.CompletedAt)
		case "expires_at":
			return p.timeInto(&j.ExpiresAt)
		}
		return p.skip()
	})
	return j, err
}

// stringInto reads a string or null into dst; null leaves dst as it was, as
// encoding/json does. A value equal to one of known shares that string
// instead of allocating a copy.
func (p *parser) stringInto(dst *string, known []string) error {
	if null, err := p.isNull(); null || err != nil {
		return err
	}
	raw, escaped, err := p.rawString()
	if err != nil {
		return err
	}
	if !escaped {
		for _, k := range known {
			if string(raw) == k {
				*dst = k
				return nil
			}
		}
		if utf8.Valid(raw) {
			*dst = string(raw)
			return nil
		}
	}
	*dst = unescape(raw)
	return nil
}

// rawInto keeps a value's JSON text; null leaves dst nil, so callers test
// optional objects with a length check alone.
func (p *parser) rawInto(dst *json.RawMessage) error {
	null, err := p.isNull()
	if null || err != nil {
		*dst = nil
		return err
	}
	start := p.pos
	if err := p.skip(); err != nil {
		return err
	}
	*dst = append(json.RawMessage(nil), p.buf[start:p.pos]...)
	return nil
}

// timeInto reads a timestamp; any value that is not a string holding an
// RFC 3339 date-time (see parseTimestamp) gives the zero time.
func (p *parser) timeInto(dst *time.Time) error {
	*dst = time.Time{}
	if p.peek() != '"' {
		return p.skip()
	}
	raw, escaped, err := p.rawString()
	if err != nil || escaped {
		return err
	}
	*dst, _ = parseTimestamp(raw)
	return nil
}

// creditsInto reads credits_charged, tolerating the shapes a sloppy server
// might send (1, 1.0, "1", null): anything that is not a finite number within
// int64 gives 0.
func (p *parser) creditsInto(dst *int64) error {
	*dst = 0
	var (
		raw []byte
		err error
	)
	switch c := p.peek(); {
	case c == '"':
		var escaped bool
		raw, escaped, err = p.rawString()
		if escaped {
			return err
		}
	case c == '-' || ('0' <= c && c <= '9'):
		raw, err = p.number()
	default:
		return p.skip()
	}
	if err != nil {
		return err
	}
	*dst = parseCredits(raw)
	return nil
}

func parseCredits(s []byte) int64 {
	if v, ok := smallInt(s); ok {
		return v
	}
	// MaxInt64 rounds up to 2^63 as a float64, so the upper bound is exclusive.
	if f, err := strconv.ParseFloat(string(s), 64); err == nil && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f)
	}
	return 0
}

// parseTimestamp reads an RFC 3339 date-time without allocating: fractional
// seconds of any precision (digits past nanoseconds are dropped), a "Z" or
// ±HH:MM offset, and the ISO 8601 variants servers emit in practice (a space or
// lowercase "t" separator, a comma before the fraction, ±HHMM or ±HH offsets,
// and no zone at all, read as UTC). The result is always in UTC.
func parseTimestamp(s []byte) (time.Time, bool) {
	const minLen = len("2006-01-02T15:04:05")
	if len(s) < minLen || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if sep := s[10]; sep != 'T' && sep != 't' && sep != ' ' {
		return time.Time{}, false
	}
	year, ok1 := number(s[0:4], 0, 9999)
	month, ok2 := number(s[5:7], 1, 12)
	hour, ok3 := number(s[11:13], 0, 23)
	minute, ok4 := number(s[14:16], 0, 59)
	sec, ok5 := number(s[17:19], 0, 59)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return time.Time{}, false
	}
	day, ok := number(s[8:10], 1, daysIn(month, year))
	if !ok {
		return time.Time{}, false
	}
	rest := s[minLen:]

	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i, scale := 1, 100_000_000
		for ; i < len(rest) && '0' <= rest[i] && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}

	offset, ok := zoneOffset(rest)
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// zoneOffset reads the zone suffix of a timestamp as seconds east of UTC.
func zoneOffset(s []byte) (int, bool) {
	switch {
	case len(s) == 0:
		return 0, true
	case len(s) == 1 && (s[0] == 'Z' || s[0] == 'z'):
		return 0, true
	case s[0] != '+' && s[0] != '-':
		return 0, false
	}
	var hh, mm []byte
	switch z := s[1:]; {
	case len(z) == 5 && z[2] == ':':
		hh, mm = z[0:2], z[3:5]
	case len(z) == 4:
		hh, mm = z[0:2], z[2:4]
	case len(z) == 2:
		hh, mm = z, []byte("00")
	default:
		return 0, false
	}
	h, ok1 := number(hh, 0, 23)
	m, ok2 := number(mm, 0, 59)
	if !ok1 || !ok2 {
		return 0, false
	}
	offset := (h*60 + m) * 60
	if s[0] == '-' {
		offset = -offset
	}
	return offset, true
}

// number parses a short run of ASCII digits and checks it lies in [lo, hi].
func number(s []byte, lo, hi int) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, lo <= n && n <= hi
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// smallInt parses an integer of up to 18 digits, which cannot overflow int64,
// without the allocation strconv would make for the string conversion; longer
// or non-integer values take the slower float path.
func smallInt(s []byte) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// errTooManyItems is reported once a page exceeds MaxPageItems.
var errTooManyItems = fmt.Errorf("more than %d items in one page: %w", MaxPageItems, ErrPageTooLarge)

// decodePage reads one GET /v1/jobs response: an object holding an items
// array. An absurd page is refused once it passes MaxPageItems items.
func decodePage(data []byte) (Page, error) {
	p := parser{buf: data}
	if p.peek() != '{' {
		return Page{}, p.unexpected("want a page object")
	}
	var page Page
	err := p.object(func(key []byte, escaped bool) error {
		if escaped {
			key = []byte(unescape(key))
		}
		switch string(key) {
		case "items":
			var err error
			page.Items, err = p.items()
			return err
		case "next_cursor":
			return p.stringInto(&page.NextCursor, nil)
		case "has_more":
			return p.boolInto(&page.HasMore)
		}
		return p.skip()
	})
	if err == nil {
		err = p.end()
	}
	if err != nil {
		return Page{}, err
	}
	if page.Items == nil {
		return Page{}, errors.New("response has no items array")
	}
	return page, nil
}

// items reads the items array: null gives nil, an empty array a non-nil
// empty slice, so the caller can tell a missing array from an empty one.
func (p *parser) items() ([]Job, error) {
	if null, err := p.isNull(); null || err != nil {
		return nil, err
	}
	if p.peek() != '[' {
		return nil, p.unexpected("want an items array")
	}
	items := make([]Job, 0, itemsCapacity(len(p.buf)-p.pos))
	err := p.array(func() error {
		if len(items) == MaxPageItems {
			return errTooManyItems
		}
		job, err := p.job()
		if err != nil {
			return fmt.Errorf("item %d: %w", len(items), err)
		}
		items = append(items, job)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// itemsCapacity guesses from the bytes left how many items a page holds, so
// that the items are allocated once rather than grown by doubling, which
// doubled the bytes a page's decoding allocates. A list item takes at least
// some 128 bytes (an id, a type, a status, a URL, a timestamp), and the API
// sends at most 100 per page.
func itemsCapacity(rest int) int {
	const minItemBytes, apiMaxLimit = 128, 100
	return min(rest/minItemBytes+1, apiMaxLimit)
}

// boolInto reads a boolean or null into dst; null leaves dst as it was.
func (p *parser) boolInto(dst *bool) error {
	switch p.peek() {
	case 't':
		*dst = true
		return p.literal("true")
	case 'f':
		*dst = false
		return p.literal("false")
	case 'n':
		return p.literal("null")
	}
	return p.unexpected("want a boolean")
}
