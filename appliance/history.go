package appliance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferry-delivery/ferry/internal/fsutil"
)

// RecordState is where one applied version stands.
type RecordState string

const (
	StateInProgress RecordState = "in-progress"
	StateSucceeded  RecordState = "succeeded"
	StateFailed     RecordState = "failed"
	StateRolledBack RecordState = "rolled-back"
)

// Action is what made a record.
type Action string

const (
	ActionDeploy       Action = "deploy"
	ActionUpgrade      Action = "upgrade"
	ActionRollback     Action = "rollback"
	ActionAutoRollback Action = "auto-rollback"
)

const (
	labelKind  = labelPrefix + "kind"
	labelState = labelPrefix + "state"
	recordKey  = "record.json"
	chartKey   = "chart.tgz"
)

// ErrRecordCorrupt marks a record whose stored chart or spec no longer matches its digests.
var ErrRecordCorrupt = errors.New("history record does not match its digests")

// Record is one applied version: everything needed to re-apply it without the bundle.
type Record struct {
	ID           string `json:"id"`
	Seq          int    `json:"seq"`
	App          string `json:"app"`
	Version      string `json:"version"`
	Action       Action `json:"action"`
	From         string `json:"from,omitempty"` // record this one replaced
	BundleDigest string `json:"bundleDigest,omitempty"`
	ChartName    string `json:"chartName"`
	ChartDigest  string `json:"chartDigest"`
	// Values are the merged values as applied. In the cluster record they are plaintext (rollback
	// re-applies them); everywhere else (laptop mirror, Result) secret leaves are markers (Redacted).
	Values string `json:"values,omitempty"`
	// Overrides are the site's own values (YAML) as given, before the bundle's defaults went under them:
	// what an upgrade with Options.KeepSiteValues reuses. Plaintext in the cluster record, redacted like
	// Values elsewhere; empty when the site gave none and in records written before Ferry kept them.
	Overrides string `json:"overrides,omitempty"`
	// SecretPaths are JSON pointers of the secret values (chart schema marks, plus secret-like names);
	// absent in records written before Ferry tracked them, whose mirror falls back to the name rule.
	SecretPaths []string `json:"secretPaths,omitempty"`
	SpecHash    string   `json:"specHash"`
	// ValuesRef names the values Secret the spec references (spec.valuesSecrets) and SecretValues is its
	// exact content, the secret part of Values: rollback re-creates the Secret from here when it is gone.
	// Empty when the values hold no secret, and in records written before secrets left valuesContent.
	ValuesRef    string `json:"valuesRef,omitempty"`
	SecretValues string `json:"secretValues,omitempty"`
	// Spec is the exact HelmChart applied, with spec.chartContent moved to the chart Secret ChartRef
	// (a record Secret must stay under the 1 MiB object limit).
	Spec        json.RawMessage `json:"spec"`
	ChartRef    string          `json:"chartRef,omitempty"`
	StaticChart string          `json:"staticChart,omitempty"`
	Images      VersionImages   `json:"images,omitempty"`
	StaleJobUID types.UID       `json:"staleJobUID,omitempty"`
	// StaleRevision is the newest helm release revision before the apply.
	StaleRevision int         `json:"staleRevision,omitempty"`
	State         RecordState `json:"state"`
	Reason        string      `json:"reason,omitempty"`
	ConfigHash    string      `json:"configHash,omitempty"`
	Revision      int         `json:"revision,omitempty"`
	Started       time.Time   `json:"started"`
	Finished      time.Time   `json:"finished,omitzero"`
	// Heartbeat is refreshed by the process applying the record; a stale heartbeat on an in-progress
	// record means that process is gone (laptop crash or disconnect).
	Heartbeat time.Time `json:"heartbeat,omitzero"`
	// Holder is the Liveness token of the process applying the record (empty without one).
	Holder string `json:"holder,omitempty"`
	// Redacted is set on copies that left the cluster (mirror file, Result): their values and spec carry
	// markers instead of secrets, so such a copy can be read but never re-applied.
	Redacted bool `json:"redacted,omitempty"`
}

