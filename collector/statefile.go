package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

// stateFormat identifies the state file's format; a file of another format
// or program is foreign and ignored.
const (
	stateProgram = "videoconduit_exporter"
	stateVersion = 1
)

// stateFile is the JSON form of the state kept across restarts: the
// position in the job list, the tracked jobs, the finished jobs whose
// details wait for a lookup, and every counter.
type stateFile struct {
	Program     string               `json:"program"`
	Version     int                  `json:"version"`
	API         string               `json:"api"`
	SavedAt     time.Time            `json:"saved_at"`
	HighWater   time.Time            `json:"high_water"`
	SweptHWM    time.Time            `json:"swept_high_water,omitzero"`
	SweptAt     time.Time            `json:"swept_at,omitzero"`
	Recent      map[string]time.Time `json:"recent"`
	Tracked     []trackedRecord      `json:"tracked"`
	Pending     []pendingRecord      `json:"pending_details,omitempty"`
	Created     []countRecord        `json:"created"`
	Finished    []countRecord        `json:"finished"`
	Failures    []countRecord        `json:"failures"`
	Charged     []countRecord        `json:"credits_charged"`
	Refunded    []countRecord        `json:"credits_refunded"`
	Vanished    []countRecord        `json:"vanished"`
	Truncations uint64               `json:"catchup_truncations"`
	Durations   []histogramRecord    `json:"durations"`
}

