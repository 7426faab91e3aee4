package payload

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Compression of an image archive.
type Compression string

const (
	CompressionNone Compression = ""
	CompressionZstd Compression = "zstd"
)

// MaxZstdWindow is the largest zstd window k3s decodes (it caps its decoder's memory at 32 MiB).
const MaxZstdWindow = 1 << 25

// DefaultZstdWindow is used when ArchiveOptions.ZstdWindow is zero.
const DefaultZstdWindow = 1 << 23

// ArchiveOptions tune WriteImageArchive.
type ArchiveOptions struct {
	Compression Compression
	// ZstdWindow is the zstd window in bytes: a power of two, at most MaxZstdWindow.
	ZstdWindow int
	// Exclude lists blobs to leave out, typically those a node's content store already has. containerd
	// then imports the archive only while it still holds those blobs (see docs/bundle-format.md).
	Exclude map[v1.Hash]bool
	// Images restricts the archive to these references (any spelling CanonicalRef accepts); nil means
	// every image.
	Images []string
	// Progress receives PhaseArchive events in bytes, synchronously: wrap a slow listener with
	// progress.NonBlocking.
	Progress progress.Sink
}

// ArchiveBlobs lists, in archive order, the blobs a full archive for platform holds: for each image its
// manifest, config and layers, each blob once. The appliance compares this with a node's content store to
// decide what to Exclude.
func (b *Bundle) ArchiveBlobs(platform Platform) ([]v1.Hash, error) {
	_, blobs, err := b.archivePlan(platform, nil)
	return blobs, err
}

func (b *Bundle) archivePlan(platform Platform, only []string) ([]*platformImage, []v1.Hash, error) {
	if !b.manifest.HasPlatform(platform) {
		return nil, nil, fmt.Errorf("%w: %s (bundle has %v)", ErrPlatform, platform, b.manifest.Platforms)
	}
	want := map[string]bool{}
	for _, r := range only {
		c, err := CanonicalRef(r)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", r, err)
		}
		want[c] = true
	}
	var imgs []*platformImage
	var blobs []v1.Hash
	seen := map[v1.Hash]bool{}
	for _, img := range b.manifest.Images {
		if only != nil && !want[img.Ref] {
			continue
		}
		delete(want, img.Ref)
		pi, err := b.imageBlobs(img, platform)
		if err != nil {
			return nil, nil, err
		}
		imgs = append(imgs, pi)
		for _, h := range pi.blobs {
			if !seen[h] {
				seen[h] = true
				blobs = append(blobs, h)
			}
		}
	}
	for r := range want {
		return nil, nil, fmt.Errorf("%w: image %s is not in the bundle", ErrMissingMember, r)
	}
	return imgs, blobs, nil
}

// WriteImageArchive streams to w an OCI-layout tar holding every image of the bundle for one platform, as
// single-platform manifests named by the io.containerd.image.name annotation: the form containerd's
// `ctr images import` and k3s's agent/images directory accept. Blobs are copied straight from the bundle,
// checked against their digests on the way; nothing is staged on disk. A failed or cancelled write
// returns an error and the partial output must be discarded.
func (b *Bundle) WriteImageArchive(ctx context.Context, w io.Writer, platform Platform, opts ArchiveOptions) (err error) {
	imgs, blobs, err := b.archivePlan(platform, opts.Images)
	if err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	out := w
	var zw *zstd.Encoder
	switch opts.Compression {
	case CompressionNone:
	case CompressionZstd:
		win := opts.ZstdWindow
		if win == 0 {
			win = DefaultZstdWindow
		}
		if win > MaxZstdWindow || win&(win-1) != 0 {
			return fmt.Errorf("writing image archive: zstd window %d must be a power of two <= %d (k3s decodes at most that)", win, MaxZstdWindow)
		}
		if zw, err = newZstdWriter(w, win); err != nil {
			return fmt.Errorf("writing image archive: %w", err)
		}
		out = zw
	default:
		return fmt.Errorf("writing image archive: unknown compression %q", opts.Compression)
	}
	tw := tar.NewWriter(out)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	for _, pi := range imgs {
		ref, err := CanonicalRef(pi.ref)
		if err != nil {
			return fmt.Errorf("writing image archive: image %s: %w", pi.ref, err)
		}
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType: types.MediaType(pi.mediaType), Digest: pi.digest, Size: pi.size, Platform: platform.v1(),
			Annotations: map[string]string{annotationContainerdRef: ref, annotationRefName: ref},
		})
	}
	idxBytes, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	var total, done int64
	for _, h := range blobs {
		if !opts.Exclude[h] {
			m, _ := b.manifest.Member(blobMemberPath(h))
			total += m.Size
		}
	}
	buf := make([]byte, 1<<20)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: fixedTime, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := copyCtx(ctx, tw, r, buf, func(n int64) {
			done += n
			opts.Progress.Emit(progress.Event{Phase: PhaseArchive, Msg: name, Done: done, Total: total})
		})
		return err
	}
	layoutFile := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := put("oci-layout", int64(len(layoutFile)), bytes.NewReader(layoutFile)); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	if err := put("index.json", int64(len(idxBytes)), bytes.NewReader(idxBytes)); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	for _, h := range blobs {
		if opts.Exclude[h] {
			continue
		}
		path := blobMemberPath(h)
		m, _ := b.manifest.Member(path)
		rc, err := b.OpenMember(path)
		if err != nil {
			return fmt.Errorf("writing image archive: %w", err)
		}
		err = put("blobs/sha256/"+h.Hex, m.Size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("writing image archive for %s: %w", platform, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("writing image archive: %w", err)
		}
	}
	return nil
}

