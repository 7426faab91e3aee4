package appliance

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// DefaultNamespace holds Ferry's HelmCharts, records and chart blobs. helm-controller watches every
	// namespace; keeping Ferry's objects apart keeps k3s's own charts in kube-system out of reach.
	DefaultNamespace = "ferry-system"
	// DefaultInlineLimit is the largest chart archive sent in spec.chartContent. helm-controller copies it
	// into a ConfigMap (1 MiB cap, base64 adds a third): above this the chart is served from the static
	// charts directory of every server (k3s-contract.md §9).
	DefaultInlineLimit = 750 * 1024
	// StaticChartsDir is where a large chart must sit on EVERY server.
	StaticChartsDir = "/var/lib/rancher/k3s/server/static/charts"
	// DefaultBackOffLimit keeps a failing helm job from retrying for hours (helm-controller's default is 1000).
	DefaultBackOffLimit int32 = 2
	// DefaultTimeout is passed to helm and bounds Ferry's wait for health.
	DefaultTimeout = 10 * time.Minute

	labelPrefix = "ferry.delivery/"
	// LabelManaged marks every object Ferry owns in the cluster.
	LabelManaged = labelPrefix + "managed"
	// LabelApp names the app an object belongs to.
	LabelApp = labelPrefix + "app"
	// AnnotationRecord is the id of the history record that applied the current spec.
	AnnotationRecord = labelPrefix + "record"
	// AnnotationSpecHash is SpecHash of the applied spec: the idempotence key.
	AnnotationSpecHash = labelPrefix + "spec-hash"
	// AnnotationVersion is the app version of the applied spec.
	AnnotationVersion = labelPrefix + "version"
)

// ErrInvalidInput marks a request that cannot be turned into a spec; nothing was changed.
var ErrInvalidInput = errors.New("invalid input")

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// versionRE keeps the version safe in a file name and a URL path.
	versionRE = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)
)

// SpecInput is everything a HelmChart is built from. Same input, same bytes.
type SpecInput struct {
	App             string // HelmChart and helm release name
	Version         string // app version from the bundle
	Chart           []byte // the chart archive (.tgz)
	Defaults        map[string]any
	Overrides       map[string]any
	TargetNamespace string
	Namespace       string // default DefaultNamespace
	JobImage        string // pinned klipper-helm image; a k3s upgrade then does not re-run every chart
	Timeout         time.Duration
	BackOffLimit    *int32
	FailurePolicy   helmv1.FailurePolicy // default abort; reinstall is refused
	InlineLimit     int                  // default DefaultInlineLimit
	RecordID        string
}

// Spec is a built HelmChart and what the caller must know about it.
type Spec struct {
	Chart       *helmv1.HelmChart
	Hash        string // SpecHash(Chart.Spec)
	ChartDigest string // sha256:<hex> of the chart archive
	Values      string // the merged values as applied (valuesContent)
	ChartName   string // name in Chart.yaml: the app's identity across versions
	// SecretPaths are JSON pointers of the secret values in Values (see SecretPaths).
	SecretPaths []string
	// StaticChart is set when the chart is too big for chartContent: the archive must be written to this
	// path on every server before the spec is applied.
	StaticChart string
}

// BuildSpec builds the HelmChart for one app version. It merges and validates the values, picks inline
// content or the static charts URL, and sets the safety fields: failurePolicy abort (never reinstall,
// which uninstalls the app and its data), a small backOffLimit and an explicit timeout.
func BuildSpec(in SpecInput) (Spec, error) {
	if !dnsLabel.MatchString(in.App) || len(in.App) > 53 {
		return Spec{}, fmt.Errorf("%w: app name %q must be a DNS label of at most 53 characters", ErrInvalidInput, in.App)
	}
	if in.TargetNamespace == "" || !dnsLabel.MatchString(in.TargetNamespace) {
		return Spec{}, fmt.Errorf("%w: target namespace %q must be a DNS label", ErrInvalidInput, in.TargetNamespace)
	}
	if !versionRE.MatchString(in.Version) {
		return Spec{}, fmt.Errorf("%w: app version %q must be a semantic version", ErrInvalidInput, in.Version)
	}
	if len(in.Chart) == 0 {
		return Spec{}, fmt.Errorf("%w: chart archive is empty", ErrInvalidInput)
	}
	ns := in.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	policy := in.FailurePolicy
	switch policy {
	case "":
		policy = helmv1.FailurePolicyAbort
	case helmv1.FailurePolicyAbort, helmv1.FailurePolicyRetry:
	default:
		return Spec{}, fmt.Errorf("%w: failure policy %q uninstalls the app on failure; use abort or retry", ErrInvalidInput, policy)
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	backoff := DefaultBackOffLimit
	if in.BackOffLimit != nil {
		backoff = *in.BackOffLimit
	}
	limit := in.InlineLimit
	if limit <= 0 {
		limit = DefaultInlineLimit
	}

	c, err := LoadChart(in.Chart)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	vals, err := MergeValues(in.Defaults, in.Overrides)
	if err != nil {
		return Spec{}, err
	}
	if err := ValidateValues(c, vals); err != nil {
		return Spec{}, fmt.Errorf("validating values for %s %s: %w", in.App, in.Version, err)
	}
	valuesYAML, err := ValuesYAML(vals)
	if err != nil {
		return Spec{}, err
	}

	sum := sha256.Sum256(in.Chart)
	out := Spec{ChartDigest: "sha256:" + hex.EncodeToString(sum[:]), Values: valuesYAML, ChartName: c.Metadata.Name,
		SecretPaths: SecretPaths(c, vals)}
	hc := &helmv1.HelmChart{
		TypeMeta: metav1.TypeMeta{APIVersion: helmv1.SchemeGroupVersion.String(), Kind: "HelmChart"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      in.App,
			Namespace: ns,
			Labels:    map[string]string{LabelManaged: "true", LabelApp: in.App},
		},
		Spec: helmv1.HelmChartSpec{
			TargetNamespace: in.TargetNamespace,
			CreateNamespace: true,
			ValuesContent:   valuesYAML,
			JobImage:        in.JobImage,
			BackOffLimit:    &backoff,
			Timeout:         &metav1.Duration{Duration: timeout},
			FailurePolicy:   policy,
		},
	}
	if len(in.Chart) < limit {
		hc.Spec.ChartContent = base64.StdEncoding.EncodeToString(in.Chart)
	} else {
		file := fmt.Sprintf("%s-%s.tgz", in.App, in.Version)
		hc.Spec.Chart = "https://%{KUBERNETES_API}%/static/charts/" + file
		out.StaticChart = StaticChartsDir + "/" + file
	}
	out.Hash = SpecHash(hc.Spec)
	hc.Annotations = map[string]string{
		AnnotationSpecHash: out.Hash,
		AnnotationVersion:  in.Version,
	}
	if in.RecordID != "" {
		hc.Annotations[AnnotationRecord] = in.RecordID
	}
	out.Chart = hc
	return out, nil
}

// SpecHash identifies a spec: helm-controller re-runs its job exactly when the spec changes, so two specs
// with one hash are one apply (the idempotence key), whatever the metadata says.
func SpecHash(s helmv1.HelmChartSpec) string {
	b, err := json.Marshal(s) // struct fields in declaration order, map keys sorted: canonical
	if err != nil {
		panic(err) // a HelmChartSpec always marshals
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
