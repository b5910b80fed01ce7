package container

import (
	"archive/tar"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// maxImageSize bounds the image: the binary alone, about 14 MB.
const maxImageSize = 25_000_000

const binaryPath = "/bin/videoconduit_exporter"

// TestImageContents checks what the image is without running it: one
// static binary and nothing else (no shell), its user, port, entrypoint,
// labels and size, and the build of the binary: stamped version, no cgo,
// and the embedded CA roots.
func TestImageContents(t *testing.T) {
	img := testImage(t)
	var inspected []struct {
		Size   int64
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Entrypoint   []string
			Cmd          []string
			Labels       map[string]string
		}
	}
	if err := json.Unmarshal([]byte(podman(t, "image", "inspect", img)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect %s: %v (%d images)", img, err, len(inspected))
	}
	cfg := inspected[0].Config
	if cfg.User != "65534:65534" {
		t.Errorf("the image runs as %q, want 65534:65534", cfg.User)
	}
	if _, ok := cfg.ExposedPorts[exposedPort+"/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("the image exposes %v, want %s/tcp alone", cfg.ExposedPorts, exposedPort)
	}
	if !slices.Equal(cfg.Entrypoint, []string{binaryPath}) || len(cfg.Cmd) != 0 {
		t.Errorf("the image runs %v %v, want the entrypoint %s and no command", cfg.Entrypoint, cfg.Cmd, binaryPath)
	}
	t.Logf("image %s: %d bytes", img, inspected[0].Size)
	if inspected[0].Size > maxImageSize {
		t.Errorf("the image is %d bytes, want at most %d", inspected[0].Size, maxImageSize)
	}

	revision, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	const oci = "org.opencontainers.image."
	labels := cfg.Labels
	for _, key := range []string{"title", "description", "source", "version"} {
		if labels[oci+key] == "" {
			t.Errorf("the image has no label %s%s", oci, key)
		}
	}
	if got := labels[oci+"revision"]; got != strings.TrimSpace(string(revision)) {
		t.Errorf("label %srevision is %q, the checkout is at %s", oci, got, revision)
	}
	if created, err := time.Parse(time.RFC3339, labels[oci+"created"]); err != nil || time.Since(created) > time.Hour {
		t.Errorf("label %screated is %q, want the build's time (RFC 3339): %v", oci, labels[oci+"created"], err)
	}

	files := imageFiles(t, img)
	if names := slices.Sorted(maps.Keys(files)); !slices.Equal(names, []string{strings.TrimPrefix(binaryPath, "/")}) {
		t.Fatalf("the image holds the files %v, want the binary alone", names)
	}
	bin := filepath.Join(t.TempDir(), "videoconduit_exporter")
	if err := os.WriteFile(bin, files[strings.TrimPrefix(binaryPath, "/")], 0o755); err != nil {
		t.Fatal(err)
	}
	checkStatic(t, bin)
	checkBuild(t, bin)

	want := fmt.Sprintf("version %s (branch: ", labels[oci+"version"])
	if v := podmanRun(t, "--version"); !strings.Contains(v, want) || !strings.Contains(v, "revision: "+labels[oci+"revision"]+")") {
		t.Errorf("the exporter's --version says %q; the labels say version %s, revision %s", v, labels[oci+"version"], labels[oci+"revision"])
	}
}

// imageFiles returns the regular files of the image's file system, by
// path, as podman export gives them from a container of it.
func imageFiles(t *testing.T, img string) map[string][]byte {
	t.Helper()
	name := "videoconduit-test-" + randomHex(t)
	podman(t, "create", "--name", name, img)
	defer podman(t, "rm", name)
	archive := filepath.Join(t.TempDir(), "rootfs.tar")
	podman(t, "export", "--output", archive, name)
	files := map[string][]byte{}
	forEachFile(t, archive, func(name string, r io.Reader) {
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	})
	return files
}

// forEachFile calls f for each regular file of a tar archive; any other kind
// of entry but a directory (a link, say) fails the test.
func forEachFile(t *testing.T, archive string, f func(name string, r io.Reader)) {
	t.Helper()
	file, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	tr := tar.NewReader(file)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("reading %s: %v", archive, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
		case tar.TypeReg:
			f(h.Name, tr)
		default:
			t.Errorf("%s holds %s, which is not a regular file or folder (type %c)", archive, h.Name, h.Typeflag)
		}
	}
}

// checkStatic requires an ELF executable with no interpreter and no
// dynamic section: it needs no libc, which an empty image does not have.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the image's binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's binary is dynamically linked (program header %v)", p.Type)
		}
	}
}

// checkBuild reads the binary's build information (as go version -m does):
// built without cgo, with -trimpath, and the embedded CA roots linked in.
func checkBuild(t *testing.T, bin string) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("the image's binary has no Go build information: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" {
		t.Errorf("the binary was built with CGO_ENABLED=%q -trimpath=%q GOOS=%q, want 0, true, linux",
			settings["CGO_ENABLED"], settings["-trimpath"], settings["GOOS"])
	}
	const roots = "golang.org/x/crypto/x509roots/fallback"
	if !slices.ContainsFunc(info.Deps, func(m *debug.Module) bool { return m.Path == roots }) {
		t.Errorf("the binary does not link %s: in an image without /etc/ssl it would trust no CA", roots)
	}
}

