package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestScoreAttributesFiringsToIncidents(t *testing.T) {
	sc := &Scenario{Name: "s", Incidents: []Incident{{
		Name: "outage", From: hm(9, 50), Start: hm(10, 0), End: hm(10, 20), Need: "critical", Deadline: 10 * time.Minute,
		Expect: onJobType("download", "Page", "Ticket"),
	}}}
	firings := []firing{
		{Alert: "Page", Severity: "critical", Labels: map[string]string{"job_type": "download"}, Start: hm(10, 7)},
		{Alert: "Ticket", Severity: "warning", Labels: map[string]string{"job_type": "download"}, Start: hm(10, 2)},
		// The right alert for the wrong job type answers nothing.
		{Alert: "Page", Severity: "critical", Labels: map[string]string{"job_type": "preview"}, Start: hm(10, 5)},
		// Still the incident's, in its tail.
		{Alert: "Page", Severity: "critical", Labels: map[string]string{"job_type": "download"}, Start: hm(10, 45)},
		// Past the tail.
		{Alert: "Page", Severity: "critical", Labels: map[string]string{"job_type": "download"}, Start: hm(10, 51)},
		{Alert: "Other", Severity: "info", Labels: map[string]string{}, Start: hm(3, 0)},
	}
	res := score(sc, 7, firings, nil)

	inc := res.Incidents[0]
	if !inc.Caught || inc.First == nil || inc.First.Alert != "Page" || inc.First.After != 7*time.Minute {
		t.Errorf("incident = %+v (first %+v), want caught by Page after 7m", inc, inc.First)
	}
	if len(inc.Hits) != 2 || inc.Hits[0].Alert != "Ticket" || inc.Hits[1].Alert != "Page" {
		t.Errorf("hits = %+v, want Ticket then Page once each", inc.Hits)
	}
	var falses []string
	for _, f := range res.False {
		falses = append(falses, f.Alert+"@"+fmtClock(f.Start))
	}
	want := []string{"Other@03:00", "Page@10:05", "Page@10:51"}
	if len(falses) != len(want) {
		t.Fatalf("false firings = %v, want %v", falses, want)
	}
	for i := range want {
		if falses[i] != want[i] {
			t.Errorf("false firings = %v, want %v", falses, want)
		}
	}
}

func TestScoreMissesLatePage(t *testing.T) {
	sc := &Scenario{Incidents: []Incident{{
		Name: "outage", From: hm(10, 0), Start: hm(10, 0), End: hm(10, 20), Need: "critical", Deadline: 10 * time.Minute,
		Expect: []Match{{Alert: "Page"}, {Alert: "Ticket"}},
	}}}
	res := score(sc, 1, []firing{
		{Alert: "Ticket", Severity: "warning", Start: hm(10, 1)}, // not severe enough
		{Alert: "Page", Severity: "critical", Start: hm(10, 11)},
	}, nil)
	if inc := res.Incidents[0]; inc.Caught || inc.First == nil || inc.First.After != 11*time.Minute {
		t.Errorf("incident = %+v, want a page after 11m, too late", inc)
	}
}

func TestSummarizeCountsPerAlert(t *testing.T) {
	sc := &Scenario{Name: "s", Incidents: []Incident{{
		Name: "i", From: hm(1, 0), Start: hm(1, 0), End: hm(1, 10), Need: "critical", Deadline: 10 * time.Minute,
		Expect: []Match{{Alert: "A"}, {Alert: "B"}},
	}}}
	runs := []scenarioResult{
		score(sc, 1, []firing{{Alert: "A", Severity: "critical", Start: hm(1, 4)}, {Alert: "B", Severity: "critical", Start: hm(5, 0)}}, nil),
		score(sc, 2, []firing{{Alert: "A", Severity: "critical", Start: hm(1, 6)}}, nil),
	}
	got := summarize([]alertInfo{{"A", "critical"}, {"B", "critical"}}, []*Scenario{sc}, runs)
	if a := got[0]; a.Answers != 2 || a.Fired != 2 || a.False != 0 || len(a.After) != 2 {
		t.Errorf("A = %+v, want fired for both incidents", a)
	}
	if b := got[1]; b.Answers != 2 || b.Fired != 0 || b.False != 1 {
		t.Errorf("B = %+v, want fired for none and once falsely", b)
	}
}