// Store keeps records as Secrets in the Ferry namespace (values may hold site secrets) and mirrors each
// to <Dir>/<app>/<id>.json on the laptop.
type Store struct {
	c   *Cluster
	ns  string
	dir string
	// scrub holds secrets of the operation using the store (other versions' values can surface in a
	// reason, e.g. a rollback note quoting the failed release); nil means the record's own only.
	scrub *Scrubber

	redOnce sync.Once
	red     *Redactor
	redErr  error
}

// NewStore returns a store in namespace ns; dir "" disables the laptop mirror.
func NewStore(c *Cluster, ns, dir string) *Store {
	if ns == "" {
		ns = DefaultNamespace
	}
	return &Store{c: c, ns: ns, dir: dir}
}

func recordName(app string, seq int) string { return fmt.Sprintf("ferry-record-%s-%06d", app, seq) }

// EnsureNamespace creates the Ferry namespace when missing.
func (s *Store) EnsureNamespace(ctx context.Context) error {
	_, err := s.c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: s.ns, Labels: map[string]string{LabelManaged: "true"},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", s.ns, err)
	}
	return nil
}

// List returns an app's records, oldest first.
func (s *Store) List(ctx context.Context, app string) ([]Record, error) {
	sel := labels.SelectorFromSet(labels.Set{labelKind: "record", LabelApp: app}).String()
	list, err := s.c.Kube.CoreV1().Secrets(s.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing history of %s: %w", app, err)
	}
	out := make([]Record, 0, len(list.Items))
	for _, sec := range list.Items {
		var r Record
		if err := json.Unmarshal(sec.Data[recordKey], &r); err != nil {
			return nil, fmt.Errorf("reading history record %s: %w", sec.Name, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// Create stores a new record with the next sequence number and sets its ID.
func (s *Store) Create(ctx context.Context, r *Record) error {
	if s.dir != "" {
		// A damaged redaction key would fail the mirror after the cluster record exists: find out first,
		// while nothing has changed.
		if _, err := s.redactor(); err != nil {
			return fmt.Errorf("storing history record for %s: %w", r.App, err)
		}
	}
	existing, err := s.List(ctx, r.App)
	if err != nil {
		return err
	}
	seq := 1
	if n := len(existing); n > 0 {
		seq = existing[n-1].Seq + 1
	}
	for range 5 { // another Ferry may have taken the number: move on
		r.Seq, r.ID = seq, recordName(r.App, seq)
		sec, err := s.secret(r)
		if err != nil {
			return err
		}
		_, err = s.c.Kube.CoreV1().Secrets(s.ns).Create(ctx, sec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			seq++
			continue
		}
		if err != nil {
			return fmt.Errorf("storing history record %s: %w", r.ID, err)
		}
		return s.mirror(r)
	}
	return fmt.Errorf("storing history record for %s: sequence numbers keep colliding", r.App)
}

// Update rewrites a record.
func (s *Store) Update(ctx context.Context, r *Record) error {
	sec, err := s.secret(r)
	if err != nil {
		return err
	}
	cur, err := s.c.Kube.CoreV1().Secrets(s.ns).Get(ctx, r.ID, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("updating history record %s: %w", r.ID, err)
	}
	cur.Labels, cur.Data = sec.Labels, sec.Data
	if _, err := s.c.Kube.CoreV1().Secrets(s.ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating history record %s: %w", r.ID, err)
	}
	return s.mirror(r)
}

func (s *Store) secret(r *Record) (*corev1.Secret, error) {
	if r.Redacted {
		// A copy that left the cluster has markers for values: storing it would lose them for good.
		return nil, fmt.Errorf("storing history record %s: %w: it is a redacted copy", r.ID, ErrInvalidInput)
	}
	// Reasons come from the cluster (helm errors, termination messages) and may quote a value; history
	// prints them, so they are stored scrubbed.
	r.Reason = s.scrubReason(r)
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding history record %s: %w", r.ID, err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: r.ID, Namespace: s.ns, Labels: map[string]string{
			LabelManaged: "true", LabelApp: r.App, labelKind: "record", labelState: string(r.State),
			AnnotationVersion: r.Version,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{recordKey: b},
	}, nil
}

func (s *Store) scrubReason(r *Record) string {
	own := &Scrubber{}
	own.AddValues(r.Values, r.SecretPaths)
	return s.scrub.String(own.String(r.Reason))
}

// redactor loads the site's redaction key once (from the records directory, or a per-process key).
func (s *Store) redactor() (*Redactor, error) {
	s.redOnce.Do(func() { s.red, s.redErr = LoadRedactor(s.dir) })
	return s.red, s.redErr
}

// Redact returns a copy of r fit to leave the cluster (see Record.Redacted).
func (s *Store) Redact(r Record) (Record, error) {
	if r.Redacted {
		return r, nil
	}
	red, err := s.redactor()
	if err != nil {
		return Record{}, err
	}
	return redactRecord(r, red, s.scrub)
}

// mirror writes the record, redacted, to the site records on the laptop: temp file then rename, so a
// crash never leaves a torn record. Secrets never reach the laptop's disk in plain text; the cluster
// record keeps them for rollback.
func (s *Store) mirror(r *Record) error {
	if s.dir == "" {
		return nil
	}
	dir := filepath.Join(s.dir, r.App)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	red, err := s.Redact(*r)
	if err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	// Markers stay legible ("<redacted:...>", not "\u003credacted...") for the engineer reading the file.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(red); err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, r.ID+".json"), buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	return nil
}

// PutChart stores a chart archive once per digest, so rollback needs nothing from the bundle.
func (s *Store) PutChart(ctx context.Context, app string, tgz []byte) (string, error) {
	sum := sha256.Sum256(tgz)
	name := fmt.Sprintf("ferry-chart-%s-%s", app, hex.EncodeToString(sum[:])[:16])
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: map[string]string{
			LabelManaged: "true", LabelApp: app, labelKind: "chart",
		}, Annotations: map[string]string{labelPrefix + "digest": "sha256:" + hex.EncodeToString(sum[:])}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{chartKey: tgz},
	}
	_, err := s.c.Kube.CoreV1().Secrets(s.ns).Create(ctx, sec, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("storing chart of %s: %w", app, err)
	}
	return name, nil
}

// chart reads a stored chart archive and checks it against digest.
func (s *Store) chart(ctx context.Context, name, digest string) ([]byte, error) {
	sec, err := s.c.Kube.CoreV1().Secrets(s.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading stored chart %s: %w", name, err)
	}
	tgz := sec.Data[chartKey]
	sum := sha256.Sum256(tgz)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("reading stored chart %s: %w", name, ErrRecordCorrupt)
	}
	return tgz, nil
}

// recordSpec stores the HelmChart in r without its inline chart.
func recordSpec(r *Record, hc *helmv1.HelmChart) error {
	cp := hc.DeepCopy()
	cp.Spec.ChartContent = ""
	cp.Status = helmv1.HelmChartStatus{}
	cp.ResourceVersion, cp.UID, cp.Generation, cp.CreationTimestamp, cp.ManagedFields = "", "", 0, metav1.Time{}, nil
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encoding spec of %s: %w", r.ID, err)
	}
	r.Spec = b
	return nil
}

