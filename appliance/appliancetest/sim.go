package appliancetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	helmclient "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned"
)

// Sim is a small stand-in for helm-controller plus klipper-helm plus the kubelet, driving the
// fake clientsets so the whole deploy/upgrade/rollback state machine runs. It reacts to HelmChart spec
// changes the way the real ones do (k3s-contract.md §9): replace the job, run helm (a release Secret
// written with helm's own storage driver, labelled with the job's config hash), render the workloads and
// their pods. What happens is chosen by the chart values, like a real chart: sim.mode is one of ok,
// neverReady, helmFail, imageMissing, hold.
type Sim struct {
	t    testing.TB
	kube kubernetes.Interface
	helm helmclient.Interface
	ns   string
	mu   sync.Mutex
	seen map[string]string // app -> config hash handled
	hold chan struct{}     // closed to let "hold" jobs finish
	uid  int
}

// Start runs the stand-in until the test ends. ns is the namespace holding the HelmCharts.
func Start(t testing.TB, kube kubernetes.Interface, helm helmclient.Interface, ns string) *Sim {
	s := &Sim{t: t, kube: kube, helm: helm, ns: ns, seen: map[string]string{}, hold: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			s.step(ctx)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// Release lets jobs of mode "hold" finish (as ok).
func (s *Sim) Release() { close(s.hold) }

// configHash stands in for helm-controller's job config hash: a function of the spec and of the content
// of the values Secrets it references (helm-controller hashes those too, so a changed Secret re-runs helm).
func configHash(spec helmv1.HelmChartSpec, secrets [][]byte) string {
	b, _ := json.Marshal(spec)
	h := sha256.New()
	h.Write(b)
	for _, d := range secrets {
		h.Write(d)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// errValuesMissing: a values Secret the spec names does not exist, so the kubelet cannot mount the job's
// values volume and the job's pod does not start (it waits in ContainerCreating until the Secret appears).
var errValuesMissing = errors.New("values Secret missing")

// values collects the values helm gets, the way helm-controller and klipper-helm hand them over: the job's
// values volume holds values-0-000-HelmChart-ValuesContent.yaml, then one values-0-NNN-HelmChart-
// ValuesSecret.yaml per key of each spec.valuesSecrets entry (NNN counting from 002, in spec order), and
// klipper-helm passes /config/*.yaml in glob (name) order as repeated --values, which helm merges file by
// file (pkg/cli/values: later files win, maps merge key by key, anything else replaces, lists included).
// (That helm package is not imported: it drags in kubectl and oras; helmMergeMaps is its rule.) It also
// returns the Secrets' contents for the config hash.
func (s *Sim) values(ctx context.Context, hc *helmv1.HelmChart) (map[string]any, [][]byte, error) {
	files := map[string][]byte{}
	if hc.Spec.ValuesContent != "" {
		files["values-0-000-HelmChart-ValuesContent.yaml"] = []byte(hc.Spec.ValuesContent)
	}
	var hashed [][]byte
	items := 1
	for _, ref := range hc.Spec.ValuesSecrets {
		if len(ref.Keys) == 0 || ref.Name == "chart-values-"+hc.Name {
			continue
		}
		sec, err := s.kube.CoreV1().Secrets(hc.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ref.IgnoreUpdates {
			continue // optional
		}
		if apierrors.IsNotFound(err) {
			return nil, nil, errValuesMissing
		}
		if err != nil {
			return nil, nil, err
		}
		for _, k := range ref.Keys {
			items++
			d, ok := sec.Data[k]
			if !ok {
				return nil, nil, errValuesMissing // an absent projected key fails the mount too
			}
			if !ref.IgnoreUpdates {
				hashed = append(hashed, d)
			}
			files[fmt.Sprintf("values-0-%03d-HelmChart-ValuesSecret.yaml", items)] = d
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	vals := map[string]any{}
	for _, n := range names {
		cur := map[string]any{}
		if err := yaml.Unmarshal(files[n], &cur); err != nil {
			return nil, nil, fmt.Errorf("failed to parse %s: %w", n, err)
		}
		vals = helmMergeMaps(vals, cur)
	}
	return vals, hashed, nil
}

// helmMergeMaps is helm's rule for repeated --values files (pkg/cli/values.mergeMaps).
func helmMergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if v, ok := v.(map[string]any); ok {
			if bv, ok := out[k]; ok {
				if bv, ok := bv.(map[string]any); ok {
					out[k] = helmMergeMaps(bv, v)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

// simValuesOf reads the sim's knobs from helm's merged values.
func simValuesOf(vals map[string]any) (simValues, error) {
	var v simValues
	b, err := json.Marshal(vals)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

func (s *Sim) step(ctx context.Context) {
	charts, err := s.helm.HelmV1().HelmCharts(s.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range charts.Items {
		hc := &charts.Items[i]
		vals, hashed, err := s.values(ctx, hc)
		if errors.Is(err, errValuesMissing) {
			continue // the job's pod cannot start yet
		}
		if err != nil {
			s.t.Logf("sim: reading values of %s: %v", hc.Name, err)
			continue
		}
		h := configHash(hc.Spec, hashed)
		s.mu.Lock()
		done := s.seen[hc.Name] == h
		s.mu.Unlock()
		if done {
			s.finishHeld(ctx, hc, h, vals)
			continue
		}
		if err := s.run(ctx, hc, h, vals); err != nil {
			s.t.Logf("sim: %v", err)
			continue
		}
		s.mu.Lock()
		s.seen[hc.Name] = h
		s.mu.Unlock()
	}
}

// labelConfigHash is klipper-helm's release label holding the job's config hash.
const labelConfigHash = "helmcharts.helm.cattle.io/configHash"

type simValues struct {
	Image string `json:"image"`
	Sim   struct {
		Mode string `json:"mode"`
	} `json:"sim"`
}

func (s *Sim) run(ctx context.Context, hc *helmv1.HelmChart, hash string, merged map[string]any) error {
	kube := s.kube
	// Replace the job: a new UID for the new config, as helm-controller's apply does.
	_ = kube.BatchV1().Jobs(s.ns).Delete(ctx, "helm-install-"+hc.Name, metav1.DeleteOptions{})
	s.uid++
	uid := types.UID(fmt.Sprintf("job-uid-%d", s.uid))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "helm-install-" + hc.Name, Namespace: s.ns, UID: uid, Labels: map[string]string{"helmcharts.helm.cattle.io/chart": hc.Name}},
		Spec: batchv1.JobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(uid)}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{labelConfigHash: "SHA256=" + hash}}},
		},
	}
	vals, err := simValuesOf(merged)
	if err != nil {
		return err
	}
	target := hc.Spec.TargetNamespace
	store := driver.NewSecrets(kube.CoreV1().Secrets(target))
	rels, _ := store.Query(map[string]string{"name": hc.Name, "owner": "helm"})
	var newest *release.Release
	for _, r := range rels {
		if newest == nil || r.Version > newest.Version {
			newest = r
		}
	}
	if vals.Sim.Mode == "hold" {
		job.Status.Active = 1
		_, err := kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
		return err
	}
	// klipper-helm with failurePolicy abort refuses to touch a release whose newest revision failed.
	if newest != nil && newest.Info.Status == release.StatusFailed && hc.Spec.FailurePolicy != helmv1.FailurePolicyRetry {
		return s.failJob(ctx, job, "Release status is 'failed' and failure policy is 'abort', not 'reinstall'; waiting for operator intervention")
	}
	rev := 1
	if newest != nil {
		rev = newest.Version + 1
	}
	manifest, helmErr := s.render(hc, vals, merged, rev, newest != nil)
	if helmErr == nil && vals.Sim.Mode == "helmFail" {
		helmErr = errors.New("template: web.yaml:3: function \"nope\" not defined")
	}
	rls := &release.Release{Name: hc.Name, Namespace: target, Version: rev,
		Chart:    &chart.Chart{Metadata: &chart.Metadata{Name: hc.Name, Version: "0"}},
		Info:     &release.Info{Status: release.StatusDeployed, Description: "Upgrade complete"},
		Labels:   map[string]string{labelConfigHash: hash[:63]},
		Manifest: manifest}
	if helmErr != nil {
		rls.Info = &release.Info{Status: release.StatusFailed, Description: "Upgrade \"" + hc.Name + "\" failed: " + helmErr.Error()}
		if err := store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, rev), rls); err != nil {
			return err
		}
		if hc.Spec.FailurePolicy == helmv1.FailurePolicyRetry {
			// klipper-helm's retry policy runs helm upgrade and exits 0 whatever helm said.
			job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			_, err := kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
			return err
		}
		return s.failJob(ctx, job, "Error: UPGRADE FAILED: "+helmErr.Error())
	}
	if newest != nil && newest.Info.Status == release.StatusDeployed {
		newest.Info.Status = release.StatusSuperseded
		if err := store.Update(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, newest.Version), newest); err != nil {
			return err
		}
	}
	if err := store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, rev), rls); err != nil {
		return err
	}
	if err := s.workloads(ctx, target, manifest, vals.Sim.Mode); err != nil {
		return err
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	job.Status.Succeeded = 1
	_, err = kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
	return err
}

// finishHeld completes a held job once the test releases it.
func (s *Sim) finishHeld(ctx context.Context, hc *helmv1.HelmChart, hash string, merged map[string]any) {
	select {
	case <-s.hold:
	default:
		return
	}
	job, err := s.kube.BatchV1().Jobs(s.ns).Get(ctx, "helm-install-"+hc.Name, metav1.GetOptions{})
	if err != nil || job.Status.Active == 0 {
		return
	}
	vals, _ := simValuesOf(merged)
	// Run as ok with the held job's identity: same hash, job completes in place.
	store := driver.NewSecrets(s.kube.CoreV1().Secrets(hc.Spec.TargetNamespace))
	rels, _ := store.Query(map[string]string{"name": hc.Name, "owner": "helm"})
	rev := 1
	for _, r := range rels {
		if r.Version >= rev {
			rev = r.Version + 1
		}
		if r.Info.Status == release.StatusDeployed {
			r.Info.Status = release.StatusSuperseded
			_ = store.Update(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, r.Version), r)
		}
	}
	manifest, err := s.render(hc, vals, merged, rev, true)
	if err != nil {
		return
	}
	rls := &release.Release{Name: hc.Name, Namespace: hc.Spec.TargetNamespace, Version: rev,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: hc.Name, Version: "0"}},
		Info:  &release.Info{Status: release.StatusDeployed}, Labels: map[string]string{labelConfigHash: hash[:63]},
		Manifest: manifest}
	_ = store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, rev), rls)
	_ = s.workloads(ctx, hc.Spec.TargetNamespace, manifest, "ok")
	job.Status.Active = 0
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	_, _ = s.kube.BatchV1().Jobs(s.ns).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