// sampleValue finds a series of replica 0's target in a scrape by name and
// label values.
func sampleValue(t *testing.T, samples []sample, name string, kv ...string) (float64, bool) {
	t.Helper()
	want := labels.FromStrings(append([]string{labels.MetricName, name, "job", scrapeJob, "instance", instance(0)}, kv...)...)
	for _, s := range samples {
		if labels.Equal(s.lset, want) {
			return s.v, true
		}
	}
	return 0, false
}

func TestExporterModelFaults(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sc := &Scenario{Replicas: 1, Faults: []Fault{
		{exporterDown, hm(1, 0), hm(1, 10), nil},
		{apiErrors, hm(2, 0), hm(2, 10), nil},
		{targetGone, hm(3, 0), hm(3, 10), nil},
		{pollHung, hm(4, 0), hm(4, 10), nil},
	}}
	// One completed download every minute, created a minute before.
	var jobs []job
	for m := 1; m < 6*60; m++ {
		created := origin.Add(time.Duration(m) * time.Minute).UnixMilli()
		jobs = append(jobs, job{typ: "download", source: "youtube", created: created, started: created + 1000, finished: created + 60_000, credits: 1})
	}
	e := newExporterModel(sc, origin, origin, origin.Add(6*time.Hour), jobs, rand.New(rand.NewPCG(1, 2)))
	at := func(h, m, s int) int64 { return origin.Add(hm(h, m) + time.Duration(s)*time.Second).UnixMilli() }
	created := func(samples []sample) float64 {
		v, ok := sampleValue(t, samples, "videoconduit_jobs_created_total", "account", account, "job_type", "download", "source", "youtube")
		if !ok {
			t.Fatal("no created counter in the scrape")
		}
		return v
	}

	// Before the first fault: the polls 30s apart see every job created
	// up to the last poll (00:59:31), those of minutes 1 to 59.
	if got := created(e.scrape(0, at(0, 59, 45))); got != 59 {
		t.Errorf("created at 00:59:45 = %v, want 59", got)
	}
	// Process down: only Prometheus' up, at 0.
	if got := e.scrape(0, at(1, 5, 0)); len(got) != 1 || got[0].v != 0 || got[0].lset.Get(labels.MetricName) != "up" {
		t.Errorf("scrape while the process is down = %v, want only up 0", got)
	}
	// Restarted at 01:10 without state: counts only what comes after.
	if got := created(e.scrape(0, at(1, 15, 0))); got != 4 {
		t.Errorf("created at 01:15 after a restart at 01:10 = %v, want 4", got)
	}
	// API failing: the last poll failed, counters stay as of the last
	// success, and the calls are counted by code.
	during := e.scrape(0, at(2, 8, 0))
	if up, _ := sampleValue(t, during, "videoconduit_up", "account", account); up != 0 {
		t.Errorf("videoconduit_up during API errors = %v, want 0", up)
	}
	if got := created(during); got != 49 {
		t.Errorf("created during API errors = %v, want 49 (frozen at 01:59:31)", got)
	}
	if ts, _ := sampleValue(t, during, "videoconduit_last_poll_success_timestamp_seconds", "account", account); ts != float64(at(1, 59, 31))/1000 {
		t.Errorf("last success during API errors = %v, want 01:59:31", ts)
	}
	// Recovered: the first good poll catches up on everything.
	after := e.scrape(0, at(2, 16, 0))
	if up, _ := sampleValue(t, after, "videoconduit_up", "account", account); up != 1 {
		t.Errorf("videoconduit_up after recovery = %v, want 1", up)
	}
	if got := created(after); got != 65 {
		t.Errorf("created after recovery = %v, want 65", got)
	}
	if got := e.scrape(0, at(3, 5, 0)); got != nil {
		t.Errorf("scrape of a target gone = %v, want nothing", got)
	}
	// Hung poller: up stays 1, the last success freezes.
	hung := e.scrape(0, at(4, 8, 0))
	if up, _ := sampleValue(t, hung, "videoconduit_up", "account", account); up != 1 {
		t.Errorf("videoconduit_up with a hung poller = %v, want 1", up)
	}
	if ts, _ := sampleValue(t, hung, "videoconduit_last_poll_success_timestamp_seconds", "account", account); float64(at(4, 8, 0))/1000-ts < 7*60 {
		t.Errorf("last success with a poller hung since 04:00 = %v, want before 04:00:01", ts)
	}
}

