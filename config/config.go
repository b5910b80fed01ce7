// Package config describes the VideoConduit accounts an exporter follows:
// read from the YAML file given with --config.file, or the single account
// that the command-line flags describe. It checks every value, so that a
// bad file is refused with one line naming the account and the field before
// anything starts, and a bad reload leaves the running accounts alone.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"
	"go.yaml.in/yaml/v3"

	"github.com/videoconduit/videoconduit_exporter/internal/apikey"
)

// Settings are what each account can set for itself; the file's defaults
// and the command-line flags give the same settings for every account.
type Settings struct {
	URL               string
	Interval          time.Duration
	PageSize          int
	Timeout           time.Duration
	RequestsPerSecond float64
}

// Account is one VideoConduit account to follow.
type Account struct {
	// Name is the value of the account label.
	Name string
	// APIKeyFile holds the account's key. It is empty only for the account
	// the flags describe when its key comes from the environment.
	APIKeyFile string
	// StateFile keeps the account's counters across restarts; "" for none.
	StateFile string
	Settings
}

// Config is every account the exporter follows, in the file's order.
type Config struct {
	Accounts []Account
}

// MaxPageSize is the API's largest page.
const MaxPageSize = 100

// nameRE is the form of an account name: a short label value that is also
// safe as a file name in the state folder.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Check returns an error naming the field when a setting is out of range.
func (s Settings) Check() error {
	u, err := url.Parse(s.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return &FieldError{"url", fmt.Errorf("%q is not an absolute http(s) URL", s.URL)}
	case u.RawQuery != "" || u.Fragment != "":
		return &FieldError{"url", fmt.Errorf("%q must not carry a query or fragment", s.URL)}
	case s.Interval <= 0:
		return &FieldError{"interval", fmt.Errorf("must be positive, got %v", s.Interval)}
	case s.PageSize < 1 || s.PageSize > MaxPageSize:
		return &FieldError{"page_size", fmt.Errorf("must be between 1 and %d, got %d", MaxPageSize, s.PageSize)}
	case s.Timeout <= 0:
		return &FieldError{"timeout", fmt.Errorf("must be positive, got %v", s.Timeout)}
	case !(s.RequestsPerSecond > 0): // also refuses NaN
		return &FieldError{"max_requests_per_second", fmt.Errorf("must be positive, got %v", s.RequestsPerSecond)}
	}
	return nil
}

// CheckName returns an error when name cannot be an account's name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("account name %q must match %s (lower-case letters, digits, _ and -, at most 32 characters)", name, nameRE)
	}
	return nil
}

// FieldError is a bad setting, named by its key in the file.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// The file's YAML form. Pointers tell an absent setting from a zero one.
type (
	fileSettings struct {
		URL               *string   `yaml:"url"`
		Interval          *duration `yaml:"interval"`
		PageSize          *int      `yaml:"page_size"`
		Timeout           *duration `yaml:"timeout"`
		RequestsPerSecond *float64  `yaml:"max_requests_per_second"`
	}
	fileAccount struct {
		Name         string `yaml:"name"`
		APIKeyFile   string `yaml:"api_key_file"`
		fileSettings `yaml:",inline"`
	}
	file struct {
		Defaults fileSettings  `yaml:"defaults"`
		StateDir string        `yaml:"state_dir"`
		Accounts []fileAccount `yaml:"accounts"`
	}
	// accountLines is the file read again for the line of each account, for
	// errors about it. (A custom UnmarshalYAML could keep the line in the
	// first pass, but yaml.v3 decodes below it without KnownFields.)
	accountLines struct {
		Accounts []yaml.Node `yaml:"accounts"`
	}
)

// duration is a Go duration string in YAML ("30s", "2m", "1h30m"), as the
// command-line flags take it.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 2m", n.Line, s)
	}
	*d = duration(v)
	return nil
}

