package packaging

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
)

func TestDiscoverImagesWithDefaultValues(t *testing.T) {
	ch, err := loadChart(chartDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.discoverImages("demo")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"busybox:1.36", "registry.example.com/ferry-test/db:1.0", "registry.example.com/ferry-test/web:1.0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("discovered images (-want +got):\n%s", d)
	}
	refs, err := normalizeRefs(append(got, "docker.io/library/busybox:1.36", "nginx"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, canonicalName(r))
	}
	wantNames := []string{"docker.io/library/busybox:1.36", "docker.io/library/nginx:latest",
		"registry.example.com/ferry-test/db:1.0", "registry.example.com/ferry-test/web:1.0"}
	if d := cmp.Diff(wantNames, names); d != "" {
		t.Fatalf("normalised images (-want +got):\n%s", d)
	}
}

func TestDiscoverImagesWithOverrides(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, values, "registry: reg.local:5000\nweb:\n  image:\n    tag: \"2.0\"\n")
	ch, err := loadChart(chartDir(t), values)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.discoverImages("demo")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"busybox:1.36", "reg.local:5000/ferry-test/db:1.0", "reg.local:5000/ferry-test/web:2.0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("discovered images (-want +got):\n%s", d)
	}
}

func TestImagesInManifestsEveryWorkloadKind(t *testing.T) {
	pod := func(img string) string {
		return "initContainers: [{name: i, image: " + img + "-init}]\ncontainers: [{name: c, image: " + img + "}]"
	}
	indent := func(s, pad string) string {
		out := ""
		for _, l := range splitLines(s) {
			out += pad + l + "\n"
		}
		return out
	}
	rendered := map[string]string{
		"t/pod.yaml":    "kind: Pod\nmetadata: {name: p}\nspec:\n" + indent(pod("pod"), "  "),
		"t/deploy.yaml": "kind: Deployment\nspec:\n  template:\n    spec:\n" + indent(pod("deploy"), "      "),
		"t/multi.yaml": "kind: StatefulSet\nspec:\n  template:\n    spec:\n" + indent(pod("sts"), "      ") +
			"---\nkind: DaemonSet\nspec:\n  template:\n    spec:\n" + indent(pod("ds"), "      ") +
			"---\nkind: ConfigMap\ndata: {image: not-an-image}\n",
		"t/job.yaml":     "kind: Job\nspec:\n  template:\n    spec:\n" + indent(pod("job"), "      "),
		"t/cron.yaml":    "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" + indent(pod("cron"), "          "),
		"t/_helpers.tpl": "kind: Pod\nspec:\n  containers: [{name: x, image: helper}]\n",
		"t/NOTES.txt":    "image: notes",
		"t/empty.yaml":   "",
	}
	got, err := imagesInManifests(rendered)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range []string{"cron", "deploy", "ds", "job", "pod", "sts"} {
		want = append(want, k, k+"-init")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("images (-want +got):\n%s", d)
	}
}

func TestImagesInManifestsRefusesContainerWithoutImage(t *testing.T) {
	_, err := imagesInManifests(map[string]string{"t/d.yaml": "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n"})
	if !errors.Is(err, ErrChartInvalid) {
		t.Fatalf("got %v", err)
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range s {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestLoadChartRefusesLintErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: broken\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(dir, "templates", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.deep }}\n")
	_, err := loadChart(dir, "")
	if !errors.Is(err, ErrChartInvalid) {
		t.Fatalf("broken chart accepted or wrong error: %v", err)
	}
}

func TestLoadChartRefusesValuesAgainstSchema(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, values, "web:\n  replicas: -3\n")
	if _, err := loadChart(chartDir(t), values); !errors.Is(err, ErrChartInvalid) {
		t.Fatalf("values violating values.schema.json accepted: %v", err)
	}
}

func TestPackageChartDirRoundTrips(t *testing.T) {
	ch, err := loadChart(chartDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := ch.packageChart(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(tgz) != "demo-app-0.1.0.tgz" {
		t.Fatalf("packaged as %s", tgz)
	}
	back, err := loader.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Templates) != len(ch.chart.Templates) || len(back.Schema) == 0 {
		t.Fatalf("packaged chart lost files: %d templates, schema %d bytes", len(back.Templates), len(back.Schema))
	}
	// helm's linters run on the archive too: values that break the schema are reported.
	if err := lintChart(tgz, map[string]any{"web": map[string]any{"replicas": -1}}); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("lint of the .tgz missed a schema violation: %v", err)
	}
	// A .tgz source loads, lints and discovers the same images as the directory.
	again, err := loadChart(tgz, "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ch.discoverImages("demo")
	b, err := again.discoverImages("demo")
	if err != nil || !cmp.Equal(a, b) {
		t.Fatalf("tgz discovery %v (%v), dir %v", b, err, a)
	}
}

func TestNormalizeRefsDigests(t *testing.T) {
	const d = "sha256:0123456789012345678901234567890123456789012345678901234567890123"
	refs, err := normalizeRefs([]string{"nginx@" + d, "nginx:1.25@" + d, "docker.io/library/nginx@" + d, "reg.local:5000/a/b:1"}, []string{"reg.local:5000"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, canonicalName(r))
	}
	want := []string{"docker.io/library/nginx@" + d, "reg.local:5000/a/b:1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if refs[1].Context().Scheme() != "http" {
		t.Fatalf("insecure registry reached over %s", refs[1].Context().Scheme())
	}
}
