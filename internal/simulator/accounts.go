package simulator

import (
	"net/http"
	"strings"
	"sync"
)

// Accounts serves several simulated VideoConduit accounts behind one API,
// as the real service does: the request's API key chooses the account. Each
// account is a Sim of its own, with its own world, faults, rate limit and
// truth, so a test can break one account and check that the others are
// untouched. It is safe for concurrent use.
type Accounts struct {
	mu    sync.RWMutex
	byKey map[string]*Sim
}

// NewAccounts returns an API with no account: every request gets 401 until
// Add gives a key one.
func NewAccounts() *Accounts {
	return &Accounts{byKey: map[string]*Sim{}}
}

// Add serves sim to requests bearing key, replacing the account the key had.
// The Sim checks its own Config.APIKey as well: leave it empty, or set it to
// key.
func (a *Accounts) Add(key string, sim *Sim) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byKey[key] = sim
}

// Remove revokes key: its requests get 401 from now on.
func (a *Accounts) Remove(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byKey, key)
}

// ServeHTTP hands the request to the account of its Bearer key, or answers
// 401 as the API does for a missing or unknown key.
func (a *Accounts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, hasKey := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a.mu.RLock()
	sim := a.byKey[key]
	a.mu.RUnlock()
	if sim == nil {
		detail := "Invalid API key"
		if !hasKey {
			detail = "Missing API key: send Authorization: Bearer <key>"
		}
		writeReply(w, r, unauthorized(detail), 0)
		return
	}
	sim.ServeHTTP(w, r)
}
