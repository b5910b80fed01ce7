package client

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The decoders are checked by properties that hold for any input, rather
// than against a second decoder: they never panic, never accept what
// encoding/json calls invalid, count the items encoding/json counts, and a
// decoded page or job encodes and decodes again to the same value.

func checkPage(t *testing.T, data []byte) {
	t.Helper()
	page, err := decodePage(data)
	if err != nil {
		return
	}
	if !json.Valid(data) {
		t.Fatalf("input %q: accepted invalid JSON", data)
	}
	if page.Items == nil || len(page.Items) > MaxPageItems || len(page.Items) != countItems(data) {
		t.Fatalf("input %q: page with %d items (nil %v), encoding/json counts %d", data, len(page.Items), page.Items == nil, countItems(data))
	}
	assertStable(t, data, page, decodePage)
}

func checkJob(t *testing.T, data []byte) {
	t.Helper()
	job, err := decodeJob(data)
	// json.Unmarshal into a Job goes through Job.UnmarshalJSON: the same
	// result, except that null leaves the job as it was.
	var viaStd Job
	stdErr := json.Unmarshal(data, &viaStd)
	if isNull := bytes.Equal(bytes.TrimSpace(data), []byte("null")); !isNull {
		if (err == nil) != (stdErr == nil) || (err == nil && !reflect.DeepEqual(job, viaStd)) {
			t.Fatalf("input %q: decodeJob %+v, %v; json.Unmarshal %+v, %v", data, job, err, viaStd, stdErr)
		}
	} else if err == nil || stdErr != nil {
		t.Fatalf("input %q: decodeJob error %v, json.Unmarshal error %v", data, err, stdErr)
	}
	if err != nil {
		return
	}
	if !json.Valid(data) {
		t.Fatalf("input %q: accepted invalid JSON", data)
	}
	assertStable(t, data, job, decodeJob)
}

// countItems is the length of a page's items array by encoding/json, -1
// when the document has none.
func countItems(data []byte) int {
	var env struct{ Items []json.RawMessage }
	if err := json.Unmarshal(data, &env); err != nil || env.Items == nil {
		return -1
	}
	return len(env.Items)
}

// assertStable encodes a decoded value and decodes it again: the second
// value must be the first. Raw objects (parameters, result_data) are
// compacted by the first encoding, so the comparison is of the encodings.
func assertStable[T any](t *testing.T, data []byte, v T, decode func([]byte) (T, error)) {
	t.Helper()
	first, err := json.Marshal(v)
	if err != nil {
		if strings.Contains(err.Error(), "year outside of range") {
			return // an offset can push year 0000 or 9999 out of RFC 3339's range
		}
		t.Fatalf("input %q: decoded %+v does not encode: %v", data, v, err)
	}
	again, err := decode(first)
	if err != nil {
		t.Fatalf("input %q: %s does not decode again: %v", data, first, err)
	}
	second, err := json.Marshal(again)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("input %q: decoding is not stable:\n%s\n%s (%v)", data, first, second, err)
	}
}

