package installlab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-delivery/ferry/installer"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/installer/site"
	"github.com/ferry-delivery/ferry/internal/fsutil"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/testk3s"
	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is this scenario's lab (docs/testing.md gives the installer IDs 1-2).
const LabID = 1

// EnvStandinBin names the directory holding bin/k3s-standin-{amd64,arm64} (make standin).
const EnvStandinBin = "STANDIN_BIN_DIR"

// testBundle writes a TEST bundle whose per-platform k3s is the stand-in (never a user's bundle) and
// whose air-gap archives are small random images, with the release's sha256sum files.
func testBundle(t *testing.T, binDir string) string {
	dir := t.TempDir()
	rel := payload.K3sRelease{Version: "v1.35.8+standin", Assets: map[payload.Platform]payload.K3sAssets{}}
	for i, arch := range []string{"amd64", "arm64"} {
		rel.Assets[payload.Platform("linux/"+arch)] = testk3s.StandinAssets(t, dir, arch,
			filepath.Join(binDir, "k3s-standin-"+arch), fmt.Sprintf("docker.io/rancher/mirrored-pause:3.%d", 6+i))
	}
	dst := filepath.Join(dir, "test.ferry")
	err := payload.Write(context.Background(), dst, payload.Source{
		App: payload.App{Name: "installlab", Version: "0.0.1"}, K3s: rel,
		Platforms: []payload.Platform{"linux/amd64", "linux/arm64"}, Chart: chart(t, dir),
	}, payload.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func chart(t *testing.T, dir string) string {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for n, body := range map[string]string{
		"demo/Chart.yaml":  "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
		"demo/values.yaml": "replicas: 1\n",
	} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(dir, "demo-0.1.0.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// consentRoute agrees to Ferry's default-route fix and to nothing else. The lab's hosts have no default
// route, like many air-gapped sites, and k3s needs one: the engineer at such a site runs `ferryctl install
// --fix` and accepts the route Ferry offers, so the lab does the same rather than pre-adding a route
// itself, which would leave the fix's real-host path untested. Any other failed check (clock, hostname)
// still stops the install, so the scenarios stay sensitive to everything else preflight finds.
func consentRoute(fixes []preflight.Fix) []preflight.Fix {
	var out []preflight.Fix
	for _, f := range fixes {
		if f.Kind == preflight.FixRoute {
			out = append(out, f)
		}
	}
	return out
}

// defaultRoutes returns `ip -4 route show default` on each host, keyed by host name.
func defaultRoutes(t *testing.T, ctx context.Context, l *lab.Lab, inv *lab.Inventory) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range inv.Hosts {
		r, err := l.Run(ctx, h.Name, "ip -4 route show default")
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = strings.TrimSpace(r)
	}
	return out
}

// labSite writes a site file for the inventory's hosts: the first a server, the rest agents.
func labSite(t *testing.T, inv *lab.Inventory, servers int) (*site.Site, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "name: installlab\nrecords: %s\ndefaults: {user: root, auth: {keyFile: %s}}\n", filepath.Join(t.TempDir(), "records"), inv.Hosts[0].KeyFile)
	b.WriteString(inv.SiteHosts(servers))
	var fps []string
	for _, h := range inv.Hosts {
		fps = append(fps, h.Fingerprint)
	}
	b.WriteString(standinK3s)
	return loadSite(t, b.String()), fps
}

// standinK3s is the site file's k3s section for the stand-in, which has none of k3s's packaged add-ons
// (docs/k3s-standin.md): their checks would never pass.
const standinK3s = "k3s: {disable: [coredns, servicelb, traefik, local-storage, metrics-server]}\n"

// loadSite writes doc as the site file and loads it, as Ferry reads a site.
func loadSite(t *testing.T, doc string) *site.Site {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := site.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInstallOnLab(t *testing.T) {
	binDir := lab.NeedEnv(t, EnvStandinBin, "test-install")
	began := time.Now()
	l, inv := lab.TestSite(t, LabID, []lab.HostSpec{
		{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}, {Arch: lab.ARM64, Containers: true},
	})
	t.Logf("MEASURE lab up (3 hosts): %s", time.Since(began).Round(time.Second))
	bundlePath := testBundle(t, binDir)
	b, err := payload.Open(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, fps := labSite(t, inv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	o := installer.InstallOptions{
		Options:  installer.Options{AcceptHostKeys: fps, Progress: func(e progress.Event) { t.Logf("%s | %s | %s %v", e.Phase, e.Host, e.Msg, e.Err) }},
		CacheDir: t.TempDir(), ReadyTimeout: 8 * time.Minute, Consent: consentRoute,
	}

	// Dry run first: it must describe the install and change nothing.
	dry := o
	dry.DryRun = true
	dres, err := installer.Install(ctx, s, b, dry)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(dres.DrySteps) == 0 {
		t.Fatal("dry run recorded no steps")
	}
	for _, h := range inv.Hosts {
		if out, _ := l.Run(ctx, h.Name, "ls /usr/local/bin/k3s /etc/rancher/k3s 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Fatalf("dry run changed %s: %s", h.Name, out)
		}
	}
	for n, r := range defaultRoutes(t, ctx, l, inv) {
		if r != "" {
			t.Fatalf("%s has a default route before the install (%q): the lab should have none, or the dry run added it", n, r)
		}
	}

	began = time.Now()
	res, err := installer.Install(ctx, s, b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE install to a Ready 3-node cluster (1 server, amd64 + arm64 agents): %s", time.Since(began).Round(time.Second))
	// The consented route fix ran on every host before anything else.
	for n, r := range defaultRoutes(t, ctx, l, inv) {
		if !strings.Contains(r, "default dev ") {
			t.Errorf("%s: default route %q after the install, want the consented fix's", n, r)
		}
	}

	// Each host got its own architecture's binary.
	for _, h := range inv.Hosts {
		out, err := l.Run(ctx, h.Name, "sha256sum /usr/local/bin/k3s")
		if err != nil {
			t.Fatal(err)
		}
		want, err := fsutil.SHA256File(filepath.Join(binDir, "k3s-standin-"+h.Arch))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, want) {
			t.Errorf("%s (%s): /usr/local/bin/k3s is %s, want the %s stand-in %s", h.Name, h.Arch, out, h.Arch, want)
		}
	}
	// Secrets 0600 on hosts and in the records.
	for _, h := range inv.Hosts {
		out, _ := l.Run(ctx, h.Name, "stat -c %a /etc/rancher/k3s/ferry-token /etc/rancher/k3s/config.yaml")
		if strings.Fields(out)[0] != "600" || strings.Fields(out)[1] != "600" {
			t.Errorf("%s: token file / config modes %q, want 600 600", h.Name, out)
		}
		if out, _ := l.Run(ctx, h.Name, "grep -c '^token:' /etc/rancher/k3s/config.yaml; true"); strings.TrimSpace(out) != "0" {
			t.Errorf("%s: config.yaml holds the token", h.Name)
		}
	}
	// The admin kubeconfig is kept 0600; the cluster token never reaches the laptop's disk.
	if fi, err := os.Stat(res.Kubeconfig); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig record: %v %v, want 0600", fi, err)
	}
	if _, err := os.Stat(filepath.Join(s.RecordsDir(), installer.LegacyTokenRecord)); err == nil {
		t.Error("the cluster token was stored in the site's records")
	}

	// Through the fetched kubeconfig, from this machine over the lab bridge: the server's address must be
	// in the serving certificate.
	kc, err := os.ReadFile(res.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://" + inv.Hosts[0].Address + ":6443"; rc.Host != want {
		t.Errorf("kubeconfig server %s, want %s", rc.Host, want)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range nodes.Items {
		h, ok := inv.Host(n.Name)
		if !ok {
			t.Errorf("unexpected node %s", n.Name)
			continue
		}
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready || n.Labels["kubernetes.io/arch"] != h.Arch || n.Status.NodeInfo.Architecture != h.Arch {
			t.Errorf("node %s: ready %v, arch label %q, nodeInfo %q, want Ready %s", n.Name, ready, n.Labels["kubernetes.io/arch"], n.Status.NodeInfo.Architecture, h.Arch)
		}
		seen[n.Name] = true
	}
	if len(seen) != len(inv.Hosts) {
		t.Errorf("nodes %v, want all of %d hosts", seen, len(inv.Hosts))
	}

	// A re-run finds everything in place and changes nothing.
	began = time.Now()
	res2, err := installer.Install(ctx, s, b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE re-run of a finished install: %s", time.Since(began).Round(time.Second))
	if len(res2.Actions) != 0 {
		t.Errorf("re-run changed things: %+v", res2.Actions)
	}

	// A site from an older Ferry, with the token in its records: the record is used and, the first server
	// having confirmed it, removed; nothing changes on the hosts.
	first := s.Servers()[0].Name
	tok, err := l.Run(ctx, first, "cat /var/lib/rancher/k3s/server/token")
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(s.RecordsDir(), installer.LegacyTokenRecord)
	if err := os.WriteFile(legacy, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	res3, err := installer.Install(ctx, s, b, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res3.Actions) != 0 {
		t.Errorf("re-run with a legacy token record changed things: %+v", res3.Actions)
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Error("the legacy token record was kept after the first server confirmed it")
	}

	// Reset leaves no k3s unit, file or process.
	if _, err := installer.Reset(ctx, s, installer.ResetOptions{Options: o.Options}); err != nil {
		t.Fatal(err)
	}
	for _, h := range inv.Hosts {
		out, err := l.Run(ctx, h.Name, `for p in /usr/local/bin/k3s /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/ferry-k3s-killall.sh /usr/local/bin/ferry-k3s-uninstall.sh `+
			`/etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service /etc/systemd/system/k3s.service.env /etc/systemd/system/k3s-agent.service.env `+
			`/etc/rancher /var/lib/rancher/k3s /var/lib/ferry/k3s-created.list /run/k3s; do [ -e $p ] && echo "file $p"; done; `+
			// The lab binds its own /var/lib/rancher before Ferry comes: the host's, so it must stay.
			`[ -d /var/lib/rancher ] || echo "host's own /var/lib/rancher removed"; `+
			`for d in /proc/[0-9]*; do read -r n < $d/comm 2>/dev/null || continue; case "$n" in k3s*) echo "proc $n";; `+
			`containerd*) tr '\0' ' ' < $d/cmdline | grep -F rancher/k3s >/dev/null && echo "proc $n";; esac; done; `+
			`systemctl list-units --all --no-legend 'k3s*' | grep -v not-found; true`)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("%s after reset:\n%s", h.Name, out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.RecordsDir(), installer.KubeconfigRecord)); err == nil {
		t.Error("reset kept the old cluster's kubeconfig in the records")
	}
}
