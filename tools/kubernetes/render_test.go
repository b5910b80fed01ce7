package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The paths the exporter's images and the chart agree on.
const (
	configDir = "/etc/videoconduit"
	stateDir  = "/var/lib/videoconduit_exporter"
	port      = 10177
)

// chartCase is one set of values of the matrix, and what it must render
// beyond what every rendering must hold.
type chartCase struct {
	name   string
	values values
	check  func(t *testing.T, o *objects)
}

var chartCases = []chartCase{
	{"defaults", nil, func(t *testing.T, o *objects) {
		d := o.Deployment
		if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
			t.Errorf("replicas %d, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
		}
		if o.PVC == nil || volume(d, "state").PersistentVolumeClaim == nil || volume(d, "state").PersistentVolumeClaim.ClaimName != o.PVC.Name {
			t.Errorf("the state volume is not the chart's PersistentVolumeClaim: %+v", volume(d, "state"))
		}
		chart := chartYAML(t)
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/videoconduit/videoconduit_exporter:"+chart.AppVersion {
			t.Errorf("image %s, want the appVersion %s", img, chart.AppVersion)
		}
		if chart.Version != chart.AppVersion {
			t.Errorf("chart version %s differs from appVersion %s: they are released together", chart.Version, chart.AppVersion)
		}
		// No key given: the Deployment waits for a Secret the user creates.
		if len(o.Secrets) != 0 {
			t.Errorf("rendered Secrets %v with no key given", keys(o.Secrets))
		}
		if src := keySource(t, d); src.Name != Release+"-api-keys" {
			t.Errorf("keys come from the Secret %s, want %s-api-keys", src.Name, Release)
		}
		for name, obj := range map[string]bool{"ServiceMonitor": o.ServiceMonitor != nil, "PrometheusRule": o.PrometheusRule != nil,
			"NetworkPolicy": o.NetworkPolicy != nil, "PodDisruptionBudget": o.PDB != nil, "dashboards": len(o.ConfigMaps) != 1} {
			if obj {
				t.Errorf("%s rendered by default", name)
			}
		}
		cfg := exporterConfigOf(t, o)
		if len(cfg.Accounts) != 1 || cfg.Accounts[0].Name != "default" || cfg.Defaults != nil {
			t.Errorf("config = %+v, want the one account default and no defaults", cfg)
		}
	}},

	{"several accounts", values{
		"accounts": []any{
			map[string]any{"name": "prod"},
			map[string]any{"name": "agency-eu", "url": "https://eu.videoconduit.example:8443", "interval": "2m"},
			map[string]any{"name": "staging_2", "page_size": 50},
		},
		"config": map[string]any{
			"defaults":       map[string]any{"interval": "1m", "timeout": "15s", "max_requests_per_second": 2.5},
			"failureReasons": []any{map[string]any{"reason": "drm", "patterns": []any{"widevine"}}},
		},
		"apiKeys":       map[string]any{"keys": map[string]any{"prod": "vc_1", "agency-eu": "vc_2", "staging_2": "vc_3"}},
		"networkPolicy": map[string]any{"enabled": true},
	}, func(t *testing.T, o *objects) {
		cfg := exporterConfigOf(t, o)
		want := exporterConfig{
			Defaults: &accountSettings{Interval: "1m", Timeout: "15s", MaxRequestsPerSecond: 2.5},
			StateDir: stateDir,
			Accounts: []accountConfig{
				{Name: "prod", APIKeyFile: configDir + "/keys/prod"},
				{Name: "agency-eu", APIKeyFile: configDir + "/keys/agency-eu", accountSettings: accountSettings{URL: "https://eu.videoconduit.example:8443", Interval: "2m"}},
				{Name: "staging_2", APIKeyFile: configDir + "/keys/staging_2", accountSettings: accountSettings{PageSize: 50}},
			},
		}
		if !equalJSON(t, cfg, want) {
			t.Errorf("config = %+v\nwant %+v", cfg, want)
		}
		s := o.Secrets[Release+"-api-keys"]
		if s == nil || s.StringData["prod"] != "vc_1" || s.StringData["agency-eu"] != "vc_2" || s.StringData["staging_2"] != "vc_3" {
			t.Errorf("API key Secret = %+v", s)
		}
		reasons := o.ConfigMaps[Release].Data["failure-reasons.yml"]
		if !slices.Contains(o.Deployment.Spec.Template.Spec.Containers[0].Args, "--collector.failure-reasons-file="+configDir+"/failure-reasons.yml") ||
			!strings.Contains(reasons, "reason: drm") {
			t.Errorf("failure reasons not given to the exporter: args %v, file %q", o.Deployment.Spec.Template.Spec.Containers[0].Args, reasons)
		}
		// Egress to the default API (443), the account's own port and DNS.
		var ports []string
		for _, rule := range o.NetworkPolicy.Spec.Egress {
			for _, p := range rule.Ports {
				ports = append(ports, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
			}
		}
		if want := []string{"443/TCP", "8443/TCP", "53/UDP", "53/TCP"}; !slices.Equal(ports, want) {
			t.Errorf("egress ports %v, want %v", ports, want)
		}
	}},

	{"existing Secret", values{
		"accounts": []any{map[string]any{"name": "prod"}, map[string]any{"name": "dev"}},
		"apiKeys":  map[string]any{"existingSecret": "videoconduit-keys"},
	}, func(t *testing.T, o *objects) {
		if len(o.Secrets) != 0 {
			t.Errorf("rendered Secrets %v beside an existing one", keys(o.Secrets))
		}
		src := keySource(t, o.Deployment)
		var items []string
		for _, it := range src.Items {
			items = append(items, it.Key+"→"+it.Path)
		}
		if src.Name != "videoconduit-keys" || !slices.Equal(items, []string{"prod→keys/prod", "dev→keys/dev"}) {
			t.Errorf("keys from %s items %v; want videoconduit-keys, one item per account", src.Name, items)
		}
	}},

	{"monitors", values{
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "1m", "scrapeTimeout": "20s"},
		"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"dashboards":     map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "VideoConduit"}},
	}, func(t *testing.T, o *objects) {
		sm, pr := o.ServiceMonitor, o.PrometheusRule
		if sm == nil || pr == nil {
			t.Fatalf("ServiceMonitor %v, PrometheusRule %v: want both", sm != nil, pr != nil)
		}
		if sm.Labels["release"] != "kube-prometheus-stack" || pr.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("the operator's selector label is missing: %v, %v", sm.Labels, pr.Labels)
		}
		if ep := sm.Spec.Endpoints[0]; ep.Interval != "1m" || ep.ScrapeTimeout != "20s" || ep.Path != "/metrics" {
			t.Errorf("endpoint interval %s, timeout %s, path %s", ep.Interval, ep.ScrapeTimeout, ep.Path)
		}
		// Each dashboard of the repository, byte for byte, for the sidecar.
		sources, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
		found := 0
		for _, cm := range o.ConfigMaps {
			if cm.Labels["grafana_dashboard"] != "1" {
				continue
			}
			if cm.Annotations["grafana_folder"] != "VideoConduit" {
				t.Errorf("%s: annotations %v", cm.Name, cm.Annotations)
			}
			for file, content := range cm.Data {
				found++
				want, err := os.ReadFile(filepath.Join(root, "dashboards", file))
				if err != nil || content != string(want) {
					t.Errorf("ConfigMap %s: %s is not dashboards/%s (%v)", cm.Name, file, file, err)
				}
			}
		}
		if found != len(sources) || found == 0 {
			t.Errorf("%d dashboards in ConfigMaps, the repository has %d", found, len(sources))
		}
	}},

	{"two replicas", values{
		"replicaCount":  2,
		"persistence":   map[string]any{"enabled": false},
		"networkPolicy": map[string]any{"enabled": true, "ingressPeers": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}},
	}, func(t *testing.T, o *objects) {
		d := o.Deployment
		if *d.Spec.Replicas != 2 || d.Spec.Strategy.Type != "RollingUpdate" || volume(d, "state").EmptyDir == nil || o.PVC != nil {
			t.Errorf("replicas %d, strategy %s, state %+v, PVC %v; want 2, RollingUpdate, emptyDir, none",
				*d.Spec.Replicas, d.Spec.Strategy.Type, volume(d, "state"), o.PVC != nil)
		}
		if o.PDB == nil || o.PDB.Spec.MinAvailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget %+v, want minAvailable 1", o.PDB)
		}
		if from := o.NetworkPolicy.Spec.Ingress[0].From; len(from) != 1 || from[0].NamespaceSelector == nil {
			t.Errorf("ingress from %+v, want the monitoring namespace", from)
		}
	}},

	{"TLS web config", values{
		"externalURL": "https://videoconduit-exporter.example.com/",
		"webConfig": map[string]any{
			"config": map[string]any{
				"tls_server_config": map[string]any{"cert_file": configDir + "/tls/tls.crt", "key_file": configDir + "/tls/tls.key"},
				"basic_auth_users":  map[string]any{"prometheus": "$2y$10$abcdefghijklmnopqrstuu1234567890abcdefghijklmnopqrstu"},
			},
			"tlsSecretName": "videoconduit-exporter-tls",
		},
		"probes": map[string]any{"httpHeaders": []any{map[string]any{"name": "Authorization", "value": "Basic cHJvbWV0aGV1czpzZWNyZXQ="}}},
		"serviceMonitor": map[string]any{
			"enabled":   true,
			"tlsConfig": map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "videoconduit-exporter-tls", "key": "ca.crt"}}, "serverName": "videoconduit-exporter"},
			"basicAuth": map[string]any{"username": map[string]any{"name": "scrape-auth", "key": "username"}, "password": map[string]any{"name": "scrape-auth", "key": "password"}},
		},
	}, func(t *testing.T, o *objects) {
		c := o.Deployment.Spec.Template.Spec.Containers[0]
		if !slices.Contains(c.Args, "--web.config.file="+configDir+"/web-config.yml") {
			t.Errorf("args %v lack the web config", c.Args)
		}
		if !slices.Contains(c.Args, "--web.external-url=https://videoconduit-exporter.example.com/") {
			t.Errorf("args %v lack the external URL", c.Args)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if len(p.HTTPGet.HTTPHeaders) != 1 || p.HTTPGet.HTTPHeaders[0].Name != "Authorization" {
				t.Errorf("probe %s has headers %v", p.HTTPGet.Path, p.HTTPGet.HTTPHeaders)
			}
		}
		ep := o.ServiceMonitor.Spec.Endpoints[0]
		if ep.Scheme == nil || ep.Scheme.String() != "https" || ep.TLSConfig == nil || ep.TLSConfig.CA.Secret == nil || ep.BasicAuth == nil {
			t.Errorf("ServiceMonitor endpoint %+v: want https with the CA and basic auth", ep)
		}
	}},
}

