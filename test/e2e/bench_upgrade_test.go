package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// BenchLabID is the site lab of the upgrade benchmark (docs/testing.md: 10-19 appliance scenarios).
const BenchLabID = 12

// EnvBench must be "1" for BenchmarkUpgradeOnLab's test form to run (make bench-upgrade sets it).
const EnvBench = "FERRY_BENCH_UPGRADE"

// benchApp is a realistic small app: three images of random (incompressible) layers, 150 MiB in all.
var benchApp = []struct {
	name   string
	layers []int64
}{
	{"web", []int64{20 << 20, 20 << 20, 20 << 20}},
	{"api", []int64{25 << 20, 25 << 20}},
	{"worker", []int64{20 << 20, 20 << 20}},
}

// benchChanged is the size of the one layer v2 changes (api's last layer is replaced by a new one).
const benchChanged = 16 << 20

// benchTemplate renders one Deployment per image.
const benchTemplate = `{{- range $name, $image := .Values.images }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ $name }}}
  template:
    metadata:
      labels: {app: {{ $name }}}
    spec:
      containers:
        - name: {{ $name }}
          image: {{ $image }}
{{- end }}
`

// writeAppBundle writes a signed TEST bundle of app "shop" at version holding every image of imgs
// (name -> image, tagged registry.example/shop/<name>:<version>) and a chart running each.
func writeAppBundle(t *testing.T, dir, version string, k3s payload.K3sRelease, imgs map[string]v1.Image, key []byte) string {
	t.Helper()
	d := filepath.Join(dir, "app-"+version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(d, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]any{}
	var values strings.Builder
	values.WriteString("images:\n")
	for _, a := range benchApp {
		ref := "registry.example/shop/" + a.name + ":" + version
		if err := lp.AppendImage(imgs[a.name], layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
			t.Fatal(err)
		}
		refs[a.name] = ref
		fmt.Fprintf(&values, "  %s: %s\n", a.name, ref)
	}
	c := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version, AppVersion: version},
		Templates: []*chart.File{{Name: "templates/apps.yaml", Data: []byte(benchTemplate)}},
		Values:    map[string]any{"images": refs},
		Raw:       []*chart.File{{Name: "values.yaml", Data: []byte(values.String())}},
	}
	cp, err := chartutil.Save(c, d)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := payload.LoadPrivateKey(string(key))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(d, "shop-"+version+".ferry")
	err = payload.Write(context.Background(), dst, payload.Source{
		App: payload.App{Name: "shop", Version: version}, K3s: k3s, Platforms: []payload.Platform{amd64},
		Chart: cp, Images: filepath.Join(d, "layout"),
	}, payload.WriteOptions{Key: priv})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// imageBytes is the sum of an image's blobs: layers, config and manifest.
func imageBytes(t *testing.T, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	n := m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// rxBytes reads what each lab host's network interface has received so far (every frame: TCP/IP, SSH and
// SFTP framing, the API calls tunnelled to the server, the commands Ferry runs).
func rxBytes(t *testing.T, ctx context.Context, hosts []lab.Host) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, h := range hosts {
		cfg, err := h.KeyConfig()
		if err != nil {
			t.Fatal(err)
		}
		c, err := lab.Dial(ctx, h, cfg, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := lab.Output(ctx, c, "cat /sys/class/net/host0/statistics/rx_bytes", nil)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			t.Fatalf("rx_bytes on %s: %q", h.Name, s)
		}
		out[h.Name] = n
	}
	return out
}