type trackedRecord struct {
	ID        string    `json:"id"`
	JobType   string    `json:"job_type"`
	Source    string    `json:"source"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Credits   int64     `json:"credits"`
}

// pendingRecord is a finished job whose details wait: the job as it was
// tracked, with the status its end counted under, and what is still to
// count.
type pendingRecord struct {
	trackedRecord
	SeenAt   time.Time `json:"seen_at"`
	Reason   bool      `json:"reason"`
	Duration bool      `json:"duration"`
}

// countRecord is one counter series: its label values in the order of the
// metric's labels, and its value.
type countRecord struct {
	Labels []string `json:"labels"`
	Value  int64    `json:"value"`
}

type histogramRecord struct {
	Labels  []string `json:"labels"`
	Buckets []uint64 `json:"buckets"`
	Count   uint64   `json:"count"`
	Sum     float64  `json:"sum"`
}

func (s *state) toFile(api string, now time.Time) *stateFile {
	f := &stateFile{
		Program: stateProgram, Version: stateVersion, API: api, SavedAt: now,
		HighWater: s.hwm, SweptHWM: s.sweptHWM, SweptAt: s.sweptAt, Recent: s.recent, Truncations: s.truncations,
	}
	for id, j := range s.tracked {
		f.Tracked = append(f.Tracked, trackedRecord{id, j.jobType, j.source, j.status, j.created, j.credits})
	}
	for id, d := range s.details {
		f.Pending = append(f.Pending, pendingRecord{trackedRecord{id, d.jobType, d.source, d.status, d.created, d.credits}, d.seen, d.reason, d.duration})
	}
	for k, v := range s.created {
		f.Created = append(f.Created, countRecord{[]string{k.jobType, k.source}, int64(v)})
	}
	for k, v := range s.finished {
		f.Finished = append(f.Finished, countRecord{[]string{k.jobType, k.source, k.status}, int64(v)})
	}
	for k, v := range s.failures {
		f.Failures = append(f.Failures, countRecord{[]string{k.jobType, k.source, k.reason}, int64(v)})
	}
	for k, v := range s.charged {
		f.Charged = append(f.Charged, countRecord{[]string{k}, v})
	}
	for k, v := range s.refunded {
		f.Refunded = append(f.Refunded, countRecord{[]string{k}, v})
	}
	for k, v := range s.vanished {
		f.Vanished = append(f.Vanished, countRecord{[]string{k}, int64(v)})
	}
	for k, h := range s.durations {
		f.Durations = append(f.Durations, histogramRecord{[]string{k.jobType, k.status}, h.buckets, h.count, h.sum})
	}
	return f
}

// toState rebuilds a state, admitting every label value it holds through
// the collector's label bounds so a resumed series keeps its labels.
func (f *stateFile) toState(c *JobCollector) (*state, error) {
	s := newState(c.classifier.Reasons())
	s.started, s.hwm, s.sweptHWM, s.sweptAt, s.truncations = true, f.HighWater, f.SweptHWM, f.SweptAt, f.Truncations
	for id, t := range f.Recent {
		s.recent[id] = t
	}
	// Every label value read back goes through the same bounds as a value
	// read from the API: a hand-edited file cannot add arbitrary series.
	jobType := func(v string) string { return c.jobTypes.value(v) }
	platforms, reasons := map[string]bool{}, map[string]bool{}
	for _, p := range platform.Names {
		platforms[p] = true
	}
	for _, r := range c.classifier.Reasons() {
		reasons[r] = true
	}
	source := func(v string) string { return known(platforms, v) }
	reason := func(v string) string { return known(reasons, v) }
	for _, r := range f.Tracked {
		s.tracked[r.ID] = trackedJob{
			jobType: jobType(r.JobType),
			source:  source(r.Source),
			status:  c.statuses.value(r.Status),
			created: r.CreatedAt,
			credits: r.Credits,
		}
	}
	if len(f.Pending) > maxPendingDetails {
		return nil, fmt.Errorf("%d finished jobs wait for details, more than the %d a collector keeps", len(f.Pending), maxPendingDetails)
	}
	for _, r := range f.Pending {
		if r.ID == "" || !(r.Reason || r.Duration) {
			return nil, fmt.Errorf("malformed pending details record %+v", r)
		}
		s.details[r.ID] = pendingDetail{
			jobType:  jobType(r.JobType),
			source:   source(r.Source),
			status:   c.statuses.value(r.Status),
			created:  r.CreatedAt,
			credits:  max(0, r.Credits),
			seen:     r.SeenAt,
			reason:   r.Reason,
			duration: r.Duration,
		}
	}
	for _, table := range []struct {
		records []countRecord
		arity   int
		add     func(l []string, v int64)
	}{
		{f.Created, 2, func(l []string, v int64) { s.created[createdKey{jobType(l[0]), source(l[1])}] += uint64(v) }},
		{f.Finished, 3, func(l []string, v int64) {
			s.finished[finishedKey{jobType(l[0]), source(l[1]), c.statuses.value(l[2])}] += uint64(v)
		}},
		{f.Failures, 3, func(l []string, v int64) {
			s.failures[failureKey{jobType(l[0]), source(l[1]), reason(l[2])}] += uint64(v)
		}},
		{f.Charged, 1, func(l []string, v int64) { s.charged[jobType(l[0])] += v }},
		{f.Refunded, 1, func(l []string, v int64) { s.refunded[jobType(l[0])] += v }},
		{f.Vanished, 1, func(l []string, v int64) { s.vanished[jobType(l[0])] += uint64(v) }},
	} {
		for _, r := range table.records {
			if len(r.Labels) != table.arity || r.Value < 0 {
				return nil, fmt.Errorf("malformed counter record %v", r)
			}
			table.add(r.Labels, r.Value)
		}
	}
	for _, r := range f.Durations {
		if len(r.Labels) != 2 || len(r.Buckets) != len(durationBuckets) {
			return nil, fmt.Errorf("malformed histogram record for %v: the bucket layout changed", r.Labels)
		}
		h := s.durationOf(jobType(r.Labels[0]), c.statuses.value(r.Labels[1]))
		for i, n := range r.Buckets {
			h.buckets[i] += n
		}
		h.count += r.Count
		h.sum += r.Sum
	}
	return s, nil
}

// known returns v if it is one of the allowed values, else "other".
func known(allowed map[string]bool, v string) string {
	if allowed[v] {
		return v
	}
	return otherValue
}

// loadState reads the state file. A missing file is a fresh start; a
// corrupt or foreign one is logged by the caller and also a fresh start.
func (c *JobCollector) loadState() (*state, error) {
	// A crash during a write leaves its temporary file; the state itself is
	// whole (the rename had not happened), so the leftovers can go.
	if stale, err := filepath.Glob(c.stateFile + ".tmp-*"); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	data, err := os.ReadFile(c.stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt: %w", c.stateFile, err)
	}
	switch {
	case f.Program != stateProgram || f.Version != stateVersion:
		return nil, fmt.Errorf("state file %s is not a videoconduit_exporter state of format %d (program %q, format %d)", c.stateFile, stateVersion, f.Program, f.Version)
	case f.API != c.stateAPI:
		return nil, fmt.Errorf("state file %s belongs to API %q, not %q", c.stateFile, f.API, c.stateAPI)
	}
	s, err := f.toState(c)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", c.stateFile, err)
	}
	return s, nil
}

// saveState writes the state atomically: a temporary file in the same
// folder, synced, then renamed over the old one, so a crash at any point
// leaves either the old or the new state, never a torn one.
func (c *JobCollector) saveState(s *state) error {
	data, err := json.Marshal(s.toFile(c.stateAPI, c.now()))
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	dir := filepath.Dir(c.stateFile)
	tmp, err := os.CreateTemp(dir, filepath.Base(c.stateFile)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.stateFile); err != nil {
		return fmt.Errorf("replacing state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}
