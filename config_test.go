package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// accountsAPI is a simulated API of several accounts, and a folder holding
// a key file per account ("vc_<name>" in the file <name>).
type accountsAPI struct {
	url  string
	api  *simulator.Accounts
	sims map[string]*simulator.Sim
	dir  string
}

func newAccountsAPI(t *testing.T, names ...string) *accountsAPI {
	t.Helper()
	a := &accountsAPI{api: simulator.NewAccounts(), sims: map[string]*simulator.Sim{}, dir: t.TempDir()}
	for i, name := range names {
		profiles := simulator.DefaultProfiles()
		for k, p := range profiles {
			p.PerMinute = 0 // nothing happens unless a test submits it
			profiles[k] = p
		}
		a.sims[name] = simulator.New(simulator.Config{Seed: int64(i + 1), History: 10, Profiles: profiles})
		a.api.Add("vc_"+name, a.sims[name])
		a.writeFile(t, name, "vc_"+name+"\n")
	}
	srv := httptest.NewServer(a.api)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *accountsAPI) writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(a.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// config writes a config file of the named accounts and returns its path.
func (a *accountsAPI) config(t *testing.T, names ...string) string {
	t.Helper()
	text := "defaults:\n  url: " + a.url + "\n  interval: 1s\naccounts:\n"
	for _, n := range names {
		text += "  - name: " + n + "\n    api_key_file: " + filepath.Join(a.dir, n) + "\n"
	}
	return a.writeFile(t, "config.yml", text)
}

func TestRunConfigFileErrors(t *testing.T) {
	a := newAccountsAPI(t, "prod")
	good := a.config(t, "prod")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"flag and file", []string{"--config.file=" + good, "--videoconduit.url=https://x.example"}, "--videoconduit.url cannot be combined with --config.file"},
		{"key flag and file", []string{"--config.file=" + good, "--videoconduit.api-key-file=/k"}, "--videoconduit.api-key-file cannot be combined with --config.file"},
		{"file and demo", []string{"--config.file=" + good, "--demo"}, "--config.file cannot be combined with --demo"},
		{"key and demo", []string{"--demo", "--videoconduit.api-key-file=/k"}, "--videoconduit.api-key-file has no use with --demo"},
		{"bad account name", []string{"--videoconduit.account=Prod"}, `--videoconduit.account: account name "Prod" must match`},
		{"missing file", []string{"--config.file=/nonexistent.yml"}, "reading config file: open /nonexistent.yml"},
		{"bad file", []string{"--config.file=" + a.writeFile(t, "bad.yml", "accounts: [{name: prod, api_key_file: /nonexistent}]\n")}, `account "prod" (line 1): api_key_file: stat /nonexistent`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestConfigCheck: --config.check says whether a configuration would start,
// without starting, for a user's CI.
func TestConfigCheck(t *testing.T) {
	a := newAccountsAPI(t, "prod", "staging")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config.check", "--config.file=" + a.config(t, "prod", "staging")}, &stdout, &stderr); code != 0 {
		t.Fatalf("a valid file: exit %d, stderr %q", code, stderr.String())
	}
	if want := "the configuration is valid: prod,staging"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
	stdout.Reset()
	bad := a.writeFile(t, "bad.yml", "accounts:\n  - name: prod\n    api_key_file: "+filepath.Join(a.dir, "prod")+"\n    page_size: 500\n")
	if code := run([]string{"--config.check", "--config.file=" + bad}, &stdout, &stderr); code != 2 {
		t.Errorf("a bad file: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `account "prod" (line 2): page_size: must be between 1 and 100, got 500`) {
		t.Errorf("stderr = %q", stderr.String())
	}
	// Without a file, the flags' account: its key from the environment.
	t.Setenv("VIDEOCONDUIT_API_KEY", "vc_env")
	stdout.Reset()
	if code := run([]string{"--config.check", "--videoconduit.account=agency"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "valid: agency") {
		t.Errorf("the flags' account: exit %d, stdout %q", code, stdout.String())
	}
}

// TestRunReloadsTheConfigFile runs the exporter on a config file and
// changes it as an operator would: an account added (SIGHUP), a broken
// file (kept running), an account removed (picked up without a signal).
func TestRunReloadsTheConfigFile(t *testing.T) {
	a := newAccountsAPI(t, "prod", "staging")
	cfg := a.config(t, "prod")
	addr := freeAddress(t)
	r := runInBackground("--config.file="+cfg, "--web.listen-address="+addr)
	base := "http://" + addr
	r.waitFor(t, 10*time.Second, "ready", func() bool { return get(base+"/-/ready") == http.StatusOK })
	up := func(account string) bool {
		return strings.Contains(getBody(t, base+"/metrics"), "\nvideoconduit_up{account=\""+account+"\"} 1\n")
	}
	if !up("prod") || up("staging") {
		t.Fatalf("before any reload: want prod only; /metrics:\n%s", getBody(t, base+"/metrics"))
	}

	a.config(t, "prod", "staging")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 10*time.Second, "staging added on SIGHUP", func() bool { return up("staging") })

	a.writeFile(t, "config.yml", "accounts: [{name: prod, api_key_file: /nonexistent}]\n")
	r.waitFor(t, 3*configCheckEvery, "the broken file logged", func() bool {
		return strings.Contains(r.stderr.String(), "keeping the running one")
	})
	if !up("prod") || !up("staging") {
		t.Errorf("a broken file changed the running accounts")
	}

	a.config(t, "staging")
	r.waitFor(t, 3*configCheckEvery, "prod removed on the file's change", func() bool {
		return !strings.Contains(getBody(t, base+"/metrics"), `account="prod"`)
	})
	if !up("staging") {
		t.Error("staging stopped when prod was removed")
	}
	r.stop(t)
	for _, key := range []string{"vc_prod", "vc_staging"} {
		if strings.Contains(r.stderr.String(), key) {
			t.Errorf("the log shows the key %s", key)
		}
	}
}