// TestChartRenders renders the chart for each set of values of the matrix,
// decodes every object strictly into its API type, and checks that the
// objects agree with one another and with the exporter.
func TestChartRenders(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			o := render(t, c.values)
			checkWorkload(t, o, c.values)
			checkMonitors(t, o, c.values)
			c.check(t, o)
		})
	}
}

// TestChartLintsStrict runs helm lint --strict over the matrix.
func TestChartLintsStrict(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) { lint(t, c.values) })
	}
}

// TestChartRefusesBadValues: values that would give a broken deployment
// stop helm with a message naming what to change.
func TestChartRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		values values
		want   string
	}{
		{values{"replicaCount": 2}, "replicaCount > 1 needs persistence.enabled=false"},
		{values{"accounts": []any{map[string]any{"name": "Prod"}}}, `name "Prod" must match`},
		{values{"accounts": []any{map[string]any{"name": "a"}, map[string]any{"name": "a"}}}, `name "a" is listed twice`},
		{values{"accounts": []any{}}, "list at least one VideoConduit account"},
		{values{"accounts": []any{map[string]any{"name": "a", "api_key_file": "/k"}}}, "api_key_file is set by the chart"},
		{values{"apiKeys": map[string]any{"existingSecret": "s", "keys": map[string]any{"default": "k"}}}, "either existingSecret or keys"},
		{values{"accounts": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}, "apiKeys": map[string]any{"keys": map[string]any{"a": "k"}}}, `no key for the account "b"`},
		{values{"prometheusRule": map[string]any{"enabled": true, "disabled": []any{"NoSuchAlert"}}}, `no alert is named "NoSuchAlert"`},
		{values{"config": map[string]any{"defaults": map[string]any{"url": "videoconduit.com"}}, "networkPolicy": map[string]any{"enabled": true}}, "has no http or https scheme"},
	} {
		_, err := template(t, c.values)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %v: error %v, want one saying %q", c.values, err, c.want)
		}
	}
}

