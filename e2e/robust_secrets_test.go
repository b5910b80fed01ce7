package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// echo is a way for a broken API or proxy to quote the request's key back.
type echo func(w http.ResponseWriter, auth string)

var echoes = map[string]echo{
	"5xx quoting the header": func(w http.ResponseWriter, auth string) {
		http.Error(w, "upstream rejected the request with "+auth, http.StatusBadGateway)
	},
	"401 quoting the key": func(w http.ResponseWriter, auth string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", token="`+auth+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"detail": "Invalid API key %s"}`, strings.TrimPrefix(auth, "Bearer "))
	},
	"200 with a broken body quoting the key": func(w http.ResponseWriter, auth string) {
		fmt.Fprintf(w, `{"items": [], "debug": %s}`, auth)
	},
	// An error page long enough that the key starts just inside the part the
	// client reads and ends outside it.
	"5xx with the key at the end of a long page": func(w http.ResponseWriter, auth string) {
		http.Error(w, strings.Repeat(" ", 4096-len("Bearer vc_live_")-8)+auth, http.StatusInternalServerError)
	},
}

// TestRobustSecrets runs the exporter at debug level against an API that
// quotes the key back in its answers, each subtest another way, and checks
// that the key, or any part of it past its public prefix, appears nowhere a
// person could read it: the log, /metrics, the landing and health pages. A
// key file other users can read gives one warning.
func TestRobustSecrets(t *testing.T) {
	for name, e := range echoes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, simulator.Config{Seed: 400, History: 100})
			var echoing atomic.Bool
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if echoing.Load() {
					e(w, r.Header.Get("Authorization"))
					return
				}
				api.sim.ServeHTTP(w, r)
			}))
			t.Cleanup(front.Close)
			keyFile := filepath.Join(t.TempDir(), "key")
			writeKeyFile(t, keyFile, api.key, 0o644)
			p := runExporter(t, "http", api.args(keyFile, "--videoconduit.url="+front.URL, "--log.level=debug")...)
			p.ready(t)

			echoing.Store(true)
			p.waitPolls(t, 2, 0, 30*time.Second) // the second failure is logged at debug level
			echoing.Store(false)
			p.waitPolls(t, 1, 1, 30*time.Second)

			pages := map[string]string{"log": p.out.String()}
			for _, path := range []string{"/metrics", "/", "/-/healthy", "/-/ready"} {
				code, body := get(p.base + path)
				if code != http.StatusOK {
					t.Fatalf("GET %s = %d %q", path, code, body)
				}
				pages[path] = body
			}
			if !strings.Contains(pages["log"], "level=debug") {
				t.Error("no debug line: the test did not look at the debug level")
			}
			secret := strings.TrimPrefix(api.key, "vc_live_")
			for where, text := range pages {
				for i := 0; i+8 <= len(secret); i++ {
					if part := secret[i : i+8]; strings.Contains(text, part) {
						t.Errorf("the %s holds %q, part of the key:\n%s", where, part, text)
						break
					}
				}
			}
			if n := strings.Count(pages["log"], "readable by other users"); n != 1 {
				t.Errorf("%d warnings about a key file of mode 0644, want 1; log:\n%s", n, pages["log"])
			}
		})
	}
}

// TestRobustSecretsManyAccounts runs three accounts from a config file, one
// API behind them, one account's answers quoting its key back each way a
// broken API does, and a second account's key revoked: no part of any key
// appears in the log, /metrics, the landing page (which shows each
// account's last error) or the health pages.
func TestRobustSecretsManyAccounts(t *testing.T) {
	dir := t.TempDir()
	api := simulator.NewAccounts()
	names := []string{"prod", "quoting", "revoked"}
	keys := map[string]string{}
	config := "defaults:\n  interval: 200ms\n  max_requests_per_second: 1000\naccounts:\n"
	for i, name := range names {
		keys[name] = randomKey(t)
		sim := simulator.New(simulator.Config{Seed: int64(410 + i), History: 50})
		if name == "revoked" {
			sim.SetFaults(simulator.Faults{Unauthorized: true})
		}
		api.Add(keys[name], sim)
		keyFile := filepath.Join(dir, name)
		writeKeyFile(t, keyFile, keys[name], 0o600)
		config += "  - name: " + name + "\n    api_key_file: " + keyFile + "\n"
	}
	var quote atomic.Int64
	kinds := slices.Sorted(maps.Keys(echoes))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth := r.Header.Get("Authorization"); auth == "Bearer "+keys["quoting"] {
			echoes[kinds[int(quote.Add(1))%len(kinds)]](w, auth)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(strings.Replace(config, "defaults:\n", "defaults:\n  url: "+front.URL+"\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := runExporter(t, "http", "--config.file="+configFile, "--log.level=debug")
	p.ready(t)
	p.waitUntil(t, 30*time.Second, "every kind of quoting answer", func() bool { return quote.Load() > int64(3*len(kinds)) })

	pages := map[string]string{"log": p.out.String()}
	for _, path := range []string{"/metrics", "/", "/-/healthy", "/-/ready"} {
		code, body := get(p.base + path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
		pages[path] = body
	}
	for _, want := range []string{`videoconduit_up{account="prod"} 1`, `videoconduit_up{account="quoting"} 0`, `videoconduit_up{account="revoked"} 0`} {
		if !strings.Contains(pages["/metrics"], want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(pages["/"], "unauthorized") {
		t.Errorf("the landing page does not say why revoked fails:\n%s", pages["/"])
	}
	for name, key := range keys {
		secret := strings.TrimPrefix(key, "vc_live_")
		for where, text := range pages {
			for i := 0; i+8 <= len(secret); i++ {
				if part := secret[i : i+8]; strings.Contains(text, part) {
					t.Errorf("the %s holds %q, part of %s's key", where, part, name)
					break
				}
			}
		}
	}
}
