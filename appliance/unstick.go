package appliance

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// stuckPods is what a rollback needs to free StatefulSets from pods of the version it undoes.
//
// Why: a StatefulSet (OrderedReady, RollingUpdate) whose new template made a pod that is never Running
// and Ready (image missing, readiness never passing) does not replace that pod when the template is
// reverted: the controller waits for it to become Ready first, forever. Kubernetes documents the cure
// ("forced rollback"): revert the template, then delete the pod. A rollback re-applies the previous
// spec (the template revert); this deletes the pods that block it. Only pods of the revision the
// StatefulSet was updating to when the rollback began, only once the controller has moved to another
// revision (the revert reached it), and only while not Ready. The pod's PersistentVolumeClaims are not
// touched: the controller re-creates the pod on the same claim.
type stuckPods struct {
	ns      string
	failed  map[string]string // StatefulSet name -> its update revision when the rollback began
	deleted map[types.UID]bool
}

// noteStatefulRevisions records, before a rollback applies, the revision each StatefulSet of ns is
// updating to. A listing failure only disables the cure (the rollback proceeds as before).
func (e *engine) noteStatefulRevisions(ctx context.Context, ns string) *stuckPods {
	sts, err := e.c.Kube.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.emit(PhaseRollback, "reading StatefulSets before the rollback: "+err.Error(), nil)
		return nil
	}
	s := &stuckPods{ns: ns, failed: map[string]string{}, deleted: map[types.UID]bool{}}
	for _, st := range sts.Items {
		if st.Status.UpdateRevision != "" {
			s.failed[st.Name] = st.Status.UpdateRevision
		}
	}
	if len(s.failed) == 0 {
		return nil
	}
	return s
}

// freeStuckPods deletes the pods that keep a reverted StatefulSet from rolling back (see stuckPods) and
// returns what it did, one line per pod.
func (e *engine) freeStuckPods(ctx context.Context, s *stuckPods) []string {
	if s == nil {
		return nil
	}
	var notes []string
	for name, failedRev := range s.failed {
		st, err := e.c.Kube.AppsV1().StatefulSets(s.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue // gone or unreachable: the health check reports what matters
		}
		if st.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType ||
			st.Status.ObservedGeneration < st.Generation || st.Status.UpdateRevision == "" || st.Status.UpdateRevision == failedRev {
			continue // the revert has not reached the controller yet, or pods are replaced by hand
		}
		sel, err := metav1.LabelSelectorAsSelector(st.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := e.c.Kube.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Labels[appsv1.StatefulSetRevisionLabel] != failedRev || p.DeletionTimestamp != nil || podReady(p) || s.deleted[p.UID] || !ownedBy(p, st.UID) {
				continue
			}
			uid := p.UID
			err := e.c.Kube.CoreV1().Pods(s.ns).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) {
				e.emit(PhaseRollback, fmt.Sprintf("deleting pod %s/%s stuck on the failed revision: %v", s.ns, p.Name, err), nil)
				continue
			}
			s.deleted[uid] = true
			note := fmt.Sprintf("deleted pod %s/%s (not Ready, of the undone revision %s) so StatefulSet %s can roll back; its volume claims are kept", s.ns, p.Name, failedRev, name)
			e.emit(PhaseRollback, note, nil)
			notes = append(notes, note)
		}
	}
	return notes
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ownedBy(p *corev1.Pod, uid types.UID) bool {
	for _, o := range p.OwnerReferences {
		if o.UID == uid && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}
