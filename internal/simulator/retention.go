package simulator

import (
	"slices"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// minPruneInterval keeps a tiny Retention from pruning at every moment of
// the world, each prune costing a pass over the active jobs.
const minPruneInterval = time.Second

// maybePrune applies Config.Retention at the world's present, at most once
// per interval of world time: a prune walks what is retained, so spacing
// them by a quarter of Retention keeps its cost per new job constant while
// holding at most 1.25 Retention's worth of finished jobs and events.
//
// Live jobs keep their positions, so lists stay ordered and a cursor naming
// a pruned job still continues just below it, neither skipping nor
// repeating a retained job; the old history lies below every live position
// and is untouched.
func (s *Sim) maybePrune() {
	if s.cfg.Retention <= 0 || s.now.Before(s.nextPrune) {
		return
	}
	cutoff := s.now.Add(-s.cfg.Retention)
	// A job goes with its last Finished event: both when not after cutoff.
	expired := func(j *job) bool { return !client.IsActive(j.j.Status) && !j.finished.After(cutoff) }
	s.live = slices.DeleteFunc(s.live, func(j *job) bool {
		if !expired(j) {
			return false
		}
		delete(s.byID, j.j.ID)
		return true
	})
	for t, jobs := range s.liveByType {
		s.liveByType[t] = slices.DeleteFunc(jobs, expired)
	}
	s.events = slices.Delete(s.events, 0, len(s.events)-len(s.eventsAfter(cutoff)))
	s.nextPrune = s.now.Add(max(s.cfg.Retention/4, minPruneInterval))
}
