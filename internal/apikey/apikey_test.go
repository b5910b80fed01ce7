package apikey

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
)

func TestLoadFromEnvironment(t *testing.T) {
	t.Setenv(EnvVar, "  vc_env_key\n")
	s, err := Load("", log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Key(); got != "vc_env_key" {
		t.Errorf("Key() = %q, want the trimmed variable", got)
	}
	t.Setenv(EnvVar, "   ")
	if _, err := Load("", log.NewNopLogger()); !errors.Is(err, ErrMissing) {
		t.Errorf("a blank variable: err = %v, want ErrMissing", err)
	}
}

func TestLoadFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	write := func(key string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(key), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	write("vc_first\n", 0o600)
	s, err := Load(path, log.NewLogfmtLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	s.now = func() time.Time { return clock }
	if got := s.Key(); got != "vc_first" {
		t.Fatalf("Key() = %q", got)
	}
	if strings.Contains(logs.String(), "readable by other users") {
		t.Errorf("a 0600 file must not warn: %s", logs.String())
	}

	gen := s.Generation()

	// A changed file is picked up once checkEvery has passed, not before.
	write("vc_second_key\n", 0o600)
	if got := s.Key(); got != "vc_first" {
		t.Errorf("Key() re-read the file before checkEvery: %q", got)
	}
	if s.Generation() != gen {
		t.Errorf("the generation changed before the new key was read")
	}
	clock = clock.Add(checkEvery)
	// Generation looks at the file as Key does, so a caller that checks it
	// first learns of the new key before using it.
	if s.Generation() == gen {
		t.Errorf("the generation did not change with the key")
	}
	gen = s.Generation()
	if got := s.Key(); got != "vc_second_key" {
		t.Errorf("Key() after a change = %q, want vc_second_key", got)
	}

	// Reload reads at once, even when size and time look unchanged.
	write("vc_third_key\n", 0o600)
	s.Reload()
	if got := s.Key(); got != "vc_third_key" {
		t.Errorf("Key() after Reload = %q", got)
	}
	if s.Generation() == gen {
		t.Errorf("the generation did not change on Reload of a new key")
	}
	gen = s.Generation()
	// The same key written again is no change.
	write("vc_third_key\n\n", 0o600)
	s.Reload()
	if s.Generation() != gen {
		t.Errorf("rewriting the same key changed the generation")
	}

	// An emptied file keeps the key read before, with a warning.
	write("\n", 0o600)
	s.Reload()
	if got := s.Key(); got != "vc_third_key" {
		t.Errorf("an empty file replaced the key: %q", got)
	}
	if !strings.Contains(logs.String(), "keeping the key read before") {
		t.Errorf("no warning for an unreadable key file: %s", logs.String())
	}
	for _, key := range []string{"vc_first", "vc_second_key", "vc_third_key"} {
		if strings.Contains(logs.String(), key) {
			t.Errorf("the log shows the key %s", key)
		}
	}

	logs.Reset()
	write("vc_shared", 0o644)
	if _, err := Load(path, log.NewLogfmtLogger(&logs)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by other users") {
		t.Errorf("a 0644 file must warn: %q", logs.String())
	}

	// A Kubernetes Secret mounted for a non-root user: group-readable.
	logs.Reset()
	write("vc_secret_volume", 0o440)
	if _, err := Load(path, log.NewLogfmtLogger(&logs)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "readable") {
		t.Errorf("a 0440 file must not warn: %q", logs.String())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing"), log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "API key file") {
		t.Errorf("missing file: err = %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(empty, log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: err = %v", err)
	}
}

func TestFixed(t *testing.T) {
	s := Fixed("vc_demo")
	s.Reload()
	if got := s.Key(); got != "vc_demo" {
		t.Errorf("Key() = %q", got)
	}
}
