package simulator

import (
	"container/heap"
	"time"
)

type momentKind int

const (
	arrive momentKind = iota // a job of jobType arrives
	start                    // job starts processing
	finish                   // job reaches its drawn outcome
)

// moment is something scheduled to happen in the world.
type moment struct {
	at      time.Time
	seq     uint64 // breaks ties in scheduling order, so the world is deterministic
	kind    momentKind
	jobType string
	job     *job
}

// timeline is a min-heap of moments by time. It holds one arrival per type
// and one move per active job, so it stays small however long the world runs.
type timeline struct {
	items []moment
	seq   uint64
}

func (t *timeline) Len() int { return len(t.items) }
func (t *timeline) Less(a, b int) bool {
	x, y := &t.items[a], &t.items[b]
	if !x.at.Equal(y.at) {
		return x.at.Before(y.at)
	}
	return x.seq < y.seq
}
func (t *timeline) Swap(a, b int) { t.items[a], t.items[b] = t.items[b], t.items[a] }
func (t *timeline) Push(x any)    { t.items = append(t.items, x.(moment)) }
func (t *timeline) Pop() any {
	last := t.items[len(t.items)-1]
	t.items = t.items[:len(t.items)-1]
	return last
}

func (t *timeline) push(m moment) {
	t.seq++
	m.seq = t.seq
	heap.Push(t, m)
}

// popUntil removes and returns the earliest moment if it is due by `until`.
func (t *timeline) popUntil(until time.Time) (moment, bool) {
	if len(t.items) == 0 || t.items[0].at.After(until) {
		return moment{}, false
	}
	return heap.Pop(t).(moment), true
}
