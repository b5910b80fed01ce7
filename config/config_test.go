package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var flagDefaults = Settings{
	URL:               "https://videoconduit.com",
	Interval:          30 * time.Second,
	PageSize:          100,
	Timeout:           10 * time.Second,
	RequestsPerSecond: 5,
}

// keyDir writes a key file for each name and returns the folder.
func keyDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("vc_key_"+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "KEYS", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTheExampleOfTheReadme(t *testing.T) {
	dir := keyDir(t, "prod", "agency-eu")
	path := writeConfig(t, dir, `
defaults:
  url: https://videoconduit.com
  interval: 30s
  page_size: 100
  timeout: 10s
  max_requests_per_second: 5
state_dir: /var/lib/videoconduit_exporter
accounts:
  - name: prod
    api_key_file: KEYS/prod
  - name: agency-eu
    api_key_file: KEYS/agency-eu
    url: https://eu.videoconduit.example
    interval: 2m
`)
	cfg, err := Load(path, flagDefaults)
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{
		{Name: "prod", APIKeyFile: dir + "/prod", StateFile: "/var/lib/videoconduit_exporter/prod.json", Settings: flagDefaults},
		{Name: "agency-eu", APIKeyFile: dir + "/agency-eu", StateFile: "/var/lib/videoconduit_exporter/agency-eu.json", Settings: Settings{
			URL: "https://eu.videoconduit.example", Interval: 2 * time.Minute, PageSize: 100, Timeout: 10 * time.Second, RequestsPerSecond: 5,
		}},
	}
	if !cfg.Equal(&Config{Accounts: want}) {
		t.Errorf("got %+v\nwant %+v", cfg.Accounts, want)
	}
}

func TestDefaultsLayerOverTheFlags(t *testing.T) {
	dir := keyDir(t, "a", "b")
	cfg, err := Load(writeConfig(t, dir, `
defaults:
  page_size: 50
accounts:
  - {name: a, api_key_file: KEYS/a}
  - {name: b, api_key_file: KEYS/b, page_size: 10, max_requests_per_second: 0.5, timeout: 1m30s}
`), flagDefaults)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Accounts[0], cfg.Accounts[1]
	if a.PageSize != 50 || a.Interval != 30*time.Second || a.URL != flagDefaults.URL || a.StateFile != "" {
		t.Errorf("account a = %+v: want page_size 50 from defaults, the rest from the flags, no state file", a)
	}
	if b.PageSize != 10 || b.RequestsPerSecond != 0.5 || b.Timeout != 90*time.Second {
		t.Errorf("account b = %+v: want its own page_size, budget and timeout", b)
	}
}

// TestBadFilesNameTheAccountAndTheField: each mistake gives one line that
// says where it is.
func TestBadFilesNameTheAccountAndTheField(t *testing.T) {
	dir := keyDir(t, "prod", "empty")
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text string
		want       []string // all in the error
	}{
		{"empty file", ``, []string{"at least one account"}},
		{"no accounts", "accounts: []\n", []string{"accounts", "none"}},
		{"unknown top-level key", "acounts: []\n", []string{"line 1", "field acounts not found"}},
		{"unknown key in defaults", "defaults: {intervall: 1m}\naccounts: [{name: prod, api_key_file: KEYS/prod}]\n", []string{"intervall"}},
		{"unknown key in an account", "accounts: [{name: prod, api_key_file: KEYS/prod, api_key: vc_inline}]\n", []string{"api_key", "not found"}},
		{"inline key refused", "accounts:\n  - name: prod\n    key: vc_secret\n", []string{"key", "not found"}},
		{"malformed name", "accounts: [{name: Prod, api_key_file: KEYS/prod}]\n", []string{`"Prod"`, "name"}},
		{"name too long", "accounts: [{name: " + strings.Repeat("a", 33) + ", api_key_file: KEYS/prod}]\n", []string{"name", "32"}},
		{"missing name", "accounts: [{api_key_file: KEYS/prod}]\n", []string{"account 1", "name"}},
		{"duplicate name", "accounts:\n  - {name: prod, api_key_file: KEYS/prod}\n  - {name: prod, api_key_file: KEYS/prod}\n", []string{`account "prod" (line 3)`, "line 2"}},
		{"missing key file field", "accounts: [{name: prod}]\n", []string{`account "prod"`, "api_key_file", "missing"}},
		{"key file absent", "accounts: [{name: prod, api_key_file: KEYS/nope}]\n", []string{`account "prod"`, "api_key_file", "no such file"}},
		{"key file a folder", "accounts: [{name: prod, api_key_file: KEYS}]\n", []string{`account "prod"`, "api_key_file"}},
		{"key file empty", "accounts: [{name: prod, api_key_file: KEYS/empty}]\n", []string{`account "prod"`, "api_key_file", "empty"}},
		{"page size too big", "accounts: [{name: prod, api_key_file: KEYS/prod, page_size: 101}]\n", []string{`account "prod"`, "page_size", "101"}},
		{"page size zero in defaults", "defaults: {page_size: 0}\naccounts: [{name: prod, api_key_file: KEYS/prod}]\n", []string{"defaults", "page_size"}},
		{"interval zero", "accounts: [{name: prod, api_key_file: KEYS/prod, interval: 0s}]\n", []string{`account "prod"`, "interval", "positive"}},
		{"interval not a duration", "accounts: [{name: prod, api_key_file: KEYS/prod, interval: 30}]\n", []string{"line 1", `"30"`, "duration"}},
		{"negative timeout", "accounts: [{name: prod, api_key_file: KEYS/prod, timeout: -1s}]\n", []string{`account "prod"`, "timeout"}},
		{"budget zero", "accounts: [{name: prod, api_key_file: KEYS/prod, max_requests_per_second: 0}]\n", []string{"max_requests_per_second"}},
		{"budget NaN", "accounts: [{name: prod, api_key_file: KEYS/prod, max_requests_per_second: .nan}]\n", []string{"max_requests_per_second"}},
		{"url not absolute", "accounts: [{name: prod, api_key_file: KEYS/prod, url: videoconduit.com}]\n", []string{`account "prod"`, "url"}},
		{"url with a query", "accounts: [{name: prod, api_key_file: KEYS/prod, url: 'https://x.example/?key=1'}]\n", []string{"url", "query"}},
		{"relative state dir", "state_dir: state\naccounts: [{name: prod, api_key_file: KEYS/prod}]\n", []string{"state_dir", "absolute"}},
		{"two documents", "accounts: [{name: prod, api_key_file: KEYS/prod}]\n---\naccounts: []\n", []string{"more than one"}},
		{"not YAML", "accounts: [\n", []string{"yaml"}},
		{"page size a string", "accounts: [{name: prod, api_key_file: KEYS/prod, page_size: lots}]\n", []string{"lots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, dir, tc.text)
			_, err := Load(path, flagDefaults)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "config file "+path+": ") {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "in type ") {
				t.Errorf("error %q names a Go type", msg)
			}
			if strings.Contains(msg, "vc_key_") || strings.Contains(msg, "vc_secret") {
				t.Errorf("error %q shows a key", msg)
			}
		})
	}
}

func TestLoadRefusesWhatIsNoConfigFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "absent.yml"), flagDefaults); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("absent file: %v", err)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, flagDefaults); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

func TestSettingsCheckNamesTheField(t *testing.T) {
	ok := flagDefaults
	if err := ok.Check(); err != nil {
		t.Fatalf("the flags' defaults fail: %v", err)
	}
	for field, s := range map[string]Settings{
		"url":                     {URL: "ftp://x", Interval: time.Minute, PageSize: 1, Timeout: time.Second, RequestsPerSecond: 1},
		"interval":                {URL: "http://x", Interval: 0, PageSize: 1, Timeout: time.Second, RequestsPerSecond: 1},
		"page_size":               {URL: "http://x", Interval: time.Minute, PageSize: 0, Timeout: time.Second, RequestsPerSecond: 1},
		"timeout":                 {URL: "http://x", Interval: time.Minute, PageSize: 1, Timeout: 0, RequestsPerSecond: 1},
		"max_requests_per_second": {URL: "http://x", Interval: time.Minute, PageSize: 1, Timeout: time.Second, RequestsPerSecond: -1},
	} {
		err := s.Check()
		if err == nil || !strings.HasPrefix(err.Error(), field+": ") {
			t.Errorf("%+v: err = %v, want one about %s", s, err, field)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, good := range []string{"default", "prod", "agency-eu", "a", "0", "x_y-z9", strings.Repeat("a", 32)} {
		if err := CheckName(good); err != nil {
			t.Errorf("CheckName(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"", "-prod", "_x", "Prod", "pröd", "a b", "a/b", "..", strings.Repeat("a", 33)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
}
