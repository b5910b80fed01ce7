package simulator

import (
	"math"
	"time"
)

// rng is a small splitmix64 generator. The simulator owns its generator so
// that a world is a pure function of its seed, and so that an old-history job
// can get a generator of its own from (seed, index) without allocating.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is splitmix64's finaliser: it turns any counter into a well-spread value.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// float returns a uniform draw in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// intn returns a draw in [0, n); the modulo bias is irrelevant at these sizes.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) chance(p float64) bool { return r.float() < p }

// exp draws an exponentially distributed duration with the given mean.
func (r *rng) exp(mean time.Duration) time.Duration {
	return time.Duration(-math.Log(1-r.float()) * float64(mean))
}

// between draws a duration uniformly in [lo, hi).
func (r *rng) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.float()*float64(hi-lo))
}

func (r *rng) str(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.intn(len(alphabet))]
	}
	return string(b)
}

func (r *rng) oneOf(xs []string) string { return xs[r.intn(len(xs))] }
