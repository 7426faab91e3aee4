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
	// Workloads live in the target namespace unless the chart names another one: read every namespace
	// the newest release renders into.
	namespaces := map[string]bool{target: true, ns: true}
	if len(s.Releases) > 0 {
		if refs, err := releaseWorkloads(s.Releases[0], target); err == nil {
			for _, r := range refs {
				namespaces[r.Namespace] = true
			}
		}
	}
	for n := range namespaces {
		if err := collectNamespace(ctx, c, n, &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func collectNamespace(ctx context.Context, c *Cluster, n string, s *Snapshot) error {
	deps, err := c.Kube.AppsV1().Deployments(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing deployments in %s: %w", n, err)
	}
	s.Deployments = append(s.Deployments, deps.Items...)
	sts, err := c.Kube.AppsV1().StatefulSets(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing statefulsets in %s: %w", n, err)
	}
	s.StatefulSets = append(s.StatefulSets, sts.Items...)
	dss, err := c.Kube.AppsV1().DaemonSets(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing daemonsets in %s: %w", n, err)
	}
	s.DaemonSets = append(s.DaemonSets, dss.Items...)
	jobs, err := c.Kube.BatchV1().Jobs(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing jobs in %s: %w", n, err)
	}
	s.Jobs = append(s.Jobs, jobs.Items...)
	pods, err := c.Kube.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing pods in %s: %w", n, err)
	}
	s.Pods = append(s.Pods, pods.Items...)
	evs, err := c.Kube.CoreV1().Events(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing events in %s: %w", n, err)
	}
	s.Events = append(s.Events, evs.Items...)
	return nil
}
