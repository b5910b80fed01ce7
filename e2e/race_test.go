//go:build race

package e2e

// raceEnabled makes the tests build the exporter with the race detector
// when they themselves run under it.
const raceEnabled = true
