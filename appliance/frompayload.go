package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"

	"github.com/ferry-delivery/ferry/payload"
)

// maxChartSize bounds the chart read from a bundle into memory; a chart this big could not be deployed
// through helm-controller anyway.
const maxChartSize = 64 << 20

// FromPayload turns an opened bundle into what the verbs take: chart bytes, default values, version and
// upgrade floor, and per platform the images and every blob with its size (for the upgrade plan and the
// node landing). The caller verifies the bundle (payload's Verify) before trusting it; member reads here
// are still checked against the manifest's digests.
func FromPayload(b *payload.Bundle, targetNamespace string, overrides map[string]any) (Bundle, error) {
	m := b.Manifest()
	chart, err := readMember(b, m.Chart.Path, maxChartSize)
	if err != nil {
		return Bundle{}, fmt.Errorf("reading chart from bundle: %w", err)
	}
	var defaults map[string]any
	if m.Values != "" {
		raw, err := readMember(b, m.Values, 8<<20)
		if err != nil {
			return Bundle{}, fmt.Errorf("reading default values from bundle: %w", err)
		}
		if defaults, err = ParseValues(raw); err != nil {
			return Bundle{}, fmt.Errorf("reading default values from bundle: %w", err)
		}
	}
	sum := sha256.Sum256(b.RawManifest())
	out := Bundle{
		SpecInput: SpecInput{App: m.App.Name, Version: m.App.Version, Chart: chart, TargetNamespace: targetNamespace,
			Defaults: defaults, Overrides: overrides},
		BundleDigest: "sha256:" + hex.EncodeToString(sum[:]),
		UpgradeFrom:  m.App.UpgradeFrom,
		Images:       VersionImages{Images: map[string][]string{}, Blobs: map[string][]Blob{}},
	}
	// Blobs are content-addressed members: a member's sha256 is the blob's digest.
	blobSize := map[string]int64{}
	for _, mem := range m.Members {
		if mem.Role == payload.RoleImageBlob {
			blobSize[mem.SHA256] = mem.Size
		}
	}
	for _, p := range m.Platforms {
		plat := string(p)
		for _, img := range m.Images {
			if _, ok := img.Platforms[p]; ok {
				out.Images.Images[plat] = append(out.Images.Images[plat], img.Ref)
			}
		}
		sort.Strings(out.Images.Images[plat])
		hashes, err := b.ArchiveBlobs(p)
		if err != nil {
			return Bundle{}, fmt.Errorf("listing %s blobs of the bundle: %w", plat, err)
		}
		for _, h := range hashes {
			size, ok := blobSize[h.Hex]
			if !ok {
				return Bundle{}, fmt.Errorf("listing %s blobs of the bundle: blob %s has no member", plat, h)
			}
			out.Images.Blobs[plat] = append(out.Images.Blobs[plat], Blob{Digest: h.String(), Size: size})
		}
	}
	return out, nil
}

func readMember(b *payload.Bundle, path string, limit int64) ([]byte, error) {
	r, err := b.OpenMember(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
