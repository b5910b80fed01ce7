// Module tools/benchstat pins benchstat, which summarises and compares the
// output of `go test -bench` (BENCHMARKS.md). It is kept apart from the
// exporter's go.mod so that the exporter's dependency graph stays small.
module github.com/videoconduit/videoconduit_exporter/tools/benchstat

go 1.26.0

tool golang.org/x/perf/cmd/benchstat

require (
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da // indirect
)