// RestoreSpec rebuilds the exact HelmChart a record applied, chart bytes included, and proves it is the
// same spec by its hash.
func (s *Store) RestoreSpec(ctx context.Context, r *Record) (*helmv1.HelmChart, error) {
	var hc helmv1.HelmChart
	if err := json.Unmarshal(r.Spec, &hc); err != nil {
		return nil, fmt.Errorf("reading spec of %s: %w", r.ID, err)
	}
	if r.ChartRef != "" {
		tgz, err := s.chart(ctx, r.ChartRef, r.ChartDigest)
		if err != nil {
			return nil, err
		}
		hc.Spec.ChartContent = base64.StdEncoding.EncodeToString(tgz)
	}
	if SpecHash(hc.Spec) != r.SpecHash {
		return nil, fmt.Errorf("restoring spec of %s: %w", r.ID, ErrRecordCorrupt)
	}
	// The spec must reference exactly the values Secret the record can re-create.
	var refs []string
	for _, vs := range hc.Spec.ValuesSecrets {
		refs = append(refs, vs.Name)
	}
	want := []string(nil)
	if r.ValuesRef != "" {
		want = []string{r.ValuesRef}
	}
	if fmt.Sprint(refs) != fmt.Sprint(want) || (r.ValuesRef == "") != (r.SecretValues == "") {
		return nil, fmt.Errorf("restoring spec of %s: values Secret %v, record has %q: %w", r.ID, refs, r.ValuesRef, ErrRecordCorrupt)
	}
	return &hc, nil
}

