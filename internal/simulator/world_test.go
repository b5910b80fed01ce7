package simulator

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

func TestManualClock(t *testing.T) {
	c := NewManualClock(t0)
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("after Advance: %v", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after Set: %v", got)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(t0.Add(800 * time.Second)) {
		t.Fatalf("concurrent advances lost: %v", got)
	}
}

func TestRealClockByDefault(t *testing.T) {
	before := time.Now()
	s := New(Config{Profiles: scripted()})
	id := s.Submit("download", "https://youtu.be/x", 1)
	ev := s.Events(time.Time{})
	if len(ev) != 1 || ev[0].Job.ID != id {
		t.Fatalf("events %+v", ev)
	}
	if at := ev[0].Time; at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Fatalf("created at %v, not now", at)
	}
}

func TestDefaultProfilesAreLively(t *testing.T) {
	p := DefaultProfiles()
	for _, jt := range client.JobTypes {
		tp, ok := p[jt]
		if !ok {
			t.Fatalf("no default profile for %s", jt)
		}
		if tp.FailureRate < 0.03 || tp.FailureRate > 0.08 || tp.PerMinute <= 0 || tp.Credits <= 0 {
			t.Errorf("%s: %+v is not a lively default", jt, tp)
		}
	}
	for seed := int64(1); seed <= 10; seed++ {
		clk := NewManualClock(t0)
		s := New(Config{Seed: seed, Clock: clk})
		clk.Advance(time.Minute)
		tr := s.TruthSince(time.Time{})
		var created, completed, failed int
		var credits int64
		for _, n := range tr.Created {
			created += n
		}
		for k, n := range tr.Finished {
			switch k[2] {
			case client.StatusCompleted:
				completed += n
			case client.StatusFailed:
				failed += n
			}
		}
		for _, c := range tr.CreditsCharged {
			credits += c
		}
		if created < 30 || completed == 0 || failed == 0 || credits == 0 {
			t.Errorf("seed %d, first minute: %d created, %d completed, %d failed, %d credits",
				seed, created, completed, failed, credits)
		}
	}
}

