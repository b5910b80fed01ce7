// Package apikey holds the VideoConduit API key: read from a file (re-read
// when the file changes or on Reload, so a rotated key takes effect without a
// restart) or from the environment. The key itself is never logged.
package apikey

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// EnvVar is the environment variable read when no key file is given.
const EnvVar = "VIDEOCONDUIT_API_KEY"

// ErrMissing means neither a key file nor the environment variable gave a key.
var ErrMissing = errors.New("no API key: give one with --videoconduit.api-key-file or the " + EnvVar + " environment variable")

// checkEvery bounds how often Key looks at the file's modification time, so
// a request costs no system call.
const checkEvery = 5 * time.Second

// Source returns the current API key.
type Source struct {
	path   string
	logger log.Logger
	now    func() time.Time

	mu        sync.Mutex
	key       string
	modTime   time.Time
	size      int64
	checkedAt time.Time
	// generation counts the changes of the key since the first read.
	generation uint64
}

// Load reads the key from path, or from the environment when path is empty.
func Load(path string, logger log.Logger) (*Source, error) {
	s := &Source{path: path, logger: logger, now: time.Now}
	if path == "" {
		s.key = strings.TrimSpace(os.Getenv(EnvVar))
		if s.key == "" {
			return nil, ErrMissing
		}
		return s, nil
	}
	if err := s.read(); err != nil {
		return nil, err
	}
	return s, nil
}

// Fixed returns a source with a constant key (the demo's).
func Fixed(key string) *Source { return &Source{key: key} }

// Key returns the current key, re-reading the file when it has changed.
func (s *Source) Key() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" && s.now().Sub(s.checkedAt) >= checkEvery {
		s.refreshLocked()
	}
	return s.key
}

// Generation returns a number that changes whenever the key does, checking
// the file first as Key does: a caller that compares it before its requests
// learns of a new key before using it.
func (s *Source) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" && s.now().Sub(s.checkedAt) >= checkEvery {
		s.refreshLocked()
	}
	return s.generation
}

// Reload re-reads the key file now (on SIGHUP).
func (s *Source) Reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" {
		s.modTime = time.Time{} // force a read
		s.refreshLocked()
	}
}

func (s *Source) refreshLocked() {
	s.checkedAt = s.now()
	fi, err := os.Stat(s.path)
	if err != nil {
		level.Warn(s.logger).Log("msg", "cannot check the API key file; keeping the key read before", "err", err)
		return
	}
	if fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return
	}
	if err := s.readLocked(); err != nil {
		level.Warn(s.logger).Log("msg", "cannot re-read the API key file; keeping the key read before", "err", err)
		return
	}
	level.Info(s.logger).Log("msg", "API key re-read from file", "file", s.path)
}

func (s *Source) read() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkedAt = s.now()
	return s.readLocked()
}

func (s *Source) readLocked() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("API key file: %w", err)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("API key file: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if key == "" {
		return fmt.Errorf("API key file %s is empty", s.path)
	}
	// Group read is how Kubernetes hands a Secret to a non-root container
	// (fsGroup), so only a file every user can read is warned about.
	if fi.Mode().Perm()&0o004 != 0 {
		level.Warn(s.logger).Log("msg", "the API key file is readable by other users; restrict it with chmod 600 (or 640 for a group)", "file", s.path, "mode", fi.Mode().Perm().String())
	}
	if s.key != "" && key != s.key {
		s.generation++
	}
	s.key, s.modTime, s.size = key, fi.ModTime(), fi.Size()
	return nil
}
