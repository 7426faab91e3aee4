package appliance

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// collect reads one Snapshot of an app from the cluster. Lists are per namespace and filtered here: the
// release's own manifest says which workloads count.
func collect(ctx context.Context, c *Cluster, ns, app string, stale types.UID, staleRev int, started time.Time, timeout time.Duration, now time.Time) (Snapshot, error) {
	s := Snapshot{StaleJobUID: stale, StaleRevision: staleRev, Started: started, Timeout: timeout, Now: now}
	hc, err := c.Helm.HelmV1().HelmCharts(ns).Get(ctx, app, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return s, nil
	case err != nil:
		return s, fmt.Errorf("reading HelmChart %s/%s: %w", ns, app, err)
	}
	s.Chart = hc
	target := hc.Spec.TargetNamespace
	if target == "" {
		target = ns
	}
	job, err := c.Kube.BatchV1().Jobs(ns).Get(ctx, "helm-install-"+app, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return s, fmt.Errorf("reading helm job of %s: %w", app, err)
	default:
		s.Job = job
	}
	sel := labels.SelectorFromSet(labels.Set{"owner": "helm", "name": app}).String()
	secrets, err := c.Kube.CoreV1().Secrets(target).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return s, fmt.Errorf("listing helm releases of %s: %w", app, err)
	}
	if s.Releases, err = decodeReleases(app, secrets.Items); err != nil {
		return s, err
	}
	deps, err := c.Kube.AppsV1().Deployments(target).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing deployments in %s: %w", target, err)
	}
	s.Deployments = deps.Items
	sts, err := c.Kube.AppsV1().StatefulSets(target).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing statefulsets in %s: %w", target, err)
	}
	s.StatefulSets = sts.Items
	dss, err := c.Kube.AppsV1().DaemonSets(target).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing daemonsets in %s: %w", target, err)
	}
	s.DaemonSets = dss.Items
	jobs, err := c.Kube.BatchV1().Jobs(target).List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing jobs in %s: %w", target, err)
	}
	s.Jobs = jobs.Items
	for _, n := range uniq(target, ns) {
		pods, err := c.Kube.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return s, fmt.Errorf("listing pods in %s: %w", n, err)
		}
		s.Pods = append(s.Pods, pods.Items...)
		evs, err := c.Kube.CoreV1().Events(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return s, fmt.Errorf("listing events in %s: %w", n, err)
		}
		s.Events = append(s.Events, evs.Items...)
	}
	return s, nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}
