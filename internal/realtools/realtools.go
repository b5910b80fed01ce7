// Package realtools gives tests the real Prometheus, promtool, Alertmanager and
// amtool binaries. They are built from the Go modules pinned in tools/ the first
// time a test asks for them and cached outside the checkout, keyed by the pinned
// versions, so a fresh machine with only Go can run every test and later runs
// start at once.
package realtools

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// tool names a binary and the tools module that pins it.
type tool struct {
	module  string // folder under tools/
	pkgPath string
	// src is the folder, under the module, of a tool that is code of our
	// own: it is built and cached apart, keyed by its sources as well, so
	// that changing it does not rebuild the upstream binaries.
	src string
}

var tools = map[string]tool{
	"prometheus":   {"prometheus", "github.com/prometheus/prometheus/cmd/prometheus", ""},
	"promtool":     {"prometheus", "github.com/prometheus/prometheus/cmd/promtool", ""},
	"alertmanager": {"alertmanager", "github.com/prometheus/alertmanager/cmd/alertmanager", ""},
	"amtool":       {"alertmanager", "github.com/prometheus/alertmanager/cmd/amtool", ""},
	"backtest":     {"prometheus", "github.com/videoconduit/videoconduit_exporter/tools/prometheus/backtest", "backtest"},
	"helm":         {"helm", "helm.sh/helm/v3/cmd/helm", ""},
}

// group names the binaries that are built together and share a cache folder.
func (t tool) group() string {
	if t.src == "" {
		return t.module
	}
	return t.module + "-" + t.src
}

// versionedModule is, per tools module, the module whose pinned version the
// binaries report with --version (the upstream release process stamps it
// with ldflags; a plain go build would leave it empty).
var versionedModule = map[string]string{
	"prometheus":   "github.com/prometheus/prometheus",
	"alertmanager": "github.com/prometheus/alertmanager",
	"helm":         "helm.sh/helm/v3",
}

// builderRevision changes whenever the way binaries are built changes, so
// that binaries cached by an older builder are not reused.
const builderRevision = "2"

// Path returns the path of the named binary (prometheus, promtool,
// alertmanager or amtool), building it first if the cache lacks it. Tests
// that need a real component skip only under -short; otherwise a failed build
// fails the test.
func Path(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not building the real %s", name)
	}
	path, err := Build(name)
	if err != nil {
		t.Fatalf("obtaining the real %s: %v", name, err)
	}
	return path
}

// Build returns the path of the named binary, building every binary of its
// tools module into the cache when missing. Concurrent test processes wait
// on a file lock instead of building twice.
func Build(name string) (string, error) {
	tl, ok := tools[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	modDir := filepath.Join(repoRoot(), "tools", tl.module)
	key, err := moduleKey(modDir, tl.src)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	binDir := filepath.Join(base, "videoconduit_exporter", "tools", tl.group()+"-"+key)
	bin := filepath.Join(binDir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(binDir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	var pkgs []string
	for _, other := range tools {
		if other.group() == tl.group() {
			pkgs = append(pkgs, other.pkgPath)
		}
	}
	tmp, err := os.MkdirTemp(binDir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	version, err := exec.Command("go", "-C", modDir, "list", "-m", "-f", "{{.Version}}", versionedModule[tl.module]).Output()
	if err != nil {
		return "", fmt.Errorf("reading the pinned version in %s: %w", modDir, err)
	}
	ldflags := "-X github.com/prometheus/common/version.Version=" + strings.TrimPrefix(strings.TrimSpace(string(version)), "v")
	cmd := exec.Command("go", append([]string{"build", "-ldflags", ldflags, "-o", tmp + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = modDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %v\n%s", modDir, err, out)
	}
	// Rename each binary into place; the one asked for last, so its presence
	// means the whole module is built.
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() != name {
			if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(binDir, e.Name())); err != nil {
				return "", err
			}
		}
	}
	if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// RepoRoot returns the root of the exporter's checkout.
func RepoRoot() string { return repoRoot() }

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// moduleKey hashes what a tools module builds from: the requirements of its
// go.mod, and the Go files under its folder src when src is not empty (a
// tool of our own), so that a change of a pinned version or of that code
// builds into a fresh cache folder. go.sum and the layout of go.mod (which
// requirements go tidy marks indirect, comments, order) change no binary,
// so they do not count: tidying a tools module rebuilds nothing.
func moduleKey(dir, src string) (string, error) {
	h := sha256.New()
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("reading tools module: %w", err)
	}
	for _, line := range goModDirectives(mod) {
		h.Write([]byte(line + "\n"))
	}
	if src != "" {
		err := filepath.WalkDir(filepath.Join(dir, src), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write([]byte(path[len(dir):] + "\x00"))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("reading tools module: %w", err)
		}
	}
	h.Write([]byte(runtime.Version() + builderRevision))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goModDirectives returns the lines of a go.mod without comments, blank
// lines and block brackets, each directive spelt out on its own
// ("require m v"), sorted.
func goModDirectives(mod []byte) []string {
	var out []string
	block := ""
	for _, line := range strings.Split(string(mod), "\n") {
		line, _, _ = strings.Cut(line, "//")
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case len(fields) == 2 && fields[1] == "(":
			block = fields[0]
			continue
		case fields[0] == ")":
			block = ""
			continue
		case block != "":
			fields = append([]string{block}, fields...)
		}
		out = append(out, strings.Join(fields, " "))
	}
	slices.Sort(out)
	return out
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
