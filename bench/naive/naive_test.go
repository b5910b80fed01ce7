package naive

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

func TestPollReadsTheWholeHistory(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := simulator.NewManualClock(start)
	profiles := simulator.DefaultProfiles()
	for k, p := range profiles {
		p.PerMinute = 0 // only the history: its size is the expected count
		profiles[k] = p
	}
	sim := simulator.New(simulator.Config{Seed: 3, Clock: clock, History: 250, Profiles: profiles, APIKey: "vc_k"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	api, err := client.New(client.Config{BaseURL: srv.URL, Key: func() string { return "vc_k" }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Poll(context.Background(), api, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pages != 3 || r.Jobs != 250 {
		t.Errorf("read %d jobs in %d pages, want 250 in 3", r.Jobs, r.Pages)
	}
	sum := 0
	for k, n := range r.ByTypeStatus {
		if k[1] != client.StatusCompleted && k[1] != client.StatusFailed {
			t.Errorf("old job in status %q", k[1])
		}
		sum += n
	}
	if sum != r.Jobs {
		t.Errorf("counts add up to %d, want %d", sum, r.Jobs)
	}
	if got := sim.Requests()[client.EndpointList]; got != r.Pages {
		t.Errorf("the API served %d list calls, the poll counted %d pages", got, r.Pages)
	}
}

func TestPollReportsAFailure(t *testing.T) {
	sim := simulator.New(simulator.Config{Seed: 3, History: 10, APIKey: "vc_k"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	api, err := client.New(client.Config{BaseURL: srv.URL, Key: func() string { return "vc_wrong" }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Poll(context.Background(), api, 100); err == nil {
		t.Fatal("a poll with a rejected key succeeded")
	}
}
