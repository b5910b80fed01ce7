// Command benchmedian summarises `go test -bench` output taken with
// -count=N: the median of every reported unit per benchmark, and with two
// files the ratio new/old of each median, so that figures taken on a noisy
// machine can still be compared.
//
//	go run ./bench/benchmedian after.txt
//	go run ./bench/benchmedian before.txt after.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: benchmedian [old.txt] new.txt")
		os.Exit(2)
	}
	var sets []results
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchmedian:", err)
			os.Exit(1)
		}
		r, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchmedian:", path+":", err)
			os.Exit(1)
		}
		sets = append(sets, r)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	write(w, sets)
	w.Flush()
}

// results holds, per benchmark in order of appearance, the values of each
// unit over the runs.
type results struct {
	names  []string
	values map[string]map[string][]float64 // name → unit → values
	units  map[string][]string             // name → units in order
}

func parse(r io.Reader) (results, error) {
	res := results{values: map[string]map[string][]float64{}, units: map[string][]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Benchmark<name> <iterations> (<value> <unit>)...
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		if res.values[name] == nil {
			res.names = append(res.names, name)
			res.values[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return res, fmt.Errorf("%s: value %q: %w", name, fields[i], err)
			}
			unit := fields[i+1]
			if _, ok := res.values[name][unit]; !ok {
				res.units[name] = append(res.units[name], unit)
			}
			res.values[name][unit] = append(res.values[name][unit], v)
		}
	}
	return res, sc.Err()
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func write(w io.Writer, sets []results) {
	last := sets[len(sets)-1]
	if len(sets) == 1 {
		fmt.Fprintln(w, "benchmark\tunit\tmedian\truns")
	} else {
		fmt.Fprintln(w, "benchmark\tunit\told median\tnew median\tnew/old\truns")
	}
	for _, name := range last.names {
		for _, unit := range last.units[name] {
			vs := last.values[name][unit]
			if len(sets) == 1 {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", name, unit, format(median(vs)), len(vs))
				continue
			}
			old := sets[0].values[name][unit]
			if len(old) == 0 {
				fmt.Fprintf(w, "%s\t%s\t-\t%s\t-\t%d\n", name, unit, format(median(vs)), len(vs))
				continue
			}
			o, n := median(old), median(vs)
			ratio := "-"
			if o != 0 {
				ratio = fmt.Sprintf("%.2f", n/o)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", name, unit, format(o), format(n), ratio, len(old), len(vs))
		}
	}
}

// format prints a value with three significant digits, without exponents.
func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
