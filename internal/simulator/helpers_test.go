package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// scripted returns profiles under which nothing arrives by itself.
func scripted() map[string]TypeProfile {
	p := DefaultProfiles()
	for k, v := range p {
		v.PerMinute = 0
		p[k] = v
	}
	return p
}

func serve(t *testing.T, s *Sim) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, rawURL string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", rawURL, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// item is a list item as a client sees it.
type item struct {
	ID             string    `json:"job_id"`
	Type           string    `json:"job_type"`
	Status         string    `json:"status"`
	SourceURL      string    `json:"source_url"`
	CreditsCharged int64     `json:"credits_charged"`
	CreatedAt      time.Time `json:"created_at"`
}

type page struct {
	Items      []item  `json:"items"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

func listURL(base string, q url.Values) string { return base + "/v1/jobs?" + q.Encode() }

func getPage(t *testing.T, base string, q url.Values) page {
	t.Helper()
	r := get(t, listURL(base, q))
	if r.status != http.StatusOK {
		t.Fatalf("list %v: status %d: %s", q, r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("list %v: %v in %s", q, err, r.body)
	}
	return p
}

// listAll pages through a listing until has_more is false.
func listAll(t *testing.T, base string, q url.Values) []item {
	t.Helper()
	var all []item
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			t.Fatal("listing never ends")
		}
		p := getPage(t, base, q)
		all = append(all, p.Items...)
		if !p.HasMore {
			if p.NextCursor != nil {
				t.Fatalf("has_more false with next_cursor %q", *p.NextCursor)
			}
			return all
		}
		if p.NextCursor == nil {
			t.Fatal("has_more true without next_cursor")
		}
		q = cloneWith(q, "cursor", *p.NextCursor)
	}
}

func cloneWith(q url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func vals(kv ...string) url.Values { return cloneWith(url.Values{}, kv...) }

// getObject fetches a 200 JSON object.
func getObject(t *testing.T, rawURL string) map[string]any {
	t.Helper()
	r := get(t, rawURL)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", rawURL, r.status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("GET %s: %v in %s", rawURL, err, r.body)
	}
	return m
}
