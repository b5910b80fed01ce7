// Command loadtest measures the exporter as users run it: the release binary
// in its own process, polling the simulated API served by bench/simserver in
// another. From the repository root:
//
//	go run ./bench/loadtest -history 1000000 -active 10000
//
// It reports, in order:
//  1. steady polling: API calls and wall time per poll, resident memory of
//     the exporter (VmRSS, VmHWM) and its Go heap in use;
//  2. the naive baseline against the same API: one poll that pages the
//     whole history, its calls and wall time;
//  3. /metrics latency while every API call takes -latency (2 s) to answer:
//     one scraper back to back (the cost of a scrape), then -c scrapers back
//     to back and -c scrapers paced like Prometheus servers;
//  4. the naive baseline's time per poll at that latency, measured on its
//     first pages and scaled to its calls.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/videoconduit/videoconduit_exporter/bench/internal/scrape"
	"github.com/videoconduit/videoconduit_exporter/bench/naive"
	"github.com/videoconduit/videoconduit_exporter/client"
)

// key is the API key the exporter sends and the simulated API accepts.
const key = "vc_loadtest_key"

type options struct {
	accounts        int
	history, active int
	polls           int
	interval        time.Duration
	rps             float64
	scrapers        int
	duration        time.Duration
	paced           time.Duration
	latency         time.Duration
	naivePages      int
	cgo             bool
	env             string
	args            string
}

