package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxPageItems is the most items one list page may hold. The API caps limit
// at 100; a page ten times larger is a broken server, and decoding stops there
// rather than letting it grow memory.
const MaxPageItems = 1000

// errTooManyItems is reported once a page exceeds MaxPageItems.
var errTooManyItems = fmt.Errorf("more than %d items in one page: %w", MaxPageItems, ErrPageTooLarge)

// decodePage reads one GET /v1/jobs response: an object holding an items
// array. Unknown fields are ignored; a missing or null items array is an
// error, an empty one is not.
func decodePage(data []byte) (Page, error) {
	var v struct {
		Items      json.RawMessage `json:"items"`
		NextCursor string          `json:"next_cursor"`
		HasMore    bool            `json:"has_more"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Page{}, err
	}
	if len(v.Items) == 0 || string(v.Items) == "null" {
		return Page{}, errors.New("response has no items array")
	}
	// The items are counted before they are decoded, into elements that
	// take no memory: within the body limit, eight megabytes of "{}," would
	// make millions of jobs.
	var count []struct{}
	if err := json.Unmarshal(v.Items, &count); err != nil {
		return Page{}, fmt.Errorf("items: %w", err)
	}
	if len(count) > MaxPageItems {
		return Page{}, errTooManyItems
	}
	var items []*jobJSON
	if err := json.Unmarshal(v.Items, &items); err != nil {
		return Page{}, fmt.Errorf("items: %w", err)
	}
	page := Page{Items: make([]Job, len(items)), NextCursor: v.NextCursor, HasMore: v.HasMore}
	for i, item := range items {
		if item == nil {
			return Page{}, fmt.Errorf("item %d: %w", i, errNullJob)
		}
		page.Items[i] = item.job()
	}
	return page, nil
}

// decodeJob reads one GET /v1/jobs/{id} response, which must be a job object.
func decodeJob(data []byte) (Job, error) {
	var job *jobJSON
	if err := json.Unmarshal(data, &job); err != nil {
		return Job{}, err
	}
	if job == nil {
		return Job{}, errNullJob
	}
	return job.job(), nil
}

// errNullJob refuses a job that is JSON null. The decoders read jobs through
// a pointer, which null leaves nil.
var errNullJob = errors.New("a job is null, not an object")

// UnmarshalJSON decodes a job as the API sends it (see jobJSON). Null leaves
// the job as it was, as encoding/json's convention asks.
func (j *Job) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var v jobJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*j = v.job()
	return nil
}

// jobJSON decodes a job leniently: unknown fields are ignored, absent ones
// stay zero, and credits_charged and the timestamps take whatever shapes a
// sloppy server sends (see credits and timestamp) rather than fail the page
// that holds the job. A string field holding another kind of value (a
// number as job_id) is an error. Its lenient fields have the JSON names of
// the embedded ones, which they shadow.
type jobJSON struct {
	jobFields
	CreditsCharged credits   `json:"credits_charged"`
	CreatedAt      timestamp `json:"created_at"`
	CompletedAt    timestamp `json:"completed_at"`
	ExpiresAt      timestamp `json:"expires_at"`
}

// jobFields is Job without its UnmarshalJSON method, so that decoding into
// it does not recurse.
type jobFields Job

func (v *jobJSON) job() Job {
	j := Job(v.jobFields)
	j.CreditsCharged = int64(v.CreditsCharged)
	j.CreatedAt, j.CompletedAt, j.ExpiresAt = time.Time(v.CreatedAt), time.Time(v.CompletedAt), time.Time(v.ExpiresAt)
	// encoding/json keeps a null as the text "null"; callers test the
	// optional objects with a length check alone.
	j.Parameters, j.ResultData = nullToNil(j.Parameters), nullToNil(j.ResultData)
	return j
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// credits decodes credits_charged from the shapes a sloppy server might send
// (1, 1.0, "1"). Anything that is not a finite number within int64 (null,
// "", true, 1e300) is 0.
type credits int64

func (c *credits) UnmarshalJSON(data []byte) error {
	text := string(data) // a number, or a value that is not one
	var s string
	if json.Unmarshal(data, &s) == nil {
		text = s // a string (or null, which leaves s empty)
	}
	*c = 0
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		*c = credits(n)
	} else if f, err := strconv.ParseFloat(text, 64); err == nil && f >= math.MinInt64 && f < math.MaxInt64 {
		// MaxInt64 rounds up to 2^63 as a float64, so the upper bound is exclusive.
		*c = credits(f)
	}
	return nil
}

// timestamp decodes created_at, completed_at and expires_at: a value that is
// not a string holding a date-time parseTimestamp reads gives the zero time.
type timestamp time.Time

func (t *timestamp) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) != nil {
		s = "" // not a string
	}
	*t = timestamp(parseTimestamp(s))
	return nil
}

// timestampLayouts are RFC 3339 and the ISO 8601 variants servers emit in
// practice: an offset without its colon, of hours alone, or no zone at all
// (read as UTC). time.Parse takes fractional seconds of any precision, after
// a '.' or a ',', whatever the layout says.
var timestampLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
}

// parseTimestamp reads a date-time in one of timestampLayouts, also with a
// lower-case "t" or "z" or a space for the "T" (all of which RFC 3339
// allows). The result is in UTC; the zero time when s is none of these.
func parseTimestamp(s string) time.Time {
	const date = len("2006-01-02")
	s = strings.ToUpper(s)
	if len(s) > date && s[date] == ' ' {
		s = s[:date] + "T" + s[date+1:]
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
