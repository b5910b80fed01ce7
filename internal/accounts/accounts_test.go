package accounts

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

const fast = 50 * time.Millisecond

// TestApplyStartsChangesAndStopsAccounts follows a config through its
// reloads: accounts added, changed, removed, and a bad config refused.
func TestApplyStartsChangesAndStopsAccounts(t *testing.T) {
	f := newFleet(t)
	a := f.addWorld("a", simulator.Config{Seed: 1})
	f.addWorld("b", simulator.Config{Seed: 2})
	f.apply(f.account("a", fast), f.account("b", fast))
	f.eventually(10*time.Second, "both accounts polled", func() bool { return f.polls("a") > 0 && f.polls("b") > 0 })

	a.Submit("download", "https://youtu.be/x", 2)
	f.eventually(10*time.Second, "a counting its job", func() bool {
		return f.gather()["videoconduit_jobs_created_total"]["a|download|youtube"] == 1
	})
	got := f.gather()
	if v, ok := got["videoconduit_jobs_created_total"]["b|download|youtube"]; !ok || v != 0 {
		t.Errorf("b's created series = %v (present %v), want 0: a's job counted in b", v, ok)
	}
	for _, acc := range []string{"a", "b"} {
		if got["videoconduit_up"][acc] != 1 {
			t.Errorf("videoconduit_up{account=%q} = %v, want 1", acc, got["videoconduit_up"][acc])
		}
		if got["videoconduit_poll_interval_seconds"][acc] != fast.Seconds() {
			t.Errorf("videoconduit_poll_interval_seconds{account=%q} = %v, want %v", acc, got["videoconduit_poll_interval_seconds"][acc], fast.Seconds())
		}
	}

	// A new interval keeps a's counts.
	slower := f.account("a", 2*fast)
	f.apply(slower, f.account("b", fast))
	a.Submit("download", "https://youtu.be/y", 2)
	f.eventually(10*time.Second, "a counting on after its change", func() bool {
		return f.gather()["videoconduit_jobs_created_total"]["a|download|youtube"] == 2
	})
	if got := f.gather()["videoconduit_poll_interval_seconds"]["a"]; got != (2 * fast).Seconds() {
		t.Errorf("a's interval after the change = %v", got)
	}

	// A bad new account changes nothing.
	bad := f.account("c", fast)
	bad.APIKeyFile = filepath.Join(f.keys, "missing")
	err := f.set.Apply(&config.Config{Accounts: []config.Account{slower, bad}})
	if err == nil || !strings.Contains(err.Error(), `account "c"`) {
		t.Fatalf("Apply with an unreadable key = %v, want an error naming account c", err)
	}
	if names := f.names(); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("after a refused config the accounts are %v, want a and b", names)
	}
	f.nextPolls("b", 2) // b still polls

	// Removing b takes its series away, job and health alike.
	f.apply(slower)
	for name, series := range f.gather() {
		for k := range series {
			if k == "b" || strings.HasPrefix(k, "b|") {
				t.Errorf("%s{%s} still served after b was removed", name, k)
			}
		}
	}
	requests := f.sims["b"].Requests()
	time.Sleep(5 * fast)
	if after := f.sims["b"].Requests(); after[client.EndpointList] != requests[client.EndpointList] {
		t.Errorf("b's API was still polled after b was removed: %v then %v", requests, after)
	}

	// Another URL is another API: counting starts afresh.
	other := slower
	other.URL = f.srv.URL + "/"
	f.apply(other)
	f.nextPolls("a", 2)
	if got := f.gather()["videoconduit_jobs_created_total"]["a|download|youtube"]; got != 0 {
		t.Errorf("after a new URL a's created count = %v, want 0", got)
	}
}

func (f *fleet) recentFailures(name string) []collector.FailedJob {
	for n, c := range f.set.Collectors() {
		if n == name {
			return c.RecentFailures()
		}
	}
	return nil
}

func (f *fleet) names() []string {
	var out []string
	for _, st := range f.set.Status() {
		out = append(out, st.Name)
	}
	return out
}

