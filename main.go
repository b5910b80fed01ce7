// Command videoconduit_exporter exports the jobs of one or several
// VideoConduit accounts as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
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

	"github.com/videoconduit/videoconduit_exporter/collector"
	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/accounts"
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
	// account and settings describe the one account of the flags, used
	// without --config.file.
	account           string
	settings          config.Settings
	apiKeyFile        string
	stateFile         string
	configFile        string
	checkConfig       bool
	metricsPath       string
	externalURL       *url.URL
	logLevel          string
	logFormat         string
	reasonsFile       string
	noExporterMetrics bool
	maxRequests       int
	demo              demoOptions
	web               *web.FlagConfig
	// perAccountFlags are the flags that --config.file replaces, and
	// whether each was given.
	perAccountFlags map[string]*bool
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
	usageError := func(err error) int {
		fmt.Fprintln(stderr, exporterName+":", err)
		return 2
	}
	classifier := collector.DefaultFailureClassifier()
	if opts.reasonsFile != "" {
		var err error
		if classifier, err = collector.LoadFailureClassifier(opts.reasonsFile); err != nil {
			return usageError(err)
		}
	}
	load := opts.loadAccounts
	if opts.checkConfig {
		cfg, err := load()
		if err != nil {
			return usageError(err)
		}
		fmt.Fprintf(stdout, "%s: the configuration is valid: %s\n", exporterName, accountNames(cfg))
		return 0
	}
	cfg, err := load()
	if err != nil {
		return usageError(err)
	}

	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	accountOpts := accounts.Options{
		Logger:     logger,
		Classifier: classifier,
		UserAgent:  exporterName + "/" + version.Version,
	}
	if opts.demo.enabled {
		demo, err := startDemo(opts.demo, logger)
		if err != nil {
			level.Error(logger).Log("msg", "starting the demo API failed", "err", err)
			return 1
		}
		defer demo.close()
		cfg, load, accountOpts.Keys = demo.config(opts.settings), nil, demo.key
	}
	if opts.configFile != "" && os.Getenv(apikey.EnvVar) != "" {
		level.Warn(logger).Log("msg", apikey.EnvVar+" is ignored with --config.file: each account's key comes from its api_key_file")
	}
	// Registered before anything can send it: an early SIGHUP would
	// otherwise kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	set := accounts.New(ctx, accountOpts)
	defer set.Stop()
	if err := set.Apply(cfg); err != nil {
		return usageError(err)
	}
	level.Info(logger).Log("msg", "polling the VideoConduit API", "accounts", accountNames(cfg))
	go reload(ctx, logger, set, load, opts.configFile, hup)

	// The accounts' series are encoded once per change (an account's job
	// series once per poll); the registry holds what changes between scrapes.
	live := prometheus.NewRegistry()
	live.MustRegister(versioncollector.NewCollector(exporterName))
	if opts.externalURL != nil {
		live.MustRegister(webInfo(opts.externalURL))
	}
	var handler http.Handler = exposition.NewHandler(exposition.Opts{
		Snapshot:            set.Metrics,
		Live:                live,
		ErrorLog:            stdlog.New(log.NewStdlibAdapter(level.Error(logger)), "", 0),
		MaxRequestsInFlight: opts.maxRequests,
	})
	if !opts.noExporterMetrics {
		live.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		handler = promhttp.InstrumentMetricHandler(live, handler)
	}
	mux, err := newMux(opts.metricsPath, handler, set, opts.externalURL)
	if err != nil {
		level.Error(logger).Log("msg", "building the HTTP handlers failed", "err", err)
		return 1
	}

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

// webInfo is the series that tells the address people reach the exporter
// by, for the links of alerts and dashboards, which know the exporter only
// by its series.
func webInfo(externalURL *url.URL) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "videoconduit_exporter",
		Name:      "web_info",
		Help:      "The address people reach the exporter by (--web.external-url), value 1.",
		// Without a trailing slash, as alerts and dashboards append the
		// page's path to it.
		ConstLabels: prometheus.Labels{"external_url": strings.TrimSuffix(externalURL.String(), "/")},
	}, func() float64 { return 1 })
}

