package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/internal/testappliance"
)

// emptyChart is a chart with no templates: the app is healthy as soon as helm has run.
func emptyChart(t testing.TB, version string) []byte {
	return appliancetest.ChartArchive(t, &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version}})
}

// ferryctl rollback drives the engine end to end on the simulated cluster: v1 then v2 deployed, the
// command brings back v1 from the cluster's records, and history shows it.
func TestRollbackCommand(t *testing.T) {
	c := testappliance.Cluster(t)
	kc := useCluster(t, c)
	testappliance.DeployVersions(t, c, testappliance.Options(), emptyChart, "1.0.0", "2.0.0")
	must := func(args ...string) string {
		out, _, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := must("rollback", "--kubeconfig", kc, "--app", "shop", "--dry-run"); !strings.Contains(out, "would roll shop back to 1.0.0") {
		t.Fatalf("dry run:\n%s", out)
	}
	out := must("rollback", "--kubeconfig", kc, "--app", "shop")
	if !strings.Contains(out, "shop is at 1.0.0: Healthy") || !strings.Contains(out, "[wait]") {
		t.Fatalf("rollback:\n%s", out)
	}
	if out := must("history", "--kubeconfig", kc, "--app", "shop"); !strings.Contains(out, "rollback  1.0.0    succeeded") {
		t.Fatalf("history:\n%s", out)
	}
	if out := must("status", "--kubeconfig", kc, "--app", "shop"); !strings.Contains(out, "version: 1.0.0") || !strings.Contains(out, "Healthy") {
		t.Fatalf("status:\n%s", out)
	}
}

// --timeout reaches the engine: a rollback whose app never becomes available fails after the given
// wait, naming it, instead of the chart's helm timeout + 1 min.
func TestRollbackTimeoutFlag(t *testing.T) {
	c := testappliance.Cluster(t)
	kc := useCluster(t, c)
	testappliance.DeployVersions(t, c, testappliance.Options(), webChart, "1.0.0", "2.0.0")
	appliancetest.DeploymentsUnavailable(c.Kube.(*kfake.Clientset))
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
func webChart(t testing.TB, version string) []byte {
	const web = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n" +
		"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n" +
		"    spec: {containers: [{name: web, image: {{ .Values.image | quote }}}]}\n"
	return appliancetest.ChartArchive(t, &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(web)}}})
}
