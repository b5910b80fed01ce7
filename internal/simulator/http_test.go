package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

func TestGetJob(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 21, Clock: clk, FractionalSeconds: true})
	srv := serve(t, s)
	clk.Advance(10 * time.Minute)
	byStatus := map[string]string{}
	for _, e := range s.Events(time.Time{}) {
		byStatus[e.Job.Status] = e.Job.ID
	}
	for _, it := range listAll(t, srv.URL, vals("status", client.StatusProcessing, "limit", "1")) {
		byStatus[client.StatusProcessing] = it.ID
	}
	fields := []string{"job_id", "job_type", "status", "source_url", "parameters", "credits_charged",
		"download_url", "result_data", "error_message", "created_at", "completed_at", "expires_at"}
	for _, st := range client.Statuses {
		id, ok := byStatus[st]
		if !ok {
			t.Fatalf("no %s job", st)
		}
		job := getObject(t, srv.URL+"/v1/jobs/"+id)
		for _, f := range fields {
			if _, ok := job[f]; !ok {
				t.Errorf("%s job: no %s", st, f)
			}
		}
		if _, ok := job["parameters"].(map[string]any); !ok {
			t.Errorf("%s job: parameters %v", st, job["parameters"])
		}
		terminal := !client.IsActive(st)
		if (job["completed_at"] != nil) != terminal {
			t.Errorf("%s job: completed_at %v", st, job["completed_at"])
		}
		completed := st == client.StatusCompleted
		if (job["download_url"] != nil) != completed || (job["result_data"] != nil) != completed || (job["expires_at"] != nil) != completed {
			t.Errorf("%s job: download_url %v result_data %v expires_at %v", st, job["download_url"], job["result_data"], job["expires_at"])
		}
		if (job["error_message"] != nil) != (st == client.StatusFailed) {
			t.Errorf("%s job: error_message %v", st, job["error_message"])
		}
		created, err := time.Parse(time.RFC3339Nano, job["created_at"].(string))
		if err != nil || created.Nanosecond() == 0 || created.Location() != time.UTC {
			t.Errorf("%s job: created_at %v is not fractional UTC (%v)", st, job["created_at"], err)
		}
		var cj client.Job
		if err := json.Unmarshal(get(t, srv.URL+"/v1/jobs/"+id).body, &cj); err != nil || cj.ID != id || cj.Status != st {
			t.Errorf("%s job as client.Job: %+v %v", st, cj, err)
		}
	}
}

func TestWholeSecondsByDefault(t *testing.T) {
	clk := NewManualClock(t0.Add(123456789))
	s := New(Config{Seed: 1, Clock: clk, Profiles: scripted()})
	srv := serve(t, s)
	id := s.Submit("download", "https://youtu.be/a", 1)
	if job := getObject(t, srv.URL+"/v1/jobs/"+id); job["created_at"] != "2025-01-15T10:00:00Z" {
		t.Fatalf("created_at %v", job["created_at"])
	}
}

func TestAuthAndRouting(t *testing.T) {
	s := New(Config{Seed: 1, Clock: NewManualClock(t0), APIKey: "vc_secret", History: 5})
	srv := serve(t, s)
	for _, c := range []struct {
		name, path, auth string
		want             int
	}{
		{"no key", "/v1/jobs", "", http.StatusUnauthorized},
		{"wrong key", "/v1/jobs", "Bearer vc_other", http.StatusUnauthorized},
		{"no Bearer", "/v1/jobs", "vc_secret", http.StatusUnauthorized},
		{"good key", "/v1/jobs", "Bearer vc_secret", http.StatusOK},
		{"unknown job", "/v1/jobs/a1b2c3d4-e5f6-7890-abcd-ef1234567890", "Bearer vc_secret", http.StatusNotFound},
		{"unknown path", "/v2/jobs", "Bearer vc_secret", http.StatusNotFound},
		{"nested path", "/v1/jobs/a/b", "Bearer vc_secret", http.StatusNotFound},
	} {
		r := get(t, srv.URL+c.path, "Authorization", c.auth)
		var body struct{ Detail string }
		if r.status != c.want {
			t.Errorf("%s: status %d, want %d", c.name, r.status, c.want)
		}
		if err := json.Unmarshal(r.body, &body); err != nil || (c.want != http.StatusOK && body.Detail == "") {
			t.Errorf("%s: body %s (%v)", c.name, r.body, err)
		}
		if c.want == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete, http.MethodPut} {
		req, _ := http.NewRequest(method, srv.URL+"/v1/jobs", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet {
			t.Errorf("%s: %d, Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if got := s.Requests(); got["list"] != 7 || got["get"] != 1 || got["other"] != 2 {
		t.Fatalf("requests %v", got)
	}
}