// TestMonitorsIgnoreCapabilities: a template that asks the cluster whether
// it serves the operator's APIs renders nothing under helm template and
// Argo CD, where there is no cluster to ask.
func TestMonitorsIgnoreCapabilities(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, ChartDir, "templates", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(".Capabilities")) {
			t.Errorf("%s reads .Capabilities", filepath.Base(f))
		}
	}
}

// checkWorkload checks what every rendering must hold: the pod's security,
// its selectors, ports, probes, mounts and arguments, and the configuration
// file the exporter reads.
func checkWorkload(t *testing.T, o *objects, v values) {
	t.Helper()
	d, svc := o.Deployment, o.Service
	if d == nil || svc == nil {
		t.Fatalf("Deployment %v, Service %v: want both", d != nil, svc != nil)
	}
	pod := d.Spec.Template
	if !selects(t, d.Spec.Selector, pod.Labels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector, pod.Labels)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Service's selector %v does not select the pods %v", svc.Spec.Selector, pod.Labels)
	}

	// Security.
	ps := pod.Spec.SecurityContext
	if ps == nil || !deref(ps.RunAsNonRoot) || deref(ps.RunAsUser) != 65534 || deref(ps.RunAsGroup) != 65534 || deref(ps.FSGroup) != 65534 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want non-root 65534:65534, fsGroup 65534, seccomp RuntimeDefault", ps)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token")
	}
	if sa := o.ServiceAccount; sa == nil || sa.Name != pod.Spec.ServiceAccountName || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %+v for the pod's %q: want the chart's own, without token", sa, pod.Spec.ServiceAccountName)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	cs := c.SecurityContext
	if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation || !deref(cs.ReadOnlyRootFilesystem) ||
		cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v: want no escalation, read-only root, drop ALL", cs)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}

	// Ports: the exporter listens where the container port, the probes and
	// the Service say.
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != port {
		t.Errorf("container ports %+v, want http %d", c.Ports, port)
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--web.listen-address=:%d", port)) {
		t.Errorf("args %v do not listen on :%d", c.Args, port)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v: want http to the container's http", svc.Spec.Ports)
	}
	scheme := corev1.URISchemeHTTP
	if webConfig(v)["tls_server_config"] != nil {
		scheme = corev1.URISchemeHTTPS
	}
	for path, p := range map[string]*corev1.Probe{"/-/healthy": c.LivenessProbe, "/-/ready": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") || p.HTTPGet.Scheme != scheme {
			t.Errorf("probe of %s = %+v, want %s on port http", path, p, scheme)
		}
	}

	// Mounts: every file argument names a file a volume provides, and the
	// configuration names only such files.
	files := podFiles(t, o)
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if volume(d, m.Name) == nil {
			t.Errorf("mount %s names no volume", m.Name)
		}
		mounted[m.Name] = true
	}
	for _, vol := range pod.Spec.Volumes {
		if !mounted[vol.Name] {
			t.Errorf("volume %s is not mounted", vol.Name)
		}
	}
	if m := mount(c, "config"); m == nil || m.MountPath != configDir || !m.ReadOnly || m.SubPath != "" {
		t.Errorf("config mount %+v: want %s, read-only, whole (reloads need no subPath)", m, configDir)
	}
	if m := mount(c, "state"); m == nil || m.MountPath != stateDir || m.ReadOnly {
		t.Errorf("state mount %+v: want %s, writable", m, stateDir)
	}
	for _, arg := range c.Args {
		name, value, _ := strings.Cut(arg, "=")
		if strings.HasSuffix(name, "-file") || strings.HasSuffix(name, ".file") {
			if _, ok := files[value]; !ok {
				t.Errorf("%s: no volume provides %s (files: %v)", name, value, keys(files))
			}
		}
	}
	cfg := exporterConfigOf(t, o)
	if cfg.StateDir != stateDir {
		t.Errorf("state_dir %s, want the state volume %s", cfg.StateDir, stateDir)
	}
	var names []string
	for _, a := range cfg.Accounts {
		names = append(names, a.Name)
		if src, ok := files[a.APIKeyFile]; !ok || src.kind != "Secret" || src.key != a.Name {
			t.Errorf("account %s: api_key_file %s is not the account's key in a Secret (%+v)", a.Name, a.APIKeyFile, src)
		}
	}
	if want := accountNames(v); !slices.Equal(names, want) {
		t.Errorf("config accounts %v, want %v", names, want)
	}
	for _, key := range []string{"cert_file", "key_file"} {
		tls, _ := webConfig(v)["tls_server_config"].(map[string]any)
		if f, ok := tls[key].(string); ok {
			if _, ok := files[f]; !ok {
				t.Errorf("web config %s %s: no volume provides it", key, f)
			}
		}
	}
	if src := keySource(t, d); len(src.Items) != len(cfg.Accounts) {
		t.Errorf("key Secret items %v: want one per account", src.Items)
	}
}

