//go:build !race

package main

// raceEnabled makes the robust tests build the exporter with the race
// detector when they themselves run under it.
const raceEnabled = false