func TestExporterModelActiveGauges(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(m int) int64 { return origin.Add(time.Duration(m) * time.Minute).UnixMilli() }
	jobs := []job{
		{typ: "download", source: "youtube", created: ms(1), started: ms(2), finished: ms(3)},
		{typ: "download", source: "youtube", created: ms(2), started: ms(20), finished: ms(25)}, // queued long
		{typ: "download", source: "youtube", created: ms(4), started: ms(5), finished: ms(40)},  // runs long
	}
	e := newExporterModel(&Scenario{Replicas: 1}, origin, origin, origin.Add(time.Hour), jobs, rand.New(rand.NewPCG(1, 2)))
	samples := e.activeGauges(e.replicas[0], "download", ms(10))
	want := map[string]float64{"pending count": 1, "processing count": 1, "pending age": 8 * 60, "processing age": 6 * 60}
	got := map[string]float64{"pending count": samples[0].v, "processing count": samples[1].v, "pending age": samples[2].v, "processing age": samples[3].v}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s at minute 10 = %v, want %v", k, got[k], v)
		}
	}
}

func TestGenerateJobsFollowsTheScenario(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out, _ := platformOutage("youtube", 0.9, hm(14, 0), 20*time.Minute)
	sc := &Scenario{
		Failures: out,
		Stalls:   []Stall{{From: hm(11, 0), To: hm(11, 30), JobType: "download"}},
		Bursts:   []Burst{{At: hm(2, 0), JobType: "preview", Source: "other", Count: 6, Reason: "private"}},
	}
	jobs := generateJobs(sc, origin, origin, origin.Add(24*time.Hour), rand.New(rand.NewPCG(3, 4)))

	var downloads, outageYT, outageYTFailed, outageSlow, healthyYT, healthyYTFailed, finishedInStall, burst int
	for _, j := range jobs {
		if j.typ == "preview" && j.source == "other" && j.failed && j.reason == "private" &&
			j.created >= origin.Add(hm(2, 0)).UnixMilli() && j.finished <= origin.Add(hm(2, 2)).UnixMilli() {
			burst++
		}
		if j.typ != "download" {
			continue
		}
		downloads++
		started := time.UnixMilli(j.started).Sub(origin)
		if j.source == "youtube" {
			if started >= hm(14, 0) && started < hm(14, 20) {
				outageYT++
				if j.failed {
					outageYTFailed++
					if j.finished-j.started > (30 * time.Second).Milliseconds() {
						outageSlow++
					}
				}
			} else {
				healthyYT++
				if j.failed {
					healthyYTFailed++
				}
			}
		}
		if f := time.UnixMilli(j.finished).Sub(origin); f >= hm(11, 0) && f < hm(11, 30) {
			finishedInStall++
		}
	}
	// 20/min at the peak and 2/min at 03:00 average to 11/min.
	if want := 11.0 * 24 * 60; math.Abs(float64(downloads)-want) > 0.05*want {
		t.Errorf("downloads in a day = %d, want about %.0f", downloads, want)
	}
	if r := float64(outageYTFailed) / float64(outageYT); outageYT < 150 || r < 0.85 || r > 0.95 {
		t.Errorf("YouTube outage: %d of %d failed (%.2f), want about 0.9 of about 200", outageYTFailed, outageYT, r)
	}
	if r := float64(healthyYTFailed) / float64(healthyYT); r < 0.025 || r > 0.035 {
		t.Errorf("healthy YouTube failure ratio = %.3f, want about 0.03", r)
	}
	// The healthy 10% of the outage's failures run their usual time.
	if outageSlow > outageYTFailed/5 {
		t.Errorf("YouTube outage: %d of %d failures took more than 30s, want the outage's to come within seconds", outageSlow, outageYTFailed)
	}
	if finishedInStall != 0 {
		t.Errorf("%d downloads finished while the workers were stalled", finishedInStall)
	}
	// Healthy previews from unknown hosts fail a few times a day: with this
	// seed, the private failures of those two minutes are the burst's six.
	if burst != 6 {
		t.Errorf("%d private previews failed within two minutes of the burst, want its 6", burst)
	}
}

