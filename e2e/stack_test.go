package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// The demo's failure spike: early enough that the tests need not wait long,
// late enough that the copy of the paging alert (every window a tenth of the
// shipped one) has a baseline of two minutes of healthy jobs (a baseline of
// a few jobs may well be 50%); long enough for that copy to fire.
const (
	incidentAfter    = 130 * time.Second
	incidentDuration = 60 * time.Second
	// incidentEvery pushes the next incidents, and the demo's transcribe
	// stall half a period later, past the end of the tests.
	incidentEvery = 24 * time.Hour
	// readyTimeout bounds each component's start, on a busy 2-core machine.
	readyTimeout = time.Minute
	// fastRulesFile holds the fast copy of the paging alert, beside the
	// stack's Prometheus config.
	fastRulesFile = "fast.rules.yml"
	// exporterExternalURL is the exporter's --web.external-url: the address
	// a reverse proxy would give it, from which alerts build their links.
	// The tests open those links at the exporter's real address.
	exporterExternalURL = "https://videoconduit-exporter.example/"
)

// stack is the exporter, Prometheus, Alertmanager and webhook under test.
type stack struct {
	dir   string // configs and data, removed by stop
	procs []*process

	webhook     *webhook
	exporterURL string
	promURL     string
	amURL       string
	// demoAPI is the URL of the simulated VideoConduit API inside the exporter.
	demoAPI string
	// incidentStart is the start of the failure spike to the second below
	// (the exporter logs whole seconds); incidentEnd is incidentStart plus
	// its duration, so both are at most a second early.
	incidentStart, incidentEnd time.Time
	started                    time.Time

	shipped   map[string]ruleFile // by absolute path
	fastGroup ruleGroup
	fastAlert rule
}

var shared struct {
	once  sync.Once
	stack *stack
	err   error
}

// sharedStack returns the stack, started by the first test that asks.
func sharedStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting the exporter with a real Prometheus and Alertmanager")
	}
	shared.once.Do(func() {
		shared.stack = &stack{}
		shared.err = shared.stack.start()
	})
	if shared.err != nil {
		t.Fatalf("starting the end-to-end stack: %v", shared.err)
	}
	return shared.stack
}

// TestMain stops the shared stack after the last test, whatever their
// outcome; a component that died or did not stop cleanly fails the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stack != nil {
		if err := shared.stack.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the end-to-end stack:", err)
			code = max(code, 1)
		}
	}
	removeBuilds()
	os.Exit(code)
}

func (s *stack) start() error {
	var err error
	if s.dir, err = os.MkdirTemp("", "videoconduit-e2e-"); err != nil {
		return fmt.Errorf("creating the stack's folder: %w", err)
	}
	promBin, err := realtools.Build("prometheus")
	if err != nil {
		return fmt.Errorf("obtaining the real Prometheus: %w", err)
	}
	amBin, err := realtools.Build("alertmanager")
	if err != nil {
		return fmt.Errorf("obtaining the real Alertmanager: %w", err)
	}
	var promAddr, amAddr string
	for _, addr := range []*string{&promAddr, &amAddr} {
		if *addr, err = freeAddr(); err != nil {
			return err
		}
	}
	s.promURL, s.amURL = "http://"+promAddr, "http://"+amAddr
	s.webhook = newWebhook()

	if err := s.startAlertmanager(amBin, amAddr); err != nil {
		return err
	}
	if s.shipped, err = shippedRules(); err != nil {
		return err
	}
	if s.fastGroup, s.fastAlert, err = fastCopy(s.shipped); err != nil {
		return err
	}
	exporterAddr, err := s.startExporter()
	if err != nil {
		return err
	}
	return s.startPrometheus(promBin, promAddr, amAddr, exporterAddr)
}

func (s *stack) startAlertmanager(bin, addr string) error {
	cfg, err := testAlertmanagerConfig(s.webhook.url())
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return fmt.Errorf("writing the Alertmanager config: %w", err)
	}
	am, err := s.launch("alertmanager", bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(s.dir, "alertmanager-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=")
	if err != nil {
		return err
	}
	return am.waitReady(s.amURL+"/-/ready", readyTimeout)
}

// demoLog reads the demo's API address and first incident from the line
// the exporter logs when its demo starts.
var (
	demoAPIField  = regexp.MustCompile(`msg="demo mode[^"]*".* api=(\S+)`)
	incidentField = regexp.MustCompile(`msg="demo mode[^"]*".* first_incident=(\S+)`)
)

// startExporter starts the exporter on its demo and returns its address.
// Under -race it is built with the race detector, and a data race in it
// fails the run when the stack stops.
func (s *stack) startExporter() (string, error) {
	if _, err := exporterBinary(raceEnabled); err != nil { // built before the clock starts
		return "", err
	}
	s.started = time.Now()
	exporter, addr, err := startExporter(raceEnabled,
		"--demo",
		"--collector.interval=1s",
		"--web.external-url="+exporterExternalURL,
		"--demo.incident-after="+incidentAfter.String(),
		"--demo.incident-duration="+incidentDuration.String(),
		"--demo.incident-every="+incidentEvery.String())
	if err != nil {
		return "", err
	}
	s.procs = append(s.procs, exporter)
	s.exporterURL = "http://" + addr
	if err := exporter.waitReady(s.exporterURL+"/-/ready", readyTimeout); err != nil {
		return "", err
	}
	logged := exporter.out.String()
	api, incident := demoAPIField.FindStringSubmatch(logged), incidentField.FindStringSubmatch(logged)
	if api == nil || incident == nil {
		return "", fmt.Errorf("the exporter did not log its demo API and first incident; its output:\n%s", exporter.out.tail())
	}
	s.demoAPI = api[1]
	if s.incidentStart, err = time.Parse(time.RFC3339, incident[1]); err != nil {
		return "", fmt.Errorf("the exporter's first_incident: %w", err)
	}
	s.incidentEnd = s.incidentStart.Add(incidentDuration)
	return addr, nil
}

func (s *stack) startPrometheus(bin, addr, amAddr, exporterAddr string) error {
	fast, err := yaml.Marshal(ruleFile{Groups: []ruleGroup{s.fastGroup}})
	if err != nil {
		return fmt.Errorf("encoding the fast rules: %w", err)
	}
	fastPath := filepath.Join(s.dir, fastRulesFile)
	if err := os.WriteFile(fastPath, fast, 0o644); err != nil {
		return fmt.Errorf("writing the fast rules: %w", err)
	}
	cfg, err := testPrometheusConfig(exporterAddr, amAddr, fastPath)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return fmt.Errorf("writing the Prometheus config: %w", err)
	}
	prom, err := s.launch("prometheus", bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(s.dir, "prometheus-data"),
		"--web.listen-address="+addr,
		"--enable-feature=exemplar-storage")
	if err != nil {
		return err
	}
	return prom.waitReady(s.promURL+"/-/ready", readyTimeout)
}

// launch starts a process that stop will end.
func (s *stack) launch(name, bin string, args ...string) (*process, error) {
	p, err := startProcess(name, bin, args...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// stop ends the processes, newest first, then removes the stack's folder.
func (s *stack) stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		errs = append(errs, s.procs[i].stop())
	}
	if s.webhook != nil {
		s.webhook.close()
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
