package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Manifest describes a whole bundle. Its exact bytes (ferry/manifest.json) are what the vendor signs, and
// every other member is bound to it by size and sha256, so trusting the signature means trusting every
// byte of the bundle.
type Manifest struct {
	FormatVersion int        `json:"formatVersion"`
	App           App        `json:"app"`
	K3s           K3sInfo    `json:"k3s"`
	Platforms     []Platform `json:"platforms"`
	Chart         ChartInfo  `json:"chart"`
	// Values and Schema are member paths of the chart's default values and optional JSON schema.
	Values  string   `json:"values"`
	Schema  string   `json:"schema,omitempty"`
	Images  []Image  `json:"images"`
	Members []Member `json:"members"`

	byPath map[string]int
}

// K3sInfo names the k3s release and, per platform, the members holding its assets.
type K3sInfo struct {
	Version string                `json:"version"`
	Assets  map[Platform]K3sFiles `json:"assets"`
	// Disable names k3s components the vendor switched off for this app (k3s's --disable), e.g. traefik
	// when the chart brings its own ingress. The installer adds them to the site's own disable list.
	// Omitted when empty, so bundles without it keep their exact bytes.
	Disable []string `json:"disable,omitempty"`
}

// K3sFiles are member paths. The file names are those of the k3s release (k3s, k3s-arm64,
// sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst...), so the sha256sum file still checks them once
// they are copied to a node.
type K3sFiles struct {
	Binary       string `json:"binary"`
	Checksums    string `json:"checksums"`
	AirgapImages string `json:"airgapImages"`
}

// ChartInfo is the chart's member path and its identity from Chart.yaml.
type ChartInfo struct {
	Path       string `json:"path"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
}

// Image is one application image. Digest and MediaType describe what the reference named upstream (a
// multi-arch index keeps its upstream digest); Platforms gives the single-platform manifest each node
// architecture imports.
type Image struct {
	Ref       string               `json:"ref"`
	Digest    string               `json:"digest,omitempty"`
	MediaType string               `json:"mediaType,omitempty"`
	Platforms map[Platform]v1.Hash `json:"platforms"`
}

// Member is one file of the bundle.
type Member struct {
	Path     string   `json:"path"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	Role     Role     `json:"role"`
	Platform Platform `json:"platform,omitempty"`
}

// App identifies the application release a bundle carries. UpgradeFrom is the oldest installed app version
// this bundle may upgrade ("" = any).
type App struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	UpgradeFrom string `json:"upgradeFrom,omitempty"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseManifest decodes and validates manifest bytes. It is strict: unknown fields, trailing data, a
// different format version, unsafe or duplicate paths and dangling references are all refused, because
// these bytes are what a signature vouches for and nothing in them may be ambiguous.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrBadManifest, ErrManifestTooLarge, len(data), MaxManifestSize)
	}
	// Peek at the version first so a newer bundle gets "upgrade Ferry" rather than "unknown field".
	var head struct {
		FormatVersion int `json:"formatVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if head.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this Ferry reads version %d (use a Ferry release that matches the bundle)",
			ErrUnsupportedFormat, head.FormatVersion, FormatVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the manifest object", ErrBadManifest)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Member returns the member with that path.
func (m *Manifest) Member(path string) (Member, bool) {
	i, ok := m.byPath[path]
	if !ok {
		return Member{}, false
	}
	return m.Members[i], true
}

// HasPlatform reports whether the bundle carries p.
func (m *Manifest) HasPlatform(p Platform) bool {
	for _, q := range m.Platforms {
		if q == p {
			return true
		}
	}
	return false
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadManifest}, args...)...)
}

