package container

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// unknownAuthority is how Go's verifier refuses a certificate whose chain
// ends at no trusted root.
const unknownAuthority = "x509: certificate signed by unknown authority"

// TestImageVerifiesTheAPICertificate serves the API over HTTPS with a
// certificate from a CA of the test's own. The image has no /etc/ssl, so the
// binary's embedded roots decide, and they do not know that CA: the
// exporter must refuse the API. A mounted CA named by SSL_CERT_FILE is
// trusted, the way to use a private CA; and forcing the embedded roots over
// it (GODEBUG=x509usefallbackroots=1, which Go ignores when a program has
// none) refuses the API again, so the roots are there and in use.
func TestImageVerifiesTheAPICertificate(t *testing.T) {
	caPEM, serverTLS := testCA(t)
	key := "vc_" + randomHex(t)
	sim, url := api(t, key, serverTLS)
	dir := t.TempDir()
	const keyFile, caFile = "/etc/videoconduit/keys/default", "/etc/videoconduit/ca.crt"
	mounts := map[string]string{secretFile(t, dir, "key", key): keyFile}
	caOnHost := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caOnHost, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	withCA := map[string]string{caOnHost: caFile}
	for host, inContainer := range mounts {
		withCA[host] = inContainer
	}
	args := []string{"--videoconduit.url=" + url, "--videoconduit.api-key-file=" + keyFile}

	refused := func(t *testing.T, o runOptions) {
		c := run(t, o)
		log := c.waitLog(unknownAuthority, 60*time.Second)
		if code, _, err := c.get("/-/ready"); code != http.StatusServiceUnavailable {
			t.Errorf("/-/ready answered %d, %v; want 503 while the API is refused", code, err)
		}
		if up, n := sample(c.metrics(), "videoconduit_up", nil); up != 0 || n != 1 {
			t.Errorf("videoconduit_up sums to %v over %d series, want 0 over 1; the log:\n%s", up, n, log)
		}
		c.stop()
	}
	t.Run("embedded roots refuse an unknown CA", func(t *testing.T) {
		before := sim.Requests()["list"]
		refused(t, runOptions{hostNetwork: true, mounts: mounts, args: args})
		if after := sim.Requests()["list"]; after != before {
			t.Errorf("%d list requests reached the API over a refused connection", after-before)
		}
	})
	t.Run("a CA given with SSL_CERT_FILE is trusted", func(t *testing.T) {
		c := run(t, runOptions{hostNetwork: true, mounts: withCA, env: []string{"SSL_CERT_FILE=" + caFile}, args: args})
		c.waitReady(60 * time.Second)
		if up, n := sample(c.metrics(), "videoconduit_up", nil); up != 1 || n != 1 {
			t.Errorf("videoconduit_up sums to %v over %d series, want 1 over 1", up, n)
		}
		c.stop()
	})
	t.Run("forced embedded roots refuse it again", func(t *testing.T) {
		refused(t, runOptions{hostNetwork: true, mounts: withCA, env: []string{"SSL_CERT_FILE=" + caFile, "GODEBUG=x509usefallbackroots=1"}, args: args})
	})
}

// testCA makes a CA and, signed by it, a server certificate for 127.0.0.1.
// It returns the CA certificate in PEM and the server's TLS configuration.
func testCA(t *testing.T) ([]byte, *tls.Config) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "videoconduit_exporter test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	serverKey := newKey()
	serverTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTmpl, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), &tls.Config{Certificates: []tls.Certificate{cert}}
}
