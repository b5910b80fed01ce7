package accounts

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/videoconduit/videoconduit_exporter/config"
	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// fleet is a Set polling a simulated API of several accounts over real
// HTTP on loopback.
type fleet struct {
	t      testing.TB
	api    *simulator.Accounts
	starts *pollStarts
	srv    *httptest.Server
	sims   map[string]*simulator.Sim
	keys   string // folder of the key files, one per account name
	set    *Set
	logs   *syncBuffer
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	f := &fleet{t: t, api: simulator.NewAccounts(), sims: map[string]*simulator.Sim{}, keys: t.TempDir(), logs: &syncBuffer{}}
	f.starts = &pollStarts{next: f.api, at: map[string][]time.Time{}}
	f.srv = httptest.NewServer(f.starts)
	t.Cleanup(f.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	f.set = New(ctx, Options{Logger: log.NewLogfmtLogger(f.logs), UserAgent: "accounts-test"})
	t.Cleanup(func() {
		cancel()
		f.set.Stop()
	})
	return f
}

// addWorld gives the API an account whose key is "vc_<name>", in a world
// where nothing happens unless the test submits it (profiles nil) or at the
// given rates, and writes its key file.
func (f *fleet) addWorld(name string, cfg simulator.Config) *simulator.Sim {
	f.t.Helper()
	if cfg.Profiles == nil {
		cfg.Profiles = simulator.DefaultProfiles()
		for k, p := range cfg.Profiles {
			p.PerMinute = 0
			cfg.Profiles[k] = p
		}
	}
	sim := simulator.New(cfg)
	f.sims[name] = sim
	f.api.Add("vc_"+name, sim)
	f.writeKey(name, "vc_"+name)
	return sim
}

func (f *fleet) writeKey(file, key string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.keys, file), []byte(key+"\n"), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// account returns the config of the named account, polling every interval.
func (f *fleet) account(name string, interval time.Duration) config.Account {
	return config.Account{
		Name:       name,
		APIKeyFile: filepath.Join(f.keys, name),
		Settings: config.Settings{
			URL:               f.srv.URL,
			Interval:          interval,
			PageSize:          100,
			Timeout:           5 * time.Second,
			RequestsPerSecond: 1000,
		},
	}
}

func (f *fleet) apply(accounts ...config.Account) {
	f.t.Helper()
	if err := f.set.Apply(&config.Config{Accounts: accounts}); err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
}

// gather returns every series the exporter serves, job and health alike,
// keyed by name and then by label values in label-name order joined by |.
func (f *fleet) gather() map[string]map[string]float64 {
	f.t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, part := range f.set.Metrics() {
		reg.MustRegister(part)
	}
	families, err := reg.Gather()
	if err != nil {
		f.t.Fatalf("gather: %v", err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range families {
		out[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			out[mf.GetName()][strings.Join(labels, "|")] = value(m)
		}
	}
	return out
}

// sum adds the series of a metric whose label values start with prefix
// (the account label comes first: a, then job_type, …).
func (f *fleet) sum(name, prefix string) float64 {
	total := 0.0
	for k, v := range f.gather()[name] {
		if strings.HasPrefix(k+"|", prefix+"|") {
			total += v
		}
	}
	return total
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// eventually polls cond until it holds or limit passes.
func (f *fleet) eventually(limit time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("waited %v in vain for %s; log:\n%s", limit, what, f.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// polls returns the number of polls that ended for the named account.
func (f *fleet) polls(name string) int {
	for _, st := range f.set.Status() {
		if st.Name == name {
			return st.Polls
		}
	}
	return -1
}

// nextPolls waits until the named account has finished n more polls than
// now.
func (f *fleet) nextPolls(name string, n int) {
	f.t.Helper()
	want := f.polls(name) + n
	f.eventually(20*time.Second, name+"'s next polls", func() bool { return f.polls(name) >= want })
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pollStarts records when each account's polls start: the first list
// request of a poll is the unfiltered one without a cursor.
type pollStarts struct {
	next http.Handler
	mu   sync.Mutex
	at   map[string][]time.Time // by API key
}

func (p *pollStarts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path == "/v1/jobs" && q.Get("cursor") == "" && q.Get("status") == "" {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		p.mu.Lock()
		p.at[key] = append(p.at[key], time.Now())
		p.mu.Unlock()
	}
	p.next.ServeHTTP(w, r)
}

func (p *pollStarts) of(key string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at[key]...)
}
