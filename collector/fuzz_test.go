package collector

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// FuzzFailureClassifier checks that any error message gets a reason the
// label may take, "unknown" only when there is no message, and the same
// reason whatever the case of an ASCII message.
func FuzzFailureClassifier(f *testing.F) {
	c := DefaultFailureClassifier()
	f.Fuzz(func(t *testing.T, msg string) {
		got := c.Classify(msg)
		if !slices.Contains(c.Reasons(), got) {
			t.Fatalf("Classify(%q) = %q, not one of %v", msg, got, c.Reasons())
		}
		if (got == reasonUnknown) != (msg == "") {
			t.Fatalf("Classify(%q) = %q: unknown is for a missing message only", msg, got)
		}
		if isASCII(msg) {
			for _, variant := range []string{strings.ToUpper(msg), strings.ToLower(msg)} {
				if again := c.Classify(variant); again != got {
					t.Fatalf("Classify(%q) = %q but Classify(%q) = %q", msg, got, variant, again)
				}
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// noSource is a JobSource for collectors that never poll.
type noSource struct{}

func (noSource) Pages(context.Context, client.ListOptions) iter.Seq2[client.Page, error] {
	return func(yield func(client.Page, error) bool) { yield(client.Page{}, errors.New("no source")) }
}

func (noSource) GetJob(context.Context, string) (client.Job, error) {
	return client.Job{}, errors.New("no source")
}

// FuzzStateFile feeds arbitrary state files to a starting collector: it
// either refuses the file (a fresh start) or resumes a state whose every
// series renders, and whose saved form resumes to the same series.
func FuzzStateFile(f *testing.F) {
	path := filepath.Join(f.TempDir(), "state.json")
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := New(Config{Source: noSource{}, Interval: time.Minute, PageSize: 100, StateFile: path, API: "http://sim", Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.loadState()
		if err != nil || s == nil {
			return
		}
		first := rendered(t, s, now)
		if err := c.saveState(s); err != nil {
			t.Fatal(err)
		}
		again, err := c.loadState()
		if err != nil {
			t.Fatalf("a saved state does not load again: %v", err)
		}
		if second := rendered(t, again, now); !slices.Equal(first, second) {
			t.Fatalf("the state changed in a save and load:\n%v\n%v", first, second)
		}
	})
}

// rendered writes every series of a state, sorted, failing on one that a
// scrape could not serve.
func rendered(t *testing.T, s *state, now time.Time) []string {
	t.Helper()
	var out []string
	for _, m := range collected(newJobMetrics(s, now)) {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatalf("series %v cannot be served: %v", m.Desc(), err)
		}
		out = append(out, m.Desc().String()+pb.String())
	}
	slices.Sort(out)
	return out
}

// collected returns what c collects.
func collected(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}
