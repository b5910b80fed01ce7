package container

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeExampleRunsTheImage checks the exporter service of the Compose
// example (Docker Compose does not run here): it builds the image of
// scripts/build-image from the repository's Dockerfile, read-only, publishes
// the port the image exposes, and gives the exporter only flags it knows,
// with every file they name mounted.
func TestComposeExampleRunsTheImage(t *testing.T) {
	type service struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command  []string `yaml:"command"`
		Ports    []string `yaml:"ports"`
		ReadOnly bool     `yaml:"read_only"`
		Secrets  []string `yaml:"secrets"`
	}
	read := func(name string) service {
		t.Helper()
		var c struct {
			Services map[string]service `yaml:"services"`
		}
		raw, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatalf("examples/%s: %v", name, err)
		}
		s, ok := c.Services["exporter"]
		if !ok {
			t.Fatalf("examples/%s has no exporter service", name)
		}
		return s
	}
	base := read("docker-compose.yml")
	if base.Build == nil {
		t.Fatal("the exporter service of docker-compose.yml is not built")
	}
	if ctx := filepath.Join(repoRoot(t), "examples", base.Build.Context); ctx != repoRoot(t) || (base.Build.Dockerfile != "" && base.Build.Dockerfile != "Dockerfile") {
		t.Errorf("the exporter is built from %s with %q, want the repository and its Dockerfile, as scripts/build-image does", ctx, base.Build.Dockerfile)
	}
	if !base.ReadOnly {
		t.Error("the exporter service is not read_only, as the image allows")
	}
	if len(base.Ports) == 0 {
		t.Error("the exporter service publishes no port")
	}
	for _, p := range base.Ports {
		if !strings.HasSuffix(p, ":"+exposedPort) {
			t.Errorf("the exporter service publishes %q; the image exposes %s", p, exposedPort)
		}
	}
	checkFlags(t, "docker-compose.yml", base.Command, nil)

	override := read("docker-compose.real-key.yml")
	var secrets []string
	for _, s := range override.Secrets {
		secrets = append(secrets, "/run/secrets/"+s)
	}
	checkFlags(t, "docker-compose.real-key.yml", override.Command, secrets)
}

// helpFlag is a flag as --help lists it; kingpin shows a boolean flag as
// --[no-]name.
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(?:\[no-\])?([a-z][a-z0-9.-]*)`)

// checkFlags requires each --flag of args to be one the exporter's --help
// lists, and each absolute path given as a flag value to be inside one of
// mounted.
func checkFlags(t *testing.T, where string, args, mounted []string) {
	t.Helper()
	known := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(exporterHelp(t), -1) {
		known["--"+m[1]] = true
	}
	for _, arg := range args {
		name, value, _ := strings.Cut(arg, "=")
		if !known[name] {
			t.Errorf("%s gives the exporter %q, which its --help does not list", where, arg)
		}
		if path.IsAbs(value) && !slices.ContainsFunc(mounted, func(m string) bool { return value == m || strings.HasPrefix(value, m+"/") }) {
			t.Errorf("%s gives the exporter %q, but mounts nothing there (mounted: %v)", where, arg, mounted)
		}
	}
}

// TestReadmeRunCommands checks the docker and podman run commands of the
// README: each runs the image that scripts/build-image printed, read-only,
// publishes the port it exposes, and gives the exporter only flags it
// knows, with every file they name mounted.
func TestReadmeRunCommands(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.ReplaceAll(string(raw), "\\\n", " ")
	if !strings.Contains(readme, "\nimage=$(scripts/build-image)\n") {
		t.Fatal("the README does not take the image's name from scripts/build-image")
	}
	commands := regexp.MustCompile(`(?m)^(docker|podman) run .*$`).FindAllString(readme, -1)
	engines := map[string]bool{}
	for _, cmd := range commands {
		fields := strings.Fields(cmd)
		engines[fields[0]] = true
		img := slices.Index(fields, `"$image"`)
		if img < 0 {
			t.Errorf("%q does not run the image of scripts/build-image", cmd)
			continue
		}
		if !slices.Contains(fields[:img], "--read-only") {
			t.Errorf("%q runs without --read-only", cmd)
		}
		var mounted []string
		published := false
		for i, f := range fields[2:img] {
			switch value := fields[2+i+1]; f {
			case "-p":
				published = strings.HasSuffix(value, ":"+exposedPort)
			case "-v":
				if parts := strings.Split(value, ":"); len(parts) >= 2 {
					mounted = append(mounted, parts[1])
				}
			}
		}
		if !published {
			t.Errorf("%q does not publish the port %s", cmd, exposedPort)
		}
		checkFlags(t, "the README's "+fields[0]+" run", fields[img+1:], mounted)
	}
	if !engines["docker"] || !engines["podman"] {
		t.Errorf("the README's run commands use %v, want docker and podman", engines)
	}
}
