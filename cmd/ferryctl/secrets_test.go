package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

// leakyChart fails helm's templating with a message quoting the password when values ask for it (as a
// chart's "fail" or "required" can), and marks the password secret in its schema.
func leakyChart(t *testing.T, version string) []byte {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Schema:   []byte(`{"properties": {"db": {"properties": {"pass": {"type": "string", "writeOnly": true}}}}}`),
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte(`{{ if .Values.leak }}{{ fail (printf "database refused password %s" .Values.db.pass) }}{{ end -}}
apiVersion: v1
kind: ConfigMap
metadata: {name: shop}
data: {image: {{ .Values.image | quote }}}
`)}},
	}
	p, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// history, status and rollback print reasons and events that came from the cluster; a helm error that
// quotes a secret must reach the engineer's terminal scrubbed.
func TestCommandsPrintNoSecrets(t *testing.T) {
	c := &appliance.Cluster{Kube: kfake.NewClientset(), Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	old := applianceConnect
	applianceConnect = func([]byte) (*appliance.Cluster, error) { return c, nil }
	t.Cleanup(func() { applianceConnect = old })
	records := t.TempDir()
	o := appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second, RecordsDir: records}
	secrets := []string{"pass-one-1111", "pass-two-2222", "pass-three-3333", "tok-abcdef12"}
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		b := appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: v, Chart: leakyChart(t, v), TargetNamespace: "shop",
			Defaults:  map[string]any{"image": "registry.local/shop:" + v, "leak": v == "3.0.0"},
			Overrides: map[string]any{"db": map[string]any{"pass": secrets[i]}, "apiToken": secrets[3]}}}
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		_, err := verb(context.Background(), c, b, o)
		if v == "3.0.0" {
			if !errors.Is(err, appliance.ErrUnhealthy) {
				t.Fatalf("the leaking v3 must fail: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "k3s.yaml")
	os.WriteFile(kc, []byte("unused by the fake connection"), 0o600)
	run := func(args ...string) string {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--kubeconfig", kc, "--app", "shop", "--records", records))
		err := root.Execute()
		text := out.String()
		if err != nil {
			text += "\nerror: " + err.Error()
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("ferryctl %v printed secret %q:\n%s", args, s, text)
			}
		}
		return text
	}
	hist := run("history")
	if !strings.Contains(hist, "database refused password <redacted>") {
		t.Errorf("history should still tell the (scrubbed) cause of the failed upgrade:\n%s", hist)
	}
	run("status")
	if out := run("rollback", "--to", "1.0.0"); !strings.Contains(out, "shop is at 1.0.0") {
		t.Errorf("rollback:\n%s", out)
	}
	run("history")
	run("status")
}
