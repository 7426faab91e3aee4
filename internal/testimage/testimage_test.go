package testimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestRandomAndNextVersion(t *testing.T) {
	img := Random(t, 1024, 3, "arm64")
	next, fresh := NextVersion(t, img, 2048)
	cf, err := next.ConfigFile()
	if err != nil || cf.OS != "linux" || cf.Architecture != "arm64" {
		t.Fatalf("next version's platform %s/%s, %v; want linux/arm64", cf.OS, cf.Architecture, err)
	}
	old, _ := img.Layers()
	now, _ := next.Layers()
	if len(old) != 3 || len(now) != 3 {
		t.Fatalf("layers %d then %d, want 3 and 3", len(old), len(now))
	}
	for i := range 2 {
		a, _ := old[i].Digest()
		b, _ := now[i].Digest()
		if a != b {
			t.Errorf("layer %d changed: %s -> %s", i, a, b)
		}
	}
	a, _ := old[2].Digest()
	b, _ := now[2].Digest()
	f, _ := fresh.Digest()
	if a == b || b != f {
		t.Errorf("last layer %s -> %s, want the fresh %s", a, b, f)
	}
	if n, _ := fresh.Size(); n < 2048 {
		t.Errorf("fresh layer of %d bytes, want at least 2048 (random data does not compress)", n)
	}
}

// The tar unpacks to an OCI layout holding exactly img under the given annotations.
func TestLayoutTar(t *testing.T) {
	img := Random(t, 512, 1, "amd64")
	const ref = "docker.io/library/app:1"
	b := LayoutTar(t, img, map[string]string{"io.containerd.image.name": ref})
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		p := filepath.Join(dir, h.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Annotations["io.containerd.image.name"] != ref {
		t.Fatalf("index %+v, want the one image %s named %s", m.Manifests, want, ref)
	}
	got, err := idx.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.RawConfigFile(); err != nil {
		t.Fatalf("image blobs missing from the tar: %v", err)
	}
}
