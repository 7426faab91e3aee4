package realengine

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-delivery/ferry/appliance"
	"github.com/ferry-delivery/ferry/appliance/appliancetest"
	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/testappliance"
	"github.com/ferry-delivery/ferry/payload"
)

func chartTGZ(t testing.TB, version string) []byte {
	return appliancetest.ChartArchive(t, &chart.Chart{Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(webChart)}}})
}

// plantSite is site "plant" running app "shop", recorded in a fresh site store, with one server host.
func plantSite(t *testing.T) engine.Site {
	t.Helper()
	store := siterecord.Store{Root: t.TempDir()}
	if err := store.Save(siterecord.Record{Name: "plant", App: "shop"}); err != nil {
		t.Fatal(err)
	}
	return engine.Site{Name: "plant", Dir: store.Dir("plant"), Hosts: []engine.Host{{Name: "cp", Address: "10.0.0.1", Role: engine.RoleServer}}}
}

// webChart is the test app: one Deployment and the Service in front of it.
const webChart = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: {{ .Values.image | default "registry.local/shop:0" | quote }}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 443, targetPort: 8443, nodePort: 30443}]
`

// Status, History and Rollback through the adapter on the appliance's simulated cluster (fake clientsets
// plus a helm-controller stand-in): shop 1.0.0 deployed, then upgraded to 2.0.0.
func TestManageOnSimulatedCluster(t *testing.T) {
	c := testappliance.Cluster(t)
	if _, err := c.Kube.CoreV1().Nodes().Create(context.Background(), node("cp", "v1.33.4+k3s1", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ao := testappliance.Options()
	testappliance.DeployVersions(t, c, ao, chartTGZ, "1.0.0", "2.0.0")
	s := plantSite(t)
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
	if st.App != "shop" || st.Version != "2.0.0" || st.Health != engine.Healthy || st.K3sVersion != "v1.33.4+k3s1" || st.K3sMixed {
		t.Fatalf("status: %+v", st)
	}
	// The components come from the appliance's per-workload listing: the Deployment's replicas and the
	// Service's address, ports and endpoints (the simulated cluster runs one pod per Deployment).
	if len(st.Components) != 2 {
		t.Fatalf("components: %+v", st.Components)
	}
	dep, svc := st.Components[0], st.Components[1]
	if want := (engine.Component{Kind: "Deployment", Name: "web", State: engine.Healthy, Ready: "2/2", RolledOut: true}); !reflect.DeepEqual(dep, want) {
		t.Errorf("deployment: %+v, want %+v", dep, want)
	}
	if svc.Kind != "Service" || svc.State != engine.Healthy || !strings.HasPrefix(svc.Address, "NodePort 10.43.") ||
		!reflect.DeepEqual(svc.Ports, []string{"443→8443/TCP node 30443"}) || svc.Ready != "1/1" || svc.Detail != "" {
		t.Errorf("service: %+v", svc)
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
	// Install without a readable bundle stops before any host is contacted.
	if _, err := e.Install(ctx, engine.InstallRequest{Site: s}, nil); !errors.Is(err, engine.ErrBundleCorrupt) {
		t.Fatalf("install without a bundle: %v", err)
	}
}

// PlanUpgrade and Upgrade through the adapter with a real bundle written by payload.Write: a plan that
// changes nothing, an upgrade whose helm run fails and is rolled back by the appliance (the result says
// so), then one that succeeds.
func TestUpgradeOnSimulatedCluster(t *testing.T) {
	c := testappliance.Cluster(t)
	ao := testappliance.Options()
	if _, err := appliance.Deploy(context.Background(), c, appliance.Bundle{SpecInput: appliance.SpecInput{App: "shop", Version: "1.0.0",
		Chart: chartTGZ(t, "1.0.0"), TargetNamespace: "shop-prod"}}, ao); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop-1.1.0.ferry")
	if err := payload.Write(context.Background(), path, source(t), payload.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s := plantSite(t)
	e := New(Options{Appliance: ao, Cluster: func(context.Context, engine.Site) (*appliance.Cluster, func(), error) { return c, func() {}, nil }})
	ctx := context.Background()
	b, err := e.OpenBundle(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}

	plan, err := e.PlanUpgrade(ctx, s, b)
	if err != nil {
		t.Fatal(err)
	}
	if plan.To != "1.1.0" || plan.K3sTo != "v1.33.4+k3s1" || len(plan.Phases) == 0 {
		t.Fatalf("plan: %+v", plan)
	}
	if st, _ := e.Status(ctx, s); st.Version != "1.0.0" {
		t.Fatalf("the plan changed the site: %+v", st)
	}

	seen := map[string]bool{}
	sink := func(ev progress.Event) { seen[ev.Phase] = true }
	res, err := e.Upgrade(ctx, s, b, []byte("sim:\n  mode: helmFail\n"), sink)
	if err != nil || !res.RolledBack || res.Version != "1.0.0" || res.Reason == "" {
		t.Fatalf("failing upgrade: %+v, %v", res, err)
	}
	res, err = e.Upgrade(ctx, s, b, nil, sink)
	if err != nil || res.RolledBack || res.Version != "1.1.0" {
		t.Fatalf("upgrade: %+v, %v", res, err)
	}
	// The events name the plan's steps by the plan's ids (the wizard ticks its step list off by them);
	// only the appliance's bookkeeping ("record") is not a step of its own.
	listed := map[string]bool{}
	for _, p := range plan.Phases {
		listed[p.ID] = true
	}
	for ph := range seen {
		if !listed[ph] && ph != "upgrade."+appliance.PhaseRecord {
			t.Errorf("upgrade event under %q, which the plan does not list (%v)", ph, plan.Phases)
		}
	}
	for _, ph := range []string{"upgrade.check", "upgrade.apply", "upgrade.wait", "upgrade.rollback"} {
		if !seen[ph] || !listed[ph] {
			t.Errorf("no upgrade event under the listed step %q: %v", ph, seen)
		}
	}
	// The upgrade kept the namespace the site runs the app in.
	hc, err := c.Helm.HelmV1().HelmCharts(appliance.DefaultNamespace).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || hc.Spec.TargetNamespace != "shop-prod" {
		t.Fatalf("live HelmChart after upgrade: %v", err)
	}
	hist, err := e.History(ctx, s)
	if err != nil || len(hist) < 3 || hist[0].Version != "1.1.0" {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	if _, err := e.Upgrade(ctx, s, engine.Bundle{Path: filepath.Join(t.TempDir(), "missing.ferry")}, nil, nil); !errors.Is(err, engine.ErrBundleCorrupt) {
		t.Fatalf("missing bundle: %v", err)
	}
}

func TestToComponent(t *testing.T) {
	for _, tc := range []struct {
		in   appliance.Component
		want engine.Component
	}{
		{appliance.Component{Kind: "Deployment", Name: "web", State: appliance.ComponentFailed, Desired: 2, RolledOut: true, Reason: "image x missing on node n1"},
			engine.Component{Kind: "Deployment", Name: "web", State: engine.Down, Ready: "0/2", RolledOut: true, Detail: "image x missing on node n1"}},
		{appliance.Component{Kind: "StatefulSet", Name: "db", State: appliance.ComponentProgressing, Ready: 1, Desired: 1, Reason: "waiting to finish its rolling update"},
			engine.Component{Kind: "StatefulSet", Name: "db", State: engine.Progressing, Ready: "1/1", Detail: "waiting to finish its rolling update"}},
		{appliance.Component{Kind: "Service", Name: "web", State: appliance.ComponentDegraded, ServiceType: "ClusterIP", ClusterIP: "10.43.0.9", Ports: []string{"80/TCP"}, EndpointsReady: 1, Endpoints: 2, Reason: "1 endpoint(s) not ready"},
			engine.Component{Kind: "Service", Name: "web", State: engine.Degraded, Ready: "1/2", Address: "ClusterIP 10.43.0.9", Ports: []string{"80/TCP"}, Detail: "1 endpoint(s) not ready"}},
		{appliance.Component{Kind: "Service", Name: "mail", State: appliance.ComponentReady, ServiceType: "ExternalName", ClusterIP: "mail.example"},
			engine.Component{Kind: "Service", Name: "mail", State: engine.Healthy, Address: "ExternalName mail.example"}},
		{appliance.Component{Kind: "DaemonSet", Name: "agent", State: appliance.ComponentMissing, Reason: "not created yet"},
			engine.Component{Kind: "DaemonSet", Name: "agent", State: engine.Down, Detail: "not created yet"}},
	} {
		if got := toComponent(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("toComponent(%s %s) = %+v, want %+v", tc.in.Kind, tc.in.Name, got, tc.want)
		}
	}
}
