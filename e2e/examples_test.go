package e2e

import (
	"bufio"
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/videoconduit/videoconduit_exporter/internal/realtools"
)

// TestExamplePrometheusConfigIsValid runs the real promtool on
// examples/prometheus.yml, which also checks the rule files it loads, and
// requires those to be every rule file of alerts/.
func TestExamplePrometheusConfigIsValid(t *testing.T) {
	promtool := realtools.Path(t, "promtool")
	out, err := exec.Command(promtool, "check", "config", examplePath("prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	loaded, err := exampleRuleFiles()
	if err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		matches, err := filepath.Glob(filepath.Join(realtools.RepoRoot(), "alerts", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			if isRuleFile(t, m) {
				shipped = append(shipped, m)
			}
		}
	}
	slices.Sort(loaded)
	slices.Sort(shipped)
	if len(shipped) == 0 || !slices.Equal(loaded, shipped) {
		t.Errorf("examples/prometheus.yml loads %v; the rule files of alerts/ are %v", loaded, shipped)
	}
}

// isRuleFile tells a Prometheus rule file from other YAML in alerts/ (such
// as promtool test files, which have rule_files instead of groups).
func isRuleFile(t *testing.T, path string) bool {
	t.Helper()
	m, err := readYAMLMap(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := m["groups"]
	return ok
}

// TestExampleAlertmanagerConfigIsValid runs the real amtool on
// examples/alertmanager.yml, with its commented-out integrations too, and
// checks where each severity is routed.
func TestExampleAlertmanagerConfigIsValid(t *testing.T) {
	amtool := realtools.Path(t, "amtool")
	check := func(file string) {
		t.Helper()
		if out, err := exec.Command(amtool, "check-config", file).CombinedOutput(); err != nil {
			t.Fatalf("amtool check-config %s: %v\n%s", file, err, out)
		}
	}
	check(examplePath("alertmanager.yml"))

	uncommented := filepath.Join(t.TempDir(), "alertmanager.yml")
	n, err := uncommentReceivers(examplePath("alertmanager.yml"), uncommented)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("examples/alertmanager.yml has no commented-out integration examples in its receivers")
	}
	check(uncommented)

	for severity, want := range map[string]string{"critical": criticalReceiver, "warning": "ticket", "info": "default"} {
		out, err := exec.Command(amtool, "config", "routes", "test", "--config.file="+examplePath("alertmanager.yml"),
			"alertname=VideoConduitJobFailureRatioHigh", "job_type=download", "severity="+severity).CombinedOutput()
		if err != nil {
			t.Fatalf("amtool config routes test: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("a %s alert goes to %q, want %q", severity, got, want)
		}
	}
}

// commentedConfig is a commented-out configuration line in the receivers
// section: "# " at the indentation of the line's block, then the line.
var commentedConfig = regexp.MustCompile(`^(\s+)# (.*)$`)

// uncommentReceivers writes src to dst with the commented lines of its
// receivers section uncommented, and returns how many it uncommented. Every
// comment there is thus an example configuration, and stays a valid one.
func uncommentReceivers(src, dst string) (int, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("reading the Alertmanager example: %w", err)
	}
	defer f.Close()
	var b strings.Builder
	inReceivers, n := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line != "" && line[0] != ' ' && line[0] != '#' { // a top-level key
			inReceivers = strings.HasPrefix(line, "receivers:")
		}
		if m := commentedConfig.FindStringSubmatch(line); inReceivers && m != nil {
			line = m[1] + m[2]
			n++
		}
		b.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading the Alertmanager example: %w", err)
	}
	return n, os.WriteFile(dst, []byte(b.String()), 0o644)
}

// composeFile is the part of a Compose file the test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command []string `yaml:"command"`
	Volumes []string `yaml:"volumes"`
	Ports   []string `yaml:"ports"`
	Secrets []string `yaml:"secrets"`
}