func (s *Sim) failJob(ctx context.Context, job *batchv1.Job, msg string) error {
	job.Status.Failed = 3
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
	// The pod exits before the job controller marks the job failed.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-" + string(job.UID), Namespace: s.ns, Labels: job.Spec.Selector.MatchLabels},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "helm",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: msg}}}}},
	}
	if _, err := s.kube.CoreV1().Pods(s.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := s.kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
	return err
}

// render does helm's templating for real (helm's engine, the chart from spec.chartContent, the values
// helm got from valuesContent and valuesSecrets) and returns the manifest as helm stores it in the release. A chart that is not
// inline (static charts URL) gets a fixed web + db manifest.
func (s *Sim) render(hc *helmv1.HelmChart, v simValues, merged map[string]any, rev int, upgrade bool) (string, error) {
	if hc.Spec.ChartContent == "" {
		return fmt.Sprintf(fixedManifest, v.Image), nil
	}
	tgz, err := base64.StdEncoding.DecodeString(hc.Spec.ChartContent)
	if err != nil {
		return "", err
	}
	c, err := loader.LoadArchive(bytes.NewReader(tgz))
	if err != nil {
		return "", err
	}
	vals := chartutil.Values(merged)
	opts := chartutil.ReleaseOptions{Name: hc.Name, Namespace: hc.Spec.TargetNamespace, Revision: rev, IsInstall: !upgrade, IsUpgrade: upgrade}
	rv, err := chartutil.ToRenderValues(c, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return "", err
	}
	files, err := engine.Render(c, rv)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		body := strings.TrimSpace(files[n])
		if body == "" || strings.HasSuffix(n, "NOTES.txt") || strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", n, body)
	}
	return b.String(), nil
}

