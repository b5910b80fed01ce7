// Command scrapeload measures /metrics latency under concurrent scrapers:
//
//	go run ./bench/scrapeload -url http://127.0.0.1:10177/metrics -c 50 -d 20s
//
// It prints the number of scrapes, their rate, latency p50/p90/p99/max of
// whole scrapes (body included) and the errors by cause.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/videoconduit/videoconduit_exporter/bench/internal/scrape"
)

func main() {
	var cfg scrape.Config
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:10177/metrics", "URL to scrape")
	flag.IntVar(&cfg.Concurrency, "c", 50, "concurrent scrapers")
	flag.DurationVar(&cfg.Duration, "d", 20*time.Second, "how long to start scrapes")
	flag.DurationVar(&cfg.Interval, "interval", 0, "one scrape per scraper per interval; 0 scrapes back to back")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-scrape timeout")
	flag.StringVar(&cfg.Accept, "accept", scrape.PrometheusAccept, "Accept header")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := scrape.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrapeload:", err)
		os.Exit(1)
	}
	mode := "back-to-back"
	if cfg.Interval > 0 {
		mode = "every " + cfg.Interval.String()
	}
	fmt.Printf("%s c=%d d=%s %s: %s\n", cfg.URL, cfg.Concurrency, cfg.Duration, mode, res.Summary())
}
