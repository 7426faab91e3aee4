package appliancetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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

// configHash stands in for helm-controller's job config hash: any function of the spec will do.
func configHash(spec helmv1.HelmChartSpec) string {
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func (s *Sim) step(ctx context.Context) {
	charts, err := s.helm.HelmV1().HelmCharts(s.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range charts.Items {
		hc := &charts.Items[i]
		h := configHash(hc.Spec)
		s.mu.Lock()
		done := s.seen[hc.Name] == h
		s.mu.Unlock()
		if done {
			s.finishHeld(ctx, hc, h)
			continue
		}
		if err := s.run(ctx, hc, h); err != nil {
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

func (s *Sim) run(ctx context.Context, hc *helmv1.HelmChart, hash string) error {
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
	var vals simValues
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &vals); err != nil {
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
	rls := &release.Release{Name: hc.Name, Namespace: target, Version: rev,
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: hc.Name, Version: "0"}},
		Info:   &release.Info{Status: release.StatusDeployed, Description: "Upgrade complete"},
		Labels: map[string]string{labelConfigHash: hash[:63]},
		Manifest: "---\n# Source: app/templates/web.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" +
			"---\n# Source: app/templates/db.yaml\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n"}
	if vals.Sim.Mode == "helmFail" {
		rls.Info = &release.Info{Status: release.StatusFailed, Description: "Upgrade \"" + hc.Name + "\" failed: template: web.yaml:3: function \"nope\" not defined"}
		if err := store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, rev), rls); err != nil {
			return err
		}
		if hc.Spec.FailurePolicy == helmv1.FailurePolicyRetry {
			// klipper-helm's retry policy runs helm upgrade and exits 0 whatever helm said.
			job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			_, err := kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
			return err
		}
		return s.failJob(ctx, job, "Error: UPGRADE FAILED: template: web.yaml:3: function \"nope\" not defined")
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
	if err := s.workloads(ctx, target, vals); err != nil {
		return err
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	job.Status.Succeeded = 1
	_, err := kube.BatchV1().Jobs(s.ns).Create(ctx, job, metav1.CreateOptions{})
	return err
}

// finishHeld completes a held job once the test releases it.
func (s *Sim) finishHeld(ctx context.Context, hc *helmv1.HelmChart, hash string) {
	select {
	case <-s.hold:
	default:
		return
	}
	job, err := s.kube.BatchV1().Jobs(s.ns).Get(ctx, "helm-install-"+hc.Name, metav1.GetOptions{})
	if err != nil || job.Status.Active == 0 {
		return
	}
	var vals simValues
	_ = yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &vals)
	vals.Sim.Mode = "ok"
	cp := hc.DeepCopy()
	b, _ := yaml.Marshal(map[string]any{"image": vals.Image, "sim": map[string]any{"mode": "ok"}})
	cp.Spec.ValuesContent = string(b)
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
	rls := &release.Release{Name: hc.Name, Namespace: hc.Spec.TargetNamespace, Version: rev,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: hc.Name, Version: "0"}},
		Info:  &release.Info{Status: release.StatusDeployed}, Labels: map[string]string{labelConfigHash: hash[:63]},
		Manifest: "---\n# Source: a/web.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"}
	_ = store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", hc.Name, rev), rls)
	_ = s.workloads(ctx, hc.Spec.TargetNamespace, vals)
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

// workloads renders Deployment web (the app image) and StatefulSet db with its PVC, and their pods as
// the kubelet would leave them for the mode.
func (s *Sim) workloads(ctx context.Context, ns string, v simValues) error {
	kube := s.kube
	one := int32(1)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: sel},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + strings.NewReplacer(":", "-", "/", "-", ".", "-").Replace(v.Image), Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: v.Image}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Image: v.Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	switch v.Sim.Mode {
	case "neverReady":
		dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = 0, 0
		pod.Status.ContainerStatuses[0].Ready = false
	case "imageMissing":
		dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = 0, 0
		pod.Status.Phase = corev1.PodPending
		pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "web", Image: v.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}
	}
	if _, err := kube.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	pods, _ := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	for _, p := range pods.Items {
		_ = kube.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	st := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "db-1", UpdateRevision: "db-1"},
	}
	if _, err := kube.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := kube.AppsV1().StatefulSets(ns).Create(ctx, st, metav1.CreateOptions{}); err != nil {
			return err
		}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Namespace: ns}}
		if _, err := kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}
