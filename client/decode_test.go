package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	base := utc("2025-01-15T10:00:00Z")
	tests := []struct {
		in   string
		want time.Time // zero: must be refused
	}{
		{"2025-01-15T10:00:00Z", base},
		{"2025-01-15T10:00:00.5Z", base.Add(500 * time.Millisecond)},
		{"2025-01-15T10:00:00.123456Z", base.Add(123456 * time.Microsecond)},
		{"2025-01-15T10:00:00.123456789Z", base.Add(123456789)},
		{"2025-01-15T10:00:00.1234567899Z", base.Add(123456789)}, // beyond ns: dropped
		{"2025-01-15T12:00:00+02:00", base},
		{"2025-01-15T04:30:00-05:30", base},
		{"2025-01-15T12:00:00+0200", base},
		{"2025-01-15T12:00:00+02", base},
		{"2025-01-15T10:00:00+00:00", base},
		{"2025-01-15t10:00:00z", base},
		{"2025-01-15 10:00:00Z", base},
		{"2025-01-15T10:00:00,25Z", base.Add(250 * time.Millisecond)},
		{"2025-01-15T10:00:00", base},                  // no zone: UTC
		{"2025-01-15T10:00:00.000001", base.Add(1000)}, // Python isoformat
		{"2024-02-29T00:00:00Z", utc("2024-02-29T00:00:00Z")},
		{"2000-02-29T00:00:00Z", utc("2000-02-29T00:00:00Z")},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2025-12-31T23:59:59.999999999-23:59", utc("2026-01-01T23:58:59.999999999Z")},
		{"2025-01-15T1:00:00+01:00", base.Add(-10 * time.Hour)}, // time.Parse takes a one-digit hour

		{"", time.Time{}},
		{"not a date", time.Time{}},
		{"2025-01-15", time.Time{}},
		{"2025-01-15T10:00", time.Time{}},
		{"2025-01-15X10:00:00Z", time.Time{}},
		{"2025/01/15T10:00:00Z", time.Time{}},
		{"2025-13-15T10:00:00Z", time.Time{}},
		{"2025-00-15T10:00:00Z", time.Time{}},
		{"2025-02-30T10:00:00Z", time.Time{}},
		{"2023-02-29T10:00:00Z", time.Time{}},
		{"1900-02-29T10:00:00Z", time.Time{}},
		{"2025-04-31T10:00:00Z", time.Time{}},
		{"2025-01-15T24:00:00Z", time.Time{}},
		{"2025-01-15T10:60:00Z", time.Time{}},
		{"2025-01-15T10:00:60Z", time.Time{}},
		{"2025-01-15T1a:00:00Z", time.Time{}},
		{"2025-01-15T10:00:00.Z", time.Time{}},
		{"2025-01-15T10:00:00ZZ", time.Time{}},
		{"2025-01-15T10:00:00 UTC", time.Time{}},
		{"2025-01-15T10:00:00+2:00", time.Time{}},
		{"2025-01-15T10:00:00+02-00", time.Time{}},
		{"2025-01-15T10:00:00+", time.Time{}},
		{"+2025-01-15T10:00:00Z", time.Time{}},
	}
	for _, tt := range tests {
		got := parseTimestamp(tt.in)
		if !got.Equal(tt.want) {
			t.Errorf("parseTimestamp(%q) = %v; want %v", tt.in, got, tt.want)
		}
		if got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) location = %v, want UTC", tt.in, got.Location())
		}
	}
}

func TestTimestampJSONValues(t *testing.T) {
	t.Parallel()
	base := utc("2025-01-15T10:00:00Z")
	tests := []struct {
		raw  string
		want time.Time
	}{
		{`"2025-01-15T10:00:00Z"`, base},
		{`""`, time.Time{}},
		{`null`, time.Time{}},
		{`1736935200`, time.Time{}},
		{`{"t":"2025-01-15T10:00:00Z"}`, time.Time{}},
		{`"2025-01-15T10:00:00\u005a"`, base},
		{`"2025-01-15 10:00:00.5"`, base.Add(500 * time.Millisecond)},
		{`true`, time.Time{}},
		{`"garbage"`, time.Time{}},
	}
	for _, tt := range tests {
		// An earlier duplicate key must not survive a bad later value.
		body := `{"created_at":"2020-01-01T00:00:00Z","created_at":` + tt.raw + `}`
		job, err := decodeJob([]byte(body))
		if err != nil {
			t.Fatalf("decodeJob(%s) error %v", body, err)
		}
		if !job.CreatedAt.Equal(tt.want) {
			t.Errorf("decodeJob(%s).CreatedAt = %v, want %v", body, job.CreatedAt, tt.want)
		}
	}
}

func TestCreditsJSONValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want int64
	}{
		{`1`, 1},
		{`0`, 0},
		{`-3`, -3},
		{`250`, 250},
		{`1.0`, 1},
		{`2.9`, 2},
		{`1e3`, 1000},
		{`"7"`, 7},
		{`"7.5"`, 7},
		{`123456789012345678`, 123456789012345678},
		{`1234567890123456789`, 1234567890123456789},
		{`9223372036854775807`, math.MaxInt64},
		{`9223372036854775808`, 0}, // 2^63 as a float: past int64
		{`-9223372036854775808`, math.MinInt64},
		{`"1\u0032"`, 12},
		{`"0x1p4"`, 16}, // strconv.ParseFloat's hexadecimal floats
		{`"NaN"`, 0},
		{`"Inf"`, 0},
		{`" 7"`, 0},
		{`1e300`, 0},
		{`-1e300`, 0},
		{`null`, 0},
		{`true`, 0},
		{`""`, 0},
		{`"-"`, 0},
		{`"abc"`, 0},
		{`{}`, 0},
		{`[1]`, 0},
	}
	for _, tt := range tests {
		// An earlier duplicate key must not survive a bad later value.
		body := `{"credits_charged":99,"credits_charged":` + tt.raw + `}`
		job, err := decodeJob([]byte(body))
		if err != nil {
			t.Fatalf("decodeJob(%s) error %v", body, err)
		}
		if job.CreditsCharged != tt.want {
			t.Errorf("decodeJob(%s).CreditsCharged = %d, want %d", body, job.CreditsCharged, tt.want)
		}
	}
}

const fullJob = `{
	"job_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
	"job_type": "download",
	"status": "completed",
	"source_url": "https://youtube.com/watch?v=dQw4w9WgXcQ",
	"parameters": {"format": "mp4"},
	"credits_charged": 3,
	"download_url": "https://cdn.videoconduit.com/f.mp4",
	"result_data": {"size": 123},
	"error_message": null,
	"created_at": "2025-01-15T10:00:00Z",
	"completed_at": "2025-01-15T10:00:42.5+00:00",
	"expires_at": "2025-01-16T11:00:00+01:00",
	"brand_new_field": {"nested": [1, 2, 3]}
}`

func TestDecodeJob(t *testing.T) {
	t.Parallel()
	want := Job{
		ID:             "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
		Type:           "download",
		Status:         StatusCompleted,
		SourceURL:      "https://youtube.com/watch?v=dQw4w9WgXcQ",
		Parameters:     json.RawMessage(`{"format": "mp4"}`),
		CreditsCharged: 3,
		DownloadURL:    "https://cdn.videoconduit.com/f.mp4",
		ResultData:     json.RawMessage(`{"size": 123}`),
		CreatedAt:      utc("2025-01-15T10:00:00Z"),
		CompletedAt:    utc("2025-01-15T10:00:42.5Z"),
		ExpiresAt:      utc("2025-01-16T10:00:00Z"),
	}
	got, err := decodeJob([]byte(fullJob))
	if err != nil {
		t.Fatalf("decodeJob: %v", err)
	}
	assertJob(t, got, want)

	// The same bytes through json.Unmarshal (Job.UnmarshalJSON) give the same job.
	var viaStd Job
	if err := json.Unmarshal([]byte(fullJob), &viaStd); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	assertJob(t, viaStd, want)
}

