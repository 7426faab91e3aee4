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
	defer os.RemoveAll(tmp)

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

	// Fetch each distinct missing blob once, whichever images share it.
	type job struct {
		repo name.Repository
		desc v1.Descriptor
	}
	var jobs []job
	seen := map[v1.Hash]bool{}
	var total, present int64
	for _, p := range plans {
		for _, c := range p.children {
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
				jobs = append(jobs, job{p.ref.Context(), b})
			}
		}
	}
	// Largest first: the long transfers start early and the tail is short.
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].desc.Size > jobs[j].desc.Size })
	meter := &byteMeter{sink: opts.Progress, phase: "pulling images", total: total}
	msg := fmt.Sprintf("%d blobs to fetch", len(jobs))
	if present > 0 {
		msg += fmt.Sprintf(", %d bytes already staged", present)
	}
	meter.flush(msg)

	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for _, j := range jobs {
		g.Go(func() error {
			if err := fetchBlob(gctx, puller, lp, tmp, j.repo, j.desc, meter); err != nil {
				return fmt.Errorf("fetching %s@%s: %w", j.repo, j.desc.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	meter.flush("done")

	// Manifests last: a manifest in the layout means its blobs are there.
	var descs []v1.Descriptor
	var out []PulledImage
	for _, p := range plans {
		pi := PulledImage{Name: p.name, Digest: p.top.Digest.String(), Manifests: map[string]string{}}
		for _, c := range p.children {
			if len(c.raw) > 0 {
				if err := writeSmallBlob(lp, tmp, c.digest, c.raw); err != nil {
					return nil, fmt.Errorf("staging %s: %w", p.name, err)
				}
			}
			pi.Manifests[c.platform] = c.digest.String()
		}
		if err := writeSmallBlob(lp, tmp, p.top.Digest, p.topRaw); err != nil {
			return nil, fmt.Errorf("staging %s: %w", p.name, err)
		}
		d := v1.Descriptor{MediaType: p.top.MediaType, Size: p.top.Size, Digest: p.top.Digest,
			Annotations: map[string]string{RefNameAnnotation: p.name}}
		descs = append(descs, d)
		out = append(out, pi)
	}
	if err := writeIndexJSON(lp, descs); err != nil {
		return nil, fmt.Errorf("staging image index: %w", err)
	}
	return out, nil
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
	n, err := io.Copy(&meterWriter{ctx: ctx, w: f, m: meter, msg: repo.String()}, rc)
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

// writeIndexJSON replaces index.json with exactly descs (atomically, so a cancelled build leaves the
// previous index intact).
func writeIndexJSON(lp layout.Path, descs []v1.Descriptor) error {
	sort.SliceStable(descs, func(i, j int) bool {
		return descs[i].Annotations[RefNameAnnotation] < descs[j].Annotations[RefNameAnnotation]
	})
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs}
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(string(lp), "index.json")
	if err := os.WriteFile(p+".new", raw, 0o644); err != nil {
		return err
	}
	return os.Rename(p+".new", p)
}
