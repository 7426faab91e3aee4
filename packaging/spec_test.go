package packaging

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSpecValid(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "k3s", "k3s"), "x")
	writeFile(t, filepath.Join(dir, "chart.tgz"), "x")
	s, err := ParseSpec([]byte(`
app: {name: demo, version: 1.2.0, upgradeFrom: 1.1.0}
k3s: {version: v1.31.4+k3s1, dir: k3s}
platforms: [linux/amd64]
chart: chart.tgz
images: [nginx:1.25, "registry.example.com:5000/a/b@sha256:0123456789012345678901234567890123456789012345678901234567890123"]
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Path(s.Chart), filepath.Join(dir, "chart.tgz"); got != want {
		t.Fatalf("chart path %s, want %s", got, want)
	}
}

func TestParseSpecErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "k3s", "k3s"), "x")
	writeFile(t, filepath.Join(dir, "chart.tgz"), "x")
	valid := map[string]string{
		"app":       "app: {name: demo, version: 1.2.0}\n",
		"k3s":       "k3s: {version: v1.31.4+k3s1, dir: k3s}\n",
		"platforms": "platforms: [linux/amd64, linux/arm64]\n",
		"chart":     "chart: chart.tgz\n",
	}
	build := func(over map[string]string, extra string) string {
		var b strings.Builder
		for _, k := range []string{"app", "k3s", "platforms", "chart"} {
			if v, ok := over[k]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(valid[k])
			}
		}
		return b.String() + extra
	}
	for _, tc := range []struct {
		name  string
		over  map[string]string
		extra string
		want  []string
	}{
		{"unknown top-level key", nil, "imagez: [a]\n", []string{`unknown field "imagez"`}},
		{"unknown nested key", map[string]string{"app": "app: {name: demo, version: 1.2.0, verison: 2}\n"}, "", []string{`unknown field "verison"`}},
		{"missing app", map[string]string{"app": ""}, "", []string{"app.name: required", "app.version: required"}},
		{"bad name", map[string]string{"app": "app: {name: Demo_App, version: 1.2.0}\n"}, "", []string{"app.name", "DNS label"}},
		{"bad version", map[string]string{"app": "app: {name: demo, version: one}\n"}, "", []string{"app.version", "not a semantic version"}},
		{"upgradeFrom newer", map[string]string{"app": "app: {name: demo, version: 1.2.0, upgradeFrom: 1.3.0}\n"}, "", []string{"app.upgradeFrom", "older"}},
		{"bad k3s version", map[string]string{"k3s": "k3s: {version: 1.31, dir: k3s}\n"}, "", []string{"k3s.version", "not a k3s release version"}},
		{"stand-in k3s version", map[string]string{"k3s": "k3s: {version: v1.35.8+standin, dir: k3s}\n"}, "", []string{"k3s.version", "not a k3s release version"}},
		{"no k3s source", map[string]string{"k3s": "k3s: {version: v1.31.4+k3s1}\n"}, "", []string{"k3s: set dir"}},
		{"both k3s sources", map[string]string{"k3s": "k3s: {version: v1.31.4+k3s1, dir: k3s, url: https://x.example/}\n"}, "", []string{"only one of dir and url"}},
		{"http k3s url", map[string]string{"k3s": "k3s: {version: v1.31.4+k3s1, url: http://x.example/}\n"}, "", []string{"k3s.url", "https"}},
		{"missing k3s dir", map[string]string{"k3s": "k3s: {version: v1.31.4+k3s1, dir: nope}\n"}, "", []string{"k3s.dir", "not a directory"}},
		{"unknown k3s component", map[string]string{"k3s": "k3s: {version: v1.31.4+k3s1, dir: k3s, disable: [traefik, ingress]}\n"}, "", []string{"k3s.disable", `"ingress" is not a k3s component`}},
		{"no platforms", map[string]string{"platforms": ""}, "", []string{"platforms: required"}},
		{"bad platform", map[string]string{"platforms": "platforms: [linux/s390x]\n"}, "", []string{`"linux/s390x" is not supported`}},
		{"duplicate platform", map[string]string{"platforms": "platforms: [linux/amd64, linux/amd64]\n"}, "", []string{"listed twice"}},
		{"missing chart", map[string]string{"chart": "chart: nope.tgz\n"}, "", []string{"chart:", "does not exist"}},
		{"missing values", nil, "values: nope.yaml\n", []string{"values:", "is not a file"}},
		{"bad image", nil, "images: [\"UPPER/Case:tag\"]\n", []string{"images[0]", "not an image reference"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(build(tc.over, tc.extra)), dir)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error is not ErrInvalidSpec: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadSpecNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "appliance.yaml")
	if err := os.WriteFile(p, []byte("app: {name: demo}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSpec(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// The documented example must stay a valid spec: every key it shows is one the parser knows.
func TestDocumentedSpecExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/building-bundles.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## appliance.yaml\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/building-bundles.md has no appliance.yaml example")
	}
	example, _, _ := strings.Cut(after, "```")
	dir := t.TempDir()
	for _, p := range []string{"k3s-v1.31.4/k3s", "charts/acme-portal/Chart.yaml", "values-site.yaml"} {
		writeFile(t, filepath.Join(dir, p), "x")
	}
	s, err := ParseSpec([]byte(example), dir)
	if err != nil {
		t.Fatalf("the documented example is refused: %v", err)
	}
	if s.App.Name != "acme-portal" || len(s.Images) != 1 || len(s.InsecureRegistries) != 1 {
		t.Fatalf("parsed %+v", s)
	}
}