func TestMarkdownReport(t *testing.T) {
	sc := &Scenario{Name: "day", About: "one outage", Incidents: []Incident{{
		Name: "outage", From: hm(10, 0), Start: hm(10, 0), End: hm(10, 20), Need: "critical", Deadline: 10 * time.Minute,
		Expect: []Match{{Alert: "VideoConduitPage"}},
	}}}
	page := firing{Alert: "VideoConduitPage", Severity: "critical", Start: hm(10, 6)}
	ticket := firing{Alert: "VideoConduitTicket", Severity: "warning", Start: hm(22, 15), End: hm(22, 30), Description: "too much"}
	runs := []scenarioResult{score(sc, 3, []firing{page, ticket}, []notification{
		{Receiver: "pager", At: hm(10, 6) + 30*time.Second, Severity: "critical", New: true, Alerts: []firing{page}},
		{Receiver: "ticket", At: hm(22, 15) + 30*time.Second, Severity: "warning", New: true, Alerts: []firing{ticket}},
	})}
	runs[0].EvalInterval = time.Minute
	rep := report{
		RulesSHA256: "abc", AlertmanagerSHA256: "def", Seeds: []uint64{3}, ScrapeInterval: time.Minute, EvalIntervals: []time.Duration{time.Minute}, Runs: runs,
		Alerts: summarize([]alertInfo{{"VideoConduitPage", "critical"}, {"VideoConduitTicket", "warning"}}, []*Scenario{sc}, runs),
	}
	var b strings.Builder
	if err := writeMarkdown(&b, rep, []*Scenario{sc}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"rules sha256: `abc`; Alertmanager configuration sha256: `def`",
		"- evaluated every 1m: incidents reported within their deadline: 1 of 1; incidents needing a page paged exactly once: 1 of 1 (more than once: 0); " +
			"on healthy periods: 0 pages (0 critical firings), 1 tickets (1 warning or info firings)",
		"| day | outage | page | 10m | 1m | 1/1 | 6m / 6m / 6m | 1 / 1 / 1 | 0 / 0 / 0 | Page (1) |",
		"| VideoConduitPage | critical | 1 | 1 | 6m / 6m / 6m | 0 |",
		"| VideoConduitTicket | warning | 0 | 0 | - | 1 |",
		"| day | 3 | 1m | ticket | 22:15 | VideoConduitTicket {} |",
		"| day | 3 | 1m | VideoConduitTicket | warning | 22:15-22:30 | too much |",
		"## Incidents not reported in time, or not paged exactly once\n\nNone.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0m", 90 * time.Second: "1m30s", -24 * time.Second: "-24s", 2 * time.Hour: "2h", 20 * time.Minute: "20m",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	var out strings.Builder
	if err := run(nil, &out); err == nil {
		t.Error("run without rule files succeeded")
	}
	if err := run([]string{"-scenario", "(", "x.yml"}, &out); err == nil {
		t.Error("run with a bad -scenario pattern succeeded")
	}
	if err := run([]string{"-alertmanager-config", "../../../examples/alertmanager.yml", "missing.yml"}, &out); err == nil {
		t.Error("run with a missing rule file succeeded")
	}
	if err := run([]string{"testdata/faults.rules.yml"}, &out); err == nil {
		t.Error("run without an Alertmanager configuration succeeded")
	}
	for _, bad := range []string{"1m,soon", "30s:("} {
		if err := run([]string{"-eval-interval", bad, "-alertmanager-config", "../../../examples/alertmanager.yml", "testdata/faults.rules.yml"}, &out); err == nil {
			t.Errorf("run with -eval-interval %s succeeded", bad)
		}
	}
}

func TestRunScenarioEvaluatesRulesOverScrapes(t *testing.T) {
	sc := &Scenario{Name: "faults", Replicas: 1, Faults: []Fault{{exporterDown, hm(10, 0), hm(10, 10), nil}, {targetGone, hm(15, 0), hm(15, 10), nil}}}
	firings, err := runScenario(sc, 1, config{
		ruleFiles: []string{"testdata/faults.rules.yml"}, scrapeInterval: time.Minute, evalInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range firings {
		got = append(got, f.Alert+" "+fmtClock(f.Start)+"-"+fmtClock(f.End))
	}
	slices.Sort(got)
	// Scrapes run at hh:mm:20, evaluations on the minute: the first failed
	// scrape is seen at 10:01 and 15:01, the first good one at 10:11 and
	// 15:11.
	want := []string{"CountersGone 10:01-10:11", "CountersGone 15:01-15:11", "TargetAbsent 15:01-15:11", "TargetDown 10:03-10:11"}
	if !slices.Equal(got, want) {
		t.Errorf("firings = %v, want %v", got, want)
	}
}

func TestReplicasSeeTheSameJobsAndFailApart(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sc := &Scenario{Faults: []Fault{{exporterDown, hm(1, 0), hm(1, 10), []int{1}}}}
	var jobs []job
	for m := 1; m < 3*60; m++ {
		created := origin.Add(time.Duration(m) * time.Minute).UnixMilli()
		jobs = append(jobs, job{typ: "download", source: "youtube", created: created, started: created + 1000, finished: created + 60_000, credits: 1})
	}
	e := newExporterModel(sc, origin, origin, origin.Add(3*time.Hour), jobs, rand.New(rand.NewPCG(1, 2)))
	if len(e.replicas) != 2 {
		t.Fatalf("%d replicas, want the default pair", len(e.replicas))
	}
	at := origin.Add(hm(0, 59) + 45*time.Second).UnixMilli()
	created := func(i int, samples []sample) float64 {
		for _, s := range samples {
			if s.lset.Get(labels.MetricName) == "videoconduit_jobs_created_total" && s.lset.Get("source") == "youtube" {
				if got := s.lset.Get("instance"); got != instance(i) {
					t.Errorf("replica %d's series carries instance %q", i, got)
				}
				return s.v
			}
		}
		t.Fatalf("replica %d: no created counter", i)
		return 0
	}
	// Both replicas counted the same jobs since they started (their polls
	// 11s apart see the same minute's jobs).
	if a, b := created(0, e.scrape(0, at)), created(1, e.scrape(1, at)); a != b || a != 59 {
		t.Errorf("created at 00:59:45: replica 0 %v, replica 1 %v, want 59 both", a, b)
	}
	// Replica 1 is down; replica 0 is not.
	during := origin.Add(hm(1, 5)).UnixMilli()
	if got := e.scrape(1, during); len(got) != 1 || got[0].v != 0 {
		t.Errorf("replica 1 while down: %v, want only up 0", got)
	}
	if got := e.scrape(0, during); len(got) < 10 {
		t.Errorf("replica 0 while replica 1 is down: %d series, want its full scrape", len(got))
	}
}
