package payload

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/zstd"
)

// untar extracts an archive produced by WriteImageArchive (plain tar) into dir.
func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		writeFile(t, filepath.Join(dir, h.Name), data)
	}
}

func TestImageArchiveIsAValidLayoutPerPlatform(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	for _, plat := range []Platform{amd64, arm64} {
		t.Run(string(plat), func(t *testing.T) {
			var buf bytes.Buffer
			if err := b.WriteImageArchive(context.Background(), &buf, plat, ArchiveOptions{}); err != nil {
				t.Fatal(err)
			}
			ac, err := ReadArchiveContents(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := b.ArchiveBlobs(plat)
			if diff := cmp.Diff(want, ac.Blobs); diff != "" {
				t.Errorf("blobs (-ArchiveBlobs +archive):\n%s", diff)
			}
			// Read it back with go-containerregistry's layout reader and validate every image fully
			// (manifest, config, each layer's digest and diffid).
			dir := t.TempDir()
			untar(t, bytes.NewReader(buf.Bytes()), dir)
			idx, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			refs := map[string]v1.Hash{}
			for _, d := range im.Manifests {
				if d.Annotations[annotationContainerdRef] == "" || !d.MediaType.IsImage() || !plat.matches(d.Platform) {
					t.Errorf("index entry %+v: want a single-platform %s manifest named by %s", d, plat, annotationContainerdRef)
				}
				refs[d.Annotations[annotationContainerdRef]] = d.Digest
				img, err := idx.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Image(img); err != nil {
					t.Errorf("image %s: %v", d.Annotations[annotationContainerdRef], err)
				}
				cf, _ := img.ConfigFile()
				if cf.Architecture != plat.v1().Architecture {
					t.Errorf("image %s for %s has architecture %s", d.Annotations[annotationContainerdRef], plat, cf.Architecture)
				}
			}
			if refs[f.appRef] != f.appDigests[plat] || len(refs) != 2 {
				t.Errorf("index refs %v; want %s -> %s and the tool image", refs, f.appRef, f.appDigests[plat])
			}
			// The shared layer is in the archive once.
			n := 0
			for _, h := range ac.Blobs {
				if h == f.shared {
					n++
				}
			}
			if n != 1 {
				t.Errorf("shared layer appears %d times", n)
			}
		})
	}
}

func TestImageArchiveExclude(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	all, err := b.ArchiveBlobs(amd64)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = b.WriteImageArchive(context.Background(), &buf, amd64, ArchiveOptions{Exclude: map[v1.Hash]bool{f.shared: true}})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := ReadArchiveContents(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var want []v1.Hash
	for _, h := range all {
		if h != f.shared {
			want = append(want, h)
		}
	}
	if diff := cmp.Diff(want, ac.Blobs); diff != "" || len(want) != len(all)-1 {
		t.Fatalf("excluding the shared layer (-want +got):\n%s", diff)
	}
	if len(ac.Index.Manifests) != 2 {
		t.Fatalf("the index still names every image: %d entries", len(ac.Index.Manifests))
	}
}

func TestImageArchiveZstdWindow(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	var plain, packed bytes.Buffer
	if err := b.WriteImageArchive(context.Background(), &plain, arm64, ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteImageArchive(context.Background(), &packed, arm64, ArchiveOptions{Compression: CompressionZstd}); err != nil {
		t.Fatal(err)
	}
	var hdr zstd.Header
	if err := hdr.Decode(packed.Bytes()); err != nil {
		t.Fatal(err)
	}
	window := hdr.WindowSize
	if hdr.SingleSegment { // the whole frame fits one window, declared by its content size
		window = hdr.FrameContentSize
	}
	if window == 0 || window > MaxZstdWindow {
		t.Fatalf("zstd frame window %d, must be 1..2^25", window)
	}
	// Decoded with k3s's limits, the content equals the plain archive.
	zr, err := zstd.NewReader(bytes.NewReader(packed.Bytes()), zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(32<<20))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, plain.Bytes()) {
		t.Fatalf("zstd archive decodes to other bytes (%v)", err)
	}
	ac, err := ReadArchiveContents(bytes.NewReader(packed.Bytes()))
	if err != nil || ac.Compression != CompressionZstd {
		t.Fatalf("ReadArchiveContents of zstd: %v %+v", err, ac)
	}
	if err := b.WriteImageArchive(context.Background(), io.Discard, arm64, ArchiveOptions{Compression: CompressionZstd, ZstdWindow: 1 << 26}); err == nil {
		t.Fatal("a window over 2^25 was accepted")
	}
}

func TestImageArchiveRefusesTamperedBlob(t *testing.T) {
	f := newFixture(t)
	path := writeBundle(t, f.src, nil)
	orig := openBundle(t, path)
	e := orig.entries[blobMemberPath(f.shared)]
	b := openBundle(t, flipAt(t, path, e.offset+10, func(b byte) byte { return ^b }))
	err := b.WriteImageArchive(context.Background(), io.Discard, amd64, ArchiveOptions{})
	wantMemberErr(t, err, ErrChecksumMismatch, blobMemberPath(f.shared))
	if err := b.WriteImageArchive(context.Background(), io.Discard, "linux/s390x", ArchiveOptions{}); !errors.Is(err, ErrPlatform) {
		t.Fatalf("unknown platform: %v", err)
	}
}

func TestImageArchiveCancel(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.WriteImageArchive(ctx, io.Discard, amd64, ArchiveOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled archive: %v", err)
	}
}

// TestZstdEncoderWindowOnLargeInput checks the window descriptor of a multi-block frame, which the small
// fixture archive does not produce.
func TestZstdEncoderWindowOnLargeInput(t *testing.T) {
	var out bytes.Buffer
	zw, err := newZstdWriter(&out, DefaultZstdWindow)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(randBytes(t, 12<<20))
	zw.Close()
	var hdr zstd.Header
	if err := hdr.Decode(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if hdr.SingleSegment || hdr.WindowSize == 0 || hdr.WindowSize > MaxZstdWindow {
		t.Fatalf("frame header %+v: want a declared window of at most 2^25", hdr)
	}
}

func TestCanonicalRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                                         "docker.io/library/nginx:latest",
		"nginx:1.25":                                    "docker.io/library/nginx:1.25",
		"docker.io/bitnami/redis:7":                     "docker.io/bitnami/redis:7",
		"index.docker.io/library/busybox:1":             "docker.io/library/busybox:1",
		"registry.example.com:5000/a/b:c":               "registry.example.com:5000/a/b:c",
		"ghcr.io/x/y@sha256:" + strings.Repeat("a", 64): "ghcr.io/x/y@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := CanonicalRef(in)
		if err != nil || got != want {
			t.Errorf("CanonicalRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CanonicalRef("UPPER/case"); err == nil {
		t.Error("an invalid reference was accepted")
	}
}

func TestReadArchiveContentsRefusesBadArchives(t *testing.T) {
	mk := func(entries ...tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			h := h
			body := []byte("{}")
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(body))
			}
			tw.WriteHeader(&h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(body)
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	index := tar.Header{Name: "index.json", Typeflag: tar.TypeReg, Mode: 0o644}
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"traversal":  {mk(index, tar.Header{Name: "../../etc/x", Typeflag: tar.TypeReg, Mode: 0o644}), ErrUnsafePath},
		"symlink":    {mk(index, tar.Header{Name: "blobs/sha256/x", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}), ErrLink},
		"bad digest": {mk(index, tar.Header{Name: "blobs/sha256/" + strings.Repeat("0", 64), Typeflag: tar.TypeReg, Mode: 0o644}), ErrChecksumMismatch},
	} {
		if _, err := ReadArchiveContents(bytes.NewReader(c.data)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := ReadArchiveContents(bytes.NewReader(mk(tar.Header{Name: "oci-layout", Typeflag: tar.TypeReg, Mode: 0o644}))); err == nil {
		t.Error("an archive without index.json was accepted")
	}
}

func TestImageArchiveSubset(t *testing.T) {
	f := newFixture(t)
	b := openBundle(t, writeBundle(t, f.src, nil))
	var buf bytes.Buffer
	if err := b.WriteImageArchive(context.Background(), &buf, arm64, ArchiveOptions{Images: []string{f.toolRef}}); err != nil {
		t.Fatal(err)
	}
	ac, err := ReadArchiveContents(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(ac.Index.Manifests) != 1 || ac.Index.Manifests[0].Annotations[annotationContainerdRef] != f.toolRef {
		t.Fatalf("subset archive index %+v", ac.Index.Manifests)
	}
	if err := b.WriteImageArchive(context.Background(), io.Discard, arm64, ArchiveOptions{Images: []string{"example.com/absent:1"}}); !errors.Is(err, ErrMissingMember) {
		t.Fatalf("unknown image: %v", err)
	}
}