// The world is a function of the seed, however often it is looked at.
func TestDeterministic(t *testing.T) {
	run := func(seed int64, step time.Duration) []Event {
		clk := NewManualClock(t0)
		s := New(Config{Seed: seed, Clock: clk})
		for elapsed := time.Duration(0); elapsed < 20*time.Minute; elapsed += step {
			clk.Advance(step)
			s.Events(clk.Now())
		}
		return s.Events(time.Time{})
	}
	a, b := run(7, time.Second), run(7, 20*time.Minute)
	if len(a) < 1000 {
		t.Fatalf("only %d events in 20 minutes", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different worlds")
	}
	if c := run(8, 20*time.Minute); reflect.DeepEqual(a[:10], c[:10]) {
		t.Fatal("different seeds, same world")
	}
}

func TestTruthMatchesEventsAndAPI(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 3, Clock: clk})
	srv := serve(t, s)
	clk.Advance(30 * time.Minute)
	since := t0.Add(10 * time.Minute)
	ev := s.Events(since)
	tr := s.TruthSince(since)

	var created, finished, failures int
	charged, refunded := map[string]int64{}, map[string]int64{}
	for i, e := range ev {
		if !e.Time.After(since) || (i > 0 && e.Time.Before(ev[i-1].Time)) {
			t.Fatalf("event %d at %v: not after %v in time order", i, e.Time, since)
		}
		if e.Platform != PlatformOf(e.Job.SourceURL) {
			t.Fatalf("event platform %s for %s", e.Platform, e.Job.SourceURL)
		}
		switch e.Kind {
		case Created:
			created++
			charged[e.Job.Type] += e.Job.CreditsCharged
			if !e.Time.Truncate(time.Second).Equal(e.Job.CreatedAt) || e.Job.Status != client.StatusPending {
				t.Fatalf("created event %+v", e)
			}
		case Finished:
			finished++
			if !e.Time.Truncate(time.Second).Equal(e.Job.CompletedAt) || e.Job.CompletedAt.Before(e.Job.CreatedAt) {
				t.Fatalf("finished event %+v", e)
			}
			if e.Job.Status == client.StatusFailed {
				failures++
				refunded[e.Job.Type] += e.Job.CreditsCharged
				if classify(e.Job.ErrorMessage) != e.Reason {
					t.Fatalf("message %q is not of class %s", e.Job.ErrorMessage, e.Reason)
				}
			} else if e.Job.DownloadURL == "" || len(e.Job.ResultData) == 0 || e.Job.ExpiresAt.IsZero() {
				t.Fatalf("completed without result: %+v", e.Job)
			}
		}
	}
	sum := func(m map[[3]string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	var tc int
	for _, v := range tr.Created {
		tc += v
	}
	if tc != created || sum(tr.Finished) != finished || sum(tr.Failures) != failures || failures == 0 {
		t.Fatalf("truth %d/%d/%d, events %d/%d/%d", tc, sum(tr.Finished), sum(tr.Failures), created, finished, failures)
	}
	if !reflect.DeepEqual(tr.CreditsCharged, charged) || !reflect.DeepEqual(tr.CreditsRefunded, refunded) {
		t.Fatalf("credits: truth %v/%v, events %v/%v", tr.CreditsCharged, tr.CreditsRefunded, charged, refunded)
	}

	// The active truth is what the API lists as active.
	for _, st := range []string{client.StatusPending, client.StatusProcessing} {
		items := listAll(t, srv.URL, vals("status", st, "limit", "100"))
		byType := map[string]int{}
		oldest := map[string]time.Time{}
		for _, it := range items {
			byType[it.Type]++
			if o, ok := oldest[it.Type]; !ok || it.CreatedAt.Before(o) {
				oldest[it.Type] = it.CreatedAt
			}
		}
		for jt, n := range byType {
			k := [2]string{jt, st}
			if tr.Active[k] != n || !tr.OldestActive[k].Equal(oldest[jt]) {
				t.Errorf("%v: truth %d oldest %v, API %d oldest %v", k, tr.Active[k], tr.OldestActive[k], n, oldest[jt])
			}
		}
		if len(items) == 0 {
			t.Errorf("no %s jobs after 30 minutes", st)
		}
	}
}

func TestScripted(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, Profiles: scripted()})
	srv := serve(t, s)
	a := s.Submit("download", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", 2)
	b := s.Submit("transcribe", "https://example.com/v.mp4", 5)
	c := s.Submit("mystery", "https://vimeo.com/1", 1)
	clk.Advance(90 * time.Second)
	for _, step := range []struct{ id, status, msg string }{
		{a, client.StatusProcessing, ""},
		{a, client.StatusCompleted, ""},
		{b, client.StatusFailed, "This video is private"},
		{c, "cancelled", ""},
	} {
		if err := s.SetStatus(step.id, step.status, step.msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetStatus("nope", client.StatusFailed, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetStatus of an unknown id: %v", err)
	}

	tr := s.TruthSince(time.Time{})
	want := Truth{
		Created:         map[[2]string]int{{"download", "youtube"}: 1, {"transcribe", "other"}: 1, {"mystery", "vimeo"}: 1},
		Finished:        map[[3]string]int{{"download", "youtube", "completed"}: 1, {"transcribe", "other", "failed"}: 1, {"mystery", "vimeo", "cancelled"}: 1},
		Failures:        map[[3]string]int{{"transcribe", "other", "private"}: 1},
		CreditsCharged:  map[string]int64{"download": 2, "transcribe": 5, "mystery": 1},
		CreditsRefunded: map[string]int64{"transcribe": 5},
		Active:          map[[2]string]int{},
		OldestActive:    map[[2]string]time.Time{},
	}
	if !reflect.DeepEqual(tr, want) {
		t.Fatalf("truth\n got %+v\nwant %+v", tr, want)
	}

	job := getObject(t, srv.URL+"/v1/jobs/"+a)
	if job["status"] != "completed" || job["completed_at"] != "2025-01-15T10:01:30Z" || job["download_url"] == nil ||
		job["result_data"] == nil || job["expires_at"] != "2025-01-16T10:01:30Z" || job["error_message"] != nil {
		t.Fatalf("completed job: %v", job)
	}
	job = getObject(t, srv.URL+"/v1/jobs/"+b)
	if job["status"] != "failed" || job["error_message"] != "This video is private" || job["download_url"] != nil {
		t.Fatalf("failed job: %v", job)
	}
	// A type or status the world has produced can be filtered on.
	if items := listAll(t, srv.URL, vals("job_type", "mystery", "status", "cancelled")); len(items) != 1 || items[0].ID != c {
		t.Fatalf("custom filters: %+v", items)
	}

	// Back to active, then forgotten.
	if err := s.SetStatus(a, client.StatusPending, ""); err != nil {
		t.Fatal(err)
	}
	if n := s.TruthSince(time.Time{}).Active[[2]string{"download", "pending"}]; n != 1 {
		t.Fatalf("active after moving back: %d", n)
	}
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if r := get(t, srv.URL+"/v1/jobs/"+a); r.status != http.StatusNotFound {
		t.Fatalf("deleted job: %d", r.status)
	}
	if err := s.Delete(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.SetStatus(a, client.StatusCompleted, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetStatus after delete: %v", err)
	}
	items := listAll(t, srv.URL, vals())
	if len(items) != 2 || items[0].ID != c || items[1].ID != b {
		t.Fatalf("list after delete: %+v", items)
	}
	if len(s.TruthSince(time.Time{}).Active) != 0 {
		t.Fatal("a deleted job stays active")
	}
	if got := s.Requests(); got["get"] != 3 || got["list"] != 2 {
		t.Fatalf("requests %v", got)
	}
}

// Scheduled moves of a generated job stop once a script takes it over.
func TestScriptTakesOverGeneratedJob(t *testing.T) {
	clk := NewManualClock(t0)
	s := New(Config{Seed: 2, Clock: clk})
	clk.Advance(10 * time.Second)
	ev := s.Events(time.Time{})
	id := ev[0].Job.ID
	if err := s.SetStatus(id, client.StatusProcessing, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	for _, e := range s.Events(time.Time{}) {
		if e.Kind == Finished && e.Job.ID == id {
			t.Fatalf("scripted job finished by itself: %+v", e)
		}
	}
	if s.TruthSince(time.Time{}).Active[[2]string{ev[0].Job.Type, client.StatusProcessing}] == 0 {
		t.Fatal("scripted job left the active set")
	}
}

func TestFailureSpike(t *testing.T) {
	clk := NewManualClock(t0)
	spikeStart := t0.Add(10 * time.Minute)
	s := New(Config{Seed: 4, Clock: clk, Incidents: []Incident{
		{Kind: FailureSpike, Start: spikeStart, Duration: 20 * time.Minute, Platform: "youtube", FailureRate: 0.9},
		{Kind: FailureSpike, Start: spikeStart, Duration: 20 * time.Minute, JobType: "preview", Platform: "tiktok", FailureRate: 0},
		{Kind: FailureSpike, Start: t0.Add(40 * time.Minute), Duration: 10 * time.Minute, JobType: "comments", FailureRate: 1},
		{Kind: FailureSpike, Start: t0.Add(60 * time.Minute), Duration: 10 * time.Minute, JobType: "translate", FailureRate: 1,
			Reason: ReasonRateLimited},
	}})
	clk.Advance(2 * time.Hour)
	type tally struct{ created, failed int }
	in, out := tally{}, tally{}
	createdAt := map[string]time.Time{}
	for _, e := range s.Events(time.Time{}) {
		if e.Kind == Created {
			createdAt[e.Job.ID] = e.Job.CreatedAt
			continue
		}
		c := createdAt[e.Job.ID]
		inSpike := !c.Before(spikeStart) && c.Before(spikeStart.Add(20*time.Minute))
		switch {
		case e.Platform == "youtube" && inSpike:
			in.created++
			if e.Job.Status == client.StatusFailed {
				in.failed++
				if e.Reason != ReasonUnavailable || e.Job.CompletedAt.Sub(c) > 10*time.Minute {
					t.Fatalf("spike failure %+v", e)
				}
			}
		case e.Platform == "youtube":
			out.created++
			if e.Job.Status == client.StatusFailed {
				out.failed++
			}
		case e.Platform == "tiktok" && e.Job.Type == "preview" && inSpike && e.Job.Status == client.StatusFailed:
			t.Fatalf("a spike of rate 0 failed a job: %+v", e)
		case e.Job.Type == "comments" && !c.Before(t0.Add(40*time.Minute)) && c.Before(t0.Add(50*time.Minute)):
			if e.Job.Status != client.StatusFailed || e.Reason != ReasonInternal {
				t.Fatalf("type-wide spike: %+v", e)
			}
		case e.Job.Type == "translate" && !c.Before(t0.Add(60*time.Minute)) && c.Before(t0.Add(70*time.Minute)):
			if e.Job.Status != client.StatusFailed || e.Reason != ReasonRateLimited || classify(e.Job.ErrorMessage) != ReasonRateLimited {
				t.Fatalf("spike with a reason: %+v", e)
			}
		}
	}
	inRate := float64(in.failed) / float64(in.created)
	outRate := float64(out.failed) / float64(out.created)
	if in.created < 100 || inRate < 0.8 || outRate > 0.2 {
		t.Fatalf("youtube failure rate %.2f of %d in the spike, %.2f of %d outside", inRate, in.created, outRate, out.created)
	}
}

func TestStall(t *testing.T) {
	clk := NewManualClock(t0)
	stallEnd := t0.Add(15 * time.Minute)
	s := New(Config{Seed: 5, Clock: clk, Incidents: []Incident{
		{Kind: Stall, Start: t0, Duration: 15 * time.Minute, JobType: "download"},
	}})
	clk.Set(stallEnd.Add(-time.Second))
	tr := s.TruthSince(time.Time{})
	if n := tr.Active[[2]string{"download", "pending"}]; n < 300 {
		t.Fatalf("%d download jobs pending at the end of the stall", n)
	}
	if age := stallEnd.Sub(tr.OldestActive[[2]string{"download", "pending"}]); age < 14*time.Minute {
		t.Fatalf("oldest pending download is %v old", age)
	}
	for k, n := range tr.Finished {
		if k[0] == "download" && n > 0 {
			t.Fatalf("download jobs finished during the stall: %v", tr.Finished)
		}
	}
	if tr.Finished[[3]string{"transcribe", "youtube", "completed"}] == 0 {
		t.Fatal("a stall of downloads held other types")
	}
	clk.Set(stallEnd.Add(20 * time.Minute))
	tr = s.TruthSince(stallEnd)
	if n := tr.Active[[2]string{"download", "pending"}]; n > 20 {
		t.Fatalf("%d download jobs still pending after the stall", n)
	}
	finished := 0
	for k, n := range tr.Finished {
		if k[0] == "download" {
			finished += n
		}
	}
	if finished < 300 {
		t.Fatalf("only %d downloads finished after the stall", finished)
	}
}

// TestLateListing lists a world every second, whole and by status, and
// notes when each job first appears: the downloads created inside a
// LateListing incident appear up to its delay after their created_at,
// spread over it, and every other job, and every job before and after the
// window, at once.
func TestLateListing(t *testing.T) {
	clk := NewManualClock(t0)
	start, delay := t0.Add(time.Minute), 40*time.Second
	s := New(Config{Seed: 6, Clock: clk, Incidents: []Incident{
		{Kind: LateListing, Start: start, Duration: 2 * time.Minute, JobType: "download", Delay: delay},
	}})
	base := serve(t, s).URL
	firstListed := map[string]time.Time{}
	for clk.Now().Before(t0.Add(5 * time.Minute)) {
		clk.Advance(time.Second)
		for _, status := range []string{"", client.StatusPending, client.StatusProcessing} {
			q := vals("limit", "100")
			if status != "" {
				q.Set("status", status)
			}
			for _, it := range listAll(t, base, q) {
				if _, ok := firstListed[it.ID]; !ok {
					firstListed[it.ID] = clk.Now()
				}
			}
		}
	}
	late, longest := 0, time.Duration(0)
	for _, e := range s.Events(time.Time{}) {
		if e.Kind != Created || !e.Time.Before(t0.Add(4*time.Minute)) {
			continue
		}
		listed, ok := firstListed[e.Job.ID]
		if !ok {
			t.Fatalf("job %s created at %v never listed", e.Job.ID, e.Time)
		}
		wait := listed.Sub(e.Time)
		affected := e.Job.Type == "download" && !e.Time.Before(start) && e.Time.Before(start.Add(2*time.Minute))
		switch {
		case !affected && wait > time.Second:
			t.Errorf("%s job created at %v first listed %v later", e.Job.Type, e.Time, wait)
		case affected && wait > delay+time.Second:
			t.Errorf("late download created at %v first listed %v later, beyond the delay", e.Time, wait)
		case affected && wait > 5*time.Second:
			late++
			longest = max(longest, wait)
		}
	}
	if late < 30 || longest < delay*3/4 {
		t.Errorf("%d downloads listed more than 5 s late, the latest %v: the delay is not spread over %v", late, longest, delay)
	}
}

func TestPlatformsAndURLs(t *testing.T) {
	r := rng{s: 1}
	for _, p := range PlatformNames {
		for range 200 {
			if u := sourceURL(&r, p); PlatformOf(u) != p {
				t.Fatalf("%s URL %s reads as %s", p, u, PlatformOf(u))
			}
		}
	}
	for u, want := range map[string]string{
		"https://user@WWW.YouTube.com:443/watch?v=1": "youtube",
		"youtu.be/abc":                  "youtube",
		"https://notyoutube.com/v":      "other",
		"https://www.bilibili.example/": "other",
		"":                              "other",
	} {
		if got := PlatformOf(u); got != want {
			t.Errorf("PlatformOf(%q) = %s, want %s", u, got, want)
		}
	}
	// A configured platform outside the table keeps its name in the truth.
	clk := NewManualClock(t0)
	s := New(Config{Seed: 1, Clock: clk, Platforms: map[string]float64{"bilibili": 1}})
	clk.Advance(time.Minute)
	for k := range s.TruthSince(time.Time{}).Created {
		if k[1] != "bilibili" {
			t.Fatalf("platform %s", k[1])
		}
	}
}

func TestFailureMessages(t *testing.T) {
	for _, reason := range FailureReasons {
		msgs := FailureMessages(reason, "https://videos.example.com/v/bcd")
		if len(msgs) < 2 {
			t.Errorf("%s: %d message variants", reason, len(msgs))
		}
		for _, m := range msgs {
			if got := classify(m); got != reason {
				t.Errorf("%q reads as %s, not %s", m, got, reason)
			}
		}
	}
	if FailureMessages("nope", "") != nil || classify("the cat ate it") != ReasonOther {
		t.Fatal("unknown classes")
	}
	if m := failureMessage(&rng{}, "custom_reason", ""); m != "Job failed: custom_reason" {
		t.Fatalf("custom class message %q", m)
	}
}

func TestWeighted(t *testing.T) {
	w := newWeighted(map[string]float64{"a": 1, "b": 3, "z": 0})
	counts := map[string]int{}
	r := rng{s: 9}
	for range 4000 {
		counts[w.pick(r.float())]++
	}
	if counts["z"] != 0 || counts["a"] < 850 || counts["a"] > 1150 || counts["b"] < 2850 {
		t.Fatalf("picks %v", counts)
	}
	// With no positive weight every name is equally likely.
	even := newWeighted(map[string]float64{"x": 0, "y": 0})
	if !slices.Equal(even.names, []string{"x", "y"}) || even.pick(0.25) != "x" || even.pick(0.75) != "y" {
		t.Fatalf("fallback %+v", even)
	}
	if (weighted{}).pick(0.5) != "" {
		t.Fatal("empty pick")
	}
}

func TestStartBeforeClockAndClockGoingBack(t *testing.T) {
	clk := NewManualClock(t0)
	start := t0.Add(-time.Hour)
	s := New(Config{Seed: 1, Clock: clk, Start: start})
	ev := s.Events(time.Time{})
	if len(ev) < 1000 || ev[0].Time.Before(start) || ev[len(ev)-1].Time.After(t0) {
		t.Fatalf("%d events from %v to %v", len(ev), ev[0].Time, ev[len(ev)-1].Time)
	}
	clk.Set(t0.Add(-2 * time.Hour))
	s.Submit("download", "https://youtu.be/a", 1)
	ev = s.Events(time.Time{})
	if last := ev[len(ev)-1]; !last.Time.Equal(t0) {
		t.Fatalf("a job submitted after the clock went back was created at %v", last.Time)
	}
}
