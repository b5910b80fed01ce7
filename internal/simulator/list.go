package simulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// filter is a list request's status and job_type, "" matching everything,
// and the world time of the request: a job listed only later is skipped.
type filter struct {
	status, jobType string
	now             time.Time
}

func (f filter) matches(j *job) bool {
	return !j.deleted && !j.listedFrom.After(f.now) &&
		(f.status == "" || f.status == j.j.Status) && (f.jobType == "" || f.jobType == j.j.Type)
}

// segment is a run of candidate jobs in ascending position order. get returns
// the job at k if it passes the filter, else nil.
type segment struct {
	n   int
	pos func(k int) int
	get func(k int) *job
}

func jobsSegment(jobs []*job, f filter) segment {
	return segment{
		n:   len(jobs),
		pos: func(k int) int { return jobs[k].pos },
		get: func(k int) *job {
			if f.matches(jobs[k]) {
				return jobs[k]
			}
			return nil
		},
	}
}

// segments returns where the jobs passing f can be, in ascending position
// order. Each costs what the filter needs and no more: active statuses come
// from the active index, already in order, never from the history; a type
// from its own index of live jobs; the untouched history only when it can
// hold a match.
func (s *Sim) segments(f filter) []segment {
	if client.IsActive(f.status) {
		return []segment{jobsSegment(s.active[activeKey{f.status, f.jobType}], f)}
	}
	var segs []segment
	historyCanMatch := (f.status == "" || f.status == client.StatusCompleted || f.status == client.StatusFailed) &&
		(f.jobType == "" || slices.Contains(s.hist.types.names, f.jobType))
	if s.hist.n > 0 && historyCanMatch {
		segs = append(segs, segment{
			n:   s.hist.n,
			pos: func(k int) int { return k },
			get: func(k int) *job {
				if j, ok := s.oldTouched[k]; ok {
					return jobOrNil(j, f)
				}
				if !s.oldMatches(k, f) {
					return nil
				}
				return s.oldJob(k, s.cfg.FullListItems)
			},
		})
	} else {
		touched := make([]*job, len(s.oldTouchedIdx))
		for k, i := range s.oldTouchedIdx {
			touched[k] = s.oldTouched[i]
		}
		segs = append(segs, jobsSegment(touched, f))
	}
	live := s.live
	if f.jobType != "" {
		live = s.liveByType[f.jobType]
	}
	return append(segs, jobsSegment(live, f))
}

func jobOrNil(j *job, f filter) *job {
	if f.matches(j) {
		return j
	}
	return nil
}

// walk visits the jobs passing f: newest first from just below position
// `from` (down), or oldest first from position `from` up, while visit says so.
func (s *Sim) walk(f filter, from int, down bool, visit func(*job) bool) {
	segs := s.segments(f)
	if down {
		slices.Reverse(segs)
	}
	for _, seg := range segs {
		k := sort.Search(seg.n, func(k int) bool { return seg.pos(k) >= from })
		step := 1
		if down {
			k, step = k-1, -1
		}
		for ; k >= 0 && k < seg.n; k += step {
			if j := seg.get(k); j != nil && !visit(j) {
				return
			}
		}
	}
}

// collect returns up to n jobs from walk.
func (s *Sim) collect(f filter, from int, down bool, n int) []*job {
	var out []*job
	s.walk(f, from, down, func(j *job) bool {
		out = append(out, j)
		return len(out) < n
	})
	return out
}

// total is one past the newest position.
func (s *Sim) total() int { return s.nextPos }

// cursorBody is what an opaque cursor holds: the position to continue below.
// The created_at is there to look like the API's own cursors; only pos counts.
type cursorBody struct {
	CreatedAt string `json:"created_at"`
	Pos       *int   `json:"pos"`
}

func encodeCursor(pos int, createdAt time.Time) string {
	b := []byte(`{"created_at":"`)
	b = createdAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","pos":`...)
	b = strconv.AppendInt(b, int64(pos), 10)
	return base64.StdEncoding.EncodeToString(append(b, '}'))
}

var errBadCursor = errors.New("invalid cursor")

func (s *Sim) decodeCursor(c string) (int, error) {
	raw, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadCursor, err)
	}
	var body cursorBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return 0, fmt.Errorf("%w: %w", errBadCursor, err)
	}
	if body.Pos == nil || *body.Pos < 0 || *body.Pos > s.total() {
		return 0, fmt.Errorf("%w: no such position", errBadCursor)
	}
	return *body.Pos, nil
}
