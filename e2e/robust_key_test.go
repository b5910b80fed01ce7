package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestRobustRejectedKey starts the exporter with a key the API rejects: one
// clear error line however many polls fail, videoconduit_up 0, and polls that
// back off instead of hammering the API. A good key written to the key file
// brings it back without a restart, and SIGHUP makes a new key count at once.
func TestRobustRejectedKey(t *testing.T) {
	const interval = 100 * time.Millisecond
	api := newFakeAPI(t, simulator.Config{Seed: 200, History: 100})
	keyFile := filepath.Join(t.TempDir(), "key")
	revoked := randomKey(t)
	writeKeyFile(t, keyFile, revoked, 0o600)
	p := runExporter(t, "http", api.args(keyFile, "--collector.interval="+interval.String())...)

	// Each failed poll is one request (a 401 is not retried): the gaps
	// between requests are the waits between polls.
	var reqs []apiRequest
	p.waitUntil(t, 30*time.Second, "seven polls with the rejected key", func() bool {
		reqs = api.requestLog()
		return len(reqs) >= 7
	})
	for k := 1; k < len(reqs); k++ {
		gap := reqs[k].at.Sub(reqs[k-1].at)
		want := min(interval<<(k-1), 10*interval) // doubling, capped at ten intervals
		if gap < want*9/10 {
			t.Errorf("poll %d came %v after the one before, want a backoff of at least %v", k+1, gap, want)
		}
	}
	s := p.mustScrape(t)
	if s.up() != 0 {
		t.Errorf("videoconduit_up = %v with a rejected key, want 0", s.up())
	}
	if code, _ := get(p.base + "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready = %d with a rejected key, want 503", code)
	}
	log := p.out.String()
	if causes := pollErrorCauses(log); len(causes) != 1 || causes[0] != "unauthorized" {
		t.Errorf("error lines for %d rejected polls: causes %v, want one unauthorized", len(reqs), causes)
	}
	if !strings.Contains(log, "rejected the API key") || !strings.Contains(log, "--videoconduit.api-key-file") {
		t.Errorf("the error line must say the key was rejected and how to give one; log:\n%s", log)
	}

	// A good key, written as a secret manager rotates one: picked up when
	// the file changes (checked every few seconds), no signal needed.
	logStart := p.logLen()
	writeKeyFile(t, keyFile, api.key, 0o600)
	p.waitUntil(t, 20*time.Second, "recovery after the key file changed", func() bool { return p.mustScrape(t).up() == 1 })
	if !strings.Contains(p.logSince(logStart), "API key re-read from file") {
		t.Errorf("no log line about the re-read key:\n%s", p.logSince(logStart))
	}

	// SIGHUP re-reads at once, even a change that size and modification time
	// do not show: the file keeps both, so only the signal can reveal it.
	for _, phase := range []struct {
		key string
		up  float64
	}{{strings.Replace(api.key, "vc_live_", "vc_gone_", 1), 0}, {api.key, 1}} {
		logStart = p.logLen()
		fi, err := os.Stat(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		writeKeyFileAt(t, keyFile, phase.key, 0o600, fi.ModTime())
		p.signal(t, syscall.SIGHUP)
		p.waitUntil(t, 20*time.Second, "the key read again after SIGHUP", func() bool { return p.mustScrape(t).up() == phase.up })
		if causes := pollErrorCauses(p.logSince(logStart)); phase.up == 0 && (len(causes) != 1 || causes[0] != "unauthorized") {
			t.Errorf("after revoking the key: causes %v, want one unauthorized", causes)
		}
	}
	if !p.running() {
		t.Fatalf("SIGHUP ended the exporter: %v", p.err)
	}
	if strings.Contains(p.out.String(), "readable by other users") {
		t.Error("a warning about a key file of mode 0600")
	}
	for _, key := range []string{revoked, api.key} {
		if strings.Contains(p.out.String(), key) {
			t.Errorf("a key appears in the log:\n%s", p.out.String())
		}
	}
}
