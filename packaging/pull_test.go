package packaging

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/testregistry"
)

func refs(t *testing.T, rs ...string) []name.Reference {
	t.Helper()
	out, err := normalizeRefs(rs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func blobExists(dir string, h v1.Hash) bool {
	_, err := os.Stat(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	return err == nil
}

func TestPullImagesCopiesOnlySelectedPlatforms(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "tls"}[tls], func(t *testing.T) {
			f := newFixture(t, testregistry.Options{TLS: tls})
			dir := filepath.Join(t.TempDir(), "images")
			var last progress.Event
			got, err := PullImages(context.Background(), dir, refs(t, f.web.Ref, f.db.Ref), PullOptions{
				Platforms: []string{PlatformAMD64, PlatformARM64}, Transport: f.reg.Transport,
				Progress: func(e progress.Event) {
					if e.Phase == "pulling images" {
						last = e
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []PulledImage{
				{Name: f.db.Ref, Digest: f.db.Digest.String(), Manifests: map[string]string{
					PlatformAMD64: f.db.Manifests["linux/amd64"].String(), PlatformARM64: f.db.Manifests["linux/arm64"].String()}},
				{Name: f.web.Ref, Digest: f.web.Digest.String(), Manifests: map[string]string{
					PlatformAMD64: f.web.Manifests["linux/amd64"].String(), PlatformARM64: f.web.Manifests["linux/arm64"].String()}},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("pulled (-want +got):\n%s", d)
			}
			for _, p := range []*testregistry.Pushed{f.web, f.db} {
				for _, plat := range []string{"linux/amd64", "linux/arm64"} {
					for _, h := range append(p.Blobs[plat], p.Manifests[plat]) {
						if !blobExists(dir, h) {
							t.Errorf("%s %s: blob %s missing", p.Ref, plat, h)
						}
					}
				}
			}
			for _, h := range append(f.web.Blobs["linux/s390x"], f.web.Manifests["linux/s390x"]) {
				if blobExists(dir, h) {
					t.Errorf("s390x blob %s was copied", h)
				}
			}
			if last.Total == 0 || last.Done != last.Total {
				t.Errorf("last progress event %+v: want done == total > 0", last)
			}
			checkLayout(t, dir, want)
		})
	}
}

// checkLayout reads the layout back with go-containerregistry: index.json lists exactly the images with
// their names, and every shipped platform's image validates (all blobs present, digests right).
func checkLayout(t *testing.T, dir string, want []PulledImage) {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(want) {
		t.Fatalf("index.json lists %d entries, want %d", len(im.Manifests), len(want))
	}
	for i, d := range im.Manifests {
		if d.Annotations[RefNameAnnotation] != want[i].Name || d.Digest.String() != want[i].Digest {
			t.Fatalf("index.json entry %d: %s %s, want %s %s", i, d.Annotations[RefNameAnnotation], d.Digest, want[i].Name, want[i].Digest)
		}
		for _, md := range want[i].Manifests {
			h, _ := v1.NewHash(md)
			var img v1.Image
			if d.MediaType.IsIndex() {
				child, err := ii.ImageIndex(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				img, err = child.Image(h)
			} else {
				img, err = ii.Image(h)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("%s %s does not validate: %v", want[i].Name, md, err)
			}
		}
	}
}

func TestPullImagesResumesWithoutRefetching(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	dir := filepath.Join(t.TempDir(), "images")
	opts := PullOptions{Platforms: []string{PlatformAMD64}, Transport: f.reg.Transport}
	ctx := context.Background()
	if _, err := PullImages(ctx, dir, refs(t, f.web.Ref), opts); err != nil {
		t.Fatal(err)
	}
	layer := f.web.Blobs["linux/amd64"][1]
	if n := f.reg.BlobGets(layer); n != 1 {
		t.Fatalf("layer fetched %d times, want 1", n)
	}
	// A second build of more images fetches only what is new.
	got, err := PullImages(ctx, dir, refs(t, f.web.Ref, f.db.Ref), opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.reg.BlobGets(layer); n != 1 {
		t.Fatalf("present layer fetched again: %d GETs", n)
	}
	if n := f.reg.BlobGets(f.db.Blobs["linux/amd64"][1]); n != 1 {
		t.Fatalf("new layer fetched %d times, want 1", n)
	}
	checkLayout(t, dir, got)
	// And index.json lists this build's images only: dropping one removes it.
	got, err = PullImages(ctx, dir, refs(t, f.db.Ref), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, got)
}

func TestPullImagesPlatformErrors(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	ctx := context.Background()
	single, err := f.reg.Push(ctx, testregistry.ImageSpec{Ref: "ferry-test/single:1", Platforms: []string{"linux/amd64"}, Layers: 1, LayerSize: 1024, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	s390, err := f.reg.Push(ctx, testregistry.ImageSpec{Ref: "ferry-test/s390:1", Platforms: []string{"linux/s390x", "linux/amd64"}, Layers: 1, LayerSize: 1024, Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	both := []string{PlatformAMD64, PlatformARM64}
	for _, tc := range []struct {
		name  string
		ref   string
		plats []string
		want  string
	}{
		{"single-platform image for two platforms", single.Ref, both, "single-platform linux/amd64 image"},
		{"index without arm64", s390.Ref, both, "no linux/arm64 image in its index (it has linux/s390x, linux/amd64)"},
		{"single-platform image of another platform", single.Ref, []string{PlatformARM64}, "single-platform linux/amd64 image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "images")
			_, err := PullImages(ctx, dir, refs(t, tc.ref), PullOptions{Platforms: tc.plats, Transport: f.reg.Transport})
			if !errors.Is(err, ErrPlatformMissing) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.ref) {
				t.Fatalf("got %v, want ErrPlatformMissing naming %s and %q", err, tc.ref, tc.want)
			}
			if n := f.reg.BlobGets(single.Blobs["linux/amd64"][1]); n != 0 {
				t.Fatalf("layers moved before the platform check: %d GETs", n)
			}
		})
	}
	// A single-platform image is fine when it is the only platform shipped.
	dir := filepath.Join(t.TempDir(), "images")
	got, err := PullImages(ctx, dir, refs(t, single.Ref), PullOptions{Platforms: []string{PlatformAMD64}, Transport: f.reg.Transport})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, got)
}

// cancelAfter cancels a context once n response bytes have been read through it.
type cancelAfter struct {
	rt     http.RoundTripper
	n      int64
	read   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil && strings.Contains(r.URL.Path, "/blobs/") {
		resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	c *cancelAfter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.c.read.Add(int64(n)) >= b.c.n {
		b.c.cancel()
	}
	return n, err
}

func TestPullImagesCancelLeavesOnlyWholeBlobs(t *testing.T) {
	ctx0 := context.Background()
	reg := testregistry.New(t, testregistry.Options{})
	big, err := reg.Push(ctx0, testregistry.ImageSpec{Ref: "ferry-test/big:1", Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 4, LayerSize: 2 << 20, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "images")
	ctx, cancel := context.WithCancel(ctx0)
	defer cancel()
	ca := &cancelAfter{rt: reg.Transport, n: 3 << 20, cancel: cancel}
	_, err = PullImages(ctx, dir, refs(t, big.Ref), PullOptions{Platforms: []string{PlatformAMD64, PlatformARM64}, Transport: ca, Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull returned %v", err)
	}
	// Nothing half-written under a blob's name, no temp files left, no image listed.
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	for _, e := range entries {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		fh, _, err := v1.SHA256(mustOpen(t, filepath.Join(dir, "blobs", "sha256", e.Name())))
		if err != nil || fh != h {
			t.Fatalf("blob %s holds content with digest %s", e.Name(), fh)
		}
	}
	if left, _ := filepath.Glob(dir + ".tmp*"); len(left) != 0 {
		t.Fatalf("temp dirs left behind: %v", left)
	}
	if lp, err := layout.FromPath(dir); err == nil {
		if ii, err := lp.ImageIndex(); err == nil {
			if im, _ := ii.IndexManifest(); len(im.Manifests) != 0 {
				t.Fatalf("a cancelled pull listed images: %v", im.Manifests)
			}
		}
	}
	kept := len(entries)
	// The re-run completes and fetches only what the cancelled run did not finish.
	before := map[v1.Hash]int{}
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		for _, h := range big.Blobs[plat] {
			before[h] = reg.BlobGets(h)
		}
	}
	got, err := PullImages(ctx0, dir, refs(t, big.Ref), PullOptions{Platforms: []string{PlatformAMD64, PlatformARM64}, Transport: reg.Transport})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, got)
	refetched := 0
	for h, n := range before {
		if blobExists(dir, h) && reg.BlobGets(h) > n {
			refetched++
		}
	}
	if want := len(before) - kept; refetched != want {
		t.Fatalf("re-run fetched %d blobs; %d were kept from the cancelled run out of %d", refetched, kept, len(before))
	}
	t.Logf("cancelled run kept %d of %d blobs", kept, len(before))
}

func mustOpen(t *testing.T, p string) io.Reader {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
