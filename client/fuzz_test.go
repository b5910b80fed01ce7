package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The hand-written parser is checked against encoding/json: refDecodePage
// and refDecodeJob give the same results the slow, obvious way, walking the
// document with json.Decoder tokens and decoding each field with encoding/json.

func refDecodePage(data []byte) (Page, error) {
	if !json.Valid(data) {
		return Page{}, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Page{}, fmt.Errorf("not an object: %v %w", tok, err)
	}
	var page Page
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Page{}, err
		}
		switch tok.(string) {
		case "items":
			page.Items, err = refDecodeItems(dec)
		case "next_cursor":
			err = dec.Decode(&page.NextCursor)
		case "has_more":
			err = dec.Decode(&page.HasMore)
		default:
			err = dec.Decode(new(json.RawMessage))
		}
		if err != nil {
			return Page{}, err
		}
	}
	if page.Items == nil {
		return Page{}, errors.New("no items")
	}
	return page, nil
}

func refDecodeItems(dec *json.Decoder) ([]Job, error) {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, errors.New("items not an array")
	}
	items := []Job{}
	for dec.More() {
		if len(items) == MaxPageItems {
			return nil, ErrPageTooLarge
		}
		job, err := refDecodeJob(dec)
		if err != nil {
			return nil, err
		}
		items = append(items, job)
	}
	_, err = dec.Token()
	return items, err
}

func refDecodeJob(dec *json.Decoder) (Job, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Job{}, fmt.Errorf("not an object: %v %w", tok, err)
	}
	var j Job
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Job{}, err
		}
		var raw json.RawMessage
		switch tok.(string) {
		case "job_id":
			err = dec.Decode(&j.ID)
		case "job_type":
			err = dec.Decode(&j.Type)
		case "status":
			err = dec.Decode(&j.Status)
		case "source_url":
			err = dec.Decode(&j.SourceURL)
		case "download_url":
			err = dec.Decode(&j.DownloadURL)
		case "error_message":
			err = dec.Decode(&j.ErrorMessage)
		case "parameters":
			err = dec.Decode(&raw)
			j.Parameters = refRaw(raw)
		case "result_data":
			err = dec.Decode(&raw)
			j.ResultData = refRaw(raw)
		case "credits_charged":
			err = dec.Decode(&raw)
			j.CreditsCharged = refCredits(raw)
		case "created_at":
			err = dec.Decode(&raw)
			j.CreatedAt = refTime(raw)
		case "completed_at":
			err = dec.Decode(&raw)
			j.CompletedAt = refTime(raw)
		case "expires_at":
			err = dec.Decode(&raw)
			j.ExpiresAt = refTime(raw)
		default:
			err = dec.Decode(&raw)
		}
		if err != nil {
			return Job{}, err
		}
	}
	_, err := dec.Token()
	return j, err
}

func refRaw(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// refString is the content of a string literal without escapes.
func refString(raw json.RawMessage) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

func refTime(raw json.RawMessage) time.Time {
	s, ok := refString(raw)
	if !ok {
		return time.Time{}
	}
	t, _ := parseTimestamp(s)
	return t
}

func refCredits(raw json.RawMessage) int64 {
	if s, ok := refString(raw); ok {
		return parseCredits(s)
	}
	if len(raw) > 0 && (raw[0] == '-' || ('0' <= raw[0] && raw[0] <= '9')) {
		return parseCredits(raw)
	}
	return 0
}

// assertSameResult fails unless the parser and the reference agree on
// success and, when both succeed, on the value; the parser must never accept
// what encoding/json calls invalid.
func assertSameResult[T any](t *testing.T, data []byte, got T, gotErr error, want T, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("input %q: parser error %v, encoding/json error %v", data, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q:\nparser        %+v\nencoding/json %+v", data, got, want)
	}
	if gotErr == nil && !json.Valid(data) {
		t.Fatalf("input %q: parser accepted invalid JSON", data)
	}
}

func checkPage(t *testing.T, data []byte) {
	t.Helper()
	got, err := decodePage(data)
	want, wantErr := refDecodePage(data)
	assertSameResult(t, data, got, err, want, wantErr)
	if err == nil && (got.Items == nil || len(got.Items) > MaxPageItems) {
		t.Fatalf("input %q: page with %d items (nil %v)", data, len(got.Items), got.Items == nil)
	}
}

func checkJob(t *testing.T, data []byte) {
	t.Helper()
	got, err := decodeJob(data)
	want, wantErr := refDecodeWholeJob(data)
	assertSameResult(t, data, got, err, want, wantErr)

	// json.Unmarshal into Job takes the same path through Job.UnmarshalJSON.
	var viaStd Job
	stdErr := json.Unmarshal(data, &viaStd)
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return
	}
	assertSameResult(t, data, viaStd, stdErr, want, wantErr)
}

