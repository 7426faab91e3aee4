package appliance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	// ValuesKey is the cluster's key (Store.ValuesKey) that names the values Secret. Required when the
	// values hold secrets: the name is a keyed hash of their content, so it changes with them (and so the
	// spec does) without letting a reader of the HelmChart test guesses against it.
	ValuesKey []byte
}

// Spec is a built HelmChart and what the caller must know about it.
type Spec struct {
	Chart       *helmv1.HelmChart
	Hash        string // SpecHash(Chart.Spec)
	ChartDigest string // sha256:<hex> of the chart archive
	// Values are the merged values as helm gets them: valuesContent, then the values Secret merged over it.
	Values    string
	ChartName string // name in Chart.yaml: the app's identity across versions
	// SecretPaths are JSON pointers of the secret values in Values (see SecretPaths).
	SecretPaths []string
	// SecretValues is the part of Values that is secret (a YAML document), kept out of the HelmChart: it
	// goes to the Secret ValuesSecret in the Ferry namespace, which spec.valuesSecrets references. Both
	// are empty when the values hold no secret.
	SecretValues string
	ValuesSecret string
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
	// A HelmChart is not a Secret: whoever may read HelmCharts (and every etcd backup) would read the site's
	// passwords in valuesContent. Secret values go to a Secret that spec.valuesSecrets names instead.
	publicYAML, secretYAML, err := splitValuesYAML(valuesYAML, out.SecretPaths)
	if err != nil {
		return Spec{}, fmt.Errorf("splitting secret values of %s %s: %w", in.App, in.Version, err)
	}
	var valuesSecrets []helmv1.SecretSpec
	if secretYAML != "" {
		if len(in.ValuesKey) < 16 {
			return Spec{}, fmt.Errorf("%w: the values of %s hold secrets and no values key was given to name their Secret", ErrInvalidInput, in.App)
		}
		out.SecretValues = secretYAML
		out.ValuesSecret = ValuesSecretName(in.App, in.ValuesKey, secretYAML)
		valuesSecrets = []helmv1.SecretSpec{{Name: out.ValuesSecret, Keys: []string{ValuesSecretKey}}}
	}
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
			ValuesContent:   publicYAML,
			ValuesSecrets:   valuesSecrets,
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

// ValuesSecretKey is the key of the values document in a values Secret.
const ValuesSecretKey = "values.yaml"

// ValuesSecretName names the Secret holding an app's secret values: a keyed hash of the document, so the
// name changes exactly when the secrets do (a new name is a new spec, hence a helm run), one name per
// content (immutable, shared by versions with the same secrets, which rollback can rely on), and a reader of
// the HelmChart cannot test guesses against it without the cluster's key.
func ValuesSecretName(app string, key []byte, doc string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(doc))
	return fmt.Sprintf("ferry-values-%s-%s", app, hex.EncodeToString(m.Sum(nil))[:16])
}

// splitValuesYAML splits a canonical values document into its public and secret documents and proves that
// helm, merging them in the order klipper-helm passes them, gets the original values back.
func splitValuesYAML(doc string, paths []string) (public, secret string, err error) {
	vals, err := ParseValues([]byte(doc))
	if err != nil {
		return "", "", err
	}
	pub, sec, err := splitSecretValues(vals, paths)
	if err != nil {
		return "", "", err
	}
	if public, err = ValuesYAML(pub); err != nil {
		return "", "", err
	}
	if len(sec) > 0 {
		if secret, err = ValuesYAML(sec); err != nil {
			return "", "", err
		}
	}
	p, err := ParseValues([]byte(public))
	if err != nil {
		return "", "", err
	}
	s, err := ParseValues([]byte(secret))
	if err != nil {
		return "", "", err
	}
	if !reflect.DeepEqual(mergeValueFiles(p, s), vals) {
		return "", "", errors.New("the split values would not merge back to the values given")
	}
	return public, secret, nil
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