func (m *Manifest) validate() error {
	if strings.TrimSpace(m.App.Name) == "" || strings.TrimSpace(m.App.Version) == "" {
		return badf("app name and version are required")
	}
	if m.K3s.Version == "" {
		return badf("k3s version is required")
	}
	if err := checkK3sDisable(m.K3s.Disable); err != nil {
		return badf("%v", err)
	}
	if len(m.Platforms) == 0 {
		return badf("no platforms")
	}
	seenPlat := map[Platform]bool{}
	for _, p := range m.Platforms {
		if _, _, _, err := p.Parse(); err != nil {
			return badf("%v", err)
		}
		if seenPlat[p] {
			return badf("platform %s listed twice", p)
		}
		seenPlat[p] = true
	}
	if len(m.Members) > MaxMembers {
		return badf("%d members, limit %d", len(m.Members), MaxMembers)
	}
	m.byPath = make(map[string]int, len(m.Members))
	for i, mem := range m.Members {
		if err := checkPath(mem.Path); err != nil {
			return memberErr(mem.Path, fmt.Errorf("%w: %w", ErrBadManifest, err))
		}
		if mem.Path == ManifestPath || mem.Path == SignaturePath {
			return memberErrf(mem.Path, ErrBadManifest, "the manifest cannot list itself or its signature")
		}
		if _, dup := m.byPath[mem.Path]; dup {
			return memberErr(mem.Path, fmt.Errorf("%w: %w: listed twice in the manifest", ErrBadManifest, ErrDuplicateMember))
		}
		m.byPath[mem.Path] = i
		if mem.Size < 0 {
			return memberErrf(mem.Path, ErrBadManifest, "negative size")
		}
		if !sha256Hex.MatchString(mem.SHA256) {
			return memberErrf(mem.Path, ErrBadManifest, "sha256 must be 64 lowercase hex digits")
		}
		if !knownRoles[mem.Role] {
			return memberErrf(mem.Path, ErrBadManifest, "unknown role %q", mem.Role)
		}
		if mem.Platform != "" && !seenPlat[mem.Platform] {
			return memberErrf(mem.Path, ErrBadManifest, "platform %s is not one of the bundle's platforms", mem.Platform)
		}
		if mem.Role == RoleImageBlob && mem.Path != imageBlobPrefix+mem.SHA256 {
			return memberErrf(mem.Path, ErrBadManifest, "image blob path must be %s<its sha256>", imageBlobPrefix)
		}
	}
	ref := func(what, path string, role Role, plat Platform) error {
		i, ok := m.byPath[path]
		if !ok {
			return badf("%s %q is not a listed member", what, path)
		}
		if m.Members[i].Role != role || m.Members[i].Platform != plat {
			return badf("%s %q must have role %s and platform %q", what, path, role, plat)
		}
		return nil
	}
	if err := ref("marker", MarkerPath, RoleMarker, ""); err != nil {
		return err
	}
	for p := range m.K3s.Assets {
		if !seenPlat[p] {
			return badf("k3s assets for %s, which is not one of the bundle's platforms", p)
		}
	}
	for _, p := range m.Platforms {
		a, ok := m.K3s.Assets[p]
		if !ok {
			return badf("no k3s assets for %s", p)
		}
		for _, c := range []struct {
			what, path string
			role       Role
		}{{"k3s binary", a.Binary, RoleK3sBinary}, {"k3s checksums", a.Checksums, RoleK3sChecksums}, {"k3s air-gap images", a.AirgapImages, RoleK3sAirgapImages}} {
			if err := ref(c.what, c.path, c.role, p); err != nil {
				return err
			}
		}
	}
	if m.Chart.Name == "" || m.Chart.Version == "" {
		return badf("chart name and version are required")
	}
	if err := ref("chart", m.Chart.Path, RoleChart, ""); err != nil {
		return err
	}
	if err := ref("values", m.Values, RoleValues, ""); err != nil {
		return err
	}
	if m.Schema != "" {
		if err := ref("values schema", m.Schema, RoleValuesSchema, ""); err != nil {
			return err
		}
	}
	if err := ref("oci-layout", ociLayoutPath, RoleOCILayout, ""); err != nil {
		return err
	}
	if err := ref("image index", imageIndexPath, RoleImageIndex, ""); err != nil {
		return err
	}
	refs := map[string]bool{}
	for _, img := range m.Images {
		if img.Ref == "" {
			return badf("image without a reference")
		}
		if refs[img.Ref] {
			return badf("image %s listed twice", img.Ref)
		}
		refs[img.Ref] = true
		if len(img.Platforms) != len(m.Platforms) {
			return badf("image %s must name one manifest per bundle platform (%d), has %d", img.Ref, len(m.Platforms), len(img.Platforms))
		}
		for _, p := range m.Platforms {
			h, ok := img.Platforms[p]
			if !ok {
				return badf("image %s has no manifest for %s", img.Ref, p)
			}
			if h.Algorithm != "sha256" {
				return badf("image %s: %s manifest digest %q is not sha256", img.Ref, p, h)
			}
			if err := ref("image "+img.Ref+" manifest", blobMemberPath(h), RoleImageBlob, ""); err != nil {
				return err
			}
		}
		if img.Digest != "" {
			h, err := v1.NewHash(img.Digest)
			if err != nil || h.Algorithm != "sha256" {
				return badf("image %s: digest %q is not a sha256 digest", img.Ref, img.Digest)
			}
			if _, ok := m.byPath[blobMemberPath(h)]; !ok {
				return badf("image %s: digest %s is not a listed blob", img.Ref, img.Digest)
			}
		}
	}
	return nil
}

// marshal renders the manifest as it is stored: indented JSON, so a reviewer can read it with unzip -p.
func (m *Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// K3sComponents are the packaged components k3s can disable (its --disable flag). A bundle naming any
// other is refused: a typo must not leave traefik running on a site that was promised it would not.
var K3sComponents = []string{"coredns", "servicelb", "traefik", "local-storage", "metrics-server", "runtimes"}

func checkK3sDisable(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if !slices.Contains(K3sComponents, n) {
			return fmt.Errorf("k3s disable: %q is not a k3s component (%s)", n, strings.Join(K3sComponents, ", "))
		}
		if seen[n] {
			return fmt.Errorf("k3s disable: %q listed twice", n)
		}
		seen[n] = true
	}
	return nil
}
