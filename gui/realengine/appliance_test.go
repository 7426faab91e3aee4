package realengine

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	hfake "github.com/k3s-io/helm-controller/pkg/generated/clientset/versioned/fake"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/internal/progress"
)

func chartTGZ(t *testing.T, version string) []byte {
	t.Helper()
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version}}
	p, err := chartutil.Save(c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Status, History and Rollback through the adapter on the appliance's simulated cluster (fake clientsets
// plus a helm-controller stand-in): shop 1.0.0 deployed, then upgraded to 2.0.0.
func TestManageOnSimulatedCluster(t *testing.T) {
	c := &appliance.Cluster{Kube: kfake.NewClientset(), Helm: hfake.NewSimpleClientset()}
	appliancetest.Start(t, c.Kube, c.Helm, appliance.DefaultNamespace)
	ao := appliance.Options{PollInterval: 2 * time.Millisecond, Timeout: 5 * time.Second}
	for i, v := range []string{"1.0.0", "2.0.0"} {
		b := appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: v, Chart: chartTGZ(t, v), TargetNamespace: "shop",
			Defaults: map[string]any{"image": "registry.local/shop:" + v}}}
		verb := appliance.Deploy
		if i > 0 {
			verb = appliance.Upgrade
		}
		if _, err := verb(context.Background(), c, b, ao); err != nil {
			t.Fatal(err)
		}
	}
	store := siterecord.Store{Root: t.TempDir()}
	if err := store.Save(siterecord.Record{Name: "plant", App: "shop"}); err != nil {
		t.Fatal(err)
	}
	s := engine.Site{Name: "plant", Dir: store.Dir("plant"), Hosts: []engine.Host{{Name: "cp", Address: "10.0.0.1", Role: engine.RoleServer}}}
	opened := 0
	e := New(Options{Appliance: ao, Cluster: func(context.Context, engine.Site) (*appliance.Cluster, func(), error) {
		opened++
		return c, func() { opened-- }, nil
	}})
	ctx := context.Background()

	st, err := e.Status(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if st.App != "shop" || st.Version != "2.0.0" || st.Health != engine.Healthy {
		t.Fatalf("status: %+v", st)
	}
	hist, err := e.History(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != "2.0.0" || hist[0].Action != "upgrade" || hist[1].Version != "1.0.0" || hist[1].Action != "install" ||
		hist[0].Result != "succeeded" || !hist[1].Kept {
		t.Fatalf("history: %+v", hist)
	}
	var events int
	rel, err := e.Rollback(ctx, s, "1.0.0", func(progress.Event) { events++ })
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "1.0.0" || events == 0 {
		t.Fatalf("rollback: %+v after %d events", rel, events)
	}
	if st, err := e.Status(ctx, s); err != nil || st.Version != "1.0.0" {
		t.Fatalf("status after rollback: %+v, %v", st, err)
	}
	if _, err := e.Rollback(ctx, s, "0.9.0", nil); !errors.Is(err, engine.ErrNoKeptVersion) || !errors.Is(err, appliance.ErrNoRollbackTarget) {
		t.Fatalf("rollback to a version never installed: %v", err)
	}
	if opened != 0 {
		t.Fatalf("%d cluster connections left open", opened)
	}
	if _, err := e.Install(ctx, engine.InstallRequest{Site: s}, nil); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("install: %v", err)
	}
}
