// Package benchmeter reports what a benchmark loop costs per unit of work
// (a job, a scrape) rather than per iteration, from the runtime's counters.
package benchmeter

import (
	"runtime"
	"testing"
)

// Meter holds the runtime's allocation counters from before a loop.
type Meter struct{ before runtime.MemStats }

// Start reads the counters; call it just before the loop.
func Start() *Meter {
	m := &Meter{}
	runtime.ReadMemStats(&m.before)
	return m
}

// Report adds units/s, allocs/unit and B/unit to the benchmark's results:
// units is the work done by all of the loop's iterations. Allocations by
// other goroutines in the process count too.
func (m *Meter) Report(b *testing.B, units int, unit string) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(units)/b.Elapsed().Seconds(), unit+"s/s")
	b.ReportMetric(float64(after.Mallocs-m.before.Mallocs)/float64(units), "allocs/"+unit)
	b.ReportMetric(float64(after.TotalAlloc-m.before.TotalAlloc)/float64(units), "B/"+unit)
}
