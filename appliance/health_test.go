package appliance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kfake "k8s.io/client-go/kubernetes/fake"
)

const (
	hashNew = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	hashOld = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
)

// manifest is the shop release's manifest as helm stores it: web, db and web's Service.
const manifest = `---
# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
# Source: shop/templates/db.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
---
# Source: shop/templates/svc.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
`

// helmReleases writes releases with helm's own storage driver and reads them back through Ferry's
// decoder, so the test exercises the real encoding (JSON, gzip, base64 in a Secret).
func helmReleases(t *testing.T, rels ...*release.Release) []*Release {
	t.Helper()
	k := kfake.NewClientset()
	d := driver.NewSecrets(k.CoreV1().Secrets("shop"))
	for _, r := range rels {
		r.Name, r.Namespace = "shop", "shop"
		r.Chart = &chart.Chart{Metadata: &chart.Metadata{Name: "shop", Version: "2.0.0"}}
		if r.Manifest == "" {
			r.Manifest = manifest
		}
		if err := d.Create(fmt.Sprintf("sh.helm.release.v1.shop.v%d", r.Version), r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := k.CoreV1().Secrets("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeReleases("shop", list.Items)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// shopChart is the app's HelmChart as Deploy applies it: in DefaultNamespace, targeting the app's namespace.
func shopChart() *helmv1.HelmChart {
	return &helmv1.HelmChart{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: DefaultNamespace}, Spec: helmv1.HelmChartSpec{TargetNamespace: "shop"}}
}

func rel(v int, status release.Status, hash, desc string) *release.Release {
	return &release.Release{Version: v, Info: &release.Info{Status: status, Description: desc}, Labels: map[string]string{LabelConfigHash: hash[:63]}}
}

func unlabelled(r *release.Release) *release.Release { r.Labels = nil; return r }

func helmJob(uid string, cond batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "helm-install-shop", Namespace: DefaultNamespace, UID: typesUID(uid)},
		Spec: batchv1.JobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": uid}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{LabelConfigHash: "SHA256=" + hashNew}}},
		},
	}
	switch cond {
	case "":
		j.Status.Active = 1
	case batchv1.JobFailed:
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
	default:
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
	}
	return j
}

func deployment(replicas, updated, available int32, gen, observed int64) appsv1.Deployment {
	return appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
			ReadyReplicas: available, AvailableReplicas: available},
	}
}

func statefulSet(ready int32, current, update string) appsv1.StatefulSet {
	one := int32(1)
	return appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", Generation: 2},
		Spec:       appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 1, ReadyReplicas: ready, UpdatedReplicas: 1,
			CurrentRevision: current, UpdateRevision: update},
	}
}

func pullingPod(reason string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f-abcde", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-2", Containers: []corev1.Container{{Name: "web", Image: "registry.local/shop:2.0.0"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "web",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "rpc error: pull access denied"}}}}},
	}
}

