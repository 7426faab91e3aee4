package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// ErrPlatformMissing is returned when an image has no variant for a platform the bundle ships.
var ErrPlatformMissing = errors.New("image lacks a platform")

// RefNameAnnotation names each image in the staged layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// DefaultConcurrency bounds parallel blob downloads (crane's default too).
const DefaultConcurrency = 4

// PulledImage describes one staged image.
type PulledImage struct {
	// Name is the canonical reference (docker.io/library/nginx:1.25).
	Name string
	// Digest is the top-level digest as the registry serves it (an index keeps its upstream digest).
	Digest string
	// Manifests maps each shipped platform to its image manifest digest.
	Manifests map[string]string
}

// PullOptions tune PullImages.
type PullOptions struct {
	Platforms []string
	// Concurrency bounds parallel blob downloads; DefaultConcurrency when zero.
	Concurrency int
	// Transport reaches the registries; http.DefaultTransport when nil.
	Transport http.RoundTripper
	Keychain  authn.Keychain // authn.DefaultKeychain (docker config) when nil
	Progress  progress.Sink
}

// imagePlan is what one reference resolves to before any layer moves.
type imagePlan struct {
	ref      name.Reference
	name     string
	top      v1.Descriptor
	topRaw   []byte
	children []childPlan // one per shipped platform
}

type childPlan struct {
	platform string
	digest   v1.Hash
	raw      []byte // empty when top is this image itself
	blobs    []v1.Descriptor
}

// PullImages copies every image for the given platforms into the OCI image layout at dir. A multi-arch
// index keeps its upstream digest but only the shipped platforms' manifests and blobs are copied. Blobs
// already in dir are not fetched again, so an interrupted build resumes. index.json is rewritten to list
// exactly refs, each annotated with its canonical name.
func PullImages(ctx context.Context, dir string, refs []name.Reference, opts PullOptions) ([]PulledImage, error) {
	p, err := startPull(ctx, dir, refs, opts, false)
	if err != nil {
		return nil, err
	}
	return p.wait()
}

// pull is a pull whose blob downloads run in the background. It is a payload.ImageStager, so the bundle
// writer can copy each blob as soon as it is staged instead of after the last one.
type pull struct {
	dir   string
	lp    layout.Path
	tmp   string
	plans []*imagePlan
	meter *byteMeter
	// early: manifests were staged before the downloads (the bundle writer plans from them) and index is
	// the index.json that wait writes last.
	early bool
	index []byte
	descs []v1.Descriptor

	staged map[v1.Hash]chan struct{} // closed once that blob is under its final name
	left   atomic.Int64              // downloads not yet staged
	// allStaged is closed when the last download is staged, before that blob's staged channel: a
	// writer that awaited every blob knows the pull is done (Build shows the write's progress from then).
	allStaged chan struct{}
	finished  chan struct{} // closed when every download ended; err is then set
	err       error
}

