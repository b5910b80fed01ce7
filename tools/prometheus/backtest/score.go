package main

import (
	"slices"
	"time"
)

// incidentResult says whether and how fast the rules reported an incident.
type incidentResult struct {
	Incident string        `json:"incident"`
	Need     string        `json:"need"`
	Start    time.Duration `json:"start"`
	Deadline time.Duration `json:"deadline"`
	// Caught: an alert of the needed severity fired within the deadline.
	Caught bool `json:"caught"`
	// First is the earliest alert of the needed severity, if any fired.
	First *hit `json:"first,omitempty"`
	// Hits is every alert that answered the incident, earliest first.
	Hits []hit `json:"hits"`
	// Pages and Tickets count the notifications Alertmanager would send
	// about the incident that start an episode: a page, a ticket.
	Pages   int `json:"pages"`
	Tickets int `json:"tickets"`
}

// hit is an alert answering an incident, After its start (negative when it
// fired while the degradation was building up).
type hit struct {
	Alert    string        `json:"alert"`
	Severity string        `json:"severity"`
	After    time.Duration `json:"after"`
}

type scenarioResult struct {
	Scenario     string           `json:"scenario"`
	Seed         uint64           `json:"seed"`
	EvalInterval time.Duration    `json:"eval_interval"`
	Incidents    []incidentResult `json:"incidents"`
	// False lists the firings that answer no incident: pages (critical)
	// and tickets (warning, info) on healthy periods.
	False []firing `json:"false"`
	// FalseNotifications lists the pages and tickets Alertmanager would
	// send about no incident.
	FalseNotifications []notification `json:"false_notifications"`
}

var severityRank = map[string]int{"info": 0, "warning": 1, "critical": 2}

func (m Match) matches(f firing) bool {
	if m.Alert != f.Alert {
		return false
	}
	for k, v := range m.Labels {
		if f.Labels[k] != v {
			return false
		}
	}
	return true
}

// answers reports whether a firing belongs to the incident: one of the
// alerts it expects, between the degradation's start and the end of the
// attribution tail.
func (inc Incident) answers(f firing, at time.Duration) bool {
	return at >= inc.From && at <= inc.End+attributionTail && slices.ContainsFunc(inc.Expect, func(m Match) bool { return m.matches(f) })
}

// score attributes each firing, and each notification that starts an
// episode, to the incident it answers, or to none.
func score(sc *Scenario, seed uint64, firings []firing, notes []notification) scenarioResult {
	res := scenarioResult{Scenario: sc.Name, Seed: seed, False: []firing{}, FalseNotifications: []notification{}}
	slices.SortFunc(firings, func(a, b firing) int { return int(a.Start - b.Start) })
	results := make([]incidentResult, len(sc.Incidents))
	for i, inc := range sc.Incidents {
		results[i] = incidentResult{Incident: inc.Name, Need: inc.Need, Start: inc.Start, Deadline: inc.Deadline, Hits: []hit{}}
	}
	for _, f := range firings {
		answered := false
		for i, inc := range sc.Incidents {
			if !inc.answers(f, f.Start) {
				continue
			}
			answered = true
			r := &results[i]
			h := hit{Alert: f.Alert, Severity: f.Severity, After: f.Start - inc.Start}
			if !slices.ContainsFunc(r.Hits, func(o hit) bool { return o.Alert == h.Alert }) {
				r.Hits = append(r.Hits, h)
			}
			if severityRank[f.Severity] >= severityRank[inc.Need] && r.First == nil {
				r.First = &h
				r.Caught = h.After <= inc.Deadline
			}
		}
		if !answered {
			res.False = append(res.False, f)
		}
	}
	// A notification belongs to the incidents its alerts answer, by when
	// the alerts started: a warning muted while the incident paged is
	// notified once the page resolves, which may be long after.
	for _, n := range notes {
		if !n.New || (n.Severity != "critical" && n.Severity != "warning") {
			continue
		}
		answered := false
		for i, inc := range sc.Incidents {
			if !slices.ContainsFunc(n.Alerts, func(f firing) bool { return inc.answers(f, f.Start) }) {
				continue
			}
			answered = true
			if n.Severity == "critical" {
				results[i].Pages++
			} else {
				results[i].Tickets++
			}
		}
		if !answered {
			res.FalseNotifications = append(res.FalseNotifications, n)
		}
	}
	res.Incidents = results
	return res
}

// alertSummary is one alert across every run.
type alertSummary struct {
	Alert    string          `json:"alert"`
	Severity string          `json:"severity"`
	Answers  int             `json:"answers"` // incidents it is a right answer to
	Fired    int             `json:"fired"`   // of those, how many it fired for
	After    []time.Duration `json:"after"`   // its time to fire in each
	False    int             `json:"false"`   // firings on healthy periods
}

func summarize(catalog []alertInfo, scs []*Scenario, results []scenarioResult) []alertSummary {
	byName := map[string]*alertSummary{}
	out := make([]alertSummary, len(catalog))
	for i, a := range catalog {
		out[i] = alertSummary{Alert: a.name, Severity: a.severity, After: []time.Duration{}}
		byName[a.name] = &out[i]
	}
	scByName := map[string]*Scenario{}
	for _, sc := range scs {
		scByName[sc.Name] = sc
	}
	for _, r := range results {
		sc := scByName[r.Scenario]
		for i, inc := range sc.Incidents {
			for name, s := range byName {
				if !slices.ContainsFunc(inc.Expect, func(m Match) bool { return m.Alert == name }) {
					continue
				}
				s.Answers++
				if j := slices.IndexFunc(r.Incidents[i].Hits, func(h hit) bool { return h.Alert == name }); j >= 0 {
					s.Fired++
					s.After = append(s.After, r.Incidents[i].Hits[j].After)
				}
			}
		}
		for _, f := range r.False {
			if s := byName[f.Alert]; s != nil {
				s.False++
			}
		}
	}
	return out
}
