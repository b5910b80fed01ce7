package main

import (
	"fmt"
	"slices"
	"time"
)

// Scenario is one simulated day: the healthy traffic of jobTypes changed by
// effects, and the incidents those effects are. Times are offsets from the
// day's midnight; a day without incidents is healthy all through.
type Scenario struct {
	Name  string
	About string
	// Replicas is how many exporter processes watch the account: an HA pair
	// by default, whose series differ only by instance.
	Replicas  int
	Failures  []FailureEffect
	Bursts    []Burst
	Surges    []Surge
	Stalls    []Stall
	Faults    []Fault
	Incidents []Incident
}

// replicas is the scenario's number of exporter processes.
func (sc *Scenario) replicas() int {
	if sc.Replicas == 0 {
		return 2
	}
	return sc.Replicas
}

// FailureEffect raises the failure probability of matching jobs from their
// healthy ratio to Prob, linearly between From and RampEnd, then holds it
// until To. Failures above the healthy ratio take Reasons (nil: the healthy
// reasons) and, with Quick, come within seconds of the job starting, as when
// a platform refuses the download outright.
type FailureEffect struct {
	From, RampEnd, To time.Duration
	JobType, Source   string // "" matches all
	Prob              float64
	Reasons           []weighted
	Quick             bool
}

// Burst is a batch of Count jobs of one type and source, submitted together
// at At, that all fail quickly for Reason: a customer submitting a handful of
// private videos at once.
type Burst struct {
	At              time.Duration
	JobType, Source string
	Count           int
	Reason          string
}

// Surge multiplies the creation rate of a job type.
type Surge struct {
	From, To time.Duration
	JobType  string
	Factor   float64
}

// Stall stops the workers of a job type: nothing starts or finishes.
type Stall struct {
	From, To time.Duration
	JobType  string
}

// FaultKind is a fault of the exporter or of the API it polls.
type FaultKind string

const (
	exporterDown FaultKind = "exporter process down" // scrapes fail; restart without state file
	targetGone   FaultKind = "target gone from discovery"
	apiErrors    FaultKind = "API answers 5xx" // every poll fails
	apiThrottled FaultKind = "API answers 429" // half the calls, retried
	pollHung     FaultKind = "poll loop hung"  // no poll completes
)

// Fault is a fault from From to To. Those of the exporter hit the replicas
// listed (nil: every replica); those of the API hit every replica.
type Fault struct {
	Kind     FaultKind
	From, To time.Duration
	Replicas []int
}

// hits reports whether the fault affects the replica.
func (f Fault) hits(replica int) bool {
	return f.Replicas == nil || slices.Contains(f.Replicas, replica)
}

// Incident is a period the rules must report. It counts as caught when an
// alert of at least severity Need that matches Expect starts firing no later
// than Deadline after Start. Any page between From and 30 minutes after End
// that matches Expect belongs to the incident; every other page is false.
type Incident struct {
	Name     string
	From     time.Duration // when the degradation begins
	Start    time.Duration // when it becomes an incident: the clock for time to fire
	End      time.Duration
	Need     string // critical (a page) or warning (a ticket)
	Deadline time.Duration
	Expect   []Match
}

// Match names an alert and the labels it must carry to be a right answer.
type Match struct {
	Alert  string
	Labels map[string]string
}

// attributionTail is how long after an incident ends an alert that matches
// it still belongs to it: slow windows keep seeing the incident.
const attributionTail = 30 * time.Minute

const pageDeadline = 10 * time.Minute

// What a platform blocking downloads looks like in the failure reasons: a
// sign-in wall (classified private), 429s, and messages no pattern knows.
var platformBlockReasons = []weighted{{"private", .4}, {"rate_limited", .3}, {"other", .2}, {"unavailable", .1}}

// What a bad worker release looks like.
var workerBugReasons = []weighted{{"internal", .5}, {"timeout", .3}, {"other", .2}}

// serviceSide are the failure reasons on the service's side, those the
// error budget and the failure ratio alert count.
var serviceSide = map[string]bool{"timeout": true, "internal": true, "rate_limited": true, "other": true, "unknown": true}

// serviceSideShare is the weight of the service-side reasons among ws.
func serviceSideShare(ws []weighted) float64 {
	var side, all float64
	for _, w := range ws {
		all += w.weight
		if serviceSide[w.name] {
			side += w.weight
		}
	}
	return side / all
}

func hm(h, m int) time.Duration { return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute }

func onJobType(jt string, alerts ...string) []Match {
	var ms []Match
	for _, a := range alerts {
		ms = append(ms, Match{a, map[string]string{"job_type": jt}})
	}
	return ms
}