// TestKeyOfAnotherAccountStartsAfresh: when an account's key file comes to
// hold another account's key, the jobs it counted are unknown to the new
// key; the account starts counting afresh instead of mixing the other
// account's history into its counters. A rotated key of the same account
// keeps the counts.
func TestKeyOfAnotherAccountStartsAfresh(t *testing.T) {
	f := newFleet(t)
	a := f.addWorld("a", simulator.Config{Seed: 1})
	b := f.addWorld("b", simulator.Config{Seed: 2})
	f.apply(f.account("a", fast))
	f.nextPolls("a", 1)
	pending := a.Submit("download", "https://youtu.be/p", 1) // tracked: its id is known
	failed := a.Submit("download", "https://youtu.be/q", 1)
	f.eventually(10*time.Second, "a counting", func() bool { return f.sum("videoconduit_jobs_created_total", "a") == 2 })
	_ = a.SetStatus(failed, client.StatusFailed, "Video unavailable")
	f.eventually(10*time.Second, "a's failure kept", func() bool { return len(f.recentFailures("a")) == 1 })

	// The same account under a new key: the counts go on.
	f.api.Add("vc_a_rotated", a)
	f.writeKey("a", "vc_a_rotated")
	f.set.ReloadKeys()
	a.Submit("preview", "https://vimeo.com/1", 1)
	f.eventually(10*time.Second, "a counting after its key rotated", func() bool { return f.sum("videoconduit_jobs_created_total", "a") == 3 })
	if strings.Contains(f.logs.String(), "another VideoConduit account") {
		t.Errorf("a rotated key of the same account was taken for another account:\n%s", f.logs.String())
	}

	// b's key in a's file: b's many jobs must not become a's.
	for range 5 {
		b.Submit("transcribe", "https://www.tiktok.com/@u/video/1", 3)
	}
	f.writeKey("a", "vc_b")
	f.set.ReloadKeys()
	f.eventually(10*time.Second, "a starting afresh", func() bool {
		return strings.Contains(f.logs.String(), "another VideoConduit account")
	})
	f.nextPolls("a", 2)
	if got := f.sum("videoconduit_jobs_created_total", "a"); got != 0 {
		t.Errorf("after b's key a counts %v created jobs, want 0 (a fresh start)", got)
	}
	if got := f.recentFailures("a"); len(got) != 0 {
		t.Errorf("after b's key a still shows the other account's failures: %+v", got)
	}
	b.Submit("comments", "https://youtu.be/c", 1)
	f.eventually(10*time.Second, "a counting the new account's jobs", func() bool { return f.sum("videoconduit_jobs_created_total", "a") == 1 })
	_ = a.SetStatus(pending, client.StatusCompleted, "")
	f.nextPolls("a", 2)
	if got := f.sum("videoconduit_jobs_finished_total", "a"); got != 0 {
		t.Errorf("a's finished count = %v: the old account's job was counted after the switch", got)
	}
}

// TestReady: ready once every account ended its first poll and one of them
// succeeded; an account that keeps failing does not hold the others back.
func TestReady(t *testing.T) {
	f := newFleet(t)
	if ready, _ := f.set.Ready(); ready {
		t.Error("ready with no account")
	}
	good := f.addWorld("good", simulator.Config{Seed: 1})
	revoked := f.addWorld("revoked", simulator.Config{Seed: 2})
	revoked.SetFaults(simulator.Faults{Unauthorized: true})
	good.SetFaults(simulator.Faults{Latency: 300 * time.Millisecond})
	f.apply(f.account("good", time.Hour), f.account("revoked", time.Hour))
	if ready, waiting := f.set.Ready(); ready || len(waiting) == 0 {
		t.Errorf("Ready() = %v, waiting %v before any poll ended", ready, waiting)
	}
	f.eventually(10*time.Second, "both first polls", func() bool { return f.polls("good") == 1 && f.polls("revoked") == 1 })
	if ready, waiting := f.set.Ready(); !ready || len(waiting) != 0 {
		t.Errorf("Ready() = %v, waiting %v: one account polled, the other failed", ready, waiting)
	}
	for _, st := range f.set.Status() {
		if st.Name == "revoked" && (st.Up || st.Cause != "unauthorized") {
			t.Errorf("revoked's status = %+v, want down with cause unauthorized", st)
		}
	}

	f.apply(f.account("revoked", time.Hour))
	if ready, _ := f.set.Ready(); ready {
		t.Error("ready with a single account whose only poll failed")
	}
	if _, err := os.Stat(filepath.Join(f.keys, "revoked")); err != nil {
		t.Fatal(err)
	}
}
