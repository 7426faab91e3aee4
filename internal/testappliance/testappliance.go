package testappliance

import (
	"context"
	"testing"
	"time"

	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
)

// Cluster returns a cluster of fake clientsets (Kube is a *kfake.Clientset, for reactors) with the
// simulated helm-controller, klipper-helm and kubelet working it until the test ends.
func Cluster(t testing.TB) *appliance.Cluster {
	t.Helper()
	c := &appliance.Cluster{Kube: kfake.NewClientset(), Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	return c
}

// Options polls every 2 ms and gives up after 5 s: the simulation answers within milliseconds.
func Options() appliance.Options {
	return appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second}
}

// Bundle is app "shop" at version, from chart, into namespace "shop", whose default image is
// registry.local/shop:<version>.
func Bundle(version string, chart []byte) appliance.Bundle {
	return appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: version, Chart: chart, TargetNamespace: "shop",
		Defaults: map[string]any{"image": "registry.local/shop:" + version}}}
}

// DeployVersions deploys Bundle(versions[0], chart(t, versions[0])) and upgrades through the rest in
// order; any error fails the test.
func DeployVersions(t testing.TB, c *appliance.Cluster, o appliance.Options, chart func(testing.TB, string) []byte, versions ...string) {
	t.Helper()
	for i, v := range versions {
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		if _, err := verb(context.Background(), c, Bundle(v, chart(t, v)), o); err != nil {
			t.Fatalf("deploying shop %s: %v", v, err)
		}
	}
}
