package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// ErrNoKey means Config.Key returned nothing usable (empty, or characters an
// HTTP header cannot carry), so no request was sent.
var ErrNoKey = errors.New("no usable API key")

// StatusError is an HTTP response outside 2xx that the client gave up on.
// errors.Is maps it to ErrUnauthorized (401, 403), ErrNotFound (404) and
// ErrRateLimited (429). On a 429, RetryAfter is how long the server asked to
// wait, so the caller can delay its next poll accordingly.
type StatusError struct {
	Endpoint   string        // EndpointList or EndpointGet
	StatusCode int           // HTTP status code
	RetryAfter time.Duration // server's Retry-After, 0 when absent
	Body       string        // single-line excerpt of the body, at most 200 bytes, API key redacted
}

// Error names the endpoint and status, and never contains the API key.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Endpoint, e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Is lets errors.Is match the sentinel for this status.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

const (
	maxExcerpt = 200
	// excerptWindow is how much of an error body is read for the excerpt. It
	// is far larger than the excerpt so that a key starting inside the excerpt
	// usually ends inside the window and is redacted whole. Folded whitespace
	// can still bring the window's end into the excerpt: a key cut there is
	// handled by redactKeyStart.
	excerptWindow = 4 << 10
	redacted      = "[REDACTED]"
)

// bodyExcerpt reads the start of an error body and makes it safe to log:
// the key redacted, control characters and whitespace runs folded into one
// space, cut to maxExcerpt bytes on a character boundary.
func bodyExcerpt(r io.Reader, key string) string {
	raw, _ := io.ReadAll(io.LimitReader(r, excerptWindow))
	text := strings.ToValidUTF8(string(raw), "")
	if key != "" {
		text = strings.ReplaceAll(text, key, redacted)
		if len(raw) == excerptWindow {
			text = redactKeyStart(text, key)
		}
	}
	text = strings.Join(strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(text) <= maxExcerpt {
		return text
	}
	cut := maxExcerpt
	for cut > 0 && !isRuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// redactKeyStart redacts the start of the key where text, cut short by the
// window, ends with it.
func redactKeyStart(text, key string) string {
	for n := min(len(key)-1, len(text)); n > 0; n-- {
		if strings.HasSuffix(text, key[:n]) {
			return text[:len(text)-n] + redacted
		}
	}
	return text
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