// TestExampleComposeStackIsWired checks examples/docker-compose.yml without
// Docker: every file it mounts exists, every path the configurations name
// inside the containers is mounted, the addresses name services and their
// ports, and the images are the versions the tests run.
func TestExampleComposeStackIsWired(t *testing.T) {
	var c composeFile
	readYAMLInto(t, examplePath("docker-compose.yml"), &c)
	for _, name := range []string{"exporter", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
	}
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if isBindMount(src) {
				if _, err := os.Stat(filepath.Join(examplesDir(), src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts the volume %q, which is not declared", name, src)
			}
		}
	}

	exporter := c.Services["exporter"]
	if exporter.Build == nil {
		t.Fatal("the exporter service is not built from the checkout")
	}
	dockerfile := cmp.Or(exporter.Build.Dockerfile, "Dockerfile")
	if _, err := os.Stat(filepath.Join(examplesDir(), exporter.Build.Context, dockerfile)); err != nil {
		t.Errorf("the exporter's build: %v", err)
	}
	if !slices.Contains(exporter.Command, "--demo") {
		t.Errorf("the exporter runs %v, want the demo by default", exporter.Command)
	}

	// Prometheus: its config, and the rule files it names from there.
	prom := c.Services["prometheus"]
	promCfg := c.hostPath(t, "prometheus", flagValue(t, prom.Command, "--config.file"))
	if promCfg != examplePath("prometheus.yml") {
		t.Errorf("Prometheus reads %s, want examples/prometheus.yml", promCfg)
	}
	if !slices.Contains(prom.Command, "--enable-feature=exemplar-storage") {
		t.Error("Prometheus runs without exemplar storage: the dashboards' job_id exemplars would be dropped")
	}
	var promYAML struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			ScrapeInterval string `yaml:"scrape_interval"`
			StaticConfigs  []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAMLInto(t, promCfg, &promYAML)
	inContainer := path.Dir(flagValue(t, prom.Command, "--config.file"))
	for _, rf := range promYAML.RuleFiles {
		host := c.hostPath(t, "prometheus", path.Join(inContainer, rf))
		if matches, _ := filepath.Glob(host); len(matches) == 0 {
			t.Errorf("rule_files entry %s is %s in the container, which holds no file", rf, host)
		}
	}
	for _, sc := range promYAML.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				c.requireServicePort(t, "scrape target", target, "exporter")
			}
		}
	}
	for _, am := range promYAML.Alerting.Alertmanagers {
		for _, st := range am.StaticConfigs {
			for _, target := range st.Targets {
				c.requireServicePort(t, "Alertmanager target", target, "alertmanager")
			}
		}
	}

	am := c.Services["alertmanager"]
	if got := c.hostPath(t, "alertmanager", flagValue(t, am.Command, "--config.file")); got != examplePath("alertmanager.yml") {
		t.Errorf("Alertmanager reads %s, want examples/alertmanager.yml", got)
	}

	if len(promYAML.ScrapeConfigs) != 1 {
		t.Fatalf("examples/prometheus.yml has %d scrape jobs, want the exporter's alone", len(promYAML.ScrapeConfigs))
	}
	checkGrafana(t, c, promYAML.ScrapeConfigs[0].ScrapeInterval)
	checkImageVersions(t, c)
	checkRealKeyOverride(t, c)
}

