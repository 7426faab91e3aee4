package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/ferry-delivery/ferry/internal/testimage"
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

// benchBundle is shop at version holding every image of imgs (name -> image, tagged
// registry.example/shop/<name>:<version>) and a chart running each.
func benchBundle(version string, imgs map[string]v1.Image) shopBundle {
	b := shopBundle{version: version, images: map[string]v1.Image{},
		templates: []*chart.File{{Name: "templates/apps.yaml", Data: []byte(benchTemplate)}}, values: "images:\n"}
	for _, a := range benchApp {
		ref := "registry.example/shop/" + a.name + ":" + version
		b.images[ref] = imgs[a.name]
		b.values += fmt.Sprintf("  %s: %s\n", a.name, ref)
	}
	return b
}

// rxBytes reads what each lab host's network interface has received so far (every frame: TCP/IP, SSH and
// SFTP framing, the API calls tunnelled to the server, the commands Ferry runs).
func rxBytes(t *testing.T, ctx context.Context, hosts []lab.Host) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, h := range hosts {
		s, _, err := onHost(ctx, h, "cat /sys/class/net/host0/statistics/rx_bytes")
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
	s := bringUp(t, BenchLabID, "bench-upgrade", EnvBench, "upgrade benchmark")
	inv := s.inv
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
		v1imgs[a.name] = testimage.WithPlatform(t, img, "amd64")
		v2imgs[a.name] = v1imgs[a.name]
		if a.name == "api" {
			v2imgs[a.name], _ = testimage.NextVersion(t, v1imgs[a.name], benchChanged)
		}
		appBytes1 += imageBytes(t, v1imgs[a.name])
		appBytes2 += imageBytes(t, v2imgs[a.name])
	}
	b1 := s.writeBundle(t, benchBundle("1.0.0", v1imgs))
	b2 := s.writeBundle(t, benchBundle("2.0.0", v2imgs))
	fi, err := os.Stat(b2)
	if err != nil {
		t.Fatal(err)
	}
	bundle2 := fi.Size()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	ferryctl, accept := s.cli(t, ctx, "bench")
	run, pub := ferryctl.run, s.pub
	ferryctl.install(b1, pub, accept)
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
		_, _, _ = onHost(ctx, h, "rm -f /var/tmp/baseline.ferry")
	}

	relsBefore, genBefore := releases(t, ctx, inv.Hosts[0], "shop"), chartGeneration(t, ctx, inv.Hosts[0], "shop")
	rx0 := rxBytes(t, ctx, inv.Hosts)
	start := time.Now()
	out, seen := ferryctl.timed("upgrade v2", "upgrade", "--bundle", b2, "--key", pub)
	upTime := time.Since(start)
	rx1 := rxBytes(t, ctx, inv.Hosts)
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("upgrade output:\n%s", out)
	}
	sent, lacked := sentPerNode(t, out), lackedPerNode(out)
	relsAfter := releases(t, ctx, inv.Hosts[0], "shop")
	fmt.Printf("BENCH helm releases: before the upgrade %+v, after %+v\n", relsBefore, relsAfter)
	// Nothing applied twice: one HelmChart spec write, one helm revision (the trace says why otherwise).
	checkOneRevision(t, ctx, inv.Hosts, "upgrade v2", relsBefore, relsAfter, genBefore, chartGeneration(t, ctx, inv.Hosts[0], "shop"))
	var totSent, totLacked, totWire int64
	fmt.Printf("BENCH upgrade: app %.1f MiB (v1) / %.1f MiB = %d bytes (v2) in %d images; v2 changes one %d MiB layer; full v2 bundle %.1f MiB = %d bytes (k3s stand-in included)\n",
		mib(appBytes1), mib(appBytes2), appBytes2, len(benchApp), benchChanged>>20, mib(bundle2), bundle2)
	for _, h := range inv.Hosts {
		sn, l := sent[h.Name], lacked[h.Name]
		wire := rx1[h.Name] - rx0[h.Name]
		totSent, totLacked, totWire = totSent+sn[0], totLacked+l[0], totWire+wire
		if l[0] == 0 {
			t.Fatalf("%s lacked nothing: the benchmark measures nothing", h.Name)
		}
		r := float64(sn[0]) / float64(l[0])
		fmt.Printf("BENCH %s: lacked %d bytes (%d blobs); Ferry sent %d bytes (archive: tar framing, index, manifests) = %.4f x lacked; NIC received %d bytes during the upgrade = %.4f x lacked; sent / full v2 bundle = %.4f; sent / full v2 images = %.4f\n",
			h.Name, l[0], l[1], sn[0], r, wire, float64(wire)/float64(l[0]), float64(sn[0])/float64(bundle2), float64(sn[0])/float64(appBytes2))
		if r > 1.05 {
			t.Errorf("%s: sent %d bytes for %d lacked: ratio %.4f > 1.05", h.Name, sn[0], l[0], r)
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

// timed runs ferryctl to the end and returns its output with, per line prefix ("[images]", "[apply]",
// ...), when the first such line appeared after the start.
func (f ferryctlCLI) timed(step string, args ...string) (string, map[string]time.Duration) {
	f.t.Helper()
	seen := map[string]time.Duration{}
	start := time.Now()
	out, errOut, _, err := f.stream(args, func(_ *exec.Cmd, line string) string {
		if p, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(p, "[") {
			if _, dup := seen[p]; !dup {
				seen[p] = time.Since(start)
			}
		}
		return ""
	})
	f.t.Logf("MEASURE %s: %s", step, time.Since(start).Round(100*time.Millisecond))
	f.t.Logf("%s stdout:\n%s", step, out)
	if err != nil {
		f.t.Fatalf("%s: %v\nstderr:\n%s", step, err, errOut)
	}
	return out, seen
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
