package installer

import (
	"slices"

	"github.com/ferry-delivery/ferry/payload"
)

// Requirements is what a bundle asks of every host.
type Requirements struct {
	// Platforms are the architectures the bundle carries (amd64, arm64, arm).
	Platforms []string
	// NeedData is the free space the k3s data dir needs: each image archive is kept on disk and also
	// unpacked into containerd's store, so twice the largest platform's images, plus 1 GiB for k3s's own
	// state and logs. An estimate: compressed layers grow when unpacked.
	NeedData int64
	// NeedBin is the largest k3s binary, for /usr/local/bin.
	NeedBin int64
}

// BundleRequirements derives preflight's requirements from a bundle manifest.
func BundleRequirements(m *payload.Manifest) Requirements {
	var r Requirements
	perPlatform := map[payload.Platform]int64{}
	var shared int64
	for _, mem := range m.Members {
		switch mem.Role {
		case payload.RoleK3sBinary:
			r.NeedBin = max(r.NeedBin, mem.Size)
		case payload.RoleK3sAirgapImages:
			perPlatform[mem.Platform] += mem.Size
		case payload.RoleImageBlob, payload.RoleImageIndex, payload.RoleOCILayout:
			// Blobs are stored once for all platforms; counting them all over-estimates a little, never under.
			if mem.Platform != "" {
				perPlatform[mem.Platform] += mem.Size
			} else {
				shared += mem.Size
			}
		}
	}
	var most int64
	for _, p := range m.Platforms {
		if _, arch, _, err := p.Parse(); err == nil && !slices.Contains(r.Platforms, arch) {
			r.Platforms = append(r.Platforms, arch)
		}
		most = max(most, perPlatform[p])
	}
	r.NeedData = 2*(most+shared) + 1<<30
	return r
}