func refDecodeWholeJob(data []byte) (Job, error) {
	if !json.Valid(data) {
		return Job{}, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	job, err := refDecodeJob(dec)
	if err != nil {
		return Job{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Job{}, errors.New("trailing data")
	}
	return job, nil
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
	`{"x":` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth) + `,"items":[]}`,
	`{"x":` + strings.Repeat(`[`, maxDepth-1) + strings.Repeat(`]`, maxDepth-1) + `,"items":[]}`,
	`{"items":[{"parameters":` + strings.Repeat(`{"a":`, maxDepth) + `1` + strings.Repeat(`}`, maxDepth) + `}]}`,
}

func TestParserMatchesEncodingJSON(t *testing.T) {
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

func TestNestingLimit(t *testing.T) {
	t.Parallel()
	// The parser counts depth from the document root, as encoding/json does.
	ok := `{"items":[],"x":` + strings.Repeat(`[`, maxDepth-1) + strings.Repeat(`]`, maxDepth-1) + `}`
	deep := `{"items":[],"x":` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth) + `}`
	if _, err := decodePage([]byte(ok)); err != nil {
		t.Errorf("depth %d refused: %v", maxDepth, err)
	}
	if _, err := decodePage([]byte(deep)); err == nil || !json.Valid([]byte(ok)) || json.Valid([]byte(deep)) {
		t.Errorf("depth %d accepted, or encoding/json disagrees on the limit", maxDepth+1)
	}
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
// RFC 3339 timestamp Go accepts must give the same instant, and whatever the
// parser accepts must survive a round trip.
// validOffset reports whether a timestamp accepted by time.Parse ends in Z
// or in an RFC 3339 offset: hours at most 23, minutes at most 59.
func validOffset(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") || len(s) < 6 {
		return true
	}
	off := s[len(s)-6:]
	return off[1:3] <= "23" && off[4:6] <= "59"
}

func FuzzParseTimestamp(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTimestamp([]byte(s))
		// time.Parse also takes a one-digit hour and zone offsets past
		// ±23:59 (+24:00, +05:60), which RFC 3339 forbids and the parser
		// refuses; only what both must accept is compared.
		twoDigitHour := len(s) > 13 && s[13] == ':'
		if want, err := time.Parse(time.RFC3339Nano, s); err == nil && twoDigitHour && validOffset(s) && (!ok || !got.Equal(want)) {
			t.Fatalf("parseTimestamp(%q) = %v, %v; time.Parse gives %v", s, got, ok, want)
		}
		if !ok || got.Year() < 0 || got.Year() > 9999 {
			return // an offset can push year 0000 or 9999 out of RFC 3339's range
		}
		formatted := got.Format(time.RFC3339Nano)
		if again, ok := parseTimestamp([]byte(formatted)); !ok || !again.Equal(got) || !utf8.ValidString(formatted) {
			t.Fatalf("parseTimestamp(%q) = %v does not round-trip through %q", s, got, formatted)
		}
	})
}
