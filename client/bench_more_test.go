package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/bench/benchmeter"
)

// bodyTransport answers every request with the same 200 body, from memory,
// so that a benchmark times the client rather than a network.
type bodyTransport []byte

func (t bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(t)),
		ContentLength: int64(len(t)),
		Request:       r,
	}, nil
}

func benchClient(b *testing.B, body []byte) *Client {
	b.Helper()
	c, err := New(Config{BaseURL: "http://api.invalid", Key: func() string { return testKey }, Transport: bodyTransport(body)})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkListJobs is one list call of 100 jobs through the whole client:
// request, rate budget (off), body read and decode. Beside
// BenchmarkDecodePage it shows what the HTTP plumbing adds per job.
func BenchmarkListJobs(b *testing.B) {
	c := benchClient(b, benchPage())
	ctx := context.Background()
	m := benchmeter.Start()
	for b.Loop() {
		page, err := c.ListJobs(ctx, ListOptions{Limit: 100}, "eyJjcmVhdGVkX2F0IjogIjIwMjUtMDEtMTQifQ==")
		if err != nil || len(page.Items) != 100 {
			b.Fatalf("ListJobs: %d items, %v", len(page.Items), err)
		}
	}
	m.Report(b, 100*b.N, "job")
}

// BenchmarkGetJob is one lookup of a failed job with every field set, the
// call a poll makes for each failure a list shows without its message.
func BenchmarkGetJob(b *testing.B) {
	body := []byte(`{"job_id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890","job_type":"download","status":"failed",` +
		`"source_url":"https://youtube.com/watch?v=dQw4w9WgXcQ","parameters":{"format":"mp4","quality":"720p"},` +
		`"credits_charged":1,"download_url":null,"result_data":null,` +
		`"error_message":"ERROR: Video unavailable. This video has been removed by the uploader",` +
		`"created_at":"2025-01-15T10:00:00Z","completed_at":"2025-01-15T10:00:07Z","expires_at":null}`)
	c := benchClient(b, body)
	ctx := context.Background()
	m := benchmeter.Start()
	for b.Loop() {
		job, err := c.GetJob(ctx, "a1b2c3d4-e5f6-7890-abcd-ef1234567890")
		if err != nil || job.Status != StatusFailed {
			b.Fatalf("GetJob: %+v, %v", job, err)
		}
	}
	m.Report(b, b.N, "job")
}
