package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
