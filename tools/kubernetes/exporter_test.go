package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoconduit/videoconduit_exporter/internal/simulator"
)

// TestExporterRunsWithTheRenderedDeployment runs the exporter as the
// rendered Deployment would: the chart is rendered for two accounts, each
// against a simulated VideoConduit API; the pod's volumes are laid out in
// temporary folders as the kubelet would lay them out (each ConfigMap and
// Secret key a file, the state volume an empty folder); the container's
// paths are mapped to those folders in its arguments and in its files; and
// the exporter built from this checkout runs with those arguments. It must
// become ready, export both accounts and keep their state on the state
// volume.
func TestExporterRunsWithTheRenderedDeployment(t *testing.T) {
	keys := map[string]string{"prod": "vc_prod_key", "agency-eu": "vc_agency_key"}
	urls := map[string]string{}
	for account, key := range keys {
		sim := simulator.New(simulator.Config{Seed: 7, APIKey: key, History: 200})
		srv := httptest.NewServer(sim)
		t.Cleanup(srv.Close)
		urls[account] = srv.URL
	}
	o := render(t, values{
		"accounts": []any{map[string]any{"name": "prod"}, map[string]any{"name": "agency-eu", "url": urls["agency-eu"]}},
		"config":   map[string]any{"defaults": map[string]any{"url": urls["prod"], "interval": "1s"}},
		"apiKeys":  map[string]any{"keys": map[string]any{"prod": keys["prod"], "agency-eu": keys["agency-eu"]}},
	})
	c := o.Deployment.Spec.Template.Spec.Containers[0]

	// The container's mounts, each on a folder of its own.
	mapped := map[string]string{}
	for _, m := range c.VolumeMounts {
		mapped[m.MountPath] = t.TempDir()
	}
	mounts := slices.Collect(maps.Keys(mapped))
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) }) // the longest prefix first
	mapPaths := func(s string) string {
		for _, p := range mounts {
			s = strings.ReplaceAll(s, p, mapped[p])
		}
		return s
	}
	for path, src := range podFiles(t, o) {
		var content string
		switch src.kind {
		case "ConfigMap":
			content = o.ConfigMaps[src.name].Data[src.key]
		case "Secret":
			s := o.Secrets[src.name]
			content = s.StringData[src.key]
			if b, ok := s.Data[src.key]; ok {
				content = string(b)
			}
		}
		host := mapPaths(path)
		if err := os.MkdirAll(filepath.Dir(host), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(host, []byte(mapPaths(content)), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var args []string
	for _, a := range c.Args {
		if a == fmt.Sprintf("--web.listen-address=:%d", port) {
			a = "--web.listen-address=" + addr
		}
		args = append(args, mapPaths(a))
	}

	bin := buildExporter(t)
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	for _, a := range c.Args {
		if flag, _, _ := strings.Cut(a, "="); !bytes.Contains(help, []byte(flag+"=")) && !bytes.Contains(help, []byte(flag+" ")) {
			t.Fatalf("the exporter has no %s flag, which the chart's Deployment passes; its flags:\n%s", flag, help)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir()} // no VIDEOCONDUIT_API_KEY: keys come from the files
	logFile, err := os.Create(filepath.Join(t.TempDir(), "exporter.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			logs, _ := os.ReadFile(logFile.Name())
			t.Logf("exporter %v\nlogs:\n%s", args, logs)
		}
	})

	base := "http://" + addr
	waitFor(t, exited, "/-/ready to answer 200", func() bool {
		code, _ := get(base + "/-/ready")
		return code == http.StatusOK
	})
	_, metrics := get(base + "/metrics")
	for account := range keys {
		up := regexp.MustCompile(`(?m)^videoconduit_up\{account="` + account + `"\} 1$`)
		if !up.MatchString(metrics) {
			t.Errorf("/metrics has no videoconduit_up{account=%q} 1:\n%s", account, grep(metrics, "videoconduit_up"))
		}
	}
	state := mapped[stateDir]
	waitFor(t, exited, "each account's state file on the state volume", func() bool {
		for account := range keys {
			if _, err := os.Stat(filepath.Join(state, account+".json")); err != nil {
				return false
			}
		}
		return true
	})
}

// buildExporter builds the exporter from the checkout this module sits in.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "videoconduit_exporter")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	return bin
}

// waitFor polls cond for up to a minute, failing early if the exporter exits.
func waitFor(t *testing.T, exited chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the exporter exited (%v) before %s", err, what)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func grep(text, substr string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
