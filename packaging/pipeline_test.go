package packaging

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/ferry-delivery/ferry/internal/testregistry"
)

// slowBlobs delays blob responses whose digest starts with one of the given hex digits, so downloads
// finish in an order other than the bundle's member order.
type slowBlobs struct {
	rt    http.RoundTripper
	slow  string
	delay time.Duration
}

func (s *slowBlobs) RoundTrip(r *http.Request) (*http.Response, error) {
	if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 {
		hex := r.URL.Path[i+len("/blobs/sha256:"):]
		if hex != "" && strings.ContainsRune(s.slow, rune(hex[0])) {
			select {
			case <-time.After(s.delay):
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return s.rt.RoundTrip(r)
}

// The bundle is written while blobs download, in whatever order they finish; its bytes must not depend
// on that order, nor on whether the blobs were already staged by an earlier run.
func TestBuildIsByteIdenticalWhateverTheDownloadOrder(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The builds are more than a second apart at least once, so a timestamp in the packaged chart shows.
	build := func(work string, rt http.RoundTripper, conc int) []byte {
		t.Helper()
		out := filepath.Join(t.TempDir(), "demo.ferry")
		if _, err := Build(context.Background(), f.spec(t), BuildOptions{Out: out, Key: key, WorkDir: work, Transport: rt, Concurrency: conc}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	work := t.TempDir()
	ref := build(work, f.reg.Transport, 1)
	time.Sleep(time.Second)
	for name, tc := range map[string]struct {
		work string
		rt   http.RoundTripper
		conc int
	}{
		"low digests last":  {t.TempDir(), &slowBlobs{rt: f.reg.Transport, slow: "01234567", delay: 50 * time.Millisecond}, 8},
		"high digests last": {t.TempDir(), &slowBlobs{rt: f.reg.Transport, slow: "89abcdef", delay: 50 * time.Millisecond}, 8},
		"all staged before": {work, f.reg.Transport, 4},
	} {
		t.Run(name, func(t *testing.T) {
			if got := build(tc.work, tc.rt, tc.conc); !bytes.Equal(got, ref) {
				t.Fatal("the bundle differs from the first build of the same inputs")
			}
		})
	}
}

// waitForFile holds blob downloads until path exists, so a test can cancel while the bundle writer is
// already writing and the pull is still running.
type waitForFile struct {
	rt   http.RoundTripper
	path string
}

func (w *waitForFile) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/blobs/") {
		for {
			if _, err := os.Stat(w.path); err == nil {
				break
			}
			select {
			case <-time.After(5 * time.Millisecond):
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return w.rt.RoundTrip(r)
}

func TestBuildCancelledMidPipelineLeavesNoOutputAndResumes(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	big, err := f.reg.Push(context.Background(), testregistry.ImageSpec{Ref: "ferry-test/big:1", Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 4, LayerSize: 2 << 20, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	spec := func() *Spec {
		s := f.spec(t)
		s.Images = append(s.Images, big.Ref)
		return s
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "demo.ferry")
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var partialSeen atomic.Bool
	ca := &cancelAfter{rt: &waitForFile{rt: f.reg.Transport, path: out + ".partial"}, n: 3 << 20, cancel: func() {
		_, err := os.Stat(out + ".partial")
		if err == nil {
			partialSeen.Store(true)
		}
		cancel()
	}}
	_, err = Build(ctx, spec(), BuildOptions{Out: out, WorkDir: work, Transport: ca, Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build returned %v", err)
	}
	if !partialSeen.Load() {
		t.Fatal("the bundle writer had not started when the build was cancelled; the test proves nothing")
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Fatalf("a cancelled build left %v next to the output", entries)
	}
	// The staging holds only whole blobs and lists no image.
	images := filepath.Join(work, "apps", "demo", "images")
	entries, _ := os.ReadDir(filepath.Join(images, "blobs", "sha256"))
	for _, e := range entries {
		fh, _, err := v1.SHA256(mustOpen(t, filepath.Join(images, "blobs", "sha256", e.Name())))
		if err != nil || fh.Hex != e.Name() {
			t.Fatalf("staged blob %s holds content with digest %s", e.Name(), fh)
		}
	}
	if lp, err := layout.FromPath(images); err == nil {
		if ii, err := lp.ImageIndex(); err == nil {
			if im, _ := ii.IndexManifest(); len(im.Manifests) != 0 {
				t.Fatalf("a cancelled build listed images in the staging: %v", im.Manifests)
			}
		}
	}
	if left, _ := filepath.Glob(images + ".tmp*"); len(left) != 0 {
		t.Fatalf("download dirs left behind: %v", left)
	}
	// The re-run completes from what was staged.
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := Build(context.Background(), spec(), BuildOptions{Out: out, Key: key, WorkDir: work, Transport: f.reg.Transport}); err != nil {
		t.Fatal(err)
	}
	openVerified(t, out, pub)
}

// A registry failure mid-pipeline stops the writer and is reported as what it is.
func TestBuildPullFailureMidPipeline(t *testing.T) {
	f := newFixture(t, testregistry.Options{})
	out := filepath.Join(t.TempDir(), "demo.ferry")
	rt := &failBlob{rt: f.reg.Transport, digest: f.db.Blobs["linux/arm64"][len(f.db.Blobs["linux/arm64"])-1]}
	_, err := Build(context.Background(), f.spec(t), BuildOptions{Out: out, WorkDir: t.TempDir(), Transport: rt})
	if err == nil || !strings.Contains(err.Error(), "pulling images") || !strings.Contains(err.Error(), rt.digest.Hex) {
		t.Fatalf("build with a failing blob returned %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Fatalf("a failed build left %v next to the output", entries)
	}
}

type failBlob struct {
	rt     http.RoundTripper
	digest v1.Hash
}

func (f *failBlob) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/blobs/"+f.digest.String()) {
		return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Body: http.NoBody, Request: r, Header: http.Header{}}, nil
	}
	return f.rt.RoundTrip(r)
}
