package simulator

import (
	"cmp"
	"slices"
)

// activeKey names one list of the active index: a status and a job type, or
// a status and "" for every type.
type activeKey struct{ status, jobType string }

// activeIndex holds the jobs the API shows as pending or processing, each
// under {status, type} and {status, ""}, in ascending position order. Kept
// sorted as jobs move, it lets a page filtered on an active status start by
// binary search instead of sorting the whole active set on every request.
// Lists that empty out stay in the map: the keys are few, and a busy world
// refills them at once.
type activeIndex map[activeKey][]*job

func (x activeIndex) keys(j *job) [2]activeKey {
	return [2]activeKey{{j.j.Status, ""}, {j.j.Status, j.j.Type}}
}

func byPos(j *job, pos int) int { return cmp.Compare(j.pos, pos) }

// add files j under its current status. New jobs have the highest position,
// so the usual insertion is an append.
func (x activeIndex) add(j *job) {
	for _, k := range x.keys(j) {
		list := x[k]
		if i, found := slices.BinarySearchFunc(list, j.pos, byPos); !found {
			x[k] = slices.Insert(list, i, j)
		}
	}
}

// remove takes j out from under its current status; it is a no-op for a job
// that is not there, as positions are unique.
func (x activeIndex) remove(j *job) {
	for _, k := range x.keys(j) {
		list := x[k]
		if i, found := slices.BinarySearchFunc(list, j.pos, byPos); found {
			x[k] = slices.Delete(list, i, i+1)
		}
	}
}