// checkGrafana requires Grafana to be provisioned with a datasource at the
// compose Prometheus, whose timeInterval is the scrape interval, and with
// the dashboards' provider, whose folder holds both dashboards.
func checkGrafana(t *testing.T, c composeFile, scrapeInterval string) {
	t.Helper()
	const provisioning = "/etc/grafana/provisioning"
	dsFile := c.mountedFileIn(t, "grafana", provisioning+"/datasources")
	var ds struct {
		Datasources []map[string]any `yaml:"datasources"`
	}
	readYAMLInto(t, dsFile, &ds)
	if len(ds.Datasources) != 1 {
		t.Fatalf("%s provisions %d datasources, want 1", dsFile, len(ds.Datasources))
	}
	u, err := url.Parse(fmt.Sprint(ds.Datasources[0]["url"]))
	if err != nil {
		t.Fatalf("the datasource URL: %v", err)
	}
	c.requireServicePort(t, "Grafana datasource", u.Host, "prometheus")
	// Apart from its URL and timeInterval, the datasource is the one the
	// dashboards ship.
	var shipped struct {
		Datasources []map[string]any `yaml:"datasources"`
	}
	readYAMLInto(t, filepath.Join(realtools.RepoRoot(), "dashboards", "provisioning", "datasources.yml"), &shipped)
	if len(shipped.Datasources) != 1 {
		t.Fatalf("dashboards/provisioning/datasources.yml has %d datasources, want 1", len(shipped.Datasources))
	}
	mine, theirs := withoutLocalSettings(t, ds.Datasources[0]), withoutLocalSettings(t, shipped.Datasources[0])
	if got := mine["jsonData"].(map[string]any)["timeInterval"]; got != scrapeInterval {
		t.Errorf("the datasource's timeInterval is %v, the scrape interval %s", got, scrapeInterval)
	}
	delete(mine["jsonData"].(map[string]any), "timeInterval")
	delete(theirs["jsonData"].(map[string]any), "timeInterval")
	if fmt.Sprint(mine) != fmt.Sprint(theirs) {
		t.Errorf("examples/grafana/datasources.yml differs from dashboards/provisioning/datasources.yml beyond the URL and timeInterval:\n%v\n%v", mine, theirs)
	}

	providerFile := c.mountedFileIn(t, "grafana", provisioning+"/dashboards")
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAMLInto(t, providerFile, &prov)
	if len(prov.Providers) == 0 {
		t.Fatalf("%s has no dashboard provider", providerFile)
	}
	dashDir := c.hostPath(t, "grafana", prov.Providers[0].Options.Path)
	for _, f := range []string{"videoconduit-jobs.json", "videoconduit-exporter.json"} {
		if _, err := os.Stat(filepath.Join(dashDir, f)); err != nil {
			t.Errorf("Grafana's dashboard folder %s: %v", prov.Providers[0].Options.Path, err)
		}
	}
}

// withoutLocalSettings returns a copy of a provisioned datasource without its
// URL, and with a copy of its jsonData that the caller may change.
func withoutLocalSettings(t *testing.T, ds map[string]any) map[string]any {
	t.Helper()
	out := maps.Clone(ds)
	delete(out, "url")
	jsonData, ok := out["jsonData"].(map[string]any)
	if !ok {
		t.Fatalf("datasource %v has no jsonData", ds["name"])
	}
	out["jsonData"] = maps.Clone(jsonData)
	return out
}

// checkImageVersions requires the Prometheus and Alertmanager images to be
// the releases that tools/ pins and the tests run.
func checkImageVersions(t *testing.T, c composeFile) {
	t.Helper()
	// Prometheus 3.x.y is published as the Go module version v0.30x.y.
	promModule := pinnedVersion(t, "prometheus", "github.com/prometheus/prometheus")
	var minor, patch int
	if _, err := fmt.Sscanf(promModule, "v0.3%d.%d", &minor, &patch); err != nil {
		t.Fatalf("tools/prometheus pins Prometheus %s, not a 3.x module version: %v", promModule, err)
	}
	want := map[string]string{
		"prometheus":   fmt.Sprintf("prom/prometheus:v3.%d.%d", minor, patch),
		"alertmanager": "prom/alertmanager:" + pinnedVersion(t, "alertmanager", "github.com/prometheus/alertmanager"),
	}
	for svc, image := range want {
		if got := c.Services[svc].Image; got != image {
			t.Errorf("service %s runs %s; the tests run %s", svc, got, image)
		}
	}
}

