package appliancetest

import (
	"os"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// ChartArchive writes c with helm's own chart writer (as `helm package` does) and returns the .tgz bytes.
// Tests build their charts in memory and hand the archive to the engine, which takes charts as bytes.
func ChartArchive(t testing.TB, c *chart.Chart) []byte {
	t.Helper()
	p, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatalf("packaging test chart %s: %v", c.Name(), err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading test chart %s: %v", c.Name(), err)
	}
	return b
}

// DeploymentsUnavailable makes every Deployment kube lists from now on read as having no available or
// ready replica, whatever the Sim wrote: the app is stuck unhealthy, so waits time out.
func DeploymentsUnavailable(kube *kfake.Clientset) {
	kube.PrependReactor("list", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := kube.Tracker().List(appsv1.SchemeGroupVersion.WithResource("deployments"), appsv1.SchemeGroupVersion.WithKind("Deployment"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		l := obj.(*appsv1.DeploymentList)
		for i := range l.Items {
			l.Items[i].Status.AvailableReplicas, l.Items[i].Status.ReadyReplicas = 0, 0
		}
		return true, l, nil
	})
}
