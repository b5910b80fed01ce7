package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestExporterRunsWithTheRenderedDeployment runs the exporter as the
// rendered Deployment would, for two accounts, each against a simulated
// VideoConduit API of its own: it must become ready, export both accounts
// and keep their state on the state volume.
func TestExporterRunsWithTheRenderedDeployment(t *testing.T) {
	keys := map[string]string{"prod": "vc_prod_key", "agency-eu": "vc_agency_key"}
	urls := map[string]string{}
	for account, key := range keys {
		urls[account] = serveSimulator(t, key)
	}
	o := render(t, values{
		"accounts": []any{map[string]any{"name": "prod"}, map[string]any{"name": "agency-eu", "url": urls["agency-eu"]}},
		"config":   map[string]any{"defaults": map[string]any{"url": urls["prod"], "interval": "1s"}},
		"apiKeys":  map[string]any{"keys": map[string]any{"prod": keys["prod"], "agency-eu": keys["agency-eu"]}},
	})
	p := startPod(t, o, nil, http.DefaultClient)
	p.waitReady(t)
	metrics := p.get(t, "/metrics")
	for account := range keys {
		up := regexp.MustCompile(`(?m)^videoconduit_up\{account="` + account + `"\} 1$`)
		if !up.MatchString(metrics) {
			t.Errorf("/metrics has no videoconduit_up{account=%q} 1:\n%s", account, grep(metrics, "videoconduit_up"))
		}
	}
	state := p.dirs[stateDir]
	p.waitFor(t, "each account's state file on the state volume", func() bool {
		for account := range keys {
			if _, err := os.Stat(filepath.Join(state, account+".json")); err != nil {
				return false
			}
		}
		return true
	})
}

// TestExporterServesTLSWithTheRenderedWebConfig runs the exporter with the
// rendered web configuration and the certificate of a TLS Secret, as a
// cert-manager Secret would give it: it must answer over HTTPS only.
func TestExporterServesTLSWithTheRenderedWebConfig(t *testing.T) {
	certPEM, keyPEM, pool := testCertificate(t)
	o := render(t, values{
		"config":  map[string]any{"defaults": map[string]any{"url": serveSimulator(t, "vc_key"), "interval": "1s"}},
		"apiKeys": map[string]any{"keys": map[string]any{"default": "vc_key"}},
		"webConfig": map[string]any{
			"config":        map[string]any{"tls_server_config": map[string]any{"cert_file": configDir + "/tls/tls.crt", "key_file": configDir + "/tls/tls.key"}},
			"tlsSecretName": "exporter-tls",
		},
	})
	p := startPod(t, o, map[string]map[string]string{"exporter-tls": {"tls.crt": certPEM, "tls.key": keyPEM}},
		&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}})
	if !strings.HasPrefix(p.base, "https://") {
		t.Fatalf("the exporter is reached at %s: the probes' scheme is not HTTPS", p.base)
	}
	p.waitReady(t)
	if m := p.get(t, "/metrics"); !strings.Contains(m, `videoconduit_up{account="default"} 1`) {
		t.Errorf("/metrics over HTTPS lacks videoconduit_up{account=\"default\"} 1:\n%s", grep(m, "videoconduit_up"))
	}
	resp, err := http.Get("http" + strings.TrimPrefix(p.base, "https") + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the exporter answers plain HTTP with TLS configured")
		}
	}
}

// pod is the exporter started as the rendered Deployment's container: its
// volumes laid out in temporary folders as the kubelet would lay them out
// (each ConfigMap and Secret key a file, the state volume an empty folder),
// the container's paths mapped to those folders in its arguments and in its
// files, and the exporter built from this checkout run with those arguments.
type pod struct {
	base   string            // URL of the exporter, with the probes' scheme
	dirs   map[string]string // folder of each mount path
	client *http.Client
	exited chan error
}

// startPod starts the exporter of the rendered objects. external holds the
// keys of the Secrets the Deployment names but the chart does not render.
func startPod(t *testing.T, o *objects, external map[string]map[string]string, client *http.Client) *pod {
	t.Helper()
	c := o.Deployment.Spec.Template.Spec.Containers[0]
	p := &pod{dirs: map[string]string{}, client: client, exited: make(chan error, 1)}
	for _, m := range c.VolumeMounts {
		p.dirs[m.MountPath] = t.TempDir()
	}
	mounts := slices.Collect(maps.Keys(p.dirs))
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) }) // the longest prefix first
	mapPaths := func(s string) string {
		for _, m := range mounts {
			s = strings.ReplaceAll(s, m, p.dirs[m])
		}
		return s
	}
	for path, src := range podFiles(t, o) {
		content, ok := "", false
		switch s := o.Secrets[src.name]; {
		case src.kind == "ConfigMap":
			content, ok = o.ConfigMaps[src.name].Data[src.key]
		case s != nil:
			content, ok = s.StringData[src.key]
			if b, inData := s.Data[src.key]; inData {
				content, ok = string(b), true
			}
		default:
			content, ok = external[src.name][src.key]
		}
		if !ok {
			t.Fatalf("%s: %s %s has no key %s", path, src.kind, src.name, src.key)
		}
		host := mapPaths(path)
		if err := os.MkdirAll(filepath.Dir(host), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host, []byte(mapPaths(content)), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var args []string
	for _, a := range c.Args {
		if a == fmt.Sprintf("--web.listen-address=:%d", port) {
			a = "--web.listen-address=" + addr
		}
		args = append(args, mapPaths(a))
	}
	p.base = strings.ToLower(string(c.ReadinessProbe.HTTPGet.Scheme)) + "://" + addr

	bin := buildExporter(t)
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, a := range c.Args {
		if flag, _, _ := strings.Cut(a, "="); !bytes.Contains(help, []byte(flag+"=")) && !bytes.Contains(help, []byte(flag+" ")) {
			t.Fatalf("the exporter has no %s flag, which the chart's Deployment passes; its flags:\n%s", flag, help)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir()} // no VIDEOCONDUIT_API_KEY: keys come from the files
	logFile, err := os.Create(filepath.Join(t.TempDir(), "exporter.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-p.exited
		if t.Failed() {
			logs, _ := os.ReadFile(logFile.Name())
			t.Logf("exporter %v\nlogs:\n%s", args, logs)
		}
	})
	return p
}

// waitReady waits for the readiness probe's path to answer 200.
func (p *pod) waitReady(t *testing.T) {
	t.Helper()
	path := "/-/ready"
	p.waitFor(t, path+" to answer 200", func() bool {
		resp, err := p.client.Get(p.base + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitFor polls cond for up to a minute, failing early if the exporter exits.
func (p *pod) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("the exporter exited (%v) before %s", err, what)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

func (p *pod) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := p.client.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
	}
	return string(b)
}

// serveSimulator serves a simulated VideoConduit account on loopback and
// returns its URL.
func serveSimulator(t *testing.T, key string) string {
	t.Helper()
	srv := httptest.NewServer(simulator.New(simulator.Config{Seed: 7, APIKey: key, History: 200}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// testCertificate returns net/http/httptest's certificate (for 127.0.0.1)
// and its key, PEM-encoded, and a pool that trusts it.
func testCertificate(t *testing.T) (certPEM, keyPEM string, pool *x509.CertPool) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	cert := srv.TLS.Certificates[0]
	pkcs8, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), pool
}

// buildExporter builds the exporter from the checkout this module sits in.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "videoconduit_exporter")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	return bin
}

func grep(text, substr string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
