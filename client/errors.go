package client

import "errors"

// Sentinel errors, matched with errors.Is, so callers can tell causes apart
// without parsing messages.
var (
	// ErrUnauthorized means the API answered 401 or 403: the API key was rejected.
	ErrUnauthorized = errors.New("the API key was rejected")
	// ErrNotFound means the API answered 404: it does not know the job.
	ErrNotFound = errors.New("not found")
	// ErrBadPagination means the API broke the cursor contract: a cursor that
	// does not advance, or has_more without a cursor.
	ErrBadPagination = errors.New("bad pagination")
	// ErrPageTooLarge means a response was absurdly large (too many items or bytes).
	ErrPageTooLarge = errors.New("response too large")
	// ErrRateLimited means the API kept answering 429, or asked for a longer
	// wait than the client is willing to sleep.
	ErrRateLimited = errors.New("rate limited")
)