// platformOutage is downloads from one source failing at the given ratio
// from at for the given time, quickly and for the reasons a platform blocking
// downloads gives: a page within 10 minutes.
func platformOutage(source string, prob float64, at, length time.Duration) ([]FailureEffect, Incident) {
	end := at + length
	return []FailureEffect{{From: at, RampEnd: at, To: end, JobType: "download", Source: source, Prob: prob, Reasons: platformBlockReasons, Quick: true}},
		Incident{
			Name: fmt.Sprintf("%s downloads fail at %.0f%% from %s for %s", source, 100*prob, fmtClock(at), fmtDur(length)),
			From: at, Start: at, End: end, Need: "critical", Deadline: pageDeadline,
			Expect: append([]Match{{"VideoConduitSourceFailureSpike", map[string]string{"job_type": "download", "source": source}}},
				onJobType("download", "VideoConduitJobFailureSpike", "VideoConduitJobFailureRatioHigh",
					"VideoConduitErrorBudgetBurnFast", "VideoConduitErrorBudgetBurnMedium", "VideoConduitRefundSpike")...),
		}
}

func scenarios() []*Scenario {
	nightOutage, nightIncident := platformOutage("youtube", 0.9, hm(3, 0), 20*time.Minute)
	// At 1 YouTube download a minute, the 6 failures that tell an outage
	// from a night's scattered failures take 6-7 minutes to happen.
	nightIncident.Deadline = 15 * time.Minute
	dayOutage, dayIncident := platformOutage("youtube", 0.9, hm(14, 0), 20*time.Minute)
	dawnPartial, dawnIncident := platformOutage("youtube", 0.4, hm(5, 30), time.Hour)
	eveningPartial, eveningIncident := platformOutage("instagram", 0.4, hm(21, 0), time.Hour)

	// The ramp's incident starts where the failures on the service's side
	// (the worker bug's, and the usual share of the healthy 3%) cross 10%
	// of the downloads, the line of the failure ratio alert.
	rampFrom, rampEnd, rampTo, rampTop := hm(8, 0), hm(12, 0), hm(13, 0), 0.4
	healthyServiceSide := 0.03 * serviceSideShare(baselineReasons)
	rampProb := 0.10 - healthyServiceSide + 0.03 // the failure probability where that happens
	rampStart := rampFrom + time.Duration(float64(rampEnd-rampFrom)*(rampProb-0.03)/(rampTop-0.03)).Truncate(time.Second)

	return []*Scenario{
		{Name: "clean-day", About: "healthy traffic all day"},
		{
			Name:      "youtube-outage",
			About:     "YouTube downloads fail at 90% from 03:00 to 03:20 (1 YouTube download/min) and from 14:00 to 14:20 (10/min)",
			Failures:  append(nightOutage, dayOutage...),
			Incidents: []Incident{nightIncident, dayIncident},
		},
		{
			Name: "partial-outage",
			About: "40% of YouTube downloads fail 05:30-06:30 (about 2 YouTube downloads/min), " +
				"40% of Instagram downloads 21:00-22:00 (about 1.7/min)",
			Failures:  append(dawnPartial, eveningPartial...),
			Incidents: []Incident{dawnIncident, eveningIncident},
		},
		{
			Name: "bursts",
			About: "a healthy day with nine batches of 5 to 8 jobs of one type and source, submitted together and all failing " +
				"as private videos (a customer's batch), mostly at night",
			Bursts: []Burst{
				{hm(0, 40), "download", "youtube", 5, "private"}, {hm(2, 10), "download", "tiktok", 5, "private"},
				{hm(3, 30), "transcribe", "youtube", 5, "private"}, {hm(4, 50), "preview", "other", 5, "private"},
				{hm(6, 15), "download", "instagram", 6, "private"}, {hm(9, 20), "translate", "youtube", 5, "private"},
				{hm(13, 5), "fingerprint", "youtube", 5, "private"}, {hm(22, 30), "download", "youtube", 8, "private"},
				{hm(23, 45), "comments", "youtube", 5, "private"},
			},
		},
		quietNight(),
		{
			Name:     "slow-ramp",
			About:    "download failures (a worker bug, on the service's side) ramp from 3% at 08:00 to 40% at 12:00, hold, recover at 13:00; the incident starts when the service-side failures cross 10%",
			Failures: []FailureEffect{{From: rampFrom, RampEnd: rampEnd, To: rampTo, JobType: "download", Prob: rampTop, Reasons: workerBugReasons}},
			Incidents: []Incident{{
				Name: "service-side download failures cross 10% on a ramp", From: rampFrom, Start: rampStart, End: rampTo, Need: "critical", Deadline: pageDeadline,
				Expect: append(onJobType("download", "VideoConduitJobFailureRatioHigh", "VideoConduitJobFailureSpike",
					"VideoConduitErrorBudgetBurnFast", "VideoConduitErrorBudgetBurnMedium", "VideoConduitErrorBudgetBurnSlow", "VideoConduitRefundSpike"),
					Match{"VideoConduitSourceFailureSpike", map[string]string{"job_type": "download"}}),
			}},
		},
		{
			Name: "exporter-outage",
			About: "one replica of the pair is down 08:00-08:30, both 10:00-10:30 (restart without state file), the API answers 5xx 12:00-12:30, " +
				"both targets are gone 15:00-15:20, the API rate-limits half the calls 17:00-18:00, " +
				"one replica's poll loop hangs 19:00-19:20, both replicas' 20:00-20:20",
			Faults: []Fault{
				{exporterDown, hm(8, 0), hm(8, 30), []int{1}}, {exporterDown, hm(10, 0), hm(10, 30), nil},
				{apiErrors, hm(12, 0), hm(12, 30), nil}, {targetGone, hm(15, 0), hm(15, 20), nil},
				{apiThrottled, hm(17, 0), hm(18, 0), nil}, {pollHung, hm(19, 0), hm(19, 20), []int{0}}, {pollHung, hm(20, 0), hm(20, 20), nil},
			},
			Incidents: []Incident{
				{Name: "one replica down", From: hm(8, 0), Start: hm(8, 0), End: hm(8, 30), Need: "warning", Deadline: 30 * time.Minute,
					Expect: []Match{{Alert: "VideoConduitExporterReplicaDown"}}},
				{Name: "exporter down", From: hm(10, 0), Start: hm(10, 0), End: hm(10, 30), Need: "critical", Deadline: pageDeadline,
					Expect: []Match{{Alert: "VideoConduitExporterDown"}}},
				{Name: "API down", From: hm(12, 0), Start: hm(12, 0), End: hm(12, 30), Need: "critical", Deadline: pageDeadline,
					Expect: []Match{{Alert: "VideoConduitAPIDown"}, {Alert: "VideoConduitAPIServerErrors"}}},
				{Name: "target gone", From: hm(15, 0), Start: hm(15, 0), End: hm(15, 20), Need: "critical", Deadline: pageDeadline,
					Expect: []Match{{Alert: "VideoConduitExporterAbsent"}}},
				{Name: "API rate-limits", From: hm(17, 0), Start: hm(17, 0), End: hm(18, 0), Need: "warning", Deadline: 30 * time.Minute,
					Expect: []Match{{Alert: "VideoConduitAPIRateLimited"}}},
				{Name: "poll loop hung", From: hm(20, 0), Start: hm(20, 0), End: hm(20, 20), Need: "critical", Deadline: pageDeadline,
					Expect: []Match{{Alert: "VideoConduitPollStale"}}},
			},
		},
		{
			Name:   "stall-and-runaway",
			About:  "download workers stop 11:00-11:45 (jobs pile up pending, then drain); a runaway client creates 8 times the usual transcribe jobs 15:00-17:00",
			Stalls: []Stall{{From: hm(11, 0), To: hm(11, 45), JobType: "download"}},
			Surges: []Surge{{From: hm(15, 0), To: hm(17, 0), JobType: "transcribe", Factor: 8}},
			Incidents: []Incident{
				// Telling "nothing finishes" from "jobs are slow" needs a
				// window longer than jobs normally take: 10 minutes plus the
				// 5-minute `for`, hence 20 minutes rather than 10.
				{Name: "downloads stall", From: hm(11, 0), Start: hm(11, 0), End: hm(11, 45), Need: "critical", Deadline: 20 * time.Minute,
					Expect: onJobType("download", "VideoConduitThroughputStalled", "VideoConduitJobsStuck")},
				{Name: "transcribe spend x8", From: hm(15, 0), Start: hm(15, 0), End: hm(17, 0), Need: "warning", Deadline: time.Hour,
					Expect: onJobType("transcribe", "VideoConduitCreditSpendHigh", "VideoConduitRefundSpike")},
			},
		},
	}
}

// quietNight halves the night's traffic (a download every 1-2 minutes, a
// translate job every 20) and doubles every job type's failure ratio: single
// failures scattered through the night, one out of two jobs here and there.
func quietNight() *Scenario {
	sc := &Scenario{
		Name:     "quiet-night",
		About:    "one exporter, no replica; 00:00-06:00 half the usual night traffic, and failures scattered at twice the usual ratio for every job type",
		Replicas: 1,
	}
	for _, jt := range jobTypes {
		sc.Surges = append(sc.Surges, Surge{From: 0, To: hm(6, 0), JobType: jt.name, Factor: 0.5})
		sc.Failures = append(sc.Failures, FailureEffect{From: 0, To: hm(6, 0), JobType: jt.name, Prob: 2 * jt.failRatio})
	}
	return sc
}