// checkMonitors checks the objects that watch the exporter against the
// objects they watch.
func checkMonitors(t *testing.T, o *objects, v values) {
	t.Helper()
	pod := o.Deployment.Spec.Template
	if sm := o.ServiceMonitor; sm != nil {
		if !selects(t, &sm.Spec.Selector, o.Service.Labels) {
			t.Errorf("the ServiceMonitor's selector %v does not select the Service %v", sm.Spec.Selector, o.Service.Labels)
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != o.Service.Spec.Ports[0].Name {
			t.Errorf("endpoints %+v, want the Service's port %s", sm.Spec.Endpoints, o.Service.Spec.Ports[0].Name)
		}
		// The last relabelling that writes job decides it: the job name the
		// alerts select.
		job := ""
		for _, r := range sm.Spec.Endpoints[0].RelabelConfigs {
			if r.TargetLabel == "job" {
				if len(r.SourceLabels) != 0 || (r.Action != "" && r.Action != "replace") || r.Replacement == nil {
					t.Errorf("relabelling %+v of job is not a plain replacement", r)
					continue
				}
				job = *r.Replacement
			}
		}
		if job != "videoconduit" {
			t.Errorf("the ServiceMonitor gives job=%q, the alerts expect job=\"videoconduit\"", job)
		}
		scheme := "http"
		if webConfig(v)["tls_server_config"] != nil {
			scheme = "https"
		}
		if s := sm.Spec.Endpoints[0].Scheme; s == nil || s.String() != scheme {
			t.Errorf("ServiceMonitor scheme %v, want %s", s, scheme)
		}
	}
	if np := o.NetworkPolicy; np != nil {
		if !selects(t, &np.Spec.PodSelector, pod.Labels) {
			t.Errorf("the NetworkPolicy's selector %v does not select the pods", np.Spec.PodSelector)
		}
		if in := np.Spec.Ingress; len(in) != 1 || len(in[0].Ports) != 1 || *in[0].Ports[0].Port != intstr.FromString("http") {
			t.Errorf("ingress %+v: want the http port only", in)
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
			t.Errorf("policy types %v", np.Spec.PolicyTypes)
		}
	}
	if pdb := o.PDB; pdb != nil {
		if !selects(t, pdb.Spec.Selector, pod.Labels) {
			t.Errorf("the PodDisruptionBudget's selector %v does not select the pods", pdb.Spec.Selector)
		}
		if *o.Deployment.Spec.Replicas < 2 {
			t.Errorf("a PodDisruptionBudget with %d replica would block drains", *o.Deployment.Spec.Replicas)
		}
	}
}

// fileSource is where a file of the pod comes from.
type fileSource struct{ kind, name, key string }

// podFiles lists the files the pod's projected volumes provide, by path in
// the container, from the rendered ConfigMaps and Secrets, or from the
// items of a Secret the chart does not render.
func podFiles(t *testing.T, o *objects) map[string]fileSource {
	t.Helper()
	files := map[string]fileSource{}
	c := o.Deployment.Spec.Template.Spec.Containers[0]
	for _, vol := range o.Deployment.Spec.Template.Spec.Volumes {
		m := mount(c, vol.Name)
		if vol.Projected == nil || m == nil {
			continue
		}
		for _, src := range vol.Projected.Sources {
			var kind, name string
			var items []corev1.KeyToPath
			var data []string
			switch {
			case src.ConfigMap != nil:
				kind, name, items = "ConfigMap", src.ConfigMap.Name, src.ConfigMap.Items
				cm := o.ConfigMaps[name]
				if cm == nil {
					t.Errorf("volume %s: ConfigMap %s is not rendered", vol.Name, name)
					continue
				}
				data = keys(cm.Data)
			case src.Secret != nil:
				kind, name, items = "Secret", src.Secret.Name, src.Secret.Items
				if s := o.Secrets[name]; s != nil {
					data = append(keys(s.StringData), keys(s.Data)...)
				} else if len(items) == 0 {
					t.Errorf("volume %s: Secret %s is neither rendered nor given items", vol.Name, name)
				}
			default:
				t.Errorf("volume %s: unexpected source %+v", vol.Name, src)
				continue
			}
			if len(items) == 0 {
				for _, k := range data {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			} else if data != nil {
				for _, it := range items {
					if !slices.Contains(data, it.Key) {
						t.Errorf("volume %s: %s %s has no key %s", vol.Name, kind, name, it.Key)
					}
				}
			}
			for _, it := range items {
				p := path.Join(m.MountPath, it.Path)
				if prev, dup := files[p]; dup {
					t.Errorf("%s comes from both %+v and %s %s", p, prev, kind, name)
				}
				files[p] = fileSource{kind, name, it.Key}
			}
		}
	}
	return files
}

// exporterConfig is the exporter's configuration file (--config.file).
type exporterConfig struct {
	Defaults *accountSettings `json:"defaults,omitempty"`
	StateDir string           `json:"state_dir,omitempty"`
	Accounts []accountConfig  `json:"accounts"`
}

type accountConfig struct {
	Name       string `json:"name"`
	APIKeyFile string `json:"api_key_file"`
	accountSettings
}

// accountSettings are the settings of the defaults that an account may
// override.
type accountSettings struct {
	URL                  string  `json:"url,omitempty"`
	Interval             string  `json:"interval,omitempty"`
	PageSize             int     `json:"page_size,omitempty"`
	Timeout              string  `json:"timeout,omitempty"`
	MaxRequestsPerSecond float64 `json:"max_requests_per_second,omitempty"`
}

// exporterConfigOf reads, strictly, the configuration file the Deployment
// gives the exporter.
func exporterConfigOf(t *testing.T, o *objects) exporterConfig {
	t.Helper()
	files := podFiles(t, o)
	var arg string
	for _, a := range o.Deployment.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			arg = v
		}
	}
	src, ok := files[arg]
	if !ok || src.kind != "ConfigMap" {
		t.Fatalf("--config.file=%s is not a file of a ConfigMap", arg)
	}
	var cfg exporterConfig
	if err := yaml.UnmarshalStrict([]byte(o.ConfigMaps[src.name].Data[src.key]), &cfg); err != nil {
		t.Fatalf("the configuration file: %v\n%s", err, o.ConfigMaps[src.name].Data[src.key])
	}
	return cfg
}

