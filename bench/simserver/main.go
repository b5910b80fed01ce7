// Command simserver serves the simulated VideoConduit Jobs API on loopback in
// a process of its own, so that the exporter's memory can be measured apart
// from the simulator's. The world runs in real time from start-up: an old
// history of finished jobs, active jobs that stay pending or processing
// (half each) created an hour before start-up, and the default job mix
// arriving and finishing.
//
//	go run ./bench/simserver -history 1000000 -active 10000 -key-file key.txt
//
// Besides the API under /v1/, it serves /bench/requests (the requests served
// by endpoint, as JSON) and /bench/latency?d=2s (every later API response
// waits that long).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
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
	seed := flag.Int64("seed", 1, "seed of the simulated world")
	latency := flag.Duration("latency", 0, "wait before every API response")
	age := flag.Duration("active-age", time.Hour, "age of the active jobs at start-up")
	flag.Parse()

	key := ""
	if *keyFile != "" {
		data, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("reading the key: %w", err)
		}
		key = strings.TrimSpace(string(data))
	}
	// The active jobs are created -active-age ago, then the world catches up
	// with real time. Created all at once at start-up, they would be a burst
	// within the exporter's lookback, paged again by each of its first polls.
	clock := &shiftedClock{}
	clock.shift.Store(int64(*age))
	sim := simulator.New(simulator.Config{Seed: *seed, APIKey: key, History: *history, Clock: clock})
	for i := range *active {
		id := sim.Submit(client.JobTypes[i%len(client.JobTypes)], platformURLs[i%len(platformURLs)], 1)
		if i%2 == 1 {
			if err := sim.SetStatus(id, client.StatusProcessing, ""); err != nil {
				return fmt.Errorf("starting active job %d: %w", i, err)
			}
		}
	}
	clock.shift.Store(0)
	sim.SetFaults(simulator.Faults{Latency: *latency})

	mux := http.NewServeMux()
	mux.Handle("/v1/", sim)
	mux.HandleFunc("/bench/requests", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(sim.Requests()) // a failed write means the reader left
	})
	mux.HandleFunc("/bench/latency", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "want d=<non-negative duration>", http.StatusBadRequest)
			return
		}
		sim.SetFaults(simulator.Faults{Latency: d})
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
	fmt.Printf("simserver: %s history=%d active=%d latency=%s\n", url, *history, *active, *latency)

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
