package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// notification is the body Alertmanager's webhook integration posts.
type notification struct {
	Receiver string         `json:"receiver"`
	Status   string         `json:"status"`
	Alerts   []alertPayload `json:"alerts"`
	// path is the URL path the notification was posted to: the receiver
	// whose webhook it went through (see testAlertmanagerConfig).
	path string
}

type alertPayload struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// webhook is the person the alerts page: an HTTP server on 127.0.0.1 that
// keeps every notification Alertmanager posts.
type webhook struct {
	srv *httptest.Server

	mu      sync.Mutex
	got     []notification
	bad     []string      // bodies that were not notifications
	changed chan struct{} // closed and replaced on every post
}

func newWebhook() *webhook {
	w := &webhook{changed: make(chan struct{})}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	return w
}

func (w *webhook) url() string { return w.srv.URL }

func (w *webhook) close() { w.srv.Close() }

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	var n notification
	err := json.NewDecoder(r.Body).Decode(&n)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.bad = append(w.bad, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		http.Error(rw, err.Error(), http.StatusBadRequest)
	} else {
		n.path = r.URL.Path
		w.got = append(w.got, n)
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor returns the first notification, and its alert, for which match
// holds, waiting for Alertmanager to post it until ctx ends.
func (w *webhook) waitFor(ctx context.Context, match func(notification, alertPayload) bool) (notification, alertPayload, error) {
	for {
		w.mu.Lock()
		for _, n := range w.got {
			for _, a := range n.Alerts {
				if match(n, a) {
					w.mu.Unlock()
					return n, a, nil
				}
			}
		}
		changed, summary := w.changed, w.summaryLocked()
		w.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return notification{}, alertPayload{}, fmt.Errorf("%w; the webhook received: %s", ctx.Err(), summary)
		}
	}
}

// summaryLocked describes what arrived so far, for a failure message.
func (w *webhook) summaryLocked() string {
	if len(w.got) == 0 && len(w.bad) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for _, n := range w.got {
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, "\n  %s → %s (%s): %s %v", n.path, n.Receiver, n.Status, a.Status, a.Labels)
		}
	}
	for _, bad := range w.bad {
		fmt.Fprintf(&b, "\n  malformed: %s", bad)
	}
	return b.String()
}