// tricky holds documents that exercise every corner of the parser; the
// fuzz seed corpus under testdata/fuzz starts from similar ones.
var tricky = []string{
	`{"items":[]}`,
	` {"items" : [ ] } `,
	"\t\r\n{\"items\":[]}\n",
	`{"items":[{}]}`,
	`{"items":[{},]}`,
	`{"items":[{}}`,
	`{"items":[{}]`,
	`{"items":[{}]]`,
	`{"items":[{} {}]}`,
	`{"items":[null]}`,
	`{"items":[[]]}`,
	`{"items":[],}`,
	`{"items":[] "has_more":true}`,
	`{"items"}`,
	`{"items":}`,
	`{items:[]}`,
	`{"items":[]}x`,
	`{"items":[]}]`,
	`{"it\u0065ms":[{"job_\u0069d":"a"}]}`,
	`{"ITEMS":[]}`,
	`{"items":[{"JOB_ID":"a","Status":"failed"}]}`,
	`{"items":[{"job_id":"a\"b\\c\/d\be\ff\ng\rh\ti"}]}`,
	`{"items":[{"job_id":"\u00e9\u4e2d\ud83d\ude00"}]}`,
	`{"items":[{"job_id":"\ud83d"}]}`,
	`{"items":[{"job_id":"\ud83dx"}]}`,
	`{"items":[{"job_id":"\ud83d\u0041"}]}`,
	`{"items":[{"job_id":"\ude00\ud83d"}]}`,
	`{"items":[{"job_id":"\uZZZZ"}]}`,
	`{"items":[{"job_id":"\u12"}]}`,
	`{"items":[{"job_id":"\x"}]}`,
	`{"items":[{"job_id":"\`,
	`{"items":[{"job_id":"abc`,
	"{\"items\":[{\"job_id\":\"tab\there\"}]}",
	"{\"items\":[{\"job_id\":\"bad \xff\xfe utf8\"}]}",
	"{\"items\":[{\"job_id\":\"bad \xff\\n escaped\"}]}",
	"{\"items\":[{\"job_id\":\"\xed\xa0\x80 surrogate bytes\"}]}",
	`{"items":[{"job_id":null,"job_type":null,"status":null}]}`,
	`{"items":[{"job_id":"a","job_id":null}]}`,
	`{"items":[{"job_id":"a","job_id":"b"}]}`,
	`{"items":[{"job_id":1}]}`,
	`{"items":[{"status":true}]}`,
	`{"items":[{"status":{}}]}`,
	`{"items":[{"job_type":"download","status":"completed"}]}`,
	`{"items":[{"job_type":"down\u006coad"}]}`,
	`{"items":[{"parameters":{"a":[1,2,{"b":null}],"c":"d"},"result_data":[true,false]}]}`,
	`{"items":[{"parameters": {"a" : 1} ,"result_data":"x"}]}`,
	`{"items":[{"parameters":{"a":1},"parameters":null}]}`,
	`{"items":[{"parameters":{"a":}}]}`,
	`{"items":[{"parameters":nul}]}`,
	`{"items":[{"parameters":nulll}]}`,
	`{"items":[{"credits_charged":0}]}`,
	`{"items":[{"credits_charged":-0}]}`,
	`{"items":[{"credits_charged":-12}]}`,
	`{"items":[{"credits_charged":1.5e2}]}`,
	`{"items":[{"credits_charged":1E+2}]}`,
	`{"items":[{"credits_charged":1e-2}]}`,
	`{"items":[{"credits_charged":"12"}]}`,
	`{"items":[{"credits_charged":"1\u0032"}]}`,
	`{"items":[{"credits_charged":[1]}]}`,
	`{"items":[{"credits_charged":01}]}`,
	`{"items":[{"credits_charged":1.}]}`,
	`{"items":[{"credits_charged":.5}]}`,
	`{"items":[{"credits_charged":1e}]}`,
	`{"items":[{"credits_charged":1e+}]}`,
	`{"items":[{"credits_charged":-}]}`,
	`{"items":[{"credits_charged":+1}]}`,
	`{"items":[{"credits_charged":99999999999999999999999}]}`,
	`{"items":[{"credits_charged":1,"credits_charged":"x"}]}`,
	`{"items":[{"created_at":"2025-01-15T10:00:00Z","completed_at":"2025-01-15T10:01:00.25+01:00"}]}`,
	`{"items":[{"created_at":"2025-01-15T10:00:00\u005a"}]}`,
	`{"items":[{"created_at":12,"expires_at":{"x":1},"completed_at":[]}]}`,
	`{"items":[{"created_at":"2025-01-15T10:00:00Z","created_at":"bad"}]}`,
	`{"items":[{"created_at":"2025-01-15T10:00:00Z}]}`,
	`{"items":[{"other":[[[[{}]]]],"x":-1.0e-5,"y":"\u0000"}]}`,
	`{"items":[],"next_cursor":"abc","has_more":true}`,
	`{"items":[],"next_cursor":null,"has_more":null}`,
	`{"items":[],"next_cursor":1}`,
	`{"items":[],"has_more":"true"}`,
	`{"items":[],"has_more":tru}`,
	`{"items":[],"has_more":falsey}`,
	`{"items":[],"items":null}`,
	`{"items":null,"items":[]}`,
	`{"items":{}}`,
	`{"items":"[]"}`,
	`{"has_more":false}`,
	`{}`,
	`[]`,
	`null`,
	`"items"`,
	`12`,
	``,
	` `,
	`{`,
	`{"`,
	`{"items":[{"job_id":"a"}],"extra":{"deep":[1,{"x":[null,true,false,"s",-0.5e+10]}]}}`,
	"<html><body>Bad gateway</body></html>",
	"\ufeff{\"items\":[]}",
	pageOf(3),
	pageOf(MaxPageItems),
	pageOf(MaxPageItems + 1),
	`{"items":[` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 50) + `]}`,
	// encoding/json refuses documents nested deeper than 10 000.
	`{"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `,"items":[]}`,
	`{"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `,"items":[]}`,
	`{"items":[{"parameters":` + strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000) + `}]}`,
}

// TestDecodeTrickyDocuments checks the decoders' properties on documents
// that exercise every corner of JSON; TestDecodeRegressions pins down what
// the decoders make of many of them.
func TestDecodeTrickyDocuments(t *testing.T) {
	t.Parallel()
	for _, doc := range tricky {
		checkPage(t, []byte(doc))
		if strings.HasPrefix(doc, `{"items":[{`) {
			// The first item on its own, as GET /v1/jobs/{id} would send it.
			if job, ok := firstItem(doc); ok {
				checkJob(t, []byte(job))
			}
		}
	}
	for _, doc := range []string{fullJob, `{}`, `null`, ` null `, `[]`, `{"job_id":"a"} `, `{"job_id":"a"}{}`, `{"job_id":"a"`} {
		checkJob(t, []byte(doc))
	}
}

// firstItem cuts the first element out of a page's items, when the page is
// valid enough to have one.
func firstItem(doc string) (string, bool) {
	var env struct{ Items []json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &env); err != nil || len(env.Items) == 0 {
		return "", false
	}
	return string(env.Items[0]), true
}

func TestIsActive(t *testing.T) {
	t.Parallel()
	for _, s := range Statuses {
		if IsActive(s) != (s == StatusPending || s == StatusProcessing) {
			t.Errorf("IsActive(%q) = %v", s, IsActive(s))
		}
	}
	if IsActive("queued") {
		t.Error("an unknown status counts as active")
	}
}

func FuzzDecodePage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPage(t, data)
	})
}

func FuzzDecodeJob(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJob(t, data)
	})
}

// FuzzParseTimestamp checks the timestamp parser against time.Parse: every
// RFC 3339 timestamp Go accepts gives the same instant, in UTC, and whatever
// the parser accepts survives a round trip through RFC 3339.
func FuzzParseTimestamp(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got := parseTimestamp(s)
		if want, err := time.Parse(time.RFC3339Nano, s); err == nil && !got.Equal(want) {
			t.Fatalf("parseTimestamp(%q) = %v; time.Parse gives %v", s, got, want)
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseTimestamp(%q) is in %v, not UTC", s, got.Location())
		}
		if got.IsZero() || got.Year() < 0 || got.Year() > 9999 {
			return // an offset can push year 0000 or 9999 out of RFC 3339's range
		}
		formatted := got.Format(time.RFC3339Nano)
		if again := parseTimestamp(formatted); !again.Equal(got) || !utf8.ValidString(formatted) {
			t.Fatalf("parseTimestamp(%q) = %v does not round-trip through %q", s, got, formatted)
		}
	})
}
