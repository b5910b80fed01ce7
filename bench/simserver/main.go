// Command simserver serves the simulated VideoConduit Jobs API on loopback in
// a process of its own, so that the exporter's memory can be measured apart
// from the simulator's. The world runs in real time from start-up: an old
// history of finished jobs, active jobs that stay pending or processing
// (half each) created an hour before start-up, and the default job mix
// arriving and finishing.
//
//	go run ./bench/simserver -history 1000000 -active 10000 -key-file key.txt
//
// With -keys-dir it serves several accounts, as the real API does: each file
// of the directory holds an account's key, and each account is a world of
// its own (-history and -active each, its own seed), chosen by the request's
// key:
//
//	go run ./bench/simserver -history 1000 -active 200 -keys-dir keys/
//
// Besides the API under /v1/, it serves /bench/requests (the requests served
// by endpoint, as JSON, summed over the accounts) and /bench/latency?d=2s
// (every later API response of every account waits that long).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// shiftedClock reads real time moved back by shift, so that the active jobs
// can be submitted in the past.
type shiftedClock struct{ shift atomic.Int64 }

func (c *shiftedClock) Now() time.Time { return time.Now().Add(-time.Duration(c.shift.Load())) }

// platformURLs gives the active jobs source URLs of every platform.
var platformURLs = []string{
	"https://www.youtube.com/watch?v=bench",
	"https://www.tiktok.com/@bench/video/1",
	"https://www.instagram.com/reel/bench/",
	"https://vimeo.com/1",
	"https://x.com/bench/status/1",
	"https://www.facebook.com/watch/?v=1",
	"https://www.twitch.tv/videos/1",
	"https://www.reddit.com/r/videos/comments/bench/",
	"https://soundcloud.com/bench/track",
	"https://www.dailymotion.com/video/bench",
	"https://cdn.example.org/media/bench.mp4",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simserver:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	addrFile := flag.String("addr-file", "", "file to write the base URL to once listening")
	history := flag.Int("history", 1_000_000, "old finished jobs")
	active := flag.Int("active", 10_000, "active jobs that never finish")
	keyFile := flag.String("key-file", "", "file holding the API key the server accepts (none: any key)")
	keysDir := flag.String("keys-dir", "", "directory of key files, one per account: serve an account for each (instead of -key-file)")
	seed := flag.Int64("seed", 1, "seed of the simulated world (of the i-th account: seed+i)")
	latency := flag.Duration("latency", 0, "wait before every API response")
	age := flag.Duration("active-age", time.Hour, "age of the active jobs at start-up")
	flag.Parse()

	keys, err := readKeys(*keyFile, *keysDir)
	if err != nil {
		return err
	}
	// The active jobs are created -active-age ago, then the world catches up
	// with real time. Created all at once at start-up, they would be a burst
	// within the exporter's lookback, paged again by each of its first polls.
	clock := &shiftedClock{}
	clock.shift.Store(int64(*age))
	sims := make([]*simulator.Sim, len(keys))
	for i, key := range keys {
		sims[i] = simulator.New(simulator.Config{Seed: *seed + int64(i), APIKey: key, History: *history, Clock: clock})
		if err := submitActive(sims[i], *active); err != nil {
			return err
		}
	}
	clock.shift.Store(0)
	setLatency := func(d time.Duration) {
		for _, sim := range sims {
			sim.SetFaults(simulator.Faults{Latency: d})
		}
	}
	setLatency(*latency)

	var api http.Handler = sims[0]
	if *keysDir != "" {
		byKey := simulator.NewAccounts()
		for i, key := range keys {
			byKey.Add(key, sims[i])
		}
		api = byKey
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.HandleFunc("/bench/requests", func(w http.ResponseWriter, _ *http.Request) {
		total := map[string]int{}
		for _, sim := range sims {
			for endpoint, n := range sim.Requests() {
				total[endpoint] += n
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(total) // a failed write means the reader left
	})
	mux.HandleFunc("/bench/latency", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "want d=<non-negative duration>", http.StatusBadRequest)
			return
		}
		setLatency(d)
		fmt.Fprintln(w, "latency", d)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	url := "http://" + ln.Addr().String()
	if *addrFile != "" {
		// Written whole under a temporary name, so a reader never sees half a URL.
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the address: %w", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			return fmt.Errorf("writing the address: %w", err)
		}
	}
	fmt.Printf("simserver: %s accounts=%d history=%d active=%d latency=%s\n", url, len(sims), *history, *active, *latency)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// Requests in flight may be waiting out the latency: nothing to finish.
	return srv.Close()
}

// readKeys returns the keys of the accounts to serve: one per file of
// keysDir, in name order, or else the one of keyFile ("" for any key).
func readKeys(keyFile, keysDir string) ([]string, error) {
	if keyFile != "" && keysDir != "" {
		return nil, errors.New("want -key-file or -keys-dir, not both")
	}
	if keysDir == "" {
		if keyFile == "" {
			return []string{""}, nil
		}
		key, err := readKey(keyFile)
		return []string{key}, err
	}
	entries, err := os.ReadDir(keysDir)
	if err != nil {
		return nil, fmt.Errorf("reading the keys: %w", err)
	}
	var keys []string
	for _, e := range entries { // ReadDir sorts by name
		if e.IsDir() {
			continue
		}
		key, err := readKey(filepath.Join(keysDir, e.Name()))
		if err != nil {
			return nil, err
		}
		if key == "" || slices.Contains(keys, key) {
			return nil, fmt.Errorf("key file %s: want a key of its own, got %q", e.Name(), key)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key file in %s", keysDir)
	}
	return keys, nil
}

func readKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// submitActive creates n active jobs, of every type and platform, half of
// them processing.
func submitActive(sim *simulator.Sim, n int) error {
	for i := range n {
		id := sim.Submit(client.JobTypes[i%len(client.JobTypes)], platformURLs[i%len(platformURLs)], 1)
		if i%2 == 1 {
			if err := sim.SetStatus(id, client.StatusProcessing, ""); err != nil {
				return fmt.Errorf("starting active job %d: %w", i, err)
			}
		}
	}
	return nil
}
