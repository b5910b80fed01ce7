package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/videoconduit/videoconduit_exporter/bench/internal/scrape"
)

// severalAccountsDefaults gives the flags not on the command line the
// values of the several-accounts case: small accounts polled at the
// exporter's default interval and request budget, scraped for long enough
// to meet many accounts' new snapshots.
func (o *options) severalAccountsDefaults(given map[string]bool) {
	if !given["active"] {
		o.active = 200
	}
	if !given["interval"] {
		o.interval = 30 * time.Second
	}
	if !given["rps"] {
		o.rps = 5
	}
	if !given["polls"] {
		o.polls = 10
	}
	if !given["d"] {
		o.duration = time.Minute
	}
}

// runAccounts measures the exporter following o.accounts accounts through
// --config.file, against one simserver that serves each account a world of
// its own, as run does for one account from flags. It reports, in order:
//  1. after o.polls polls of every account, the API answering at once: API
//     calls per poll of each account, the series served, and the
//     exporter's memory;
//  2. /metrics latency while every API call takes o.latency and the
//     accounts' polls wait on it (each poll that ends gives /metrics new
//     series): one scraper back to back, then o.scrapers back to back and
//     paced like Prometheus servers;
//  3. the memory after those scrapes.
//
// The polls are measured with the API answering at once because at 2 s a
// call they outlast the interval: with the default job mix a poll makes
// some 38 calls, most of them lookups of jobs that finished since the last
// poll, and at 2 s a call polls took 72 to 84 s on average, for one account
// as for each of fifty.
func runAccounts(ctx context.Context, o options, dir, exporterBin, simBin string) error {
	keysDir := filepath.Join(dir, "keys")
	if err := os.Mkdir(keysDir, 0o700); err != nil {
		return err
	}
	names := make([]string, o.accounts)
	for i := range names {
		names[i] = fmt.Sprintf("acct-%02d", i+1)
		if err := os.WriteFile(filepath.Join(keysDir, names[i]), []byte(key+"_"+names[i]+"\n"), 0o600); err != nil {
			return err
		}
	}
	sim, apiURL, err := startSimserver(ctx, o, dir, simBin, "-keys-dir", keysDir)
	if err != nil {
		return err
	}
	defer sim.stop()
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(configYAML(o, apiURL, keysDir, names)), 0o600); err != nil {
		return err
	}
	exp, metricsURL, err := startExporter(ctx, o, dir, exporterBin, o.interval+2*time.Minute, "--config.file="+configFile)
	if err != nil {
		return err
	}
	defer exp.stop()
	fmt.Printf("machine: %d CPUs, %s, load average %s\n", runtime.NumCPU(), cpuModel(), loadAverage())
	fmt.Printf("accounts: %d, each %d old jobs, %d active jobs, default job mix arriving; "+
		"--collector.interval=%s, request budget %g/s per account\n",
		o.accounts, o.history, o.active, o.interval, o.rps)
	fmt.Printf("exporter built %s, extra flags %q, extra environment %q\n", buildKind(o.cgo), o.args, o.env)

	// 1. Every account's first poll (which pages more) is left out of the
	// calls per poll.
	first, err := waitEveryAccount(ctx, metricsURL, names, 1, 2*o.interval+time.Minute)
	if err != nil {
		return err
	}
	last, err := waitEveryAccount(ctx, metricsURL, names, float64(o.polls), o.interval*time.Duration(o.polls+2)+time.Minute)
	if err != nil {
		return err
	}
	mem, err := readMemory(exp.cmd.Process.Pid)
	if err != nil {
		return err
	}
	var calls, pollTimes []float64
	up := 0
	for _, name := range names {
		a, b := first.accounts[name], last.accounts[name]
		calls = append(calls, (b.calls-a.calls)/(b.polls-a.polls))
		pollTimes = append(pollTimes, (b.pollSeconds-a.pollSeconds)/(b.polls-a.polls))
		if b.up == 1 {
			up++
		}
	}
	fmt.Printf("API calls per poll per account (polls 2 to %.0f or more of each): median %.1f, min %.1f, max %.1f; all accounts %.2f\n",
		last.minPolls(), median(calls), slices.Min(calls), slices.Max(calls), (last.calls-first.calls)/(last.polls-first.polls))
	fmt.Printf("time per poll per account: median %.1fs, min %.1fs, max %.1fs; videoconduit_up 1 for %d of %d accounts\n",
		median(pollTimes), slices.Min(pollTimes), slices.Max(pollTimes), up, len(names))
	fmt.Printf("exporter after %.0f polls of every account: series %d, %s, go_memstats_heap_inuse_bytes %.1f MB\n",
		last.minPolls(), last.series, mem, last.heapInuse/1e6)

	// 2. Scrapes while every API call takes o.latency.
	if err := setLatency(ctx, apiURL, o.latency); err != nil {
		return err
	}
	if _, err := waitForSlowCall(ctx, apiURL, o.latency, o.interval+time.Minute); err != nil {
		return err
	}
	fmt.Printf("API latency now %s; polls are waiting on it\n", o.latency)
	for _, load := range []struct {
		scrapers int
		interval time.Duration
	}{{1, 0}, {o.scrapers, 0}, {o.scrapers, o.paced}} {
		before, err := readExporter(ctx, metricsURL)
		if err != nil {
			return err
		}
		r, err := scrape.Run(ctx, scrape.Config{URL: metricsURL, Concurrency: load.scrapers, Duration: o.duration, Interval: load.interval})
		if err != nil {
			return err
		}
		after, err := readExporter(ctx, metricsURL)
		if err != nil {
			return err
		}
		mode := "back to back"
		if load.interval > 0 {
			mode = "each every " + load.interval.String()
		}
		fmt.Printf("scrapes, %d scrapers %s for %s: %s; polls finished meanwhile %.0f\n",
			load.scrapers, mode, o.duration, r.Summary(), after.polls-before.polls)
	}
	// 3.
	if mem, err = readMemory(exp.cmd.Process.Pid); err != nil {
		return err
	}
	fmt.Printf("exporter memory after the scrape loads: %s; load average %s\n", mem, loadAverage())
	return nil
}

// configYAML is the exporter's --config.file: the accounts of names, each
// with its key file in keysDir.
func configYAML(o options, apiURL, keysDir string, names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  url: %s\n  interval: %s\n  max_requests_per_second: %s\naccounts:\n",
		apiURL, o.interval, strconv.FormatFloat(o.rps, 'f', -1, 64))
	for _, name := range names {
		fmt.Fprintf(&b, "  - name: %s\n    api_key_file: %s\n", name, filepath.Join(keysDir, name))
	}
	return b.String()
}

// waitEveryAccount waits until each account of names has finished at
// least n polls.
func waitEveryAccount(ctx context.Context, url string, names []string, n float64, timeout time.Duration) (exporterState, error) {
	var s exporterState
	err := poll(ctx, timeout, func() (bool, error) {
		var err error
		if s, err = readExporter(ctx, url); err != nil {
			return false, err
		}
		for _, name := range names {
			if a := s.accounts[name]; a == nil || a.polls < n {
				return false, fmt.Errorf("account %s has not finished %.0f polls (the fewest: %.0f, all accounts %.0f)", name, n, s.minPolls(), s.polls)
			}
		}
		return true, nil
	})
	return s, err
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadAverage is the machine's load over 1, 5 and 15 minutes: others may
// be using the cores.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	return strings.Join(fields[:min(3, len(fields))], " ")
}