// valuesKeyName is the Secret holding the cluster's key for naming values Secrets (ValuesSecretName).
const valuesKeyName = "ferry-values-key"

// ValuesKey reads the cluster's values key. found is false when there is none yet: the key returned then
// is a fresh random one, which SaveValuesKey stores once the change is going ahead (a refused or dry-run
// change writes nothing).
func (s *Store) ValuesKey(ctx context.Context) (key []byte, found bool, err error) {
	sec, err := s.c.Kube.CoreV1().Secrets(s.ns).Get(ctx, valuesKeyName, metav1.GetOptions{})
	if err == nil {
		if k := sec.Data["key"]; len(k) >= 32 {
			return k, true, nil
		}
		return nil, false, fmt.Errorf("reading values key %s/%s: it holds no 32-byte key; delete it and re-run", s.ns, valuesKeyName)
	}
	if !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("reading values key %s/%s: %w", s.ns, valuesKeyName, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("creating values key: %w", err)
	}
	return key, false, nil
}

// SaveValuesKey stores a key ValuesKey made. Another Ferry that stored its own meanwhile wins; the caller
// built its spec with the loser and must start over (ErrOperationInProgress).
func (s *Store) SaveValuesKey(ctx context.Context, key []byte) error {
	_, err := s.c.Kube.CoreV1().Secrets(s.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: valuesKeyName, Namespace: s.ns, Labels: map[string]string{
			LabelManaged: "true", labelKind: "values-key"}},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptrTo(true),
		Data:      map[string][]byte{"key": key},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("storing values key: %w: another Ferry created one meanwhile; re-run", ErrOperationInProgress)
	}
	if err != nil {
		return fmt.Errorf("storing values key: %w", err)
	}
	return nil
}

// EnsureValues makes the values Secret r's spec references exist with exactly r's secret values: created
// when missing (first apply, or pruned and now rolled back to), left alone when it already holds them. It
// is immutable, so a Secret of that name with other content was replaced outside Ferry: that is refused,
// with what to do, rather than applied with values nobody recorded.
func (s *Store) EnsureValues(ctx context.Context, r *Record) error {
	if r.ValuesRef == "" {
		return nil
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: r.ValuesRef, Namespace: s.ns, Labels: map[string]string{
			LabelManaged: "true", LabelApp: r.App, labelKind: "values"}},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptrTo(true),
		Data:      map[string][]byte{ValuesSecretKey: []byte(r.SecretValues)},
	}
	client := s.c.Kube.CoreV1().Secrets(s.ns)
	_, err := client.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("storing values Secret %s: %w", r.ValuesRef, err)
	}
	cur, err := client.Get(ctx, r.ValuesRef, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading values Secret %s: %w", r.ValuesRef, err)
	}
	if cur.Labels[LabelManaged] != "true" || cur.Labels[LabelApp] != r.App || !bytes.Equal(cur.Data[ValuesSecretKey], want.Data[ValuesSecretKey]) || len(cur.Data) != 1 {
		return fmt.Errorf("checking values Secret %s/%s: %w: it does not hold the values record %s applied; delete it and re-run to restore it from the record",
			s.ns, r.ValuesRef, ErrRecordCorrupt, r.ID)
	}
	return nil
}

// DeleteValues deletes values Secrets of an app (retention's PrunableValues). Only Ferry's values
// Secrets of that app are touched, whatever the names say.
func (s *Store) DeleteValues(ctx context.Context, app string, names []string) error {
	var errs []error
	for _, n := range names {
		cur, err := s.c.Kube.CoreV1().Secrets(s.ns).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pruning values Secret %s: %w", n, err))
			continue
		}
		if cur.Labels[LabelManaged] != "true" || cur.Labels[LabelApp] != app || cur.Labels[labelKind] != "values" {
			continue
		}
		err = s.c.Kube.CoreV1().Secrets(s.ns).Delete(ctx, n, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("pruning values Secret %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func ptrTo[T any](v T) *T { return &v }
