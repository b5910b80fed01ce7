package main

import (
	"strings"
	"testing"
)

const oldRuns = `goos: linux
BenchmarkPoll/new=100-2   	 1000	  900 ns/op	  27.5 allocs/job	 111 jobs/s
BenchmarkPoll/new=100-2   	 1000	  700 ns/op	  27.5 allocs/job	 142 jobs/s
BenchmarkPoll/new=100-2   	 1000	  800 ns/op	  27.5 allocs/job	 125 jobs/s
PASS
`

const newRuns = `BenchmarkPoll/new=100-2   	 2000	  400 ns/op	  10 allocs/job	 250 jobs/s
BenchmarkPoll/new=100-2   	 2000	  600 ns/op	  10 allocs/job	 166 jobs/s
BenchmarkOther-2   	 5	  3 ns/op
ok  	example	1.0s
`

func TestMedianAndRatio(t *testing.T) {
	old, err := parse(strings.NewReader(oldRuns))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := parse(strings.NewReader(newRuns))
	if err != nil {
		t.Fatal(err)
	}
	if got := median(old.values["Poll/new=100-2"]["ns/op"]); got != 800 {
		t.Errorf("median of odd runs = %v, want 800", got)
	}
	if got := median(cur.values["Poll/new=100-2"]["ns/op"]); got != 500 {
		t.Errorf("median of even runs = %v, want 500", got)
	}
	var out strings.Builder
	write(&out, []results{old, cur})
	for _, want := range []string{
		"Poll/new=100-2\tns/op\t800\t500\t0.62\t3/2",
		"Poll/new=100-2\tallocs/job\t27.5\t10\t0.36\t3/2",
		"Other-2\tns/op\t-\t3\t-\t1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRejectsBadValues(t *testing.T) {
	if _, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("a value that is not a number was accepted")
	}
}
