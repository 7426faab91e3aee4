package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/internal/testappliance"
)

// apiServer answers like a cluster holding two history records and nothing else.
func applianceAPIServer(t *testing.T) *httptest.Server {
	recs := []appliance.Record{
		{ID: "ferry-record-shop-000001", Seq: 1, App: "shop", Version: "1.0.0", Action: appliance.ActionDeploy, State: appliance.StateSucceeded, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "ferry-record-shop-000002", Seq: 2, App: "shop", Version: "2.0.0", Action: appliance.ActionUpgrade, State: appliance.StateRolledBack, Reason: "image x missing on node n1", Started: time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC)},
	}
	var items []string
	for _, r := range recs {
		b, _ := json.Marshal(r)
		data, _ := json.Marshal(map[string][]byte{"record.json": b})
		items = append(items, fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"ferry-system"},"data":%s}`, r.ID, data))
	}
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/namespaces/ferry-system/secrets" && strings.Contains(r.URL.Query().Get("labelSelector"), "kind=record"):
			fmt.Fprintf(w, `{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[%s]}`, strings.Join(items, ","))
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		}
	}))
}

func TestHistoryAndStatusCommands(t *testing.T) {
	srv := applianceAPIServer(t)
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := filepath.Join(t.TempDir(), "k3s.yaml")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
		srv.URL, applianceB64(ca))
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "history", "--kubeconfig", kc, "--app", "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1    2026-01-02 03:04:05Z  deploy   1.0.0", "upgrade  2.0.0    rolled-back  image x missing on node n1", "kept for rollback: [1.0.0]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// status judges the live cluster: this one has records but no HelmChart, which must be said plainly.
	out, _, err = run(t, "status", "--kubeconfig", kc, "--app", "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version: 1.0.0", "health:  Failed: the HelmChart does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := run(t, "history", "--app", "shop"); err == nil {
		t.Fatal("history without --kubeconfig must fail")
	}
}

func applianceB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// status lists the app's components (workloads, then services) as the wizard's Manage screen does, read
// from the appliance's simulated cluster.
func TestStatusPrintsComponents(t *testing.T) {
	c := testappliance.Cluster(t)
	tgz := appliancetest.ChartArchive(t, &helmchart.Chart{Metadata: &helmchart.Metadata{APIVersion: helmchart.APIVersionV2, Name: "shop", Version: "1.0.0"},
		Templates: []*helmchart.File{{Name: "templates/all.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: {{ .Values.image | quote }}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)}}})
	ao := testappliance.Options()
	ao.Timeout = 10 * time.Second
	if _, err := appliance.Deploy(context.Background(), c, testappliance.Bundle("1.0.0", tgz), ao); err != nil {
		t.Fatal(err)
	}
	kc := useCluster(t, c)
	out, _, err := run(t, "status", "--kubeconfig", kc, "--app", "shop")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	i := slices.Index(lines, "components:")
	if i < 0 || len(lines) < i+3 {
		t.Fatalf("no components in:\n%s", out)
	}
	dep, svc := strings.Fields(lines[i+1]), strings.Fields(lines[i+2])
	if strings.Join(dep, " ") != "Deployment shop/web Ready 1/1 ready, rolled out" {
		t.Errorf("deployment row %q", lines[i+1])
	}
	if len(svc) != 9 || strings.Join(svc[:4], " ") != "Service shop/web Ready ClusterIP" || !strings.HasPrefix(svc[4], "10.43.") ||
		strings.Join(svc[5:], " ") != "80→8080/TCP, 1/1 endpoints ready" {
		t.Errorf("service row %q", lines[i+2])
	}
}
