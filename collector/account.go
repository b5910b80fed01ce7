package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// accountProbes is how many known jobs sameAccount looks up: enough that
// jobs the account deleted by chance cannot pass for another account's key.
const accountProbes = 3

// sameAccount reports whether the current key still reaches the account
// whose jobs s counted, by looking up the newest jobs s knows: a key of
// another account gets 404 for every one of them. With no job known there
// is nothing to mix up, and it reports true.
func (c *JobCollector) sameAccount(ctx context.Context, s *state) (bool, error) {
	ids := newestKnown(s, accountProbes)
	for _, id := range ids {
		_, err := c.source.GetJob(ctx, id)
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, client.ErrNotFound):
			return false, fmt.Errorf("checking that the API key still reaches the same account: %w", err)
		}
	}
	return len(ids) == 0, nil
}

// newestKnown returns up to n ids of the jobs s knows, newest first: those
// seen lately (see lookback), then the tracked ones. The newest are the
// least likely to have been deleted since.
func newestKnown(s *state, n int) []string {
	type known struct {
		id string
		at time.Time
	}
	var all []known
	for id, at := range s.recent {
		all = append(all, known{id, at})
	}
	for id, tj := range s.tracked {
		if _, dup := s.recent[id]; !dup {
			all = append(all, known{id, tj.created})
		}
	}
	slices.SortFunc(all, func(a, b known) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(a.id, b.id)) })
	ids := make([]string, 0, n)
	for _, k := range all[:min(n, len(all))] {
		ids = append(ids, k.id)
	}
	return ids
}