type chartMeta struct {
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
}

func chartYAML(t *testing.T) chartMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ChartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c chartMeta
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// keySource is the projected Secret that holds the API keys.
func keySource(t *testing.T, d *appsv1.Deployment) *corev1.SecretProjection {
	t.Helper()
	vol := volume(d, "config")
	if vol == nil || vol.Projected == nil {
		t.Fatalf("no projected config volume: %+v", vol)
	}
	for _, src := range vol.Projected.Sources {
		if src.Secret != nil && len(src.Secret.Items) > 0 && strings.HasPrefix(src.Secret.Items[0].Path, "keys/") {
			return src.Secret
		}
	}
	t.Fatal("no Secret projects keys/")
	return nil
}

func volume(d *appsv1.Deployment, name string) *corev1.Volume {
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return &d.Spec.Template.Spec.Volumes[i]
		}
	}
	return nil
}

func mount(c corev1.Container, name string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if m.Name == name {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

func webConfig(v values) map[string]any {
	wc, _ := v["webConfig"].(map[string]any)
	cfg, _ := wc["config"].(map[string]any)
	return cfg
}

// accountNames are the accounts the values list, or the chart's default.
func accountNames(v values) []string {
	list, ok := v["accounts"].([]any)
	if !ok {
		return []string{"default"}
	}
	var names []string
	for _, a := range list {
		names = append(names, a.(map[string]any)["name"].(string))
	}
	return names
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
