package collector

import "time"

// WaitingDetails tells, of the finished jobs whose details wait for a
// lookup, how many wait for their reason and how many for their duration
// only, and the start of the poll that counted the oldest of each (zero
// when none).
func WaitingDetails(c *JobCollector) (reasons, durations int, oldestReason, oldestDuration time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.state.details {
		n, oldest := &durations, &oldestDuration
		if d.reason {
			n, oldest = &reasons, &oldestReason
		}
		*n++
		if oldest.IsZero() || d.seen.Before(*oldest) {
			*oldest = d.seen
		}
	}
	return reasons, durations, oldestReason, oldestDuration
}

// MaxDurationWait is how long a duration waits for its lookup at most.
const MaxDurationWait = maxDurationWait

// DurationsLetGo tells how many durations the collector let go without
// their lookup since it started.
func DurationsLetGo(c *JobCollector) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.durationsLetGo
}
