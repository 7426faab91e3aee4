package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations naming an image in an OCI layout index. Sources use the OCI one with a full reference;
// archives for containerd carry both, since containerd prefers its own.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerdRef = "io.containerd.image.name"
)

// imagePlan is what Write copies from a source OCI layout: the manifest's image entries, the bundle's
// images/index.json, and every blob once.
// CanonicalRef spells an image reference the way containerd's CRI (and so kubelet) names images:
// registry, repository and tag or digest all explicit, Docker Hub as "docker.io" with "library/" for
// official images, "latest" when no tag is given. An archive naming an image "nginx:1.25" would import
// fine but a pod asking for nginx:1.25 looks up docker.io/library/nginx:1.25 and, air-gapped, fails to pull.
func CanonicalRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	sep := ":"
	if _, ok := r.(name.Digest); ok {
		sep = "@"
	}
	return reg + "/" + r.Context().RepositoryStr() + sep + r.Identifier(), nil
}

type imagePlan struct {
	images []Image
	index  []byte
	blobs  []blobFile
}

type blobFile struct {
	digest v1.Hash
	size   int64
	path   string // in the source layout
}

// planImages plans the images of the layout at dir. index, when not nil, replaces dir/index.json and
// means blobs may still be arriving: a missing blob is then planned with its descriptor's size.
func planImages(dir string, platforms []Platform, index []byte) (*imagePlan, error) {
	if dir == "" {
		return emptyImagePlan()
	}
	raw := index
	if raw == nil {
		var err error
		if raw, err = os.ReadFile(filepath.Join(dir, "index.json")); err != nil {
			return nil, fmt.Errorf("%w: reading image layout: %w", ErrBadSource, err)
		}
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s/index.json: %w", ErrBadSource, dir, err)
	}
	pl := &planner{dir: dir, blobs: map[v1.Hash]blobFile{}, arriving: index != nil}
	type group struct {
		img     Image
		entries int
	}
	groups := map[string]*group{}
	var order []string
	var used []v1.Descriptor
	for _, desc := range idx.Manifests {
		ref := desc.Annotations[annotationRefName]
		if ref == "" {
			ref = desc.Annotations[annotationContainerdRef]
		}
		if ref == "" {
			return nil, fmt.Errorf("%w: image layout entry %s has no %s annotation naming its image", ErrBadSource, desc.Digest, annotationRefName)
		}
		ref, err = CanonicalRef(ref)
		if err != nil {
			return nil, fmt.Errorf("%w: image layout entry %s: %w", ErrBadSource, desc.Digest, err)
		}
		g := groups[ref]
		if g == nil {
			g = &group{img: Image{Ref: ref, Platforms: map[Platform]v1.Hash{}}}
			groups[ref] = g
			order = append(order, ref)
		}
		before := make(map[v1.Hash]bool, len(pl.blobs))
		for h := range pl.blobs {
			before[h] = true
		}
		matched, err := pl.entry(desc, platforms, g.img.Platforms)
		if err != nil {
			return nil, fmt.Errorf("%w: image %s: %w", ErrBadSource, ref, err)
		}
		if !matched { // an entry for a platform the bundle does not carry: leave its blobs out
			for h := range pl.blobs {
				if !before[h] {
					delete(pl.blobs, h)
				}
			}
		}
		if matched {
			g.entries++
			g.img.Digest, g.img.MediaType = desc.Digest.String(), string(desc.MediaType)
			used = append(used, desc)
		}
	}
	plan := &imagePlan{}
	for _, ref := range order {
		g := groups[ref]
		for _, p := range platforms {
			if _, ok := g.img.Platforms[p]; !ok {
				return nil, fmt.Errorf("%w: image %s has no %s variant in the layout; pull it for every bundle platform", ErrBadSource, ref, p)
			}
		}
		if g.entries > 1 { // assembled from several single-platform entries: no single upstream digest
			g.img.Digest, g.img.MediaType = "", ""
		}
		plan.images = append(plan.images, g.img)
	}
	out := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: used}
	if out.Manifests == nil {
		out.Manifests = []v1.Descriptor{}
	}
	if plan.index, err = json.MarshalIndent(out, "", "  "); err != nil {
		return nil, err
	}
	for _, b := range pl.blobs {
		plan.blobs = append(plan.blobs, b)
	}
	sort.Slice(plan.blobs, func(i, j int) bool { return plan.blobs[i].digest.Hex < plan.blobs[j].digest.Hex })
	return plan, nil
}