func assertJob(t *testing.T, got, want Job) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Status != want.Status ||
		got.SourceURL != want.SourceURL || got.CreditsCharged != want.CreditsCharged ||
		got.DownloadURL != want.DownloadURL || got.ErrorMessage != want.ErrorMessage ||
		!bytes.Equal(got.Parameters, want.Parameters) || !bytes.Equal(got.ResultData, want.ResultData) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.CompletedAt.Equal(want.CompletedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("job mismatch\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeJobLenientFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Job
	}{
		{
			name: "list subset, credits missing",
			body: `{"job_id":"j1","job_type":"preview","status":"pending","created_at":"2025-01-15T10:00:00Z"}`,
			want: Job{ID: "j1", Type: "preview", Status: "pending", CreatedAt: utc("2025-01-15T10:00:00Z")},
		},
		{
			name: "unparseable and empty timestamps stay zero",
			body: `{"job_id":"j2","status":"failed","error_message":"Video unavailable","credits_charged":2,` +
				`"created_at":"yesterday","completed_at":"","expires_at":null}`,
			want: Job{ID: "j2", Status: "failed", ErrorMessage: "Video unavailable", CreditsCharged: 2},
		},
		{
			name: "null objects are absent, unknown enum values pass",
			body: `{"job_id":"j3","job_type":"dub","status":"queued","parameters":null,"result_data":null}`,
			want: Job{ID: "j3", Type: "dub", Status: "queued"},
		},
		{
			name: "empty object",
			body: `{}`,
			want: Job{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeJob([]byte(tt.body))
			if err != nil {
				t.Fatalf("decodeJob: %v", err)
			}
			assertJob(t, got, tt.want)
			if tt.want.Parameters == nil && got.Parameters != nil {
				t.Errorf("Parameters = %s, want nil", got.Parameters)
			}
		})
	}
}

func TestDecodeJobRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``,
		`null`,
		`[]`,
		`"job"`,
		`{"job_id":"j1"`,
		`{"job_id":"j1"} {"job_id":"j2"}`,
		`{"job_id":"j1"} x`,
		`{"job_id": 12}`,
		`<html><body>502 Bad Gateway</body></html>`,
	} {
		if job, err := decodeJob([]byte(body)); err == nil {
			t.Errorf("decodeJob(%q) = %+v, want an error", body, job)
		}
	}
}

