package simulator

import (
	"math"
	"time"
)

// Faults are the API's bad days. Each *Rate is a probability per request,
// drawn from the seeded fault generator (apart from the world's, so faults
// never change what happens to jobs). The zero value is a good day.
type Faults struct {
	Latency            time.Duration // real sleep before each response (honours the request's context)
	ServerErrorRate    float64       // 500/502/503 with a JSON or plain body
	RateLimitRate      float64       // 429 with Retry-After
	RetryAfter         time.Duration // value sent (delta-seconds, at least 1)
	RetryAfterDate     bool          // send Retry-After as an HTTP-date instead
	Unauthorized       bool          // every request 401 (a revoked key)
	Forbidden          bool          // every request 403
	ConnectionDropRate float64       // close the connection without a response
	MalformedRate      float64       // 200 with invalid JSON
	TruncatedRate      float64       // 200 with the JSON body cut in the middle
	HTMLRate           float64       // 502 or 200 with an HTML error page
	StuckCursorRate    float64       // list: next_cursor equals the cursor sent (never advances), has_more true
	MissingCursorRate  float64       // list: has_more true, next_cursor null
	RepeatRate         float64       // list: the page repeats items of the previous page, or duplicates its own
	UnknownFields      bool          // extra unknown fields in every object and in the page envelope
	HugeBodyRate       float64       // 200 whose body holds >= 32 MiB of JSON whitespace, streamed
	SlowBody           time.Duration // body written in small chunks over this duration
}

// SetFaults replaces the faults; they apply to requests that start afterwards.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// draw reports whether a fault of this rate strikes this request.
func (s *Sim) draw(rate float64) bool { return rate > 0 && s.faultRNG.chance(rate) }

// tokenBucket is the server's rate limit, in real time.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64, now time.Time) tokenBucket {
	burst := math.Max(1, math.Ceil(rate))
	return tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends a token if there is one. It returns the tokens left and how
// long until the next token (when none was left) or until the bucket is full.
func (b *tokenBucket) take(now time.Time) (ok bool, left int, wait time.Duration) {
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false, 0, secondsDur((1 - b.tokens) / b.rate)
	}
	b.tokens--
	return true, int(b.tokens), secondsDur((b.burst - b.tokens) / b.rate)
}

func secondsDur(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }

// ceilSeconds is a duration as whole delta-seconds for Retry-After: never 0,
// which would invite an immediate retry.
func ceilSeconds(d time.Duration) int64 { return max(1, int64(math.Ceil(d.Seconds()))) }
