package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ferry-delivery/ferry/payload"
	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is this scenario's site lab (docs/testing.md: 4 end to end).
const LabID = 4

const (
	amd64     = "linux/amd64"
	layerSize = 2 << 20 // random, incompressible: a changed layer dominates what an upgrade sends
	imageRef  = "registry.example/shop/web"
)

func fileSum(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func withPlatform(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// k3sAssets is the TEST k3s of both bundles: the stand-in binary and a small random air-gap image, with
// the release's checksum file (shared by v1 and v2: the upgrade leaves k3s alone).
func k3sAssets(t *testing.T, dir, standin string) payload.K3sRelease {
	bin := filepath.Join(dir, "k3s")
	b, err := os.ReadFile(standin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	pause, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("docker.io/rancher/mirrored-pause:3.6")
	air := filepath.Join(dir, "k3s-airgap-images-amd64.tar")
	if err := tarball.WriteToFile(air, tag, pause); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "sha256sum-amd64.txt")
	sums := fmt.Sprintf("%s  k3s\n%s  k3s-airgap-images-amd64.tar\n", fileSum(t, bin), fileSum(t, air))
	if err := os.WriteFile(ck, []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	return payload.K3sRelease{Version: "v1.35.8+standin", Assets: map[payload.Platform]payload.K3sAssets{
		amd64: {Binary: bin, Checksums: ck, AirgapImages: air},
	}}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

// writeBundle writes a signed TEST bundle of shop at version with img as its one image.
func writeBundle(t *testing.T, dir, version string, k3s payload.K3sRelease, img v1.Image, key []byte) string {
	t.Helper()
	d := filepath.Join(dir, "shop-"+version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := imageRef + ":" + version
	lp, err := layout.Write(filepath.Join(d, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		t.Fatal(err)
	}
	c := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version, AppVersion: version},
		Templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(deployment)}},
		Values:    map[string]any{"image": ref},
		Raw:       []*chart.File{{Name: "values.yaml", Data: []byte("image: " + ref + "\n")}},
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

// Install → Deploy v1 → Upgrade v2 (one layer changed) → Rollback to v1 → History, each step by the
// ferryctl binary against a 2-host lab site (server + agent) over SSH only.
func TestSiteLifecycleOnLab(t *testing.T) {
	standin, ferryctl := os.Getenv("FERRY_STANDIN_BIN"), os.Getenv("FERRYCTL_BIN")
	if os.Getenv(lab.EnvEnable) == "1" && (standin == "" || ferryctl == "") {
		t.Fatal("FERRY_STANDIN_BIN / FERRYCTL_BIN not set: run make test-e2e")
	}
	began := time.Now()
	_, inv := lab.TestSite(t, LabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	t.Logf("MEASURE lab up (2 hosts): %s", time.Since(began).Round(time.Second))

	dir := t.TempDir()
	priv, err := payload.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyBase := filepath.Join(dir, "vendor")
	if err := payload.WriteKeyPair(keyBase, priv); err != nil {
		t.Fatal(err)
	}
	pub := keyBase + payload.PublicKeySuffix
	k3s := k3sAssets(t, dir, standin)
	base, err := random.Image(layerSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	img1 := withPlatform(t, base)
	ls, _ := img1.Layers()
	fresh, err := random.Layer(layerSize, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	img2base, err := mutate.AppendLayers(empty.Image, append(ls[:len(ls)-1:len(ls)-1], fresh)...)
	if err != nil {
		t.Fatal(err)
	}
	img2 := withPlatform(t, img2base)
	v1b := writeBundle(t, dir, "1.0.0", k3s, img1, []byte(keyBase+payload.PrivateKeySuffix))
	v2b := writeBundle(t, dir, "2.0.0", k3s, img2, []byte(keyBase+payload.PrivateKeySuffix))

	// The site file: first host the server, second an agent; records beside it.
	var sb strings.Builder
	fmt.Fprintf(&sb, "name: e2e\ndefaults: {user: root, auth: {keyFile: %s}}\nhosts:\n", inv.Hosts[0].KeyFile)
	var accept []string
	for i, h := range inv.Hosts {
		role := "agent"
		if i == 0 {
			role = "server"
		}
		port := h.Port
		if port == 0 {
			port = 22
		}
		fmt.Fprintf(&sb, "  - {name: %s, address: %s, port: %d, role: %s}\n", h.Name, h.Address, port, role)
		accept = append(accept, "--accept-host-key", h.Fingerprint)
	}
	sb.WriteString("k3s: {disable: [coredns, servicelb, traefik, local-storage, metrics-server]}\n")
	siteFile := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(siteFile, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	run := func(step string, args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, ferryctl, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		t.Logf("MEASURE %s: %s", step, time.Since(start).Round(100*time.Millisecond))
		t.Logf("%s stdout:\n%s", step, out.String())
		if err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", step, err, errb.String())
		}
		return out.String()
	}
	site := []string{"--site", siteFile}
	// The lab's hosts have no default route, like many air-gapped sites: the engineer accepts Ferry's fix.
	run("install", append(append([]string{"install", "--bundle", v1b, "--key", pub, "--ready-timeout", "8m", "--fix", "--yes"}, site...), accept...)...)
	run("deploy v1", append([]string{"deploy", "--bundle", v1b, "--key", pub}, site...)...)
	if out := run("status after deploy", append([]string{"status"}, site...)...); !strings.Contains(out, "version: 1.0.0") || !strings.Contains(out, "health:  Healthy") {
		t.Fatalf("status after deploy:\n%s", out)
	} else {
		// The components as the real API server reports them: the Deployment's replicas, the Service's
		// address, ports and endpoints (from the controller manager's EndpointSlices).
		var dep, svc string
		for _, l := range strings.Split(out, "\n") {
			switch f := strings.Join(strings.Fields(l), " "); {
			case strings.HasPrefix(f, "Deployment shop/web "):
				dep = f
			case strings.HasPrefix(f, "Service shop/web "):
				svc = f
			}
		}
		if dep != "Deployment shop/web Ready 2/2 ready, rolled out" || !strings.HasPrefix(svc, "Service shop/web ") ||
			!strings.Contains(svc, " ClusterIP 10.43.") || !strings.Contains(svc, "80→8080/TCP, ") || !strings.Contains(svc, "/2 endpoints ready") {
			t.Fatalf("components in status after deploy:\n%s", out)
		}
	}

	// Upgrade: each node is sent the changed layer, v2's manifest and config, and tar framing; never the
	// two unchanged layers.
	out := run("upgrade v2", append([]string{"upgrade", "--bundle", v2b, "--key", pub}, site...)...)
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("upgrade output:\n%s", out)
	}
	fl, _ := fresh.Size()
	raw, _ := img2.RawManifest()
	m2, _ := img2.Manifest()
	need := fl + m2.Config.Size + int64(len(raw))
	sentRE := regexp.MustCompile(`sent to (\S+): (\d+) bytes \((\d+) blobs\)`)
	matches := sentRE.FindAllStringSubmatch(out, -1)
	if len(matches) != len(inv.Hosts) {
		t.Fatalf("upgrade reported bytes for %d nodes, want %d:\n%s", len(matches), len(inv.Hosts), out)
	}
	for _, m := range matches {
		sent, _ := strconv.ParseInt(m[2], 10, 64)
		t.Logf("MEASURE upgrade sent to %s: %d bytes, %s blobs (changed layer + manifest + config = %d; whole v2 image ~%d)", m[1], sent, m[3], need, 3*fl)
		if m[3] != "3" || sent < need || sent > need+64<<10 {
			t.Errorf("node %s: sent %d bytes in %s blobs, want the 3 new blobs (%d bytes) plus framing", m[1], sent, m[3], need)
		}
	}

	out = run("rollback to v1", append([]string{"rollback", "--to", "1.0.0"}, site...)...)
	if !strings.Contains(out, "shop is at 1.0.0") {
		t.Fatalf("rollback output:\n%s", out)
	}
	out = run("history", append([]string{"history"}, site...)...)
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^1 .*deploy\s+1\.0\.0\s+succeeded`),
		regexp.MustCompile(`(?m)^2 .*upgrade\s+2\.0\.0\s+succeeded`),
		regexp.MustCompile(`(?m)^3 .*rollback\s+1\.0\.0\s+succeeded`),
		regexp.MustCompile(`kept for rollback: \[1\.0\.0 2\.0\.0\]`),
	}
	for _, re := range want {
		if !re.MatchString(out) {
			t.Errorf("history lacks %s:\n%s", re, out)
		}
	}

	// Upgrade to v2 again keeping one version: every blob is already on the nodes (only an archive of
	// no blob travels, which re-names and re-pins the image), and v1's image is un-pinned and removed
	// from each node afterwards.
	out = run("upgrade v2 again, keep 1", append([]string{"upgrade", "--bundle", v2b, "--key", pub, "--keep", "1"}, site...)...)
	if !strings.Contains(out, "shop is at 2.0.0") {
		t.Fatalf("second upgrade output:\n%s", out)
	}
	for _, m := range sentRE.FindAllStringSubmatch(out, -1) {
		if sent, _ := strconv.ParseInt(m[2], 10, 64); m[3] != "0" || sent > 64<<10 {
			t.Errorf("second upgrade sent %s bytes in %s blobs to %s, want no blob", m[2], m[3], m[1])
		}
	}
	for _, h := range inv.Hosts {
		if want := fmt.Sprintf("pruned on %s: [%s:1.0.0]", h.Name, imageRef); !strings.Contains(out, want) {
			t.Errorf("second upgrade output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("MEASURE whole scenario: %s", time.Since(began).Round(time.Second))
}
