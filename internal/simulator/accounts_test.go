package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// TestAccountsChooseTheWorldByKey: each key sees its own world and its own
// faults; an unknown, missing or revoked key is refused as the API does.
func TestAccountsChooseTheWorldByKey(t *testing.T) {
	clock := NewManualClock(t0)
	prod := New(Config{Seed: 1, Clock: clock, History: 30})
	staging := New(Config{Seed: 2, Clock: clock, History: 30})
	api := NewAccounts()
	api.Add("vc_prod", prod)
	api.Add("vc_staging", staging)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	clock.Advance(5 * time.Minute)

	ids := func(key string) []string {
		t.Helper()
		r := get(t, listURL(srv.URL, vals("limit", "100")), "Authorization", "Bearer "+key)
		if r.status != http.StatusOK {
			t.Fatalf("key %s: status %d: %s", key, r.status, r.body)
		}
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ID)
		}
		return out
	}
	prodIDs, stagingIDs := ids("vc_prod"), ids("vc_staging")
	if len(prodIDs) == 0 || len(stagingIDs) == 0 {
		t.Fatalf("empty worlds: prod %d jobs, staging %d", len(prodIDs), len(stagingIDs))
	}
	for _, id := range prodIDs {
		if slices.Contains(stagingIDs, id) {
			t.Fatalf("job %s is in both accounts", id)
		}
	}
	// A job of one account is unknown to the other's key.
	if r := get(t, srv.URL+"/v1/jobs/"+prodIDs[0], "Authorization", "Bearer vc_staging"); r.status != http.StatusNotFound {
		t.Errorf("prod's job with staging's key: status %d, want 404", r.status)
	}
	if r := get(t, srv.URL+"/v1/jobs/"+prodIDs[0], "Authorization", "Bearer vc_prod"); r.status != http.StatusOK {
		t.Errorf("prod's job with prod's key: status %d, want 200", r.status)
	}

	// Faults are per account.
	staging.SetFaults(Faults{Unauthorized: true})
	if r := get(t, listURL(srv.URL, nil), "Authorization", "Bearer vc_staging"); r.status != http.StatusUnauthorized {
		t.Errorf("staging with its key revoked: status %d, want 401", r.status)
	}
	if got := ids("vc_prod"); !slices.Equal(got, prodIDs) {
		t.Errorf("prod changed when staging broke: %d jobs, had %d", len(got), len(prodIDs))
	}

	for name, header := range map[string][]string{
		"missing key": nil,
		"unknown key": {"Authorization", "Bearer vc_nobody"},
		"not bearer":  {"Authorization", "Basic dmM6cHJvZA=="},
	} {
		r := get(t, listURL(srv.URL, nil), header...)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 401 with a challenge", name, r.status, r.header.Get("WWW-Authenticate"))
		}
	}

	api.Remove("vc_prod")
	if r := get(t, listURL(srv.URL, nil), "Authorization", "Bearer vc_prod"); r.status != http.StatusUnauthorized {
		t.Errorf("removed key: status %d, want 401", r.status)
	}
	// A key moved to another account sees that account's world.
	api.Add("vc_prod", staging)
	staging.SetFaults(Faults{})
	if got := ids("vc_prod"); !slices.Equal(got, stagingIDs) {
		t.Errorf("prod's key now on staging's account lists %d jobs, not staging's %d", len(got), len(stagingIDs))
	}
}
