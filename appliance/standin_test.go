package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

// TestValuesSecretOnStandin checks the values Secret against the helm-controller k3s embeds (v0.17.9, in
// the k3s stand-in, docs/k3s-standin.md): helm-controller must accept spec.valuesSecrets, project the
// Secret into the job, and helm must render the secret values, while no HelmChart holds them. It needs
// the stand-in binary (FERRY_STANDIN_BIN, from `make standin-amd64`) and root (containerd).
func TestValuesSecretOnStandin(t *testing.T) {
	bin := os.Getenv("FERRY_STANDIN_BIN")
	if bin == "" {
		t.Skip("FERRY_STANDIN_BIN not set (make standin-amd64; then FERRY_STANDIN_BIN=bin/k3s-standin-amd64)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (the stand-in runs containerd)")
	}
	dir, err := os.MkdirTemp("/tmp", "fvs") // short: unix socket paths live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	kubeconfig := filepath.Join(dir, "k3s.yaml")
	logf, err := os.Create(filepath.Join(dir, "standin.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port", fmt.Sprint(port),
		"--write-kubeconfig", kubeconfig, "--node-name", "vs-1", "--node-ip", "127.0.0.1", "--token", "vs-token")
	cmd.Env = append(os.Environ(), "K3S_STANDIN_RUN_DIR="+filepath.Join(dir, "run"), "KUBECONFIG=", "NOTIFY_SOCKET=")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("stand-in log (tail):\n%s", b[max(0, len(b)-6000):])
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var c *Cluster
	for c == nil {
		if ctx.Err() != nil {
			t.Fatal("the stand-in did not come up")
		}
		time.Sleep(time.Second)
		kc, err := os.ReadFile(kubeconfig)
		if err != nil {
			continue
		}
		cl, err := Connect(kc, (&net.Dialer{}).DialContext)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Helm.HelmV1().HelmCharts("default").List(ctx, metav1.ListOptions{}); err == nil {
			c = cl
		}
	}

	// No workload: health is the helm job and the release, which is what this test is about.
	mkChart := func(version string) []byte {
		return appliancetest.ChartArchive(t, &chart.Chart{
			Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version, AppVersion: version},
			Templates: []*chart.File{{Name: "templates/creds.yaml", Data: []byte(credsTemplate)}},
			Raw:       []*chart.File{{Name: "values.yaml", Data: []byte("db: {host: db.local}\n")}},
			Schema:    []byte(secretSchema),
		})
	}
	const lic, pin = "LIC-STANDIN-1", "pin-7777"
	secrets := []string{lic, pin}
	mk := func(version, pass string) Bundle {
		secrets = append(secrets, pass)
		return Bundle{SpecInput: SpecInput{App: "shop", Version: version, Chart: mkChart(version), TargetNamespace: "shop",
			Overrides: map[string]any{"db": map[string]any{"pass": pass, "host": "db.site"}, "license": lic,
				"users": []any{map[string]any{"name": "ann", "pin": pin}}}}}
	}
	o := Options{RecordsDir: t.TempDir(), PollInterval: 500 * time.Millisecond, Timeout: 2 * time.Minute}
	wantRelease := func(pass string) {
		t.Helper()
		list, err := c.Kube.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			t.Fatal(err)
		}
		rels, err := decodeReleases("shop", list.Items)
		if err != nil || len(rels) == 0 {
			t.Fatalf("releases: %v", err)
		}
		for _, s := range []string{`pass: "` + pass + `"`, `license: "` + lic + `"`, `pin-ann: "` + pin + `"`} {
			if !strings.Contains(rels[0].Manifest, s) {
				t.Errorf("release v%d lacks %s:\n%s", rels[0].Version, s, rels[0].Manifest)
			}
		}
	}
	noSecretInHelmChart := func() {
		t.Helper()
		hc, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(hc)
		leakFree(t, "the live HelmChart", string(b), secrets)
		if !strings.Contains(string(b), "db.site") || len(hc.Spec.ValuesSecrets) != 1 {
			t.Errorf("live HelmChart: %s", b)
		}
	}

	if res, err := Deploy(ctx, c, mk("1.0.0", "pass-standin-1"), o); err != nil || res.State != StateSucceeded {
		t.Fatalf("deploy: %v %+v", err, res.Health)
	}
	wantRelease("pass-standin-1")
	noSecretInHelmChart()
	recs, _ := NewStore(c, "", "").List(ctx, "shop")
	ref1 := recs[0].ValuesRef

	if res, err := Upgrade(ctx, c, mk("2.0.0", "pass-standin-2"), o); err != nil || res.State != StateSucceeded {
		t.Fatalf("upgrade: %v %+v", err, res.Health)
	}
	wantRelease("pass-standin-2")
	noSecretInHelmChart()

	if err := c.Kube.CoreV1().Secrets(DefaultNamespace).Delete(ctx, ref1, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := Rollback(ctx, c, "shop", "1.0.0", o); err != nil || res.State != StateSucceeded {
		t.Fatalf("rollback: %v %+v", err, res.Health)
	}
	wantRelease("pass-standin-1")
	noSecretInHelmChart()
	// helm-controller's own copy of the values (chart-values-<app>, a Secret) has only the public part.
	cv, err := c.Kube.CoreV1().Secrets(DefaultNamespace).Get(ctx, "chart-values-shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cv.Data["HelmChartValuesContent"]), "db.site") {
		t.Errorf("chart-values-shop does not hold valuesContent: %v", cv.Data)
	}
	for k, v := range cv.Data {
		leakFree(t, "helm-controller's chart-values Secret key "+k, string(v), secrets)
	}
}