const fixedManifest = `---
# Source: app/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: %q}]}
---
# Source: app/templates/db.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.local/db:15}]}
  volumeClaimTemplates: [{metadata: {name: data}}]
`

// workloads plays the workload controllers and the kubelet for a manifest: each Deployment gets a new
// pod from its template (Running and Ready, or per mode neverReady / imageMissing), each StatefulSet is
// created Ready once with the PVCs of its volumeClaimTemplates (kept across upgrades, as on a real node).
func (s *Sim) workloads(ctx context.Context, ns, manifest, mode string) error {
	kube := s.kube
	var services []string
	for _, doc := range strings.Split(manifest, "\n---\n") {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(strings.TrimPrefix(doc, "---\n")), &head); err != nil {
			return err
		}
		switch head.Kind {
		case "Service":
			services = append(services, strings.TrimPrefix(doc, "---\n")) // after the pods exist
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.Unmarshal([]byte(strings.TrimPrefix(doc, "---\n")), &d); err != nil {
				return err
			}
			if d.Namespace == "" {
				d.Namespace = ns
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			d.Generation = 1
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want}
			tpl := d.Spec.Template
			image := ""
			if len(tpl.Spec.Containers) > 0 {
				image = tpl.Spec.Containers[0].Image
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + strings.NewReplacer(":", "-", "/", "-", ".", "-").Replace(image), Namespace: d.Namespace, Labels: tpl.Labels},
				Spec:       corev1.PodSpec{NodeName: "node-1", Containers: tpl.Spec.Containers},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: tpl.Spec.Containers[0].Name, Image: image, Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
			}
			switch mode {
			case "neverReady":
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
				pod.Status.ContainerStatuses[0].Ready = false
			case "imageMissing":
				d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
				pod.Status.Phase = corev1.PodPending
				pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: tpl.Spec.Containers[0].Name, Image: image,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image " + image}}}
			}
			if _, err := kube.AppsV1().Deployments(d.Namespace).Update(ctx, &d, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
				if _, err := kube.AppsV1().Deployments(d.Namespace).Create(ctx, &d, metav1.CreateOptions{}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			sel := metav1.FormatLabelSelector(d.Spec.Selector)
			pods, _ := kube.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
			for _, p := range pods.Items {
				_ = kube.CoreV1().Pods(d.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			}
			if _, err := kube.CoreV1().Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		case "StatefulSet":
			var st appsv1.StatefulSet
			if err := yaml.Unmarshal([]byte(strings.TrimPrefix(doc, "---\n")), &st); err != nil {
				return err
			}
			if st.Namespace == "" {
				st.Namespace = ns
			}
			if _, err := kube.AppsV1().StatefulSets(st.Namespace).Get(ctx, st.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				continue
			}
			st.Generation = 1
			st.Status = appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, CurrentRevision: st.Name + "-1", UpdateRevision: st.Name + "-1"}
			if st.Spec.Replicas != nil {
				st.Status.Replicas, st.Status.ReadyReplicas, st.Status.UpdatedReplicas = *st.Spec.Replicas, *st.Spec.Replicas, *st.Spec.Replicas
			}
			if _, err := kube.AppsV1().StatefulSets(st.Namespace).Create(ctx, &st, metav1.CreateOptions{}); err != nil {
				return err
			}
			for _, vct := range st.Spec.VolumeClaimTemplates {
				pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: vct.Name + "-" + st.Name + "-0", Namespace: st.Namespace}}
				if _, err := kube.CoreV1().PersistentVolumeClaims(st.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					return err
				}
			}
		}
	}
	for _, doc := range services {
		if err := s.service(ctx, ns, doc); err != nil {
			return err
		}
	}
	return nil
}

