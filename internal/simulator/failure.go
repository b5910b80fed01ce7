package simulator

import (
	"strings"
)

// Failure classes the simulator chooses for failed jobs; the names are those
// of the exporter's default classification.
const (
	ReasonUnavailable    = "unavailable"
	ReasonPrivate        = "private"
	ReasonGeoRestricted  = "geo_restricted"
	ReasonCopyright      = "copyright"
	ReasonUnsupportedURL = "unsupported_url"
	ReasonTooLarge       = "too_large"
	ReasonTimeout        = "timeout"
	ReasonRateLimited    = "rate_limited"
	ReasonInternal       = "internal"
	// ReasonOther is what SetStatus records for a failure message that matches
	// no class of the simulator's own.
	ReasonOther = "other"
)

// FailureReasons lists the failure classes the simulator generates.
var FailureReasons = []string{
	ReasonUnavailable, ReasonPrivate, ReasonGeoRestricted, ReasonCopyright, ReasonUnsupportedURL,
	ReasonTooLarge, ReasonTimeout, ReasonRateLimited, ReasonInternal,
}

// failureClass is one failure reason: the phrases that identify it and the
// messages (templates where {url} is the job's source URL) that carry them.
type failureClass struct {
	phrases  []string
	messages []string
}

// Every message carries one of its class's phrases and none of another
// class's, so the class can be read back from the text.
var failureClasses = map[string]failureClass{
	ReasonUnavailable: {
		phrases: []string{"video unavailable", "removed by the uploader", "no longer available"},
		messages: []string{
			"Video unavailable",
			"This video has been removed by the uploader",
			"Video unavailable. This content is no longer available",
			"ERROR: Video unavailable",
		},
	},
	ReasonPrivate: {
		phrases: []string{"video is private", "sign in to confirm your age", "private video"},
		messages: []string{
			"This video is private",
			"Sign in to confirm your age",
			"Private video. Sign in if you've been granted access to this video",
			"Sign in to confirm your age. This video may be inappropriate for some users.",
		},
	},
	ReasonGeoRestricted: {
		phrases: []string{"not available in your country"},
		messages: []string{
			"This video is not available in your country",
			"Video not available in your country",
			"The uploader has made this content not available in your country",
		},
	},
	ReasonCopyright: {
		phrases: []string{"blocked on copyright grounds"},
		messages: []string{
			"This video has been blocked on copyright grounds",
			"Video blocked on copyright grounds",
			"This video contains content that is blocked on copyright grounds",
		},
	},
	ReasonUnsupportedURL: {
		phrases: []string{"unsupported url"},
		messages: []string{
			"Unsupported URL: {url}",
			"ERROR: Unsupported URL: {url}",
		},
	},
	ReasonTooLarge: {
		phrases: []string{"exceeds the maximum duration", "file too large"},
		messages: []string{
			"Video exceeds the maximum duration of 4 hours",
			"File too large",
			"File too large: 6.2 GB exceeds the 5 GB limit",
		},
	},
	ReasonTimeout: {
		phrases: []string{"timed out"},
		messages: []string{
			"Download timed out after 300s",
			"ERROR: Download timed out after 300s",
			"Download timed out after 300s while fetching media",
		},
	},
	ReasonRateLimited: {
		phrases: []string{"too many requests"},
		messages: []string{
			"HTTP Error 429: Too Many Requests from upstream",
			"ERROR: HTTP Error 429: Too Many Requests from upstream",
			"Upstream refused: HTTP Error 429: Too Many Requests from upstream",
		},
	},
	ReasonInternal: {
		phrases: []string{"internal error"},
		messages: []string{
			"Internal error, please retry",
			"Internal error, please retry later",
			"Internal error (worker lost), please retry",
		},
	},
}

// Failure mixes by platform kind. Unsupported URLs only happen on unknown
// hosts, where they are the usual failure.
var (
	knownHostReasons = newWeighted(map[string]float64{
		ReasonUnavailable: 30, ReasonPrivate: 15, ReasonGeoRestricted: 8, ReasonCopyright: 8,
		ReasonTooLarge: 6, ReasonTimeout: 10, ReasonRateLimited: 10, ReasonInternal: 13,
	})
	unknownHostReasons = newWeighted(map[string]float64{
		ReasonUnsupportedURL: 60, ReasonUnavailable: 15, ReasonTimeout: 10, ReasonInternal: 15,
	})
)

func drawReason(r *rng, platform string) string {
	if platform == PlatformOther {
		return unknownHostReasons.pick(r.float())
	}
	return knownHostReasons.pick(r.float())
}

// failureMessage draws a message of the class for a job with this source URL.
// A class outside the table (a custom Incident.Reason) gets a message naming it.
func failureMessage(r *rng, reason, sourceURL string) string {
	c, ok := failureClasses[reason]
	if !ok {
		return "Job failed: " + reason
	}
	return strings.ReplaceAll(r.oneOf(c.messages), "{url}", sourceURL)
}

// FailureMessages returns every message variant of a failure class, for a job
// whose source URL is sourceURL; nil for an unknown class. Exporter tests use
// it to check their classification against what the simulator sends.
func FailureMessages(reason, sourceURL string) []string {
	c, ok := failureClasses[reason]
	if !ok {
		return nil
	}
	out := make([]string, len(c.messages))
	for i, m := range c.messages {
		out[i] = strings.ReplaceAll(m, "{url}", sourceURL)
	}
	return out
}

// classify reads the failure class back from a message, for jobs that
// SetStatus fails with a caller's message.
func classify(message string) string {
	lower := strings.ToLower(message)
	for _, reason := range FailureReasons {
		for _, p := range failureClasses[reason].phrases {
			if strings.Contains(lower, p) {
				return reason
			}
		}
	}
	return ReasonOther
}