func main() {
	var o options
	flag.IntVar(&o.accounts, "accounts", 0, "follow this many accounts through --config.file (see accounts.go), each its own world; "+
		"0 runs one account from flags. With accounts, flags not given take the values of the several-accounts case: "+
		"-active 200, -interval 30s, -rps 5, -polls 10, -d 60s")
	flag.IntVar(&o.history, "history", 1_000_000, "old finished jobs in the simulated account")
	flag.IntVar(&o.active, "active", 10_000, "active jobs in the simulated account")
	flag.IntVar(&o.polls, "polls", 5, "steady polls to measure")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "exporter --collector.interval")
	flag.Float64Var(&o.rps, "rps", 1000, "request budget per second of the exporter and of the naive poller")
	flag.IntVar(&o.scrapers, "c", 50, "concurrent scrapers")
	flag.DurationVar(&o.duration, "d", 20*time.Second, "length of each scrape load")
	flag.DurationVar(&o.paced, "paced", time.Second, "interval of each scraper in the paced load")
	flag.DurationVar(&o.latency, "latency", 2*time.Second, "API latency during the scrape loads")
	flag.IntVar(&o.naivePages, "naive-pages", 3, "pages the naive poller reads at that latency")
	flag.BoolVar(&o.cgo, "cgo", false, "build with cgo and without -s -w, instead of as scripts/build-image does")
	flag.StringVar(&o.args, "exporter-args", "", "comma-separated flags added to the exporter's command line, e.g. --web.disable-exporter-metrics")
	flag.StringVar(&o.env, "exporter-env", "", "comma-separated KEY=VALUE pairs added to the exporter's environment, e.g. GOGC=50")
	flag.Parse()
	if o.accounts > 0 {
		given := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
		o.severalAccountsDefaults(given)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "videoconduit-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exporterBin, simBin := filepath.Join(dir, "videoconduit_exporter"), filepath.Join(dir, "simserver")
	if err := build(ctx, o.cgo, exporterBin, simBin); err != nil {
		return err
	}
	if o.accounts > 0 {
		return runAccounts(ctx, o, dir, exporterBin, simBin)
	}
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		return err
	}

	sim, apiURL, err := startSimserver(ctx, o, dir, simBin, "-key-file", keyFile)
	if err != nil {
		return err
	}
	defer sim.stop()
	exp, metricsURL, err := startExporter(ctx, o, dir, exporterBin, 2*time.Minute,
		"--videoconduit.url="+apiURL, "--videoconduit.api-key-file="+keyFile,
		"--collector.interval="+o.interval.String(),
		"--videoconduit.max-requests-per-second="+strconv.FormatFloat(o.rps, 'f', -1, 64))
	if err != nil {
		return err
	}
	defer exp.stop()
	fmt.Printf("machine: %d CPUs, %s\n", runtime.NumCPU(), cpuModel())
	fmt.Printf("account: %d old jobs, %d active jobs, default job mix arriving; exporter built %s, extra flags %q, extra environment %q\n",
		o.history, o.active, buildKind(o.cgo), o.args, o.env)

	// 1. Steady polling, with the API answering at once.
	first, err := waitPolls(ctx, metricsURL, 1, o.interval*4)
	if err != nil {
		return err
	}
	last, err := waitPolls(ctx, metricsURL, first.polls+float64(o.polls), o.interval*time.Duration(o.polls+4)+time.Minute)
	if err != nil {
		return err
	}
	polls := last.polls - first.polls
	exporterCalls := (last.calls - first.calls) / polls
	exporterPoll := time.Duration((last.pollSeconds - first.pollSeconds) / polls * float64(time.Second))
	mem, err := readMemory(exp.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("exporter: %.1f API calls per poll, %s per poll (mean of %.0f polls)\n", exporterCalls, exporterPoll.Round(time.Millisecond), polls)
	fmt.Printf("exporter memory after %.0f polls: %s, go_memstats_heap_inuse_bytes %.1f MB, series %d\n",
		last.polls, mem, last.heapInuse/1e6, last.series)

	// 2. The naive baseline, same API, same client settings.
	api, err := client.New(client.Config{
		BaseURL:           apiURL,
		Key:               func() string { return key },
		UserAgent:         "naive-baseline",
		RequestsPerSecond: o.rps,
	})
	if err != nil {
		return err
	}
	began := time.Now()
	res, err := naive.Poll(ctx, api, 100)
	if err != nil {
		return err
	}
	naivePoll := time.Since(began)
	fmt.Printf("naive: %d API calls per poll (%d jobs), %s per poll\n", res.Pages, res.Jobs, naivePoll.Round(time.Millisecond))
	fmt.Printf("naive/exporter: %.0f× the API calls, %.1f× the wall time per poll\n",
		float64(res.Pages)/exporterCalls, naivePoll.Seconds()/exporterPoll.Seconds())

	// 3. Scrapes while every API call takes o.latency.
	if err := setLatency(ctx, apiURL, o.latency); err != nil {
		return err
	}
	inFlight, err := waitForSlowCall(ctx, apiURL, o.latency, o.interval+time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("API latency now %s; a poll is waiting on it (%d API requests started so far)\n", o.latency, inFlight)
	before, err := readExporter(ctx, metricsURL)
	if err != nil {
		return err
	}
	// One scraper back to back gives the cost of a scrape without queueing.
	for _, load := range []struct {
		scrapers int
		interval time.Duration
	}{{1, 0}, {o.scrapers, 0}, {o.scrapers, o.paced}} {
		r, err := scrape.Run(ctx, scrape.Config{URL: metricsURL, Concurrency: load.scrapers, Duration: o.duration, Interval: load.interval})
		if err != nil {
			return err
		}
		mode := "back to back"
		if load.interval > 0 {
			mode = "each every " + load.interval.String()
		}
		fmt.Printf("scrapes, %d scrapers %s for %s: %s\n", load.scrapers, mode, o.duration, r.Summary())
	}
	after, err := readExporter(ctx, metricsURL)
	if err != nil {
		return err
	}
	fmt.Printf("polls finished during the scrape loads: %.0f (each needs %.0f calls of %s)\n", after.polls-before.polls, exporterCalls, o.latency)
	mem, err = readMemory(exp.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("exporter memory after the scrape loads: %s\n", mem)

	// 4. The naive poll at that latency: its first pages, scaled.
	pageTime, err := naivePageTime(ctx, api, o.naivePages)
	if err != nil {
		return err
	}
	naiveSlow := pageTime * time.Duration(res.Pages)
	fmt.Printf("naive at %s latency: %s per page over %d pages, so %s per poll (%d calls); "+
		"an exporter that paged at scrape time would answer each scrape after that long\n",
		o.latency, pageTime.Round(time.Millisecond), o.naivePages, naiveSlow.Round(time.Second), res.Pages)
	return nil
}

// startSimserver starts the simulated API with o's history and active jobs
// and args, and returns its URL once it listens.
func startSimserver(ctx context.Context, o options, dir, bin string, args ...string) (*process, string, error) {
	addrFile := filepath.Join(dir, "api-addr")
	args = append(args, "-history", strconv.Itoa(o.history), "-active", strconv.Itoa(o.active), "-addr-file", addrFile)
	sim, err := start(dir, "simserver", bin, nil, args...)
	if err != nil {
		return nil, "", err
	}
	// Fifty worlds take a while to build.
	apiURL, err := waitForFile(ctx, addrFile, 2*time.Minute)
	if err != nil {
		sim.stop()
		return nil, "", fmt.Errorf("simserver did not start (see %s): %w", sim.log, err)
	}
	return sim, apiURL, nil
}

// startExporter starts the exporter with args and the -exporter-args and
// -exporter-env of o, on a free loopback port, and waits until it is ready.
func startExporter(ctx context.Context, o options, dir, bin string, readyWithin time.Duration, args ...string) (*process, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	var env []string
	if o.env != "" {
		env = strings.Split(o.env, ",")
	}
	args = append(args, "--web.listen-address=127.0.0.1:"+port)
	if o.args != "" {
		args = append(args, strings.Split(o.args, ",")...)
	}
	exp, err := start(dir, "exporter", bin, env, args...)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, "http://127.0.0.1:"+port+"/-/ready", readyWithin); err != nil {
		exp.stop()
		return nil, "", fmt.Errorf("exporter not ready (see %s): %w", exp.log, err)
	}
	return exp, "http://127.0.0.1:" + port + "/metrics", nil
}

func buildKind(cgo bool) string {
	if cgo {
		return "with plain go build (cgo, symbols)"
	}
	return "as scripts/build-image does (CGO_ENABLED=0, -trimpath, -ldflags=-s -w)"
}

func build(ctx context.Context, cgo bool, exporterBin, simBin string) error {
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", exporterBin, "."}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		args = []string{"build", "-o", exporterBin, "."}
		env = os.Environ()
	}
	for _, c := range []*exec.Cmd{
		exec.CommandContext(ctx, "go", args...),
		exec.CommandContext(ctx, "go", "build", "-o", simBin, "./bench/simserver"),
	} {
		c.Env, c.Stdout, c.Stderr = env, os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("%s (run from the repository root): %w", strings.Join(c.Args, " "), err)
		}
	}
	return nil
}

