package payload

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	amd64 Platform = "linux/amd64"
	arm64 Platform = "linux/arm64"
)

// fixture is a complete bundle source built in a temp dir, with what the test needs to check results.
type fixture struct {
	src        Source
	shared     v1.Hash // layer used by both app images
	appRef     string  // multi-arch index entry
	toolRef    string  // two single-platform entries
	appIndex   v1.Hash
	appDigests map[Platform]v1.Hash
	s390xOnly  []v1.Hash // blobs of a platform the bundle does not carry, deleted from the layout
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeK3s writes a k3s release directory with the real file names and sha256sum files. The binaries are
// random bytes: a stand-in, since no k3s binary exists on these machines.
func fakeK3s(t testing.TB, dir string, size int) K3sRelease {
	rel := K3sRelease{Version: "v1.33.4+k3s1", Assets: map[Platform]K3sAssets{}}
	for _, a := range []struct {
		p         Platform
		bin, arch string
	}{{amd64, "k3s", "amd64"}, {arm64, "k3s-arm64", "arm64"}} {
		bin := writeFile(t, filepath.Join(dir, a.bin), randBytes(t, size))
		air := writeFile(t, filepath.Join(dir, "k3s-airgap-images-"+a.arch+".tar.zst"), randBytes(t, size/2))
		var sums bytes.Buffer
		for _, f := range []string{bin, air} {
			data, _ := os.ReadFile(f)
			fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), filepath.Base(f))
		}
		fmt.Fprintf(&sums, "%x  k3s-images.txt\n", sha256.Sum256([]byte("x")))
		rel.Assets[a.p] = K3sAssets{Binary: bin, AirgapImages: air,
			Checksums: writeFile(t, filepath.Join(dir, "sha256sum-"+a.arch+".txt"), sums.Bytes())}
	}
	return rel
}

// makeChart writes a small real Helm chart archive.
func makeChart(t testing.TB, path string, withSchema bool) string {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := map[string]string{
		"demo/Chart.yaml":  "apiVersion: v2\nname: demo\nversion: 0.3.0\nappVersion: \"1.2.0\"\n",
		"demo/values.yaml": "replicas: 2\nimage: example.com/app:1.0\n",
		"demo/templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: demo\n" +
			"spec:\n  replicas: {{ .Values.replicas }}\n",
		"demo/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 9.9.9\n",
	}
	if withSchema {
		files["demo/values.schema.json"] = `{"type":"object","properties":{"replicas":{"type":"integer"}}}`
	}
	for _, name := range []string{"demo/Chart.yaml", "demo/values.yaml", "demo/templates/deploy.yaml", "demo/charts/sub/Chart.yaml", "demo/values.schema.json"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return writeFile(t, path, buf.Bytes())
}

func testImage(t testing.TB, p v1.Platform, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// makeLayout writes an OCI layout as the builder would: a multi-arch index (amd64, arm64/v8 and an s390x
// variant whose blobs are then removed, as the builder only fetches the bundle's platforms) and a second
// image stored as two single-platform entries. Both images share one layer.
func makeLayout(t testing.TB, dir string, f *fixture) {
	shared, err := random.Layer(2048, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	f.shared = digestOf(t, shared)
	pAmd := v1.Platform{OS: "linux", Architecture: "amd64"}
	pArm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	pS390 := v1.Platform{OS: "linux", Architecture: "s390x"}
	appAmd, appArm, appS390 := testImage(t, pAmd, shared), testImage(t, pArm, shared), testImage(t, pS390)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, a := range []struct {
		img v1.Image
		p   v1.Platform
	}{{appAmd, pAmd}, {appArm, pArm}, {appS390, pS390}} {
		p := a.p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: a.img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	f.appRef = "registry.example.com/team/app:1.0"
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: f.appRef})); err != nil {
		t.Fatal(err)
	}
	f.appIndex = digestOf(t, idx)
	f.appDigests = map[Platform]v1.Hash{amd64: digestOf(t, appAmd), arm64: digestOf(t, appArm)}
	// Remove what only s390x uses: its manifest, config and own layer.
	m, _ := appS390.Manifest()
	for _, h := range []v1.Hash{digestOf(t, appS390), m.Config.Digest, m.Layers[0].Digest} {
		f.s390xOnly = append(f.s390xOnly, h)
		if err := os.Remove(filepath.Join(dir, "blobs", "sha256", h.Hex)); err != nil {
			t.Fatal(err)
		}
	}
	f.toolRef = "registry.example.com/tool:2"
	for _, p := range []v1.Platform{pAmd, pArm} {
		img := testImage(t, p, shared)
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: f.toolRef})); err != nil {
			t.Fatal(err)
		}
	}
}

func newFixture(t testing.TB) *fixture { return newFixtureSized(t, 64<<10) }

// newFixtureSized makes a fixture whose fake k3s files have k3sSize bytes.
func newFixtureSized(t testing.TB, k3sSize int) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{}
	makeLayout(t, filepath.Join(dir, "layout"), f)
	f.src = Source{
		App:       App{Name: "demo", Version: "1.2.0", UpgradeFrom: "1.0.0"},
		K3s:       fakeK3s(t, filepath.Join(dir, "k3s"), k3sSize),
		Platforms: []Platform{amd64, arm64},
		Chart:     makeChart(t, filepath.Join(dir, "demo-0.3.0.tgz"), true),
		Images:    filepath.Join(dir, "layout"),
	}
	return f
}

func newKey(t testing.TB) ed25519.PrivateKey {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func writeBundle(t testing.TB, src Source, key ed25519.PrivateKey) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "demo-1.2.0.ferry")
	if err := Write(context.Background(), dst, src, WriteOptions{Key: key}); err != nil {
		t.Fatal(err)
	}
	return dst
}

func openBundle(t testing.TB, path string) *Bundle {
	t.Helper()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
