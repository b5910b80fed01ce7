package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// selfSignedCert returns a PEM certificate for 127.0.0.1 and its PEM key.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "videoconduit_exporter test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// TestRobustTLSBasicAuth serves /metrics with a --web.config.file holding TLS
// and basic auth: over HTTPS, only the right credentials get in, on every
// page, and plain HTTP gets nothing.
func TestRobustTLSBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	const user, password = "prometheus", "correct horse battery staple"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"cert.pem": certPEM,
		"key.pem":  keyPEM,
		"web.yml": fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
			filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), user, hash),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	api := newFakeAPI(t, simulator.Config{Seed: 500, History: 100})
	keyFile := filepath.Join(dir, "key")
	writeKeyFile(t, keyFile, api.key, 0o600)
	p := runExporter(t, "https", api.args(keyFile, "--web.config.file="+filepath.Join(dir, "web.yml"))...)

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("the test certificate does not parse")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	status := func(url, user, password string) int {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	p.waitUntil(t, 30*time.Second, "readiness over HTTPS", func() bool { return status(p.base+"/-/ready", user, password) == http.StatusOK })

	for _, path := range []string{"/metrics", "/", "/-/healthy", "/-/ready"} {
		if code := status(p.base+path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials = %d, want 401", path, code)
		}
		if code := status(p.base+path, user, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password = %d, want 401", path, code)
		}
		if code := status(p.base+path, user, password); code != http.StatusOK {
			t.Errorf("GET %s with the credentials = %d, want 200", path, code)
		}
	}
	s, err := scrapeWith(hc, p.base+"/metrics", user, password)
	if err != nil {
		t.Fatal(err)
	}
	if s.up() != 1 {
		t.Errorf("videoconduit_up over HTTPS = %v, want 1", s.up())
	}
	plain := "http" + strings.TrimPrefix(p.base, "https")
	if code, _ := get(plain + "/metrics"); code == http.StatusOK {
		t.Error("/metrics answered 200 over plain HTTP")
	}
	if _, err := http.Get(p.base + "/metrics"); err == nil {
		t.Error("a client that does not trust the certificate got through")
	}
}

// TestRobustScrapeLoad sends waves of 200 concurrent scrapes for a few
// seconds against --web.max-requests=40: every scrape is served or refused
// with 503 (as many refused as the exporter itself counts), and the polling
// goes on meanwhile, since scrapes only read the last poll's snapshot. The
// load saturates the CPU, so polls do slow down; the bound is that none
// waits longer than the exporter's own longest backoff.
func TestRobustScrapeLoad(t *testing.T) {
	const (
		scrapers = 200
		interval = 200 * time.Millisecond
		loadFor  = 3 * time.Second
	)
	api := newFakeAPI(t, simulator.Config{Seed: 501, History: 300})
	keyFile := filepath.Join(t.TempDir(), "key")
	writeKeyFile(t, keyFile, api.key, 0o600)
	// Without the race detector: it makes each scrape some ten times dearer,
	// and this test is about the cost of scrapes.
	p := runExporterBuilt(t, false, "http", api.args(keyFile, "--web.max-requests=40", "--collector.interval="+interval.String())...)
	p.ready(t)
	api.run(2 * time.Second)
	before := p.waitPolls(t, 2, 1, 30*time.Second)

	// Uncompressed: gunzipping every body under -race would starve the
	// simulated API, which this test process serves too.
	tr := &http.Transport{MaxIdleConnsPerHost: scrapers, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var served, refused, failed atomic.Int64
	var firstFailure atomic.Value
	start := time.Now()
	waves := 0
	// Waves of 200 scrapes released at once, each wave after the last one
	// ended: 200 concurrent scrapes, again and again.
	for time.Since(start) < loadFor {
		waves++
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for range scrapers {
			wg.Go(func() {
				<-gate
				code, err := scrapeStatus(hc, p.base+"/metrics")
				switch {
				case err != nil:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				case code == http.StatusOK:
					served.Add(1)
				case code == http.StatusServiceUnavailable:
					refused.Add(1)
				default:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprint("status ", code))
				}
			})
		}
		close(gate)
		wg.Wait()
	}
	end := time.Now()

	after := p.mustScrape(t)
	t.Logf("%d waves: %d scrapes served, %d refused with 503, %d failed in %v; %v polls",
		waves, served.Load(), refused.Load(), failed.Load(), end.Sub(start).Round(time.Millisecond), after.polls()-before.polls())
	if failed.Load() > 0 {
		t.Errorf("%d scrapes neither served nor refused, first: %v", failed.Load(), firstFailure.Load())
	}
	if served.Load() == 0 || refused.Load() == 0 {
		t.Errorf("want both served and refused scrapes under %d scrapers and a limit of 40", scrapers)
	}
	if n := after["promhttp_metric_handler_requests_total"]["503"]; n != float64(refused.Load()) {
		t.Errorf("the exporter counts %v refused scrapes, the scrapers %d", n, refused.Load())
	}
	if after.up() != 1 || !p.running() {
		t.Errorf("after the load: up %v, running %v", after.up(), p.running())
	}

	// Each poll starts with the newest page of the unfiltered list.
	starts := []time.Time{start}
	for _, r := range api.requestLog() {
		if r.path == "/v1/jobs" && !strings.Contains(r.query, "cursor=") && !strings.Contains(r.query, "status=") &&
			r.at.After(start) && r.at.Before(end) {
			starts = append(starts, r.at)
		}
	}
	starts = append(starts, end)
	var longest time.Duration
	for i := 1; i < len(starts); i++ {
		longest = max(longest, starts[i].Sub(starts[i-1]))
	}
	t.Logf("%d polls started during the load, at most %v apart", len(starts)-2, longest.Round(time.Millisecond))
	if limit := 10 * interval; longest > limit {
		t.Errorf("%v without a poll starting under load, want at most %v (the longest backoff)", longest, limit)
	}
}

// scrapeStatus fetches url and reads the body through, so the connection is
// reused; it returns the status code.
func scrapeStatus(hc *http.Client, url string) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
