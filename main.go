// Command videoconduit_exporter exports the jobs of a VideoConduit account as
// Prometheus metrics.
package main

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/videoconduit/videoconduit_exporter/client"
	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/internal/apikey"
	"github.com/videoconduit/videoconduit_exporter/internal/exposition"
)

const exporterName = "videoconduit_exporter"

// defaultPort is above the 9100–9999 block of the Prometheus default port
// allocations, which is used up.
const defaultPort = "10177"

func init() {
	// go run and go install leave the ldflags-stamped version empty; the
	// module version from the build info is the truth then.
	if bi, ok := debug.ReadBuildInfo(); ok && version.Version == "" {
		version.Version = bi.Main.Version
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command-line flags.
type options struct {
	apiURL            string
	apiKeyFile        string
	apiTimeout        time.Duration
	requestsPerSecond float64
	interval          time.Duration
	pageSize          int
	metricsPath       string
	logLevel          string
	logFormat         string
	stateFile         string
	reasonsFile       string
	noExporterMetrics bool
	maxRequests       int
	demo              demoOptions
	web               *web.FlagConfig
}

// run is the whole program, with its exit code as the result: 0 after a
// clean shutdown, 1 on a runtime failure, 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	opts, exit, done := parseFlags(args, stdout, stderr)
	if done {
		return exit
	}
	logger, slogger := newLogger(stderr, opts.logLevel, opts.logFormat)

	// Configuration errors first, each as one line and exit 2, before
	// anything is started.
	keys := apikey.Fixed(demoKey)
	if !opts.demo.enabled {
		var err error
		if keys, err = apikey.Load(opts.apiKeyFile, logger); err != nil {
			fmt.Fprintln(stderr, exporterName+":", err)
			return 2
		}
	}
	classifier := collector.DefaultFailureClassifier()
	if opts.reasonsFile != "" {
		var err error
		if classifier, err = collector.LoadFailureClassifier(opts.reasonsFile); err != nil {
			fmt.Fprintln(stderr, exporterName+":", err)
			return 2
		}
	}

	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	apiURL := opts.apiURL
	if opts.demo.enabled {
		demoURL, closeDemo, err := startDemo(opts.demo, logger)
		if err != nil {
			level.Error(logger).Log("msg", "starting the demo API failed", "err", err)
			return 1
		}
		defer closeDemo()
		apiURL = demoURL
	} else {
		// Registered here, not in the goroutine: a SIGHUP that arrived before
		// the goroutine ran would otherwise kill the process.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go reloadKeyOnHangup(ctx, hup, keys)
	}

	var coll *collector.JobCollector
	api, err := client.New(client.Config{
		BaseURL:           apiURL,
		Key:               keys.Key,
		UserAgent:         exporterName + "/" + version.Version,
		Timeout:           opts.apiTimeout,
		RequestsPerSecond: opts.requestsPerSecond,
		Observe:           func(endpoint, code string, d time.Duration) { coll.ObserveRequest(endpoint, code, d) },
	})
	if err != nil {
		fmt.Fprintln(stderr, exporterName+":", err)
		return 2
	}
	coll, err = collector.New(collector.Config{
		Source:     api,
		Interval:   opts.interval,
		PageSize:   opts.pageSize,
		Logger:     log.With(logger, "component", "collector"),
		Classifier: classifier,
		StateFile:  opts.stateFile,
		API:        apiURL,
	})
	if err != nil {
		fmt.Fprintln(stderr, exporterName+":", err)
		return 2
	}

	// The job series change once per poll and are encoded once per poll;
	// the registry holds what changes between scrapes.
	live := prometheus.NewRegistry()
	live.MustRegister(versioncollector.NewCollector(exporterName), coll.Health())
	var handler http.Handler = exposition.NewHandler(exposition.Opts{
		Snapshot:            coll.JobMetrics,
		Live:                live,
		ErrorLog:            stdlog.New(log.NewStdlibAdapter(level.Error(logger)), "", 0),
		MaxRequestsInFlight: opts.maxRequests,
	})
	if !opts.noExporterMetrics {
		live.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		handler = promhttp.InstrumentMetricHandler(live, handler)
	}
	mux, err := newMux(opts.metricsPath, handler, coll.Ready)
	if err != nil {
		level.Error(logger).Log("msg", "building the HTTP handlers failed", "err", err)
		return 1
	}

	var polling sync.WaitGroup
	polling.Go(func() { coll.Run(ctx) })
	defer polling.Wait()

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, opts.web, slogger) }()
	select {
	case err := <-served:
		stop()
		level.Error(logger).Log("msg", "serving HTTP failed", "err", err)
		return 1
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "shutting down: finishing the scrapes in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		level.Warn(logger).Log("msg", "scrapes still in flight were cut", "err", err)
	}
	return 0
}

