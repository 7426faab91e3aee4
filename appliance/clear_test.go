package appliance

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Under failurePolicy abort Ferry clears the failed revisions above the last deployed one before a
// rollback, and never a pending one a running helm job may still own.
func TestClearAbortedRelease(t *testing.T) {
	tests := []struct {
		name      string
		policy    helmv1.FailurePolicy
		jobActive bool
		wantLeft  []string
	}{
		{"abort, no job running", helmv1.FailurePolicyAbort, false, []string{"v1", "v2"}},
		{"abort, job still running", helmv1.FailurePolicyAbort, true, []string{"v1", "v2", "v3", "v4"}},
		{"retry needs no clearing", helmv1.FailurePolicyRetry, false, []string{"v1", "v2", "v3", "v4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, kube, _ := fakeCluster(t)
			ctx := context.Background()
			d := driver.NewSecrets(kube.CoreV1().Secrets("shop"))
			for v, st := range map[int]release.Status{1: release.StatusSuperseded, 2: release.StatusDeployed, 3: release.StatusFailed, 4: release.StatusPendingUpgrade} {
				r := &release.Release{Name: "shop", Namespace: "shop", Version: v, Info: &release.Info{Status: st},
					Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "shop", Version: "1"}}}
				if err := d.Create(fmt.Sprintf("sh.helm.release.v1.shop.v%d", v), r); err != nil {
					t.Fatal(err)
				}
			}
			job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "helm-install-shop", Namespace: DefaultNamespace}}
			if tc.jobActive {
				job.Status.Active = 1
			}
			if _, err := kube.BatchV1().Jobs(DefaultNamespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			e := newEngine(c, Options{})
			hc := &helmv1.HelmChart{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: DefaultNamespace},
				Spec: helmv1.HelmChartSpec{TargetNamespace: "shop", FailurePolicy: tc.policy}}
			if _, err := e.clearAbortedRelease(ctx, hc); err != nil {
				t.Fatal(err)
			}
			list, _ := kube.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{})
			var left []string
			for _, s := range list.Items {
				left = append(left, s.Labels["version"])
			}
			sort.Strings(left)
			for i := range left {
				left[i] = "v" + left[i]
			}
			if d := cmp.Diff(tc.wantLeft, left); d != "" {
				t.Error(d)
			}
		})
	}
}
