package simulator

import (
	"slices"
	"time"
)

// TypeProfile describes how jobs of one type arrive and behave.
type TypeProfile struct {
	PerMinute      float64       // mean arrivals per minute (Poisson process)
	PendingMean    time.Duration // mean time pending before processing (exponential)
	ProcessingMean time.Duration // mean processing time (exponential)
	FailureRate    float64       // probability a job ends failed
	Credits        int64         // credits charged per job
}

// DefaultProfiles returns the six documented job types at rates that keep a
// demo lively: about 90 jobs a minute in all, pending for seconds, processing
// for seconds to minutes, 4–8% failures, so that a minute of real time almost
// surely shows created, completed and failed jobs (some 6 failures expected).
func DefaultProfiles() map[string]TypeProfile {
	return map[string]TypeProfile{
		"download":    {PerMinute: 36, PendingMean: 3 * time.Second, ProcessingMean: 20 * time.Second, FailureRate: 0.08, Credits: 1},
		"transcribe":  {PerMinute: 15, PendingMean: 5 * time.Second, ProcessingMean: 45 * time.Second, FailureRate: 0.06, Credits: 3},
		"translate":   {PerMinute: 8, PendingMean: 4 * time.Second, ProcessingMean: 30 * time.Second, FailureRate: 0.05, Credits: 2},
		"preview":     {PerMinute: 12, PendingMean: 2 * time.Second, ProcessingMean: 8 * time.Second, FailureRate: 0.07, Credits: 1},
		"fingerprint": {PerMinute: 8, PendingMean: 3 * time.Second, ProcessingMean: 15 * time.Second, FailureRate: 0.04, Credits: 1},
		"comments":    {PerMinute: 10, PendingMean: 2 * time.Second, ProcessingMean: 12 * time.Second, FailureRate: 0.08, Credits: 1},
	}
}

// DefaultPlatforms returns the platform mix used when Config.Platforms is nil,
// as weights by platform name.
func DefaultPlatforms() map[string]float64 {
	return map[string]float64{
		"youtube": 45, "tiktok": 14, "instagram": 10, "x": 6, "facebook": 5, "vimeo": 4,
		"twitch": 4, "reddit": 4, "soundcloud": 3, "dailymotion": 2, PlatformOther: 3,
	}
}

// IncidentKind says what goes wrong during an Incident.
type IncidentKind int

// Incident kinds.
const (
	// FailureSpike makes affected jobs fail with Incident.FailureRate, quickly.
	FailureSpike IncidentKind = iota + 1
	// Stall keeps affected jobs pending until the incident ends; they then
	// start processing and finish as usual.
	Stall
	// LateListing makes affected jobs appear in the lists only some time
	// after their created_at, up to Incident.Delay (uniformly drawn), as
	// when a job's creation commits after a later one's. It affects the
	// jobs created inside the window.
	LateListing
)

// Incident is a scripted bad period of the world. A job is affected when its
// type and platform match (an empty field matches everything) and, for a
// FailureSpike or a LateListing, it is created inside the window; for a
// Stall, it would start processing inside the window.
type Incident struct {
	Kind        IncidentKind
	Start       time.Time
	Duration    time.Duration
	JobType     string  // "" = every type
	Platform    string  // "" = every platform
	FailureRate float64 // FailureSpike: probability an affected job fails (quickly, with a matching error)
	// Reason is the failure class of a FailureSpike's errors; "" means
	// "unavailable" when Platform is set (the platform lost its videos) and
	// "internal" otherwise (VideoConduit itself is broken).
	Reason string
	Delay  time.Duration // LateListing: the longest an affected job stays out of the lists
}

func (in *Incident) affects(jobType, platform string, t time.Time) bool {
	return (in.JobType == "" || in.JobType == jobType) &&
		(in.Platform == "" || in.Platform == platform) &&
		!t.Before(in.Start) && t.Before(in.end())
}

func (in *Incident) end() time.Time { return in.Start.Add(in.Duration) }

func (in *Incident) spikeReason() string {
	switch {
	case in.Reason != "":
		return in.Reason
	case in.Platform != "":
		return ReasonUnavailable
	default:
		return ReasonInternal
	}
}

// weighted picks names in proportion to their weights from a uniform draw.
// Names are sorted so that the pick does not depend on map order.
type weighted struct {
	names []string
	cum   []float64 // cumulative weights, same order as names
}

// newWeighted keeps the names with positive weight. With none, it falls back
// to every name at equal weight, so a world whose types all have PerMinute 0
// still has a history mix.
func newWeighted(w map[string]float64) weighted {
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	slices.Sort(names)
	var out weighted
	total := 0.0
	for _, n := range names {
		if w[n] > 0 {
			total += w[n]
			out.names = append(out.names, n)
			out.cum = append(out.cum, total)
		}
	}
	if total == 0 {
		out = weighted{names: names}
		for i := range names {
			out.cum = append(out.cum, float64(i+1))
		}
	}
	return out
}

// pick maps u in [0,1) to a name; it returns "" when there are no names.
func (w weighted) pick(u float64) string {
	if len(w.names) == 0 {
		return ""
	}
	x := u * w.cum[len(w.cum)-1]
	i, _ := slices.BinarySearchFunc(w.cum, x, func(c, x float64) int {
		if c <= x {
			return -1
		}
		return 1
	})
	return w.names[min(i, len(w.names)-1)]
}
