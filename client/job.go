// Package client speaks HTTP to the VideoConduit Jobs API. It knows nothing of
// Prometheus: callers observe requests through Config.Observe.
package client

import (
	"encoding/json"
	"time"
)

// Job statuses documented by the API. Pending and processing are the active
// statuses; any other status is terminal.
const (
	StatusPending    = "pending"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// Endpoint names passed to Config.Observe.
const (
	EndpointList = "list"
	EndpointGet  = "get"
)

// JobTypes lists the job types documented by the API, in the API page's order.
var JobTypes = []string{"download", "transcribe", "translate", "preview", "fingerprint", "comments"}

// Statuses lists the job statuses documented by the API, in the API page's order.
var Statuses = []string{StatusPending, StatusProcessing, StatusCompleted, StatusFailed}

// IsActive reports whether a job in this status can still change.
func IsActive(status string) bool {
	return status == StatusPending || status == StatusProcessing
}

// Job is one VideoConduit job. List items may carry only a subset of the
// fields (job_id, job_type, status, source_url, credits_charged, created_at);
// every other field is optional and stays zero when absent. A timestamp that
// does not parse is left zero rather than failing the whole page.
type Job struct {
	ID             string          `json:"job_id"`
	Type           string          `json:"job_type"`
	Status         string          `json:"status"`
	SourceURL      string          `json:"source_url"`
	Parameters     json.RawMessage `json:"parameters,omitempty"`
	CreditsCharged int64           `json:"credits_charged"`
	DownloadURL    string          `json:"download_url,omitempty"`
	ResultData     json.RawMessage `json:"result_data,omitempty"`
	ErrorMessage   string          `json:"error_message,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	CompletedAt    time.Time       `json:"completed_at,omitzero"`
	ExpiresAt      time.Time       `json:"expires_at,omitzero"`
}

// Page is one page of GET /v1/jobs. Items come newest first.
type Page struct {
	Items      []Job  `json:"items"`
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
}

// ListOptions filters GET /v1/jobs. Empty fields are not sent.
type ListOptions struct {
	Status  string
	JobType string
	Limit   int
}
