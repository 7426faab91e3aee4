package realengine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/internal/testappliance"
	"github.com/ferry-delivery/ferry/payload"
)

// engine.Engine's contract: Upgrade with nil values keeps the values the site runs with. A site reopened
// in the wizard (its settings are not kept on the laptop) upgrades with its own settings still applied,
// under the new version's defaults; values given replace them.
func TestUpgradeWithoutValuesKeepsTheSiteSettings(t *testing.T) {
	c := testappliance.Cluster(t)
	ao := testappliance.Options()
	ctx := context.Background()
	s := plantSite(t)
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
