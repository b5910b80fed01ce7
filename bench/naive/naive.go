// Package naive is the baseline the exporter is measured against: what a
// quick script would do to turn the Jobs API into numbers, re-paging the
// whole job history on every poll and counting jobs by type and status.
package naive

import (
	"context"
	"fmt"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// Result is what one naive poll saw.
type Result struct {
	// Pages is the number of list pages read: one API call each when the
	// API answers well.
	Pages int
	// Jobs is the number of items read.
	Jobs int
	// ByTypeStatus counts the items by {job_type, status}.
	ByTypeStatus map[[2]string]int
}

// Poll pages every job the API lists, newest first to the oldest.
func Poll(ctx context.Context, api *client.Client, pageSize int) (Result, error) {
	r := Result{ByTypeStatus: map[[2]string]int{}}
	for page, err := range api.Pages(ctx, client.ListOptions{Limit: pageSize}) {
		if err != nil {
			return r, fmt.Errorf("naive poll after %d pages: %w", r.Pages, err)
		}
		r.Pages++
		for _, job := range page.Items {
			r.Jobs++
			r.ByTypeStatus[[2]string{job.Type, job.Status}]++
		}
	}
	return r, nil
}