// over returns base with the settings the file gives replacing its own.
func (f fileSettings) over(base Settings) Settings {
	if f.URL != nil {
		base.URL = *f.URL
	}
	if f.Interval != nil {
		base.Interval = time.Duration(*f.Interval)
	}
	if f.PageSize != nil {
		base.PageSize = *f.PageSize
	}
	if f.Timeout != nil {
		base.Timeout = time.Duration(*f.Timeout)
	}
	if f.RequestsPerSecond != nil {
		base.RequestsPerSecond = *f.RequestsPerSecond
	}
	return base
}

// maxFileSize bounds what Load reads: a config file is a few kilobytes, so
// anything this large is the wrong file.
const maxFileSize = 4 << 20

// Load reads and checks the file at path. defaults are the settings of an
// account that neither it nor the file's defaults set (the flags' defaults).
// Every key file must be readable and hold a key.
func Load(path string, defaults Settings) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading config file %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, maxFileSize)
	}
	cfg, err := Parse(data, defaults)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse checks a config file's content (see Load).
func Parse(data []byte, defaults Settings) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&f); {
	case errors.Is(err, io.EOF):
		return nil, errors.New("empty: it must list at least one account under 'accounts:'")
	case err != nil:
		return nil, fmt.Errorf("%s", oneLine(err))
	}
	if err := dec.Decode(new(file)); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one YAML document")
	}
	var lines accountLines
	if err := yaml.Unmarshal(data, &lines); err != nil || len(lines.Accounts) != len(f.Accounts) {
		return nil, fmt.Errorf("reading the accounts' lines: %v", err) // cannot happen: the strict pass read them
	}
	base := f.Defaults.over(defaults)
	if err := base.Check(); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	if f.StateDir != "" && !filepath.IsAbs(f.StateDir) {
		return nil, fmt.Errorf("state_dir: %q must be an absolute path", f.StateDir)
	}
	if len(f.Accounts) == 0 {
		return nil, errors.New("accounts: none listed; the file must list at least one")
	}
	cfg := &Config{}
	seen := map[string]int{}
	for i, a := range f.Accounts {
		line := lines.Accounts[i].Line
		where := fmt.Sprintf("account %q (line %d)", a.Name, line)
		if a.Name == "" {
			where = fmt.Sprintf("account %d (line %d)", i+1, line)
		}
		if err := CheckName(a.Name); err != nil {
			return nil, fmt.Errorf("%s: name: %w", where, err)
		}
		if first, dup := seen[a.Name]; dup {
			return nil, fmt.Errorf("%s: name: already used by the account on line %d", where, first)
		}
		seen[a.Name] = line
		acc := Account{Name: a.Name, APIKeyFile: a.APIKeyFile, Settings: a.over(base)}
		if err := acc.Settings.Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if acc.APIKeyFile == "" {
			return nil, fmt.Errorf("%s: api_key_file: missing; every account needs a file holding its key", where)
		}
		if err := checkKeyFile(acc.APIKeyFile); err != nil {
			return nil, fmt.Errorf("%s: api_key_file: %w", where, err)
		}
		if f.StateDir != "" {
			acc.StateFile = filepath.Join(f.StateDir, acc.Name+".json")
		}
		cfg.Accounts = append(cfg.Accounts, acc)
	}
	return cfg, nil
}

// checkKeyFile reports a key file that cannot be read or holds no key, by
// the rules the account's poller reads (and re-reads) it with.
func checkKeyFile(path string) error {
	if _, err := apikey.Load(path, log.NewNopLogger()); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "API key file: ")) // the caller names the field
	}
	return nil
}

// goTypeRE is how yaml.v3 names the Go type of a struct in its errors,
// which means nothing to the file's author.
var goTypeRE = regexp.MustCompile(` in type config\.\w+`)

// oneLine joins a multi-line YAML error into one line, in the file's terms.
func oneLine(err error) string {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	msg = goTypeRE.ReplaceAllString(msg, "")
	return strings.ReplaceAll(msg, "\n", "; ")
}

// Equal reports whether two configs describe the same accounts with the
// same settings, in the same order.
func (c *Config) Equal(o *Config) bool { return slices.Equal(c.Accounts, o.Accounts) }