func TestEvaluate(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	chart := shopChart()
	failedChart := chart.DeepCopy()
	failedChart.Status.Conditions = []helmv1.HelmChartCondition{{Type: helmv1.HelmChartFailed, Status: corev1.ConditionTrue, Reason: "Job failed", Message: "Job has reached configured number of retries without succeeding"}}
	badChart := chart.DeepCopy()
	badChart.Status.Conditions = []helmv1.HelmChartCondition{{Type: helmv1.HelmChartFailed, Status: corev1.ConditionTrue, Reason: "Job create failed", Message: "Failed to generate Job: bad timeout"}}
	deployed := func() []*Release {
		return helmReleases(t, rel(1, release.StatusSuperseded, hashOld, "Install complete"), rel(2, release.StatusDeployed, hashNew, "Upgrade complete"))
	}
	good := func(s Snapshot) Snapshot {
		s.Chart, s.StaleJobUID, s.Started, s.Now, s.Timeout = chart, "old", start, start.Add(time.Minute), 10*time.Minute
		if s.Job == nil {
			s.Job = helmJob("new", batchv1.JobComplete)
		}
		if s.Releases == nil {
			s.Releases = deployed()
		}
		if s.Deployments == nil {
			s.Deployments = []appsv1.Deployment{deployment(2, 2, 2, 3, 3)}
		}
		if s.StatefulSets == nil {
			s.StatefulSets = []appsv1.StatefulSet{statefulSet(1, "db-2", "db-2")}
		}
		return s
	}
	jobPodFailed := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "helm-install-shop-x1", Namespace: DefaultNamespace, Labels: map[string]string{"batch.kubernetes.io/controller-uid": "new"}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "helm",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "Error: UPGRADE FAILED: cannot patch \"web\""}}}}},
	}
	crashEvent := corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "shop"}, Type: corev1.EventTypeWarning, Reason: "FailedScheduling",
		Message: "0/1 nodes are available: insufficient memory", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-7d9f-abcde"}}
	pendingPod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f-abcde", Namespace: "shop", Labels: map[string]string{"app": "web"}}, Status: corev1.PodStatus{Phase: corev1.PodPending}}

	tests := []struct {
		name       string
		snap       Snapshot
		want       State
		reasonHas  string
		waitingHas string
	}{
		{"no HelmChart", Snapshot{}, Failed, "does not exist", ""},
		{"job not created yet", Snapshot{Chart: chart, StaleJobUID: "old", Job: helmJob("old", batchv1.JobComplete)}, InProgress, "", "helm-controller to start job helm-install-shop"},
		{"failure of the previous job is not ours", Snapshot{Chart: failedChart, StaleJobUID: "old", Job: helmJob("old", batchv1.JobFailed)}, InProgress, "", "helm-controller to start job"},
		{"helm-controller cannot build the job", Snapshot{Chart: badChart, StaleJobUID: "old"}, Failed, "Failed to generate Job: bad timeout", ""},
		{"helm job running", good(Snapshot{Job: helmJob("new", "")}), InProgress, "", "helm job helm-install-shop to complete"},
		{"helm job failed, cause from its pod", good(Snapshot{Job: helmJob("new", batchv1.JobFailed), Pods: []corev1.Pod{jobPodFailed}}), Failed, "Error: UPGRADE FAILED: cannot patch", ""},
		{"helm release failed while the job retries", good(Snapshot{Job: helmJob("new", ""), Releases: helmReleases(t, rel(1, release.StatusDeployed, hashOld, ""), rel(2, release.StatusFailed, hashNew, "Upgrade \"shop\" failed: timed out waiting for the condition"))}), Failed, "revision 2 failed: Upgrade \"shop\" failed", ""},
		{"job done but release from another config", good(Snapshot{Releases: helmReleases(t, rel(1, release.StatusDeployed, hashOld, ""))}), InProgress, "", "made by job helm-install-shop"},
		{"job done and no release at all", good(Snapshot{Releases: []*Release{}}), Failed, "does not exist", ""},
		{"release pending", good(Snapshot{Releases: helmReleases(t, rel(2, release.StatusPendingUpgrade, hashNew, ""))}), InProgress, "", "(pending-upgrade)"},
		{"deployment not observed", good(Snapshot{Deployments: []appsv1.Deployment{deployment(2, 2, 2, 4, 3)}}), InProgress, "", "Deployment shop/web to be observed"},
		{"deployment updating", good(Snapshot{Deployments: []appsv1.Deployment{deployment(2, 1, 2, 3, 3)}}), InProgress, "", "to update replicas (1/2 updated)"},
		{"deployment not available, scheduling warning shown", good(Snapshot{Deployments: []appsv1.Deployment{deployment(2, 2, 1, 3, 3)}, Pods: []corev1.Pod{pendingPod}, Events: []corev1.Event{crashEvent}}), InProgress, "", "insufficient memory"},
		{"image missing", good(Snapshot{Deployments: []appsv1.Deployment{deployment(2, 2, 1, 3, 3)}, Pods: []corev1.Pod{pullingPod("ErrImagePull")}}), Failed, "image registry.local/shop:2.0.0 missing on node node-2", ""},
		{"image pull back-off", good(Snapshot{Deployments: []appsv1.Deployment{deployment(2, 2, 1, 3, 3)}, Pods: []corev1.Pod{pullingPod("ImagePullBackOff")}}), Failed, "missing on node node-2", ""},
		{"progress deadline exceeded", good(Snapshot{Deployments: []appsv1.Deployment{func() appsv1.Deployment {
			d := deployment(2, 1, 1, 3, 3)
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet \"web-7d9f\" has timed out progressing."}}
			return d
		}()}}), Failed, "progress deadline", ""},
		{"statefulset mid rolling update", good(Snapshot{StatefulSets: []appsv1.StatefulSet{statefulSet(1, "db-1", "db-2")}}), InProgress, "", "StatefulSet shop/db to finish its rolling update"},
		{"workload not created", good(Snapshot{StatefulSets: []appsv1.StatefulSet{}}), InProgress, "", "StatefulSet shop/db to be created"},
		{"timed out", func() Snapshot {
			s := good(Snapshot{StatefulSets: []appsv1.StatefulSet{statefulSet(0, "db-2", "db-2")}})
			s.Now = start.Add(11 * time.Minute)
			return s
		}(), Failed, "timed out after 10m0s waiting for StatefulSet shop/db to become ready (0/1 ready)", ""},
		{"healthy", good(Snapshot{}), Healthy, "revision 2 deployed, 2 workload(s) rolled out", ""},
		{"unlabelled release newer than before the apply is this spec's", good(Snapshot{StaleRevision: 2, Releases: helmReleases(t, unlabelled(rel(3, release.StatusDeployed, hashNew, "")), unlabelled(rel(2, release.StatusSuperseded, hashOld, "")))}), Healthy, "revision 3 deployed", ""},
		{"unlabelled release from before the apply is not", good(Snapshot{StaleRevision: 2, Releases: helmReleases(t, unlabelled(rel(2, release.StatusDeployed, hashOld, "")))}), InProgress, "", "made by job helm-install-shop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Evaluate(tc.snap)
			if h.State != tc.want {
				t.Fatalf("state = %s (%s, waiting %v), want %s", h.State, h.Reason, h.Waiting, tc.want)
			}
			if !strings.Contains(h.Reason, tc.reasonHas) {
				t.Errorf("reason %q lacks %q", h.Reason, tc.reasonHas)
			}
			if w := strings.Join(h.Waiting, "; "); !strings.Contains(w, tc.waitingHas) {
				t.Errorf("waiting %q lacks %q", w, tc.waitingHas)
			}
		})
	}
}

