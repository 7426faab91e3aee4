package realengine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/payload"
)

// engine.Engine's contract: Upgrade with nil values keeps the values the site runs with. A site reopened
// in the wizard (its settings are not kept on the laptop) upgrades with its own settings still applied,
// under the new version's defaults; values given replace them.
func TestUpgradeWithoutValuesKeepsTheSiteSettings(t *testing.T) {
	c := &appliance.Cluster{Kube: kfake.NewClientset(), Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	ao := appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second}
	ctx := context.Background()
	store := siterecord.Store{Root: t.TempDir()}
	if err := store.Save(siterecord.Record{Name: "plant", App: "shop"}); err != nil {
		t.Fatal(err)
	}
	s := engine.Site{Name: "plant", Dir: store.Dir("plant"), Hosts: []engine.Host{{Name: "cp", Address: "10.0.0.1", Role: engine.RoleServer}}}
	e := New(Options{Appliance: ao, Cluster: func(context.Context, engine.Site) (*appliance.Cluster, func(), error) { return c, func() {}, nil }})
	// The install's deploy, with the settings the user chose.
	if _, err := appliance.Deploy(ctx, c, appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: "1.0.0",
		Chart: chartTGZ(t, "1.0.0"), TargetNamespace: "shop", Overrides: map[string]any{"replicas": 5, "greeting": "plant 7"}}},
		e.applianceOptions(s, nil)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop-1.1.0.ferry")
	if err := payload.Write(ctx, path, source(t), payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := e.OpenBundle(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	live := func() string {
		hc, err := c.Helm.HelmV1().HelmCharts(appliance.DefaultNamespace).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return hc.Spec.ValuesContent
	}
	if res, err := e.Upgrade(ctx, s, b, nil, nil); err != nil || res.Version != "1.1.0" {
		t.Fatalf("upgrade: %+v %v", res, err)
	}
	if v := live(); !strings.Contains(v, "replicas: 5") || !strings.Contains(v, "greeting: plant 7") {
		t.Fatalf("an upgrade without values dropped the site's settings:\n%s", v)
	}
}
