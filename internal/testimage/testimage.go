package testimage

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// Random is a linux/arch image of layers random layers of size bytes each.
func Random(t testing.TB, size int64, layers int, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return WithPlatform(t, img, arch)
}

// WithPlatform is img with its config set to linux/arch (go-containerregistry's random images name no
// platform, and Ferry picks images per node by platform).
func WithPlatform(t testing.TB, img v1.Image, arch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NextVersion is img with its last layer replaced by a fresh random one of size bytes, its platform kept,
// and that fresh layer: what an upgrade must send is that layer, the new config and the new manifest.
func NextVersion(t testing.TB, img v1.Image, size int64) (v1.Image, v1.Layer) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := random.Layer(size, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	next, err := mutate.AppendLayers(empty.Image, append(ls[:len(ls)-1:len(ls)-1], fresh)...)
	if err != nil {
		t.Fatal(err)
	}
	return WithPlatform(t, next, cf.Architecture), fresh
}

// LayoutTar is img written as an OCI image layout, its index entry carrying annotations (containerd names
// the imported image by "io.containerd.image.name"), packed in a tar as `ctr images import` reads it.
func LayoutTar(t testing.TB, img v1.Image, annotations map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(annotations)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