// process is a child in a process group of its own, so that stopping it
// stops everything it started.
type process struct {
	cmd *exec.Cmd
	log string
}

func start(dir, name, bin string, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &process{cmd: cmd, log: logPath}, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after five seconds.
func (p *process) stop() {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM) // already gone is fine
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait() // its exit status is of no interest once we stop it
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-done
	}
}

// poll runs check every 100ms until it reports done or the deadline passes.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := check()
		switch {
		case done:
			return nil
		case time.Now().After(deadline):
			if err == nil {
				err = errors.New("condition not met")
			}
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitForFile(ctx context.Context, path string, timeout time.Duration) (string, error) {
	var content string
	err := poll(ctx, timeout, func() (bool, error) {
		data, err := os.ReadFile(path)
		content = strings.TrimSpace(string(data))
		return err == nil && content != "", err
	})
	return content, err
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

func get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		code, _, err := get(ctx, url)
		return code == http.StatusOK, err
	})
}

// exporterState is what the exporter's own /metrics says: polls, their
// seconds and API calls summed over the accounts, and by account.
type exporterState struct {
	polls, pollSeconds, calls, heapInuse float64
	series                               int
	accounts                             map[string]*accountState
}

type accountState struct {
	polls, pollSeconds, calls, up float64
}

func (s exporterState) account(name string) *accountState {
	a := s.accounts[name]
	if a == nil {
		a = &accountState{}
		s.accounts[name] = a
	}
	return a
}

// minPolls is the fewest polls any account has finished.
func (s exporterState) minPolls() float64 {
	if len(s.accounts) == 0 {
		return 0
	}
	least := math.Inf(1)
	for _, a := range s.accounts {
		least = min(least, a.polls)
	}
	return least
}