// startPull resolves every reference, then starts downloading the missing blobs in the background, in
// digest order (the order the bundle writer copies them, so it rarely waits for a blob another one's
// download is delaying). The caller must call wait, which also removes the download directory. With early,
// manifests are staged at once and the future index.json is available (IndexJSON) for a pipelined
// bundle write; index.json itself is still written last, so a cancelled build never lists an image whose
// blobs are missing.
func startPull(ctx context.Context, dir string, refs []name.Reference, opts PullOptions, early bool) (_ *pull, err error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(opts.Keychain),
		remote.WithJobs(opts.Concurrency),
		remote.WithUserAgent("ferry"),
	}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, fmt.Errorf("setting up registry access: %w", err)
	}

	lp, err := openLayout(dir)
	if err != nil {
		return nil, fmt.Errorf("opening staged image layout %s: %w", dir, err)
	}
	// Downloads land beside the layout (same file system, so the final rename is atomic) and never inside
	// it, so the layout only ever holds whole blobs.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating download directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()

	// Resolve every reference first, so a missing image or platform fails before gigabytes move.
	opts.Progress.Emit(progress.Event{Phase: "resolving images", Msg: fmt.Sprintf("%d images for %s", len(refs), strings.Join(opts.Platforms, ", "))})
	plans := make([]*imagePlan, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, ref := range refs {
		g.Go(func() error {
			p, err := resolve(gctx, puller, ref, opts.Platforms)
			if err != nil {
				return fmt.Errorf("resolving %s: %w", ref, err)
			}
			plans[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	p := &pull{dir: dir, lp: lp, tmp: tmp, plans: plans, early: early, staged: map[v1.Hash]chan struct{}{},
		allStaged: make(chan struct{}), finished: make(chan struct{})}
	for _, pl := range plans {
		p.descs = append(p.descs, pl.indexDescriptor())
	}
	if p.index, err = indexJSON(p.descs); err != nil {
		return nil, fmt.Errorf("staging image index: %w", err)
	}
	if early {
		if err := p.stageManifests(); err != nil {
			return nil, err
		}
	}

	// Fetch each distinct missing blob once, whichever images share it.
	type job struct {
		repo name.Repository
		desc v1.Descriptor
	}
	var jobs []job
	seen := map[v1.Hash]bool{}
	var total, present int64
	for _, pl := range plans {
		for _, c := range pl.children {
			for _, b := range c.blobs {
				if seen[b.Digest] {
					continue
				}
				seen[b.Digest] = true
				if blobPresent(lp, b) {
					present += b.Size
					continue
				}
				total += b.Size
				jobs = append(jobs, job{pl.ref.Context(), b})
				p.staged[b.Digest] = make(chan struct{})
			}
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].desc.Digest.Hex < jobs[j].desc.Digest.Hex })
	p.meter = &byteMeter{sink: opts.Progress, phase: "pulling images", total: total}
	msg := fmt.Sprintf("%d blobs to fetch", len(jobs))
	if present > 0 {
		msg += fmt.Sprintf(", %d bytes already staged", present)
	}
	p.meter.flush(msg)
	p.left.Store(int64(len(jobs)))
	if len(jobs) == 0 {
		p.meter.flush("done")
		close(p.allStaged)
	}

	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	go func() {
		for _, j := range jobs {
			if gctx.Err() != nil {
				break // a download failed or the build was cancelled: start no more
			}
			g.Go(func() error {
				if err := fetchBlob(gctx, puller, lp, tmp, j.repo, j.desc, p.meter); err != nil {
					return fmt.Errorf("fetching %s@%s: %w", j.repo, j.desc.Digest, err)
				}
				if p.left.Add(-1) == 0 {
					p.meter.flush("done")
					close(p.allStaged)
				}
				close(p.staged[j.desc.Digest])
				return nil
			})
		}
		p.err = g.Wait()
		if p.err == nil {
			p.err = ctx.Err()
		}
		close(p.finished)
	}()
	return p, nil
}

// IndexJSON is the index.json the staged layout will hold once the pull completed.
func (p *pull) IndexJSON() []byte { return p.index }

// Await blocks until blob h is staged, or returns the error that ended the pull first, or ctx's.
func (p *pull) Await(ctx context.Context, h v1.Hash) error {
	ch, ok := p.staged[h]
	if !ok {
		// Staged before the pull started (an earlier run, or a manifest).
		if _, err := os.Stat(blobPath(p.lp, h)); err != nil {
			return fmt.Errorf("blob %s is neither staged nor being pulled: %w", h, err)
		}
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-p.finished:
		select {
		case <-ch:
			return nil
		default:
		}
		if p.err != nil {
			return p.err
		}
		return fmt.Errorf("blob %s was not staged", h)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for the downloads, then stages the manifests (unless done early) and index.json last: a
// manifest in the layout means its blobs are there, and index.json lists only complete images.
func (p *pull) wait() ([]PulledImage, error) {
	<-p.finished
	defer os.RemoveAll(p.tmp)
	if p.err != nil {
		return nil, p.err
	}
	if !p.early {
		if err := p.stageManifests(); err != nil {
			return nil, err
		}
	}
	var out []PulledImage
	for _, pl := range p.plans {
		pi := PulledImage{Name: pl.name, Digest: pl.top.Digest.String(), Manifests: map[string]string{}}
		for _, c := range pl.children {
			pi.Manifests[c.platform] = c.digest.String()
		}
		out = append(out, pi)
	}
	if err := writeIndexJSON(p.lp, p.index); err != nil {
		return nil, fmt.Errorf("staging image index: %w", err)
	}
	return out, nil
}

func (p *pull) stageManifests() error {
	for _, pl := range p.plans {
		for _, c := range pl.children {
			if len(c.raw) > 0 {
				if err := writeSmallBlob(p.lp, p.tmp, c.digest, c.raw); err != nil {
					return fmt.Errorf("staging %s: %w", pl.name, err)
				}
			}
		}
		if err := writeSmallBlob(p.lp, p.tmp, pl.top.Digest, pl.topRaw); err != nil {
			return fmt.Errorf("staging %s: %w", pl.name, err)
		}
	}
	return nil
}

// indexDescriptor is the image's index.json entry. A single-platform image names its platform, so the
// bundle writer need not read the config (which may still be downloading) to learn it.
func (pl *imagePlan) indexDescriptor() v1.Descriptor {
	d := v1.Descriptor{MediaType: pl.top.MediaType, Size: pl.top.Size, Digest: pl.top.Digest,
		Annotations: map[string]string{RefNameAnnotation: pl.name}}
	if pl.top.MediaType.IsImage() && len(pl.children) == 1 {
		if plat, err := v1.ParsePlatform(pl.children[0].platform); err == nil {
			d.Platform = plat
		}
	}
	return d
}

// openLayout opens dir as an OCI layout, creating it if needed; existing blobs are kept.
func openLayout(dir string) (layout.Path, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		if lp, err = layout.Write(dir, empty.Index); err != nil {
			return "", err
		}
	}
	return lp, os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
}

func blobPresent(lp layout.Path, d v1.Descriptor) bool {
	fi, err := os.Stat(filepath.Join(string(lp), "blobs", d.Digest.Algorithm, d.Digest.Hex))
	// Blobs only ever reach their final name after their digest was verified, so the size is enough.
	return err == nil && fi.Mode().IsRegular() && fi.Size() == d.Size
}

// resolve fetches the manifests of ref and picks the shipped platforms' images.
func resolve(ctx context.Context, puller *remote.Puller, ref name.Reference, platforms []string) (*imagePlan, error) {
	desc, err := puller.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	p := &imagePlan{ref: ref, name: canonicalName(ref), top: desc.Descriptor, topRaw: desc.Manifest}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parsing index: %w", err)
		}
		for _, plat := range platforms {
			child, ok := pickPlatform(idx.Manifests, plat)
			if !ok {
				return nil, fmt.Errorf("%w: no %s image in its index (it has %s)", ErrPlatformMissing, plat, listPlatforms(idx.Manifests))
			}
			if !child.MediaType.IsImage() {
				return nil, fmt.Errorf("the %s entry is a %s, not an image manifest", plat, child.MediaType)
			}
			cd, err := puller.Get(ctx, ref.Context().Digest(child.Digest.String()))
			if err != nil {
				return nil, fmt.Errorf("fetching the %s manifest: %w", plat, err)
			}
			blobs, err := imageBlobs(cd.Manifest)
			if err != nil {
				return nil, fmt.Errorf("the %s manifest: %w", plat, err)
			}
			p.children = append(p.children, childPlan{platform: plat, digest: child.Digest, raw: cd.Manifest, blobs: blobs})
		}
	case desc.MediaType.IsImage():
		blobs, err := imageBlobs(desc.Manifest)
		if err != nil {
			return nil, err
		}
		plat, err := imagePlatform(ctx, puller, ref, desc.Manifest)
		if err != nil {
			return nil, err
		}
		if len(platforms) != 1 || platforms[0] != plat {
			return nil, fmt.Errorf("%w: it is a single-platform %s image but the bundle ships %s: use a multi-arch image",
				ErrPlatformMissing, plat, strings.Join(platforms, " and "))
		}
		p.children = []childPlan{{platform: plat, digest: desc.Digest, blobs: blobs}}
	default:
		return nil, fmt.Errorf("unsupported manifest type %s", desc.MediaType)
	}
	return p, nil
}

func pickPlatform(ms []v1.Descriptor, plat string) (v1.Descriptor, bool) {
	goos, arch, _ := strings.Cut(plat, "/")
	for _, m := range ms {
		if m.Platform == nil || m.Platform.OS != goos || m.Platform.Architecture != arch {
			continue
		}
		// arm64 images are v8 whether or not the variant is written.
		if m.Platform.Variant != "" && !(arch == "arm64" && m.Platform.Variant == "v8") {
			continue
		}
		return m, true
	}
	return v1.Descriptor{}, false
}

func listPlatforms(ms []v1.Descriptor) string {
	var ps []string
	for _, m := range ms {
		if m.Platform != nil && m.Platform.OS != "unknown" {
			ps = append(ps, m.Platform.String())
		}
	}
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

// imageBlobs lists the config and layers of an image manifest. Foreign (non-distributable) layers are
// refused: an air-gapped site could never fetch them.
func imageBlobs(raw []byte) ([]v1.Descriptor, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	blobs := []v1.Descriptor{m.Config}
	for _, l := range m.Layers {
		if !l.MediaType.IsDistributable() {
			return nil, fmt.Errorf("layer %s is non-distributable (%s): it cannot ship offline", l.Digest, l.MediaType)
		}
		blobs = append(blobs, l)
	}
	return blobs, nil
}

// imagePlatform reads a single image's platform from its config.
func imagePlatform(ctx context.Context, puller *remote.Puller, ref name.Reference, raw []byte) (string, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("parsing manifest: %w", err)
	}
	if m.Config.Platform != nil && m.Config.Platform.OS != "" {
		return m.Config.Platform.OS + "/" + m.Config.Platform.Architecture, nil
	}
	l, err := puller.Layer(ctx, ref.Context().Digest(m.Config.Digest.String()))
	if err != nil {
		return "", fmt.Errorf("fetching config: %w", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", fmt.Errorf("fetching config: %w", err)
	}
	defer rc.Close()
	cfg, err := v1.ParseConfigFile(io.LimitReader(rc, 4<<20))
	if err != nil {
		return "", fmt.Errorf("parsing config: %w", err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return "", errors.New("its config names no platform")
	}
	return cfg.OS + "/" + cfg.Architecture, nil
}

// fetchBlob downloads one blob into tmp and renames it into the layout once the registry stream ended
// with the right digest (go-containerregistry verifies it at EOF), so the layout only ever holds whole,
// verified blobs.
func fetchBlob(ctx context.Context, puller *remote.Puller, lp layout.Path, tmp string, repo name.Repository, d v1.Descriptor, meter *byteMeter) error {
	l, err := puller.Layer(ctx, repo.Digest(d.Digest.String()))
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(tmp, d.Digest.Hex+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	n, err := io.CopyBuffer(&meterWriter{ctx: ctx, w: f, m: meter, msg: repo.String()}, rc, *buf)
	if err != nil {
		return err
	}
	if err := rc.Close(); err != nil {
		return err
	}
	if n != d.Size {
		return fmt.Errorf("got %d bytes, the manifest says %d", n, d.Size)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), blobPath(lp, d.Digest))
}

// copyBufs hold the download buffers: 512 KiB instead of io.Copy's 32 KiB cuts the read and write
// system calls per GiB sixteenfold, for 2 MiB at the default concurrency.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 512<<10); return &b }}

func blobPath(lp layout.Path, h v1.Hash) string {
	return filepath.Join(string(lp), "blobs", h.Algorithm, h.Hex)
}

// writeSmallBlob stores manifest bytes under their digest, checking the bytes match it.
func writeSmallBlob(lp layout.Path, tmp string, h v1.Hash, raw []byte) error {
	got, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if got != h {
		return fmt.Errorf("manifest digest %s does not match %s", got, h)
	}
	f, err := os.CreateTemp(tmp, h.Hex+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), blobPath(lp, h))
}

// indexJSON encodes the staged layout's index: exactly descs, sorted by name.
func indexJSON(descs []v1.Descriptor) ([]byte, error) {
	descs = append([]v1.Descriptor(nil), descs...)
	sort.SliceStable(descs, func(i, j int) bool {
		return descs[i].Annotations[RefNameAnnotation] < descs[j].Annotations[RefNameAnnotation]
	})
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs}
	return json.MarshalIndent(idx, "", "  ")
}

// writeIndexJSON replaces index.json with raw (atomically, so a cancelled build leaves the previous index
// intact).
func writeIndexJSON(lp layout.Path, raw []byte) error {
	p := filepath.Join(string(lp), "index.json")
	if err := os.WriteFile(p+".new", raw, 0o644); err != nil {
		return err
	}
	return os.Rename(p+".new", p)
}
