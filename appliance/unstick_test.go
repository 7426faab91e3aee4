package appliance

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

func stuckSet(name, update string, gen, observed int64, strategy appsv1.StatefulSetUpdateStrategyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(name + "-uid"), Generation: gen},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, UpdateRevision: update},
	}
}

func stuckPod(set, name, rev string, ready bool, owner types.UID) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(name + "-uid"),
			Labels:          map[string]string{"app": set, appsv1.StatefulSetRevisionLabel: rev},
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: set, UID: owner, Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// A rollback frees a reverted StatefulSet from the not-Ready pods of the revision it undoes (the
// kubernetes "forced rollback"), and touches nothing else: Ready pods, pods of other revisions, sets the
// revert has not reached yet, OnDelete sets, pods another controller owns, PVCs.
func TestFreeStuckStatefulPods(t *testing.T) {
	ctx := context.Background()
	objs := []runtime.Object{
		// before the rollback: db and cache were updating to their v3 revisions
		stuckSet("db", "db-v3", 4, 4, appsv1.RollingUpdateStatefulSetStrategyType),
		stuckSet("cache", "cache-v3", 2, 2, ""),
		stuckSet("slow", "slow-v3", 2, 2, appsv1.RollingUpdateStatefulSetStrategyType),
		stuckSet("manual", "manual-v3", 2, 2, appsv1.OnDeleteStatefulSetStrategyType),
		stuckPod("db", "db-0", "db-v3", false, "db-uid"),             // stuck: deleted
		stuckPod("db", "db-1", "db-v3", true, "db-uid"),              // Ready: the controller replaces it
		stuckPod("db", "db-2", "db-v2", false, "db-uid"),             // already the good revision
		stuckPod("db", "db-x", "db-v3", false, "other-uid"),          // not this set's
		stuckPod("cache", "cache-0", "cache-v3", false, "cache-uid"), // stuck, default strategy: deleted
		stuckPod("slow", "slow-0", "slow-v3", false, "slow-uid"),
		stuckPod("manual", "manual-0", "manual-v3", false, "manual-uid"),
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Namespace: "shop"}},
	}
	kube := kfake.NewClientset(objs...)
	e := newEngine(&Cluster{Kube: kube, Helm: hfake.NewSimpleClientset()}, Options{})
	s := e.noteStatefulRevisions(ctx, "shop")
	if got := e.freeStuckPods(ctx, s); len(got) != 0 {
		t.Fatalf("before the revert reached any controller: %v", got)
	}
	// The rollback's apply reverts the templates; db's and cache's controllers have seen it, slow's not.
	revert := func(name, rev string, gen, observed int64) {
		st, _ := kube.AppsV1().StatefulSets("shop").Get(ctx, name, metav1.GetOptions{})
		st.Generation, st.Status.ObservedGeneration, st.Status.UpdateRevision = gen, observed, rev
		if _, err := kube.AppsV1().StatefulSets("shop").Update(ctx, st, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	revert("db", "db-v2", 5, 5)
	revert("cache", "cache-v2", 3, 3)
	revert("slow", "slow-v2", 3, 2)
	revert("manual", "manual-v2", 3, 3)
	notes := e.freeStuckPods(ctx, s)
	if len(notes) != 2 {
		t.Errorf("notes: %q", notes)
	}
	if again := e.freeStuckPods(ctx, s); len(again) != 0 {
		t.Errorf("second pass acted again: %q", again)
	}
	pods, _ := kube.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	sort.Strings(left)
	if d := cmp.Diff([]string{"db-1", "db-2", "db-x", "manual-0", "slow-0"}, left); d != "" {
		t.Errorf("pods left (-want +got):\n%s", d)
	}
	if _, err := kube.CoreV1().PersistentVolumeClaims("shop").Get(ctx, "data-db-0", metav1.GetOptions{}); err != nil {
		t.Errorf("claim: %v", err)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource != "pods" {
			t.Errorf("deleted a %s", a.GetResource().Resource)
		}
	}
}

// When the automatic rollback does not become healthy either, the caller is told so: the error names
// both failures and Result.RolledBack is false (ferryctl reported only the upgrade's cause before).
func TestAutoRollbackUnhealthyIsReported(t *testing.T) {
	c, kube, _ := fakeCluster(t)
	startSim(t, c)
	o := testOptions(t, &eventLog{})
	ctx := context.Background()
	for i, v := range []string{"1.0.0", "2.0.0"} {
		verb := Deploy
		if i > 0 {
			verb = Upgrade
		}
		if _, err := verb(ctx, c, bundle(t, v, "ok"), o); err != nil {
			t.Fatal(err)
		}
	}
	// From here every Deployment reads as unavailable: v3 times out and so does the rollback to v2.
	appliancetest.DeploymentsUnavailable(kube)
	o.Timeout = 300 * time.Millisecond
	res, err := Upgrade(ctx, c, bundle(t, "3.0.0", "ok"), o)
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "upgrading shop to 3.0.0") ||
		!strings.Contains(err.Error(), "rolling back to 2.0.0: "+ErrUnhealthy.Error()) {
		t.Fatalf("err = %v, want both the upgrade's and the rollback's failure", err)
	}
	if res.RolledBack || res.RolledBackTo != "2.0.0" {
		t.Errorf("RolledBack %v to %q, want false to 2.0.0", res.RolledBack, res.RolledBackTo)
	}
}