func TestDecodeReleaseRejectsGarbage(t *testing.T) {
	s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.shop.v1", Labels: map[string]string{"owner": "helm", "name": "shop"}},
		Type: releaseSecretType, Data: map[string][]byte{"release": []byte("!!not base64")}}
	if _, err := decodeReleases("shop", []corev1.Secret{s}); err == nil {
		t.Fatal("garbage release decoded")
	}
	rs := helmReleases(t, rel(3, release.StatusDeployed, hashNew, "ok"))
	if len(rs) != 1 || rs[0].Version != 3 || rs[0].ConfigHash != hashNew[:63] || rs[0].Info.Status != release.StatusDeployed {
		t.Fatalf("decoded %+v", rs[0])
	}
}

// collect reads the workloads a release renders into another namespace, so health sees them.
func TestCollectFollowsReleaseNamespaces(t *testing.T) {
	c, kube, h := fakeCluster(t)
	ctx := context.Background()
	hc := shopChart()
	if _, err := h.HelmV1().HelmCharts(DefaultNamespace).Create(ctx, hc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.BatchV1().Jobs(DefaultNamespace).Create(ctx, helmJob("new", batchv1.JobComplete), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rel(1, release.StatusDeployed, hashNew, "Install complete")
	r.Name, r.Namespace = "shop", "shop"
	r.Chart = &chart.Chart{Metadata: &chart.Metadata{Name: "shop", Version: "1"}}
	r.Manifest = "---\n# Source: shop/templates/agent.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: agent\n  namespace: shop-agents\n"
	if err := driver.NewSecrets(kube.CoreV1().Secrets("shop")).Create("sh.helm.release.v1.shop.v1", r); err != nil {
		t.Fatal(err)
	}
	d := deployment(1, 1, 1, 1, 1)
	d.Name, d.Namespace = "agent", "shop-agents"
	if _, err := kube.AppsV1().Deployments("shop-agents").Create(ctx, &d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := collect(ctx, c, DefaultNamespace, "shop", "old", 0, time.Time{}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := Evaluate(s); got.State != Healthy {
		t.Fatalf("health %v waiting %v", got, got.Waiting)
	}
}
