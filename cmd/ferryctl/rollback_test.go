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
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

// --timeout reaches the engine: a rollback whose app never becomes available fails after the given
// wait, naming it, instead of the chart's helm timeout + 1 min.
func TestRollbackTimeoutFlag(t *testing.T) {
	kube := kfake.NewClientset()
	c := &appliance.Cluster{Kube: kube, Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	old := applianceConnect
	applianceConnect = func([]byte) (*appliance.Cluster, error) { return c, nil }
	t.Cleanup(func() { applianceConnect = old })
	o := appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second}
	for i, v := range []string{"1.0.0", "2.0.0"} {
		b := appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: v, Chart: webChart(t, v), TargetNamespace: "shop",
			Defaults: map[string]any{"image": "registry.local/shop:" + v}}}
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		if _, err := verb(context.Background(), c, b, o); err != nil {
			t.Fatal(err)
		}
	}
	// From here every Deployment reads as unavailable.
	kube.PrependReactor("list", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := kube.Tracker().List(appsv1.SchemeGroupVersion.WithResource("deployments"), appsv1.SchemeGroupVersion.WithKind("Deployment"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		l := obj.(*appsv1.DeploymentList)
		for i := range l.Items {
			l.Items[i].Status.AvailableReplicas, l.Items[i].Status.ReadyReplicas = 0, 0
		}
		return true, l, nil
	})
	kc := filepath.Join(t.TempDir(), "k3s.yaml")
	os.WriteFile(kc, []byte("unused by the fake connection"), 0o600)
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"rollback", "--kubeconfig", kc, "--app", "shop", "--timeout", "400ms"})
	start := time.Now()
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "timed out after 400ms") {
		t.Fatalf("err = %v, want a timeout after 400ms\n%s", err, out.String())
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("rollback took %s with --timeout 400ms", d)
	}
}

// webChart is a chart whose one Deployment runs .Values.image (the sim plays it).
func webChart(t *testing.T, version string) []byte {
	t.Helper()
	const web = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n" +
		"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n" +
		"    spec: {containers: [{name: web, image: {{ .Values.image | quote }}}]}\n"
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(web)}}}
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