// parseFlags parses the command line. done means run must return exit now:
// after --help, --version, or a usage error.
func parseFlags(args []string, stdout, stderr io.Writer) (opts options, exit int, done bool) {
	app := kingpin.New(exporterName, "Prometheus exporter for the VideoConduit Jobs API: jobs by status and type, credits, durations, and the exporter's own health.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	showVersion := app.Flag("version", "Show the version and exit.").Bool()
	app.Flag("videoconduit.url", "Base URL of the VideoConduit API.").Default("https://videoconduit.com").StringVar(&opts.apiURL)
	app.Flag("videoconduit.api-key-file", "File holding the API key (re-read when it changes, or on SIGHUP). Without it, the key comes from "+apikey.EnvVar+".").StringVar(&opts.apiKeyFile)
	app.Flag("videoconduit.timeout", "Timeout of each API request.").Default("10s").DurationVar(&opts.apiTimeout)
	app.Flag("videoconduit.max-requests-per-second", "Client-side budget of API requests per second.").Default("5").Float64Var(&opts.requestsPerSecond)
	app.Flag("collector.interval", "Time between polls of the API.").Default("30s").DurationVar(&opts.interval)
	app.Flag("collector.page-size", "Jobs per list request (limit), 1 to 100.").Default("100").IntVar(&opts.pageSize)
	app.Flag("collector.state-file", "File where counters and position are kept across restarts (optional).").StringVar(&opts.stateFile)
	app.Flag("collector.failure-reasons-file", "YAML table replacing the built-in failure-reason patterns (optional).").StringVar(&opts.reasonsFile)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&opts.metricsPath)
	app.Flag("web.disable-exporter-metrics", "Exclude the exporter's own Go, process and promhttp metrics.").BoolVar(&opts.noExporterMetrics)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests. 0 disables the limit.").Default("40").IntVar(&opts.maxRequests)
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").EnumVar(&opts.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").EnumVar(&opts.logFormat, "logfmt", "json")
	opts.demo.addFlags(app)
	opts.web = kingpinflag.AddFlags(app, ":"+defaultPort)

	exited := false
	app.Terminate(func(code int) { exit, exited = code, true })
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v; see --help\n", exporterName, err)
		return opts, 2, true
	}
	if exited { // --help was printed
		return opts, exit, true
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.Print(exporterName))
		return opts, 0, true
	}
	if err := opts.validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return opts, 2, true
	}
	return opts, 0, false
}

func (o *options) validate() error {
	u, err := url.Parse(o.apiURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--videoconduit.url %q is not an absolute http(s) URL", o.apiURL)
	case o.apiTimeout <= 0:
		return fmt.Errorf("--videoconduit.timeout must be positive, got %v", o.apiTimeout)
	case o.requestsPerSecond <= 0:
		return fmt.Errorf("--videoconduit.max-requests-per-second must be positive, got %v", o.requestsPerSecond)
	case o.interval <= 0:
		return fmt.Errorf("--collector.interval must be positive, got %v", o.interval)
	case o.pageSize < 1 || o.pageSize > 100:
		return fmt.Errorf("--collector.page-size must be between 1 and 100, got %d", o.pageSize)
	case o.maxRequests < 0:
		return fmt.Errorf("--web.max-requests must not be negative, got %d", o.maxRequests)
	case o.metricsPath == "" || o.metricsPath[0] != '/':
		return fmt.Errorf("--web.telemetry-path must start with /, got %q", o.metricsPath)
	}
	return o.demo.validate()
}

// newMux routes the telemetry path, the health endpoints and the landing page.
func newMux(metricsPath string, metrics http.Handler, ready func() bool) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, metrics)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "Not ready: no successful poll of the VideoConduit API yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if metricsPath == "/" {
		return mux, nil
	}
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "VideoConduit Exporter",
		Description: "Prometheus exporter for the VideoConduit Jobs API",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: metricsPath, Text: "Metrics"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("building the landing page: %w", err)
	}
	mux.Handle("/", landing)
	return mux, nil
}

// reloadKeyOnHangup re-reads the key file on each SIGHUP from hup.
func reloadKeyOnHangup(ctx context.Context, hup <-chan os.Signal, keys *apikey.Source) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			keys.Reload()
		}
	}
}
