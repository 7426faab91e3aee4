package main

import (
	"bytes"
	"context"
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

func applianceChart(t *testing.T, version string) []byte {
	t.Helper()
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version}}
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

// ferryctl rollback drives the engine end to end on the simulated cluster: v1 then v2 deployed, the
// command brings back v1 from the cluster's records, and history shows it.
func TestRollbackCommand(t *testing.T) {
	c := &appliance.Cluster{Kube: kfake.NewClientset(), Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	old := applianceConnect
	applianceConnect = func([]byte) (*appliance.Cluster, error) { return c, nil }
	t.Cleanup(func() { applianceConnect = old })
	o := appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second}
	for i, v := range []string{"1.0.0", "2.0.0"} {
		b := appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: v, Chart: applianceChart(t, v), TargetNamespace: "shop",
			Defaults: map[string]any{"image": "registry.local/shop:" + v}}}
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		if _, err := verb(context.Background(), c, b, o); err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(t.TempDir(), "k3s.yaml")
	os.WriteFile(kc, []byte("unused by the fake connection"), 0o600)
	run := func(args ...string) string {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	if out := run("rollback", "--kubeconfig", kc, "--app", "shop", "--dry-run"); !strings.Contains(out, "would roll shop back to 1.0.0") {
		t.Fatalf("dry run:\n%s", out)
	}
	out := run("rollback", "--kubeconfig", kc, "--app", "shop")
	if !strings.Contains(out, "shop is at 1.0.0: Healthy") || !strings.Contains(out, "[wait]") {
		t.Fatalf("rollback:\n%s", out)
	}
	if out := run("history", "--kubeconfig", kc, "--app", "shop"); !strings.Contains(out, "rollback  1.0.0    succeeded") {
		t.Fatalf("history:\n%s", out)
	}
	if out := run("status", "--kubeconfig", kc, "--app", "shop"); !strings.Contains(out, "version: 1.0.0") || !strings.Contains(out, "Healthy") {
		t.Fatalf("status:\n%s", out)
	}
}