// parseFlags parses the command line. done means run must return exit now:
// after --help, --version, or a usage error.
func parseFlags(args []string, stdout, stderr io.Writer) (opts options, exit int, done bool) {
	app := kingpin.New(exporterName, "Prometheus exporter for the VideoConduit Jobs API: jobs by status and type, credits, durations, and the exporter's own health, for one account or several.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	showVersion := app.Flag("version", "Show the version and exit.").Bool()
	opts.perAccountFlags = map[string]*bool{}
	perAccount := func(name, help string) *kingpin.FlagClause {
		set := new(bool)
		opts.perAccountFlags[name] = set
		return app.Flag(name, help+" Without --config.file only: the file sets it for each account.").IsSetByUser(set)
	}
	perAccount("videoconduit.account", "Value of the account label of the one account the flags describe.").Default(defaultAccount).StringVar(&opts.account)
	perAccount("videoconduit.url", "Base URL of the VideoConduit API.").Default("https://videoconduit.com").StringVar(&opts.settings.URL)
	perAccount("videoconduit.api-key-file", "File holding the API key (re-read when it changes, or on SIGHUP). Without it, the key comes from "+apikey.EnvVar+".").StringVar(&opts.apiKeyFile)
	perAccount("videoconduit.timeout", "Timeout of each API request.").Default("10s").DurationVar(&opts.settings.Timeout)
	perAccount("videoconduit.max-requests-per-second", "Client-side budget of API requests per second.").Default("5").Float64Var(&opts.settings.RequestsPerSecond)
	perAccount("collector.interval", "Time between polls of the API.").Default("30s").DurationVar(&opts.settings.Interval)
	perAccount("collector.page-size", "Jobs per list request (limit), 1 to 100.").Default("100").IntVar(&opts.settings.PageSize)
	perAccount("collector.state-file", "File where counters and position are kept across restarts (optional).").StringVar(&opts.stateFile)
	app.Flag("config.file", "YAML file listing several VideoConduit accounts, each with its key file (optional; see the README). Re-read when it changes, or on SIGHUP.").StringVar(&opts.configFile)
	app.Flag("config.check", "Check the configuration (--config.file, or the flags' account) and the key files, then exit: 0 if valid, 2 if not.").BoolVar(&opts.checkConfig)
	app.Flag("collector.failure-reasons-file", "YAML table replacing the built-in failure-reason patterns (optional).").StringVar(&opts.reasonsFile)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&opts.metricsPath)
	app.Flag("web.external-url", "URL under which people reach the exporter (e.g. through a reverse proxy), for the links of its pages, alerts and dashboards to the recent failures. Without it, links are relative to the page.").URLVar(&opts.externalURL)
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

// defaultAccount names the one account of the flags unless
// --videoconduit.account says otherwise.
const defaultAccount = "default"

// settingFlags are the flags of the settings that config.Settings.Check
// names by their key in the config file.
var settingFlags = map[string]string{
	"url":                     "--videoconduit.url",
	"interval":                "--collector.interval",
	"page_size":               "--collector.page-size",
	"timeout":                 "--videoconduit.timeout",
	"max_requests_per_second": "--videoconduit.max-requests-per-second",
}

func (o *options) validate() error {
	var fe *config.FieldError
	switch err := o.settings.Check(); {
	case errors.As(err, &fe):
		return fmt.Errorf("%s %w", settingFlags[fe.Field], fe.Err)
	case err != nil:
		return err
	}
	if err := config.CheckName(o.account); err != nil {
		return fmt.Errorf("--videoconduit.account: %w", err)
	}
	if o.configFile != "" && o.demo.enabled {
		return errors.New("--config.file cannot be combined with --demo: the demo has its own accounts")
	}
	for _, name := range slices.Sorted(maps.Keys(o.perAccountFlags)) {
		switch {
		case !*o.perAccountFlags[name]:
		case o.configFile != "":
			return fmt.Errorf("--%s cannot be combined with --config.file: give it in the file, under defaults or an account", name)
		case o.demo.enabled && !demoSettingFlags[name]:
			return fmt.Errorf("--%s has no use with --demo: the demo has its own accounts, keys and API", name)
		}
	}
	switch {
	case o.maxRequests < 0:
		return fmt.Errorf("--web.max-requests must not be negative, got %d", o.maxRequests)
	case o.metricsPath == "" || o.metricsPath[0] != '/':
		return fmt.Errorf("--web.telemetry-path must start with /, got %q", o.metricsPath)
	case o.externalURL != nil && ((o.externalURL.Scheme != "http" && o.externalURL.Scheme != "https") || o.externalURL.Host == ""):
		return fmt.Errorf("--web.external-url %q is not an absolute http(s) URL", o.externalURL)
	}
	return o.demo.validate()
}

// demoSettingFlags are the per-account flags that apply to the demo's
// accounts too.
var demoSettingFlags = map[string]bool{
	"videoconduit.timeout":                 true,
	"videoconduit.max-requests-per-second": true,
	"collector.interval":                   true,
	"collector.page-size":                  true,
}

// loadAccounts reads --config.file, or makes the one account of the flags,
// and checks that every account's key can be read.
func (o *options) loadAccounts() (*config.Config, error) {
	if o.configFile != "" {
		return config.Load(o.configFile, o.settings)
	}
	if o.demo.enabled {
		return &config.Config{}, nil // the demo's accounts come when its API starts
	}
	if _, err := apikey.Load(o.apiKeyFile, log.NewNopLogger()); err != nil {
		return nil, err
	}
	return &config.Config{Accounts: []config.Account{{
		Name:       o.account,
		APIKeyFile: o.apiKeyFile,
		StateFile:  o.stateFile,
		Settings:   o.settings,
	}}}, nil
}

func accountNames(cfg *config.Config) string {
	names := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		names[i] = a.Name
	}
	return strings.Join(names, ",")
}

// configCheckEvery is how often reload looks for a change of the config file.
const configCheckEvery = 5 * time.Second

// reload applies the config again on SIGHUP (re-reading every key file too)
// and when the config file changes. A config that cannot be read or started
// is logged, and the running one kept. load is nil when the accounts never
// change (the demo).
func reload(ctx context.Context, logger log.Logger, set *accounts.Set, load func() (*config.Config, error), file string, hup <-chan os.Signal) {
	ticker := time.NewTicker(configCheckEvery)
	defer ticker.Stop()
	seen := fileContent(file)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			set.ReloadKeys()
		case <-ticker.C:
			if file == "" {
				continue
			}
			if now := fileContent(file); now != seen {
				seen = now
			} else {
				continue
			}
		}
		if load == nil {
			continue
		}
		cfg, err := load()
		if err == nil {
			err = set.Apply(cfg)
		}
		if err != nil {
			level.Error(logger).Log("msg", "the configuration cannot be applied; keeping the running one", "err", err)
			continue
		}
		level.Info(logger).Log("msg", "configuration applied", "accounts", accountNames(cfg))
	}
}

// fileContent returns what file holds now, or its read error: a change of
// either means the file changed.
func fileContent(file string) string {
	if file == "" {
		return ""
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(data)
}