// newZstdWriter makes the archive encoder. Layers are already compressed: the fastest level costs little
// and gains about as much as slower ones.
func newZstdWriter(w io.Writer, window int) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithWindowSize(window), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
}

// copyCtx copies in buf-sized steps, checking ctx between them and reporting each step to tick.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader, buf []byte, tick func(int64)) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			tick(int64(k))
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// ArchiveContents is what an image archive holds, as read back by ReadArchiveContents.
type ArchiveContents struct {
	Compression Compression
	Index       v1.IndexManifest
	// Blobs in archive order; each was hashed and matches its name.
	Blobs []v1.Hash
	Size  map[v1.Hash]int64
}

// ReadArchiveContents reads an image archive (plain, zstd or gzip tar of an OCI layout) and lists its
// index and blobs, hashing each blob against its name. zstd is decoded with k3s's window limit, so an
// archive k3s would refuse is refused here too.
func ReadArchiveContents(r io.Reader) (*ArchiveContents, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	ac := &ArchiveContents{Size: map[v1.Hash]int64{}}
	var in io.Reader = br
	switch {
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("reading image archive: %w", err)
		}
		defer zr.Close()
		in, ac.Compression = zr, CompressionZstd
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return nil, fmt.Errorf("reading image archive: gzip archives are not produced by Ferry; decompress first")
	}
	tr := tar.NewReader(in)
	sawIndex := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading image archive: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("reading image archive: %w", memberErrf(name, ErrLink, "tar entry type %q", h.Typeflag))
		}
		if err := checkPath(name); err != nil {
			return nil, fmt.Errorf("reading image archive: %w", memberErr(name, err))
		}
		switch {
		case name == "index.json":
			raw, err := io.ReadAll(io.LimitReader(tr, MaxManifestSize+1))
			if err != nil {
				return nil, fmt.Errorf("reading image archive: %w", err)
			}
			if len(raw) > MaxManifestSize {
				return nil, fmt.Errorf("reading image archive: %w", memberErr(name, ErrManifestTooLarge))
			}
			if err := json.Unmarshal(raw, &ac.Index); err != nil {
				return nil, fmt.Errorf("reading image archive: %w", memberErrf(name, ErrBadManifest, "%v", err))
			}
			sawIndex = true
		case strings.HasPrefix(name, "blobs/sha256/"):
			hx := strings.TrimPrefix(name, "blobs/sha256/")
			if !sha256Hex.MatchString(hx) {
				return nil, fmt.Errorf("reading image archive: %w", memberErrf(name, ErrUnsafePath, "not a sha256 blob name"))
			}
			hs := sha256.New()
			n, err := io.Copy(hs, tr)
			if err != nil {
				return nil, fmt.Errorf("reading image archive: %w", err)
			}
			if got := hexSum(hs); got != hx {
				return nil, fmt.Errorf("reading image archive: %w", memberErrf(name, ErrChecksumMismatch, "content hashes to %s", got))
			}
			d := v1.Hash{Algorithm: "sha256", Hex: hx}
			ac.Blobs = append(ac.Blobs, d)
			ac.Size[d] = n
		}
	}
	if !sawIndex {
		return nil, fmt.Errorf("reading image archive: no index.json: not an OCI layout tar")
	}
	return ac, nil
}