// TestImageDemo runs the image as the README does, on its demo: read-only,
// as the image's user, its port published on loopback. It measures the time
// from podman run to ready and from podman stop to the exit.
func TestImageDemo(t *testing.T) {
	c := run(t, runOptions{args: []string{"--demo"}})
	ready := c.waitReady(60 * time.Second)

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"Uid", "Gid"} {
		want := id + ":\t65534\t65534\t65534\t65534"
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("the exporter does not run as 65534 (want %q in /proc/PID/status):\n%s", want, status)
		}
	}
	if code, _, err := c.get("/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy answered %d, %v", code, err)
	}
	m := c.metrics()
	for _, account := range []string{"prod", "staging"} { // the demo's accounts
		if up, n := sample(m, "videoconduit_up", map[string]string{"account": account}); up != 1 || n != 1 {
			t.Errorf("videoconduit_up{account=%q} sums to %v over %d series, want 1 over 1", account, up, n)
		}
	}
	labelVersion := podman(t, "image", "inspect", "--format", `{{index .Config.Labels "org.opencontainers.image.version"}}`, testImage(t))
	if _, n := sample(m, "videoconduit_exporter_build_info", map[string]string{"version": labelVersion}); n != 1 {
		t.Errorf("videoconduit_exporter_build_info does not carry the image's version %q", labelVersion)
	}

	stopped := c.stop()
	if !strings.Contains(c.logs(), "shutting down") {
		t.Errorf("the exporter stopped without saying it shut down; its log:\n%s", c.logs())
	}
	t.Logf("podman run to /-/ready: %v; podman stop -t 10 to exit 0: %v", ready.Round(time.Millisecond), stopped.Round(time.Millisecond))
}

// TestImageAPIKeyFile runs the image against an API that accepts one key,
// given as a mounted file that only the image's user can read, with a state
// file in a mounted folder: the one place the exporter writes.
func TestImageAPIKeyFile(t *testing.T) {
	key := "vc_" + randomHex(t)
	sim, url := api(t, key, nil)
	const keyFile, stateDir = "/etc/videoconduit/keys/default", "/var/lib/videoconduit_exporter"
	state := userDir(t)
	c := run(t, runOptions{
		hostNetwork: true,
		mounts:      map[string]string{secretFile(t, t.TempDir(), "key", key+"\n"): keyFile},
		writable:    map[string]string{state: stateDir},
		args: []string{"--videoconduit.url=" + url, "--videoconduit.api-key-file=" + keyFile,
			"--collector.state-file=" + stateDir + "/state.json"},
	})
	c.waitReady(60 * time.Second)
	m := c.metrics()
	if up, n := sample(m, "videoconduit_up", map[string]string{"account": "default"}); up != 1 || n != 1 {
		t.Errorf("videoconduit_up{account=\"default\"} sums to %v over %d series, want 1 over 1", up, n)
	}
	if ok, _ := sample(m, "videoconduit_api_requests_total", map[string]string{"code": "200"}); ok == 0 || sim.Requests()["list"] == 0 {
		t.Errorf("no API request succeeded (%v answered 200; the API saw %v)", ok, sim.Requests())
	}
	if strings.Contains(c.logs(), key) {
		t.Error("the key appears in the exporter's log")
	}
	c.stop()
	if fi, err := os.Stat(filepath.Join(state, "state.json")); err != nil || fi.Size() == 0 {
		t.Errorf("the exporter wrote no state file in its mounted folder: %v; its log:\n%s", err, c.logs())
	}
}

// helpText is the exporter's --help, from the image.
var helpText struct {
	once sync.Once
	text string
}

func exporterHelp(t *testing.T) string {
	t.Helper()
	testImage(t) // skips under -short before the once, which a skip would spend
	helpText.once.Do(func() { helpText.text = podmanRun(t, "--help") })
	if helpText.text == "" {
		t.Fatal("the exporter's --help printed nothing")
	}
	return helpText.text
}

// TestImageConfigFile runs the image with a mounted config file of two
// accounts, each with its own key file and its own API.
func TestImageConfigFile(t *testing.T) {
	if !strings.Contains(exporterHelp(t), "--config.file") {
		t.Fatal("the image's exporter has no --config.file flag: it cannot read several accounts from a config file, which this test runs")
	}
	dir := t.TempDir()
	accounts := []string{"prod", "agency-eu"}
	mounts := map[string]string{}
	config := "defaults:\n  interval: 30s\naccounts:\n"
	apis := map[string]*simulator.Sim{}
	for _, name := range accounts {
		key := "vc_" + randomHex(t)
		sim, url := api(t, key, nil)
		apis[name] = sim
		keyFile := "/etc/videoconduit/keys/" + name
		mounts[secretFile(t, dir, "key-"+name, key)] = keyFile
		config += fmt.Sprintf("  - name: %s\n    api_key_file: %s\n    url: %s\n", name, keyFile, url)
	}
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts[configFile] = "/etc/videoconduit/config.yml"
	c := run(t, runOptions{hostNetwork: true, mounts: mounts, args: []string{"--config.file=/etc/videoconduit/config.yml"}})
	c.waitReady(60 * time.Second)
	m := c.metrics()
	for _, name := range accounts {
		if up, n := sample(m, "videoconduit_up", map[string]string{"account": name}); up != 1 || n != 1 {
			t.Errorf("videoconduit_up{account=%q} sums to %v over %d series, want 1 over 1", name, up, n)
		}
		if apis[name].Requests()["list"] == 0 {
			t.Errorf("the API of account %s saw no list request", name)
		}
	}
	c.stop()
}