// pinnedVersion reads the version of module in tools/<dir>/go.mod.
func pinnedVersion(t *testing.T, dir, module string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(realtools.RepoRoot(), "tools", dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("tools/%s/go.mod does not pin %s", dir, module)
	}
	return string(m[1])
}

// checkRealKeyOverride requires the real-key override to hand the exporter
// its key as a secret file that git ignores, and to drop the demo.
func checkRealKeyOverride(t *testing.T, base composeFile) {
	t.Helper()
	var o composeFile
	readYAMLInto(t, examplePath("docker-compose.real-key.yml"), &o)
	exporter, ok := o.Services["exporter"]
	if !ok {
		t.Fatal("docker-compose.real-key.yml does not change the exporter service")
	}
	if slices.Contains(exporter.Command, "--demo") {
		t.Error("the real-key override still runs the demo")
	}
	keyFile := flagValue(t, exporter.Command, "--videoconduit.api-key-file")
	if len(exporter.Secrets) != 1 || keyFile != "/run/secrets/"+exporter.Secrets[0] {
		t.Fatalf("the exporter reads its key from %s, not from its secret %v", keyFile, exporter.Secrets)
	}
	secret, ok := o.Secrets[exporter.Secrets[0]]
	if !ok || secret.File == "" {
		t.Fatalf("the secret %s is not declared with a file", exporter.Secrets[0])
	}
	ignore, err := os.ReadFile(examplePath(".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ignore), "\n"), filepath.Base(secret.File)) {
		t.Errorf("examples/.gitignore does not ignore the key file %s", secret.File)
	}
	if _, ok := base.Services["exporter"]; !ok {
		t.Error("the override changes an exporter service that docker-compose.yml lacks")
	}
}

func isBindMount(src string) bool { return strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") }

// hostPath maps a path inside a service's container to the checkout,
// through the longest bind mount that holds it.
func (c composeFile) hostPath(t *testing.T, service, inContainer string) string {
	t.Helper()
	best, bestDst := "", ""
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !isBindMount(parts[0]) {
			continue
		}
		dst := parts[1]
		if (inContainer == dst || strings.HasPrefix(inContainer, dst+"/")) && len(dst) > len(bestDst) {
			best, bestDst = filepath.Join(examplesDir(), parts[0], strings.TrimPrefix(inContainer, dst)), dst
		}
	}
	if best == "" {
		t.Fatalf("service %s has nothing from the checkout mounted at %s", service, inContainer)
	}
	return best
}

// mountedFileIn returns the host file that a service has mounted directly
// inside dir: the one provisioning file Grafana finds there.
func (c composeFile) mountedFileIn(t *testing.T, service, dir string) string {
	t.Helper()
	var found []string
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && isBindMount(parts[0]) && path.Dir(parts[1]) == dir {
			found = append(found, filepath.Join(examplesDir(), parts[0]))
		}
	}
	if len(found) != 1 {
		t.Fatalf("service %s has %d files mounted in %s, want 1", service, len(found), dir)
	}
	return found[0]
}

// requireServicePort requires host:port to be a service of the stack that
// publishes that port.
func (c composeFile) requireServicePort(t *testing.T, what, hostPort, service string) {
	t.Helper()
	host, port, ok := strings.Cut(hostPort, ":")
	if !ok || host != service {
		t.Errorf("the %s %s is not the %s service", what, hostPort, service)
		return
	}
	for _, p := range c.Services[service].Ports {
		if _, containerPort, _ := strings.Cut(p, ":"); containerPort == port {
			return
		}
	}
	t.Errorf("the %s %s: service %s does not publish port %s", what, hostPort, service, port)
}

// flagValue returns the value of --name=value in a command.
func flagValue(t *testing.T, command []string, name string) string {
	t.Helper()
	for _, arg := range command {
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return v
		}
	}
	t.Fatalf("the command %v has no %s", command, name)
	return ""
}

func readYAMLInto(t *testing.T, file string, v any) {
	t.Helper()
	if err := decodeYAMLFile(file, v); err != nil {
		t.Fatal(err)
	}
}
