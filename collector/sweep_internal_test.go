package collector

import (
	"path/filepath"
	"testing"
	"time"
)

// TestStateFileKeepsTheSweep saves the state of a poll that did not sweep
// and loads it again: the high-water mark of the last sweep and the sweep's
// time come back with the rest, so that a restarted collector remembers
// the ids down to the same floor and sweeps on the same schedule.
func TestStateFileKeepsTheSweep(t *testing.T) {
	w := newSimWorld(t, simWorldOptions{pageSize: 100})
	w.c.stateFile = filepath.Join(t.TempDir(), "state.json")
	for _, wait := range []time.Duration{0, sweepEvery, 5 * time.Second} {
		w.clock.Advance(wait)
		if err := w.poll(0); err != nil {
			t.Fatal(err)
		}
	}
	s := w.c.state
	if s.sweptAt.IsZero() || !s.sweptAt.Before(w.clock.Now()) || !s.sweptHWM.Before(s.hwm) {
		t.Fatalf("the last poll swept or nothing moved: swept at %v up to %v, now %v, high-water mark %v", s.sweptAt, s.sweptHWM, w.clock.Now(), s.hwm)
	}
	if err := w.c.saveState(s); err != nil {
		t.Fatal(err)
	}
	loaded, err := w.c.loadState()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, loaded), dump(t, s); got != want {
		t.Errorf("loaded state differs from the saved one:\n%s\n%s", got, want)
	}
}