func TestJobUnmarshalJSONNullKeepsValue(t *testing.T) {
	t.Parallel()
	j := Job{ID: "keep"}
	if err := json.Unmarshal([]byte(`null`), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != "keep" {
		t.Errorf("null overwrote the job: %+v", j)
	}
	if err := json.Unmarshal([]byte(`{"job_id": 5}`), &j); err == nil {
		t.Error("a number as job_id decoded without error")
	}
}

func TestDecodePage(t *testing.T) {
	t.Parallel()
	// The API page's own sample, plus unknown envelope fields.
	body := `{
		"items": [
			{"job_id": "a1", "job_type": "download", "status": "completed",
			 "source_url": "https://youtube.com/watch?v=dQw4w9WgXcQ", "credits_charged": 1,
			 "created_at": "2025-01-15T10:00:00Z"},
			{"job_id": "a0", "job_type": "transcribe", "status": "failed", "credits_charged": 4,
			 "created_at": "2025-01-15T09:00:00Z", "surprise": true}
		],
		"total": 12345, "meta": {"x": [1, {"y": null}]},
		"next_cursor": "eyJjcmVhdGVkX2F0IjogIjIwMjUtMDEtMTQifQ==",
		"has_more": true
	}`
	page, err := decodePage([]byte(body))
	if err != nil {
		t.Fatalf("decodePage: %v", err)
	}
	if !page.HasMore || page.NextCursor != "eyJjcmVhdGVkX2F0IjogIjIwMjUtMDEtMTQifQ==" || len(page.Items) != 2 {
		t.Fatalf("page = %+v", page)
	}
	assertJob(t, page.Items[0], Job{ID: "a1", Type: "download", Status: "completed",
		SourceURL: "https://youtube.com/watch?v=dQw4w9WgXcQ", CreditsCharged: 1, CreatedAt: utc("2025-01-15T10:00:00Z")})
	assertJob(t, page.Items[1], Job{ID: "a0", Type: "transcribe", Status: "failed",
		CreditsCharged: 4, CreatedAt: utc("2025-01-15T09:00:00Z")})
}

func TestDecodePageEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantItems int
		wantErr   error // nil: must succeed; errAny: any error
	}{
		{"last page", `{"items":[{"job_id":"a"}],"next_cursor":null,"has_more":false}`, 1, nil},
		{"empty items", `{"items":[]}`, 0, nil},
		{"no items", `{"next_cursor":"c","has_more":true}`, 0, errAny},
		{"null items", `{"items":null}`, 0, errAny},
		{"items not an array", `{"items":{"job_id":"a"}}`, 0, errAny},
		{"items a string", `{"items":"[]"}`, 0, errAny},
		{"top-level array", `[{"job_id":"a"}]`, 0, errAny},
		{"top-level null", `null`, 0, errAny},
		{"empty body", ``, 0, errAny},
		{"truncated", `{"items":[{"job_id":"a"},{"job_id":"b"`, 0, errAny},
		{"truncated after items", `{"items":[],"has_more":tr`, 0, errAny},
		{"malformed", `{"items":[{"job_id":"a",}]}`, 0, errAny},
		{"html", "<!DOCTYPE html><html><title>502</title></html>", 0, errAny},
		{"trailing data", `{"items":[]}{"items":[]}`, 0, errAny},
		{"has_more wrong type", `{"items":[],"has_more":"yes"}`, 0, errAny},
		{"item not an object", `{"items":[1]}`, 0, errAny},
		{"null item", `{"items":[{"job_id":"a"},null]}`, 0, errAny},
		{"array item", `{"items":[[]]}`, 0, errAny},
		{"cursor wrong type", `{"items":[],"next_cursor":7}`, 0, errAny},
		{"exactly the cap", pageOf(MaxPageItems), MaxPageItems, nil},
		{"over the cap", pageOf(MaxPageItems + 1), 0, ErrPageTooLarge},
		// Within the body limit, 8 MiB of empty objects: refused without
		// decoding them all.
		{"millions of empty items", `{"items":[{}` + strings.Repeat(`,{}`, 8<<20/3) + `]}`, 0, ErrPageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := decodePage([]byte(tt.body))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("decodePage: %v", err)
			case tt.wantErr == nil && len(page.Items) != tt.wantItems:
				t.Fatalf("got %d items, want %d", len(page.Items), tt.wantItems)
			case tt.wantErr == errAny && err == nil:
				t.Fatalf("decodePage = %+v, want an error", page)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("decodePage error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// errAny marks table rows that expect some error, whatever it is.
var errAny = errors.New("any error")

// pageOf builds a last page of n minimal list items.
func pageOf(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"job_id":"j%d","status":"completed","created_at":"2025-01-15T10:00:00Z"}`, i)
	}
	b.WriteString(`],"next_cursor":null,"has_more":false}`)
	return b.String()
}

// benchPage is a 100-job list page shaped like the API's sample items.
func benchPage() []byte {
	types := JobTypes
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"job_id":"a1b2c3d4-e5f6-7890-abcd-%012d","job_type":%q,"status":%q,`+
			`"source_url":"https://www.youtube.com/watch?v=dQw4w9W%04d","credits_charged":%d,`+
			`"created_at":"2025-01-15T10:%02d:%02d.%06dZ"}`,
			i, types[i%len(types)], Statuses[i%len(Statuses)], i, i%5+1, i%60, (i*7)%60, i*1000)
	}
	b.WriteString(`],"next_cursor":"eyJjcmVhdGVkX2F0IjogIjIwMjUtMDEtMTQifQ==","has_more":true}`)
	return b.Bytes()
}

// BenchmarkDecodePage decodes one full list page. At the default request
// budget (--videoconduit.max-requests-per-second=5) a poll decodes at most
// five such pages a second: core-%@5/s is the share of one core that takes.
func BenchmarkDecodePage(b *testing.B) {
	data := benchPage()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		page, err := decodePage(data)
		if err != nil || len(page.Items) != 100 {
			b.Fatalf("decodePage: %d items, %v", len(page.Items), err)
		}
	}
	perPage := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(100/perPage, "jobs/s")
	b.ReportMetric(100*5*perPage, "core-%@5/s")
}
