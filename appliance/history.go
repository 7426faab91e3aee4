package appliance

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	Values       string `json:"values,omitempty"`
	SpecHash     string `json:"specHash"`
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
}

// Store keeps records as Secrets in the Ferry namespace (values may hold site secrets) and mirrors each
// to <Dir>/<app>/<id>.json on the laptop.
type Store struct {
	c   *Cluster
	ns  string
	dir string
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

// mirror writes the record to the site records on the laptop: temp file then rename, so a crash never
// leaves a torn record.
func (s *Store) mirror(r *Record) error {
	if s.dir == "" {
		return nil
	}
	dir := filepath.Join(s.dir, r.App)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+r.ID+"-*")
	if err != nil {
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("mirroring history record %s: %w", r.ID, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, r.ID+".json")); err != nil {
		os.Remove(f.Name())
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
	return &hc, nil
}