func emptyImagePlan() (*imagePlan, error) {
	idx, err := json.MarshalIndent(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}, "", "  ")
	return &imagePlan{images: []Image{}, index: idx}, err
}

type planner struct {
	dir   string
	blobs map[v1.Hash]blobFile
	// arriving: blobs may still be on their way (a pipelined build); a missing one is planned with its
	// descriptor's size and awaited before it is copied.
	arriving bool
}

// entry adds one top-level layout entry for the bundle's platforms, recording each matched platform's
// manifest in plats. It reports whether the entry served any bundle platform.
func (pl *planner) entry(desc v1.Descriptor, platforms []Platform, plats map[Platform]v1.Hash) (bool, error) {
	switch {
	case desc.MediaType.IsIndex():
		raw, err := pl.small(desc)
		if err != nil {
			return false, err
		}
		child, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return false, fmt.Errorf("parsing index %s: %w", desc.Digest, err)
		}
		matched := false
		for _, p := range platforms {
			if _, done := plats[p]; done {
				continue
			}
			for _, m := range child.Manifests {
				if m.MediaType.IsImage() && p.matches(m.Platform) {
					if err := pl.image(m); err != nil {
						return false, err
					}
					plats[p] = m.Digest
					matched = true
					break
				}
			}
		}
		return matched, nil
	case desc.MediaType.IsImage():
		plat := desc.Platform
		if plat == nil {
			var err error
			if plat, err = pl.configPlatform(desc); err != nil {
				return false, err
			}
		}
		matched := false
		for _, p := range platforms {
			if _, done := plats[p]; !done && p.matches(plat) {
				plats[p] = desc.Digest
				matched = true
			}
		}
		if matched {
			return true, pl.image(desc)
		}
		return false, nil
	default:
		return false, fmt.Errorf("unsupported media type %q (want an OCI/Docker image or index)", desc.MediaType)
	}
}

// image adds a single-platform manifest and everything it references.
func (pl *planner) image(desc v1.Descriptor) error {
	raw, err := pl.small(desc)
	if err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parsing manifest %s: %w", desc.Digest, err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := pl.add(d); err != nil {
			return err
		}
	}
	return nil
}

func (pl *planner) configPlatform(desc v1.Descriptor) (*v1.Platform, error) {
	raw, err := pl.small(desc)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", desc.Digest, err)
	}
	cfg, err := pl.small(m.Config)
	if err != nil {
		return nil, err
	}
	var c struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("parsing config %s: %w", m.Config.Digest, err)
	}
	return &v1.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}, nil
}

func (pl *planner) blobPath(h v1.Hash) string {
	return filepath.Join(pl.dir, "blobs", h.Algorithm, h.Hex)
}

// add records a blob after checking it exists with the size its descriptor claims.
func (pl *planner) add(d v1.Descriptor) error {
	if _, ok := pl.blobs[d.Digest]; ok {
		return nil
	}
	if d.Digest.Algorithm != "sha256" || !sha256Hex.MatchString(d.Digest.Hex) {
		return fmt.Errorf("blob %q: only sha256 digests are supported", d.Digest)
	}
	p := pl.blobPath(d.Digest)
	fi, err := os.Stat(p)
	if err != nil && pl.arriving && errors.Is(err, fs.ErrNotExist) && d.Size > 0 {
		pl.blobs[d.Digest] = blobFile{digest: d.Digest, size: d.Size, path: p}
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob %s missing from the image layout: %w", d.Digest, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("blob %s is not a regular file", d.Digest)
	}
	if d.Size != 0 && fi.Size() != d.Size {
		return fmt.Errorf("blob %s: %d bytes on disk, descriptor says %d", d.Digest, fi.Size(), d.Size)
	}
	pl.blobs[d.Digest] = blobFile{digest: d.Digest, size: fi.Size(), path: p}
	return nil
}

// small reads a manifest-sized blob, checking its digest, and records it for the bundle.
func (pl *planner) small(d v1.Descriptor) ([]byte, error) {
	if err := pl.add(d); err != nil {
		return nil, err
	}
	f, err := os.Open(pl.blobPath(d.Digest))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxImageManifest+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxImageManifest {
		return nil, fmt.Errorf("blob %s: larger than %d bytes for a manifest or config", d.Digest, maxImageManifest)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, fmt.Errorf("blob %s: %w: content hashes to sha256:%x", d.Digest, ErrChecksumMismatch, sum)
	}
	return b, nil
}