func readExporter(ctx context.Context, url string) (exporterState, error) {
	code, body, err := get(ctx, url)
	if err != nil || code != http.StatusOK {
		return exporterState{}, fmt.Errorf("scraping %s: HTTP %d: %w", url, code, err)
	}
	s := exporterState{accounts: map[string]*accountState{}}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		s.series++
		name, value, ok := sampleOf(line)
		if !ok {
			continue
		}
		switch name {
		case "videoconduit_poll_duration_seconds_count":
			s.polls += value
			s.account(labelValue(line, "account")).polls = value
		case "videoconduit_poll_duration_seconds_sum":
			s.pollSeconds += value
			s.account(labelValue(line, "account")).pollSeconds = value
		case "videoconduit_api_requests_total":
			s.calls += value
			s.account(labelValue(line, "account")).calls += value
		case "videoconduit_up":
			s.account(labelValue(line, "account")).up = value
		case "go_memstats_heap_inuse_bytes":
			s.heapInuse = value
		}
	}
	return s, sc.Err()
}

// sampleOf splits a text-format sample line into its metric name and value.
func sampleOf(line string) (string, float64, bool) {
	name := line
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
	}
	fields := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
	if len(fields) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
	return name, v, err == nil
}

// labelValue returns the value of label in a text-format sample line, ""
// if it has none. Label values here never hold quotes or commas.
func labelValue(line, label string) string {
	_, rest, ok := strings.Cut(line, label+`="`)
	if !ok {
		return ""
	}
	value, _, _ := strings.Cut(rest, `"`)
	return value
}

// waitPolls waits until the exporter has finished at least n polls.
func waitPolls(ctx context.Context, url string, n float64, timeout time.Duration) (exporterState, error) {
	var s exporterState
	err := poll(ctx, timeout, func() (bool, error) {
		var err error
		s, err = readExporter(ctx, url)
		return err == nil && s.polls >= n, err
	})
	return s, err
}

// memory is the exporter's resident memory in MB: VmRSS splits into the
// anonymous part (heap, stacks) and the file-backed part (the binary's pages).
type memory struct{ rss, hwm, anon, file float64 }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %.1f MB (anon %.1f, file %.1f), VmHWM %.1f MB", m.rss, m.anon, m.file, m.hwm)
}

func readMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			m.rss = kb / 1024
		case "VmHWM:":
			m.hwm = kb / 1024
		case "RssAnon:":
			m.anon = kb / 1024
		case "RssFile:":
			m.file = kb / 1024
		}
	}
	return m, nil
}

func setLatency(ctx context.Context, apiURL string, d time.Duration) error {
	code, body, err := get(ctx, apiURL+"/bench/latency?d="+d.String())
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("setting the API latency: HTTP %d %s: %w", code, body, err)
	}
	return nil
}

func apiRequests(ctx context.Context, apiURL string) (int, error) {
	code, body, err := get(ctx, apiURL+"/bench/requests")
	if err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("reading the API's request count: HTTP %d: %w", code, err)
	}
	var counts map[string]int
	if err := json.Unmarshal(body, &counts); err != nil {
		return 0, err
	}
	return counts[client.EndpointList] + counts[client.EndpointGet], nil
}

// waitForSlowCall waits until an API request has started after the latency
// was set and has been waiting on it for half of it, so that the scrapes
// that follow meet a poll in flight.
func waitForSlowCall(ctx context.Context, apiURL string, latency, timeout time.Duration) (int, error) {
	base, err := apiRequests(ctx, apiURL)
	if err != nil {
		return 0, err
	}
	n := base
	err = poll(ctx, timeout, func() (bool, error) {
		var err error
		n, err = apiRequests(ctx, apiURL)
		return n > base, err
	})
	if err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(latency / 2):
	}
	return n, nil
}

// naivePageTime times the naive poller's first pages at the current latency.
func naivePageTime(ctx context.Context, api *client.Client, pages int) (time.Duration, error) {
	began, n := time.Now(), 0
	for _, err := range api.Pages(ctx, client.ListOptions{Limit: 100}) {
		if err != nil {
			return 0, err
		}
		if n++; n == pages {
			break
		}
	}
	return time.Since(began) / time.Duration(n), nil
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
