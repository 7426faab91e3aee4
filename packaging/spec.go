package packaging

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/ferry-delivery/ferry/payload"
)

// ErrInvalidSpec marks every problem found in an appliance spec; the wrapped errors name the field.
var ErrInvalidSpec = errors.New("invalid appliance spec")

// Supported platforms. Ferry ships k3s for exactly these two (k3s-contract.md §1).
const (
	PlatformAMD64 = "linux/amd64"
	PlatformARM64 = "linux/arm64"
)

// Spec is an appliance.yaml: everything a release bundle is built from. Relative paths are resolved
// against the directory of the spec file (BaseDir).
type Spec struct {
	App       AppSpec  `json:"app"`
	K3s       K3sSpec  `json:"k3s"`
	Platforms []string `json:"platforms"`
	// Chart is a chart directory or a packaged .tgz.
	Chart string `json:"chart"`
	// Values overrides the chart's values.yaml; they become the bundle's default values and are used when
	// rendering the chart to discover images.
	Values string `json:"values,omitempty"`
	// Images are added to the images found by rendering the chart (for images a chart pulls at run time,
	// e.g. from an operator).
	Images []string `json:"images,omitempty"`
	// InsecureRegistries are registries (host[:port]) reached over plain HTTP.
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`

	// BaseDir is where relative paths point; LoadSpec sets it to the spec file's directory.
	BaseDir string `json:"-"`
}

// AppSpec names the application release.
type AppSpec struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// UpgradeFrom is the oldest app version this release may upgrade in place.
	UpgradeFrom string `json:"upgradeFrom,omitempty"`
}

// K3sSpec says which k3s release to ship and where its release assets come from: exactly one of Dir (a
// local directory of files named as in the k3s GitHub release) or URL (an https directory holding those
// files; "{version}" in it is replaced by the escaped version).
type K3sSpec struct {
	Version string `json:"version"`
	Dir     string `json:"dir,omitempty"`
	URL     string `json:"url,omitempty"`
	// Disable lists k3s components the app does not want on any site (k3s's --disable, e.g. traefik when
	// the chart brings its own ingress). It is signed into the bundle's manifest; sites may add more.
	Disable []string `json:"disable,omitempty"`
}

// DefaultK3sURL is where k3s publishes its release assets.
const DefaultK3sURL = "https://github.com/k3s-io/k3s/releases/download/{version}"

// LoadSpec reads and validates an appliance.yaml. Unknown keys are refused so a typo never silently drops
// a setting.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading appliance spec: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading appliance spec: %w", err)
	}
	s, err := ParseSpec(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSpec parses and validates spec bytes; baseDir anchors relative paths.
func ParseSpec(data []byte, baseDir string) (*Spec, error) {
	var s Spec
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSpec, cleanYAMLError(err))
	}
	s.BaseDir = baseDir
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// sigs.k8s.io/yaml reports through encoding/json; strip its plumbing so the user sees the key.
func cleanYAMLError(err error) string {
	msg := err.Error()
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

var (
	// A helm release name and a Kubernetes label value: lower-case DNS label.
	appNameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$`)
	k3sVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?\+k3s[0-9]+$`)
)

// Validate checks every field and reports all problems at once, each naming its field.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	switch {
	case s.App.Name == "":
		bad("app.name", "required")
	case !appNameRE.MatchString(s.App.Name):
		bad("app.name", "%q must be a lower-case DNS label (a-z, 0-9, '-'; at most 53 characters)", s.App.Name)
	}
	var version *semver.Version
	if s.App.Version == "" {
		bad("app.version", "required")
	} else if v, err := semver.NewVersion(s.App.Version); err != nil {
		bad("app.version", "%q is not a semantic version (e.g. 1.2.0)", s.App.Version)
	} else {
		version = v
	}
	if s.App.UpgradeFrom != "" {
		if from, err := semver.NewVersion(s.App.UpgradeFrom); err != nil {
			bad("app.upgradeFrom", "%q is not a semantic version", s.App.UpgradeFrom)
		} else if version != nil && !from.LessThan(version) {
			bad("app.upgradeFrom", "%s must be older than app.version %s", s.App.UpgradeFrom, s.App.Version)
		}
	}

	switch {
	case s.K3s.Version == "":
		bad("k3s.version", "required (e.g. v1.31.4+k3s1)")
	case !k3sVersionRE.MatchString(s.K3s.Version):
		bad("k3s.version", "%q is not a k3s release version (e.g. v1.31.4+k3s1)", s.K3s.Version)
	}
	for _, d := range s.K3s.Disable {
		if !slices.Contains(payload.K3sComponents, d) {
			bad("k3s.disable", "%q is not a k3s component (%s)", d, strings.Join(payload.K3sComponents, ", "))
		}
	}
	switch {
	case s.K3s.Dir == "" && s.K3s.URL == "":
		bad("k3s", "set dir (a directory of k3s release files) or url (e.g. %s)", DefaultK3sURL)
	case s.K3s.Dir != "" && s.K3s.URL != "":
		bad("k3s", "set only one of dir and url")
	case s.K3s.URL != "":
		if u, err := url.Parse(s.K3s.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("k3s.url", "%q must be an https URL", s.K3s.URL)
		}
	case s.K3s.Dir != "":
		if fi, err := os.Stat(s.Path(s.K3s.Dir)); err != nil || !fi.IsDir() {
			bad("k3s.dir", "%s is not a directory", s.Path(s.K3s.Dir))
		}
	}

	if len(s.Platforms) == 0 {
		bad("platforms", "required: one or more of %s, %s", PlatformAMD64, PlatformARM64)
	}
	seen := map[string]bool{}
	for _, p := range s.Platforms {
		if p != PlatformAMD64 && p != PlatformARM64 {
			bad("platforms", "%q is not supported (use %s or %s)", p, PlatformAMD64, PlatformARM64)
		} else if seen[p] {
			bad("platforms", "%s listed twice", p)
		}
		seen[p] = true
	}

	if s.Chart == "" {
		bad("chart", "required: a chart directory or .tgz")
	} else if _, err := os.Stat(s.Path(s.Chart)); err != nil {
		bad("chart", "%s does not exist", s.Path(s.Chart))
	}
	if s.Values != "" {
		if fi, err := os.Stat(s.Path(s.Values)); err != nil || fi.IsDir() {
			bad("values", "%s is not a file", s.Path(s.Values))
		}
	}
	for i, ref := range s.Images {
		if _, err := parseRef(ref, s.InsecureRegistries); err != nil {
			bad(fmt.Sprintf("images[%d]", i), "%q is not an image reference: %v", ref, err)
		}
	}
	for i, r := range s.InsecureRegistries {
		if _, err := name.NewRegistry(r); err != nil || strings.Contains(r, "/") {
			bad(fmt.Sprintf("insecureRegistries[%d]", i), "%q is not a registry host[:port]", r)
		}
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %w", ErrInvalidSpec, joinIndented(errs))
}

// joinIndented is errors.Join with one problem per indented line, keeping errors.Is on each.
func joinIndented(errs []error) error {
	return indented{errors.Join(errs...)}
}

type indented struct{ err error }

func (e indented) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "\n  ") }
func (e indented) Unwrap() error { return e.err }

// Path resolves p against the spec's directory.
func (s *Spec) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.BaseDir, p)
}
