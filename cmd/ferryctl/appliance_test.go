package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/appliance"
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
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"history", "--kubeconfig", kc, "--app", "shop"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1    2026-01-02 03:04:05Z  deploy   1.0.0", "upgrade  2.0.0    rolled-back  image x missing on node n1", "kept for rollback: [1.0.0]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// status judges the live cluster: this one has records but no HelmChart, which must be said plainly.
	root = newRootCmd()
	out.Reset()
	root.SetOut(&out)
	root.SetArgs([]string{"status", "--kubeconfig", kc, "--app", "shop"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version: 1.0.0", "health:  Failed: the HelmChart does not exist"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	root = newRootCmd()
	root.SetArgs([]string{"history", "--app", "shop"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	if err := root.Execute(); err == nil {
		t.Fatal("history without --kubeconfig must fail")
	}
}

func applianceB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
