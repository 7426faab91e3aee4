package payload

import (
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Every path inside a bundle is named here and nowhere else.
const (
	// MarkerPath is the first member of every bundle; its fixed content lets Open tell a truncated bundle
	// from a file that is not a bundle at all.
	MarkerPath = "ferry-bundle"
	// ManifestPath holds the manifest JSON; SignaturePath the signatures over its exact bytes. These two
	// are the only members the manifest does not list (it cannot hash itself).
	ManifestPath  = "ferry/manifest.json"
	SignaturePath = "ferry/manifest.sig"

	chartPath       = "app/chart.tgz"
	valuesPath      = "app/values.yaml"
	schemaPath      = "app/values.schema.json"
	imagesDir       = "images"
	ociLayoutPath   = imagesDir + "/oci-layout"
	imageIndexPath  = imagesDir + "/index.json"
	imageBlobPrefix = imagesDir + "/blobs/sha256/"
	k3sDir          = "k3s"
)

// markerContent is the exact content of MarkerPath.
const markerContent = "application/vnd.ferry.bundle.v1\n"

// FormatVersion is the bundle format this package writes and the only one it reads.
const FormatVersion = 1

// Limits enforced when reading, so a hostile or damaged bundle cannot exhaust memory.
const (
	MaxManifestSize  = 8 << 20  // manifest.json
	MaxSignatureSize = 64 << 10 // manifest.sig
	MaxMembers       = 200000   // members in one bundle
	MaxPathLen       = 512      // bytes in one member name
	maxSignatures    = 16
	maxImageManifest = 4 << 20 // one image manifest or index blob, read into memory
)

// Role says what a member is for.
type Role string

const (
	RoleMarker          Role = "marker"
	RoleK3sBinary       Role = "k3s-binary"
	RoleK3sChecksums    Role = "k3s-checksums"
	RoleK3sAirgapImages Role = "k3s-airgap-images"
	RoleChart           Role = "chart"
	RoleValues          Role = "values"
	RoleValuesSchema    Role = "values-schema"
	RoleOCILayout       Role = "oci-layout"
	RoleImageIndex      Role = "image-index"
	RoleImageBlob       Role = "image-blob"
)

var knownRoles = map[Role]bool{
	RoleMarker: true, RoleK3sBinary: true, RoleK3sChecksums: true, RoleK3sAirgapImages: true,
	RoleChart: true, RoleValues: true, RoleValuesSchema: true, RoleOCILayout: true, RoleImageIndex: true,
	RoleImageBlob: true,
}

// Platform is "os/arch" or "os/arch/variant", as in OCI image indexes: "linux/amd64", "linux/arm64".
type Platform string

// Parse splits the platform into its parts, rejecting anything but 2 or 3 non-empty lowercase parts.
func (p Platform) Parse() (os, arch, variant string, err error) {
	parts := strings.Split(string(p), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", "", fmt.Errorf("platform %q: want os/arch[/variant]", string(p))
	}
	for _, s := range parts {
		if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return "", "", "", fmt.Errorf("platform %q: want os/arch[/variant] in lowercase letters and digits", string(p))
		}
	}
	if len(parts) == 3 {
		variant = parts[2]
	}
	return parts[0], parts[1], variant, nil
}

// dirName is the platform as one path element ("linux-amd64").
func (p Platform) dirName() string { return strings.ReplaceAll(string(p), "/", "-") }

// matches reports whether an image platform satisfies p. A p without variant accepts any variant, so
// "linux/arm64" takes the usual "linux/arm64/v8" images.
func (p Platform) matches(ip *v1.Platform) bool {
	if ip == nil {
		return false
	}
	os, arch, variant, err := p.Parse()
	if err != nil {
		return false
	}
	return ip.OS == os && ip.Architecture == arch && (variant == "" || ip.Variant == variant)
}

func (p Platform) v1() *v1.Platform {
	os, arch, variant, _ := p.Parse()
	return &v1.Platform{OS: os, Architecture: arch, Variant: variant}
}

func k3sMemberPath(p Platform, base string) string { return k3sDir + "/" + p.dirName() + "/" + base }

func blobMemberPath(h v1.Hash) string { return imageBlobPrefix + h.Hex }

// checkPath enforces the member name rules: relative, clean, no "..", no backslashes, a small safe
// character set, bounded length. Names that pass can be joined under any directory without escaping it.
func checkPath(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrUnsafePath)
	case len(name) > MaxPathLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrUnsafePath, MaxPathLen)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("%w: absolute path", ErrUnsafePath)
	case strings.HasSuffix(name, "/"):
		return fmt.Errorf("%w: directory entry", ErrLink)
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return fmt.Errorf("%w: path traversal (\"..\")", ErrUnsafePath)
		}
		if elem == "." || elem == "" {
			return fmt.Errorf("%w: not a clean path", ErrUnsafePath)
		}
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-+/", c)
		if !ok {
			return fmt.Errorf("%w: character %q not allowed", ErrUnsafePath, c)
		}
	}
	if path.Clean(name) != name {
		return fmt.Errorf("%w: not a clean path", ErrUnsafePath)
	}
	return nil
}
