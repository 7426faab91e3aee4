package payload

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-delivery/ferry/internal/testimage"
)

// BenchmarkBundle times Write, Verify and WriteImageArchive on images of 4 x 64 MiB random layers per
// platform against a baseline measured in the same run: copying the same blob files into one file while
// hashing them (the least any bundle writer must do). It reports the ratios and the bytes each step
// allocates, which stay flat as bundles grow (everything is streamed).
//
//	go test -run '^$' -bench Bundle -benchtime 1x ./payload
func BenchmarkBundle(b *testing.B) {
	dir := b.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		b.Fatal(err)
	}
	const layers, layerSize = 4, 64 << 20
	for _, arch := range []string{"amd64", "arm64"} {
		img := empty.Image
		for i := 0; i < layers; i++ {
			if img, err = mutate.AppendLayers(img, static.NewLayer(randBytes(b, layerSize), types.OCILayer)); err != nil {
				b.Fatal(err)
			}
		}
		img = testimage.WithPlatform(b, img, arch)
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/big:" + arch})); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	src := Source{
		App: App{Name: "big", Version: "1"}, K3s: fakeK3s(b, filepath.Join(dir, "k3s"), 1<<20),
		Platforms: []Platform{amd64, arm64}, Chart: makeChart(b, filepath.Join(dir, "c.tgz"), false),
		Images: filepath.Join(dir, "layout"),
	}
	blobs, _ := filepath.Glob(filepath.Join(dir, "layout", "blobs", "sha256", "*"))
	fixRefs(b, filepath.Join(dir, "layout"))
	key := newKey(b)
	for i := 0; i < b.N; i++ {
		base := measure(func() {
			out, _ := os.Create(filepath.Join(dir, "baseline"))
			for _, p := range blobs {
				f, _ := os.Open(p)
				h := sha256.New()
				io.Copy(io.MultiWriter(out, h), f)
				f.Close()
			}
			out.Sync()
			out.Close()
		})
		dst := filepath.Join(dir, "big.ferry")
		var werr, verr, aerr error
		write := measure(func() { werr = Write(context.Background(), dst, src, WriteOptions{Key: key}) })
		bun, err := Open(dst)
		if err != nil || werr != nil {
			b.Fatal(err, werr)
		}
		verify := measure(func() { _, verr = bun.Verify(context.Background(), []ed25519.PublicKey{pub(key)}, nil) })
		archive := measure(func() { aerr = bun.WriteImageArchive(context.Background(), io.Discard, amd64, ArchiveOptions{}) })
		bun.Close()
		if verr != nil || aerr != nil {
			b.Fatal(verr, aerr)
		}
		fi, _ := os.Stat(dst)
		b.ReportMetric(float64(fi.Size())/(1<<20), "bundle-MiB")
		b.ReportMetric(write.d.Seconds()/base.d.Seconds(), "write/baseline")
		b.ReportMetric(verify.d.Seconds()/base.d.Seconds(), "verify/baseline")
		b.ReportMetric(float64(write.alloc)/(1<<20), "write-alloc-MiB")
		b.ReportMetric(float64(verify.alloc)/(1<<20), "verify-alloc-MiB")
		b.ReportMetric(float64(archive.alloc)/(1<<20), "archive-alloc-MiB")
		b.ReportMetric(base.d.Seconds(), "baseline-s")
	}
}

type measured struct {
	d     time.Duration
	alloc uint64
}

func measure(fn func()) measured {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return measured{d: d, alloc: after.TotalAlloc - before.TotalAlloc}
}

// fixRefs renames the two single-platform entries to one reference, so the image has both platforms.
func fixRefs(b *testing.B, dir string) {
	lp, _ := layout.FromPath(dir)
	ii, _ := lp.ImageIndex()
	im, _ := ii.IndexManifest()
	var descs []v1.Descriptor
	for _, d := range im.Manifests {
		d.Annotations = map[string]string{annotationRefName: "example.com/big:1"}
		descs = append(descs, d)
	}
	if err := lp.RemoveDescriptors(func(v1.Descriptor) bool { return true }); err != nil {
		b.Fatal(err)
	}
	for _, d := range descs {
		if err := lp.AppendDescriptor(d); err != nil {
			b.Fatal(err)
		}
	}
}