// Upgrade benchmark on the site lab: a 150 MiB, three-image app whose v2 changes one 16 MiB layer of one
// image. Measures what Ferry sends to each node against what the node lacked and against the full v2
// bundle, and the upgrade's wall time against scp of the full bundle to each node, in the same run.
func TestBenchUpgradeOnLab(t *testing.T) {
	if os.Getenv(EnvBench) != "1" {
		t.Skip("upgrade benchmark: run it through make bench-upgrade (sets " + EnvBench + "=1)")
	}
	standin, ferryctl := os.Getenv("FERRY_STANDIN_BIN"), os.Getenv("FERRYCTL_BIN")
	if os.Getenv(lab.EnvEnable) == "1" && (standin == "" || ferryctl == "") {
		t.Fatal("FERRY_STANDIN_BIN / FERRYCTL_BIN not set: run make bench-upgrade")
	}
	_, inv := lab.TestSite(t, BenchLabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	dir := t.TempDir()
	priv, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyBase := filepath.Join(dir, "vendor")
	if err := payload.WriteKeyPair(keyBase, priv); err != nil {
		t.Fatal(err)
	}
	pub, privFile := keyBase+payload.PublicKeySuffix, []byte(keyBase+payload.PrivateKeySuffix)
	k3s := k3sAssets(t, dir, standin)

	v1imgs, v2imgs := map[string]v1.Image{}, map[string]v1.Image{}
	var appBytes1, appBytes2 int64
	for _, a := range benchApp {
		var ls []v1.Layer
		for _, n := range a.layers {
			l, err := random.Layer(n, "application/vnd.docker.image.rootfs.diff.tar.gzip")
			if err != nil {
				t.Fatal(err)
			}
			ls = append(ls, l)
		}
		img, err := mutate.AppendLayers(empty.Image, ls...)
		if err != nil {
			t.Fatal(err)
		}
		v1imgs[a.name] = withPlatform(t, img)
		v2imgs[a.name] = v1imgs[a.name]
		if a.name == "api" {
			v2imgs[a.name], _ = nextImage(t, v1imgs[a.name], benchChanged)
		}
		appBytes1 += imageBytes(t, v1imgs[a.name])
		appBytes2 += imageBytes(t, v2imgs[a.name])
	}
	b1 := writeAppBundle(t, dir, "1.0.0", k3s, v1imgs, privFile)
	b2 := writeAppBundle(t, dir, "2.0.0", k3s, v2imgs, privFile)
	fi, err := os.Stat(b2)
	if err != nil {
		t.Fatal(err)
	}
	bundle2 := fi.Size()
	siteFile, accept := siteOf(t, dir, "bench", inv)
	site := []string{"--site", siteFile}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	run := func(step string, args ...string) string {
		t.Helper()
		return ferryctlRun(t, ctx, ferryctl, step, append(args, site...)...)
	}
	run("install", append([]string{"install", "--bundle", b1, "--key", pub, "--ready-timeout", "8m", "--fix", "--yes"}, accept...)...)
	run("deploy v1", "deploy", "--bundle", b1, "--key", pub)

	// Baseline, same run, same links: scp (OpenSSH's, host keys checked) of the full v2 bundle to each
	// node, one after the other as Ferry lands node by node. A full-package tool sends at least that.
	scpStart := time.Now()
	for _, h := range inv.Hosts {
		cmd := exec.CommandContext(ctx, "scp", "-q", "-i", h.KeyFile, "-o", "UserKnownHostsFile="+inv.KnownHostsFile,
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-P", strconv.Itoa(h.Port), b2, h.User+"@"+h.Address+":/var/tmp/baseline.ferry")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp to %s: %v: %s", h.Name, err, out)
		}
	}
	scpTime := time.Since(scpStart)
	for _, h := range inv.Hosts { // the baseline copies must not help or hinder the upgrade
		cfg, _ := h.KeyConfig()
		if c, err := lab.Dial(ctx, h, cfg, 10*time.Second); err == nil {
			lab.Output(ctx, c, "rm -f /var/tmp/baseline.ferry", nil)
			c.Close()
		}
	}

	relsBefore := releases(t, ctx, inv.Hosts[0], "shop")
	rx0 := rxBytes(t, ctx, inv.Hosts)
	start := time.Now()
	out, seen := ferryctlTimed(t, ctx, ferryctl, "upgrade v2", append([]string{"upgrade", "--bundle", b2, "--key", pub}, site...)...)
	upTime := time.Since(start)
	rx1 := rxBytes(t, ctx, inv.Hosts)
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("upgrade output:\n%s", out)
	}
	sent, lacked := sentPerNode(t, out), lackedPerNode(out)
	fmt.Printf("BENCH helm releases: before the upgrade %+v, after %+v\n", relsBefore, releases(t, ctx, inv.Hosts[0], "shop"))
	var totSent, totLacked, totWire int64
	fmt.Printf("BENCH upgrade: app %.1f MiB (v1) / %.1f MiB = %d bytes (v2) in %d images; v2 changes one %d MiB layer; full v2 bundle %.1f MiB = %d bytes (k3s stand-in included)\n",
		mib(appBytes1), mib(appBytes2), appBytes2, len(benchApp), benchChanged>>20, mib(bundle2), bundle2)
	for _, h := range inv.Hosts {
		s, l := sent[h.Name], lacked[h.Name]
		wire := rx1[h.Name] - rx0[h.Name]
		totSent, totLacked, totWire = totSent+s[0], totLacked+l[0], totWire+wire
		if l[0] == 0 {
			t.Fatalf("%s lacked nothing: the benchmark measures nothing", h.Name)
		}
		r := float64(s[0]) / float64(l[0])
		fmt.Printf("BENCH %s: lacked %d bytes (%d blobs); Ferry sent %d bytes (archive: tar framing, index, manifests) = %.4f x lacked; NIC received %d bytes during the upgrade = %.4f x lacked; sent / full v2 bundle = %.4f; sent / full v2 images = %.4f\n",
			h.Name, l[0], l[1], s[0], r, wire, float64(wire)/float64(l[0]), float64(s[0])/float64(bundle2), float64(s[0])/float64(appBytes2))
		if r > 1.05 {
			t.Errorf("%s: sent %d bytes for %d lacked: ratio %.4f > 1.05", h.Name, s[0], l[0], r)
		}
	}
	fmt.Printf("BENCH total: sent %d, lacked %d (%.4f), on the wire %d (%.4f); full bundle to each node would be %d (sent = %.4f of it)\n",
		totSent, totLacked, float64(totSent)/float64(totLacked), totWire, float64(totWire)/float64(totLacked),
		bundle2*int64(len(inv.Hosts)), float64(totSent)/float64(bundle2*int64(len(inv.Hosts))))
	fmt.Printf("BENCH wall time: ferryctl upgrade (verify bundle, connect, plan, land, apply, health, prune) %s vs scp of the full v2 bundle to each node %s: %.2f x\n",
		upTime.Round(10*time.Millisecond), scpTime.Round(10*time.Millisecond), upTime.Seconds()/scpTime.Seconds())
	if land, ok1 := seen["[images]"]; ok1 {
		if apply, ok2 := seen["[apply]"]; ok2 {
			fmt.Printf("BENCH wall time: of which landing on both nodes (first [images] line to [apply]) %s = %.2f x scp; before it (verify, connect, plan) %s; after it (apply, helm, health, prune) %s\n",
				(apply - land).Round(10*time.Millisecond), (apply-land).Seconds()/scpTime.Seconds(), land.Round(10*time.Millisecond), (upTime - apply).Round(10*time.Millisecond))
		}
	}
}

// ferryctlTimed runs the ferryctl binary to the end and returns its output with, per line prefix
// ("[images]", "[apply]", ...), when the first such line appeared after the start.
func ferryctlTimed(t *testing.T, ctx context.Context, bin, step string, args ...string) (string, map[string]time.Duration) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waited <- err
	}()
	seen := map[string]time.Duration{}
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if p, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(p, "[") {
			if _, dup := seen[p]; !dup {
				seen[p] = time.Since(start)
			}
		}
	}
	err := <-waited
	t.Logf("MEASURE %s: %s", step, time.Since(start).Round(100*time.Millisecond))
	t.Logf("%s stdout:\n%s", step, out.String())
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", step, err, errb.String())
	}
	return out.String(), seen
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