// service plays the API server and the EndpointSlice controller for one Service: a cluster IP on
// creation, and one slice listing the pods its selector matches, each ready when all its containers are.
func (s *Sim) service(ctx context.Context, ns, doc string) error {
	var svc corev1.Service
	if err := yaml.Unmarshal([]byte(doc), &svc); err != nil {
		return err
	}
	if svc.Namespace == "" {
		svc.Namespace = ns
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Protocol == "" {
			svc.Spec.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	svcs := s.kube.CoreV1().Services(svc.Namespace)
	if old, err := svcs.Get(ctx, svc.Name, metav1.GetOptions{}); err == nil {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		if _, err := svcs.Update(ctx, &svc, metav1.UpdateOptions{}); err != nil {
			return err
		}
	} else {
		s.mu.Lock()
		s.uid++
		svc.Spec.ClusterIP = fmt.Sprintf("10.43.0.%d", 10+s.uid%200)
		s.mu.Unlock()
		if _, err := svcs.Create(ctx, &svc, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc.Name + "-sim", Namespace: svc.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(svc.Spec.Selector) > 0 {
		pods, err := s.kube.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})})
		if err != nil {
			return err
		}
		for i, p := range pods.Items {
			ready := len(p.Status.ContainerStatuses) > 0
			for _, cs := range p.Status.ContainerStatuses {
				ready = ready && cs.Ready
			}
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.42.0.%d", 10+i)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
		}
	}
	slices := s.kube.DiscoveryV1().EndpointSlices(svc.Namespace)
	_, err := slices.Update(ctx, slice, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	}
	return err
}
