package demo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-delivery/ferry/gui/engine"
	"github.com/ferry-delivery/ferry/gui/realengine"
	"github.com/ferry-delivery/ferry/gui/siterecord"
	"github.com/ferry-delivery/ferry/internal/progress"
	"github.com/ferry-delivery/ferry/internal/trustedkeys"
	"github.com/ferry-delivery/ferry/test/demo"
	"github.com/ferry-delivery/ferry/test/lab"
)

// LabID is this scenario's site lab (docs/testing.md: 20, make test-demo).
const LabID = 20

// events collects a sink's events (the wizard's progress model gets the same ones).
type events struct {
	mu sync.Mutex
	ev []progress.Event
}

func (e *events) sink(ev progress.Event) { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock() }
func (e *events) notNeeded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.ev {
		if ev.Msg == engine.MsgNotNeeded {
			out = append(out, ev.Phase)
		}
	}
	return out
}

func (e *events) phases() map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]bool{}
	for _, ev := range e.ev {
		out[ev.Phase] = true
	}
	return out
}

// The demo as a newcomer walks it, through the engine calls the wizard's view-models make: the demo
// bundles open as trusted (the demo key was trusted like `ferry --trust` does), the draft site's hosts
// are accepted on first contact, preflight finds the missing default route and Ferry's consented fix
// clears it, Install puts the stand-in k3s on 3 hosts and deploys 1.0.0 with the user's settings, then
// an upgrade to 1.1.0 keeps those settings, and a rollback restores 1.0.0. Outcomes are read from the
// cluster itself: Nodes, the HelmChart, the Deployment and helm's release revisions.
func TestDemoWizardOnLab(t *testing.T) {
	standinDir := os.Getenv("FERRY_STANDIN_DIR")
	if os.Getenv(lab.EnvEnable) == "1" && standinDir == "" {
		t.Fatal("FERRY_STANDIN_DIR not set: run make test-demo")
	}
	began := time.Now()
	step := func(name string, since time.Time) {
		t.Logf("MEASURE %s: %s", name, time.Since(since).Round(100*time.Millisecond))
	}
	_, inv := lab.TestSite(t, LabID, []lab.HostSpec{{Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}, {Arch: lab.AMD64, Containers: true}})
	step("lab up (3 hosts)", began)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	state := t.TempDir()
	t0 := time.Now()
	built, err := demo.Build(ctx, demo.Options{Dir: state, StandinDir: standinDir, Log: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	step("demo bundles", t0)

	// Trust the demo key in a config dir of its own, as make demo does with XDG_CONFIG_HOME.
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(state, "config"))
	tdir, err := trustedkeys.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := trustedkeys.Add(tdir, built.PublicKey); err != nil {
		t.Fatal(err)
	}
	keys, err := trustedkeys.Load(tdir)
	if err != nil || len(keys) != 1 {
		t.Fatalf("trusted keys %v %v", keys, err)
	}
	eng := realengine.New(realengine.Options{Trusted: trustedkeys.Public(keys)})

	// Open bundle screen.
	v1, err := eng.OpenBundle(ctx, built.Bundles["1.0.0"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Trust != engine.TrustSigned || v1.App != demo.App || v1.Version != "1.0.0" || v1.Signer != keys[0].ID {
		t.Fatalf("v1 bundle %+v: want hello-web 1.0.0 signed by the trusted demo key %s", v1, keys[0].ID)
	}
	if !strings.Contains(string(v1.ValuesSchema), `"greeting"`) || !strings.Contains(v1.K3sVersion, "standin") {
		t.Fatalf("v1: schema %q, k3s %s", v1.ValuesSchema, v1.K3sVersion)
	}

	// Machines screen, pre-filled from the draft site file.
	draftPath := filepath.Join(state, "site.yaml")
	if err := demo.WriteDraft(draftPath, inv); err != nil {
		t.Fatal(err)
	}
	d, err := realengine.LoadSiteDraft(draftPath)
	if err != nil {
		t.Fatal(err)
	}
	store := siterecord.Store{Root: filepath.Join(state, "config", "ferry", "sites")}
	s := engine.Site{Name: d.Name, Dir: store.Dir(d.Name), Hosts: d.Hosts}
	t0 = time.Now()
	for i, h := range s.Hosts {
		c, err := eng.TestConnection(ctx, h)
		want := inv.Hosts[i].Fingerprint
		if err != nil || c.KeyStatus != engine.KeyNew || c.Fingerprint != want {
			t.Fatalf("first contact with %s: %+v %v; want a new key %s", h.Name, c, err, want)
		}
		s.Hosts[i].HostKey = c.KeyLine // the user compared the fingerprint and accepted it
		c, err = eng.TestConnection(ctx, s.Hosts[i])
		if err != nil || c.KeyStatus != engine.KeyKnown || c.Arch != "amd64" {
			t.Fatalf("second test of %s: %+v %v", h.Name, c, err)
		}
	}
	step("test connections", t0)

	// Checks screen: the lab has no default route, Ferry's fix is applied with the user's consent.
	t0 = time.Now()
	checks, err := eng.Preflight(ctx, s, v1)
	if err != nil {
		t.Fatal(err)
	}
	var fixable []engine.Check
	for _, c := range checks {
		if c.Severity == engine.Fail {
			if !c.Fixable {
				t.Fatalf("check %s on %s failed and Ferry cannot fix it: %s (%s)", c.ID, c.Host, c.Detail, c.Fix)
			}
			fixable = append(fixable, c)
		}
	}
	if len(fixable) != len(s.Hosts) || fixable[0].ID != "route" {
		t.Fatalf("want one failed, fixable route check per host, got %+v", fixable)
	}
	if err := eng.ApplyFixes(ctx, s, fixable, nil); err != nil {
		t.Fatal(err)
	}
	checks, err = eng.Preflight(ctx, s, v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if c.Severity == engine.Fail {
			t.Fatalf("after the fixes, %s on %s still fails: %s", c.ID, c.Host, c.Detail)
		}
	}
	step("preflight + fixes", t0)

	// Settings, then Install (the wizard saves the record first, as StartInstall does).
	rec := siterecord.Record{Name: s.Name, App: v1.App, BundlePath: v1.Path, Hosts: s.Hosts}
	if err := store.Save(rec); err != nil {
		t.Fatal(err)
	}
	var ev events
	t0 = time.Now()
	settings := []byte("replicas: 3\ngreeting: Hello, plant 7\n")
	res, err := eng.Install(ctx, engine.InstallRequest{Site: s, Bundle: v1, Values: settings}, ev.sink)
	if err != nil {
		t.Fatal(err)
	}
	step("install (k3s on 3 hosts + deploy 1.0.0)", t0)
	if res.Release.Version != "1.0.0" || len(res.Kubeconfig) == 0 {
		t.Fatalf("install result %+v", res.Release)
	}
	// Every phase reported progress; the two with nothing to do on this site said so (the wizard shows
	// them "not needed"): joining other servers (one server) and placing the chart on the servers (it is
	// small enough to go inline).
	notNeeded := ev.notNeeded()
	for _, p := range eng.InstallPhases(s, v1) {
		if !ev.phases()[p.ID] {
			t.Errorf("no progress event for install phase %q", p.ID)
		}
	}
	if want := []string{"k3s.join-servers", "deploy.chart"}; !slices.Equal(notNeeded, want) {
		t.Errorf("install phases said not needed: %q, want %q", notNeeded, want)
	}
	rec.Version, rec.History = "1.0.0", []engine.Release{res.Release}
	if err := store.Save(rec); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveKubeconfig(s.Name, res.Kubeconfig); err != nil {
		t.Fatal(err)
	}

	kc := clients(t, res.Kubeconfig)
	nodes, err := kc.core.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
		if !nodeReady(n) || n.Status.NodeInfo.KubeletVersion != demo.K3sVersion {
			t.Errorf("node %s: ready=%v kubelet %s", n.Name, nodeReady(n), n.Status.NodeInfo.KubeletVersion)
		}
	}
	slices.Sort(names)
	if want := []string{inv.Hosts[0].Name, inv.Hosts[1].Name, inv.Hosts[2].Name}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	kc.expectApp(ctx, t, "1.0.0", 3, "Hello, plant 7", 1)

	st, err := eng.Status(ctx, s)
	if err != nil || st.Version != "1.0.0" || st.Health != engine.Healthy || st.App != demo.App {
		t.Fatalf("status after install: %+v %v", st, err)
	}
	t.Logf("status after install: %+v", st)
	expectStatus(ctx, t, eng, s, "1.0.0", 3)

	// Upgrade to 1.1.0: the plan names the new image and bytes for every node; the settings are kept.
	v2, err := eng.OpenBundle(ctx, built.Bundles["1.1.0"], nil)
	if err != nil || v2.Trust != engine.TrustSigned {
		t.Fatalf("v2 bundle %+v %v", v2, err)
	}
	t0 = time.Now()
	plan, err := eng.PlanUpgrade(ctx, s, v2)
	if err != nil {
		t.Fatal(err)
	}
	if plan.From != "1.0.0" || plan.To != "1.1.0" || !slices.Contains(plan.ChangedImages, demo.ImageRepo+":1.1.0") || len(plan.BytesPerNode) != 3 {
		t.Fatalf("plan %+v", plan)
	}
	for n, b := range plan.BytesPerNode {
		if b <= 0 {
			t.Errorf("plan sends %d bytes to %s; the new image must travel", b, n)
		}
	}
	// As after reopening the site in the wizard: no values (the laptop never keeps them), so the site's
	// own settings recorded in the cluster must be kept under 1.1.0's defaults.
	up, err := eng.Upgrade(ctx, s, v2, nil, nil)
	if err != nil || up.Version != "1.1.0" || up.RolledBack {
		t.Fatalf("upgrade: %+v %v", up, err)
	}
	step("plan + upgrade to 1.1.0", t0)
	kc.expectApp(ctx, t, "1.1.0", 3, "Hello, plant 7", 2)
	expectStatus(ctx, t, eng, s, "1.1.0", 3)

	hist, err := eng.History(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != "1.1.0" || hist[0].Action != "upgrade" || hist[1].Version != "1.0.0" || hist[1].Action != "install" || !hist[1].Kept {
		t.Fatalf("history %+v", hist)
	}

	t0 = time.Now()
	rb, err := eng.Rollback(ctx, s, "1.0.0", nil)
	if err != nil || rb.Version != "1.0.0" {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	step("rollback to 1.0.0", t0)
	kc.expectApp(ctx, t, "1.0.0", 3, "Hello, plant 7", 3)
	st, err = eng.Status(ctx, s)
	if err != nil || st.Version != "1.0.0" || st.Health != engine.Healthy {
		t.Fatalf("status after rollback: %+v %v", st, err)
	}
	expectStatus(ctx, t, eng, s, "1.0.0", 3)
	step("whole scenario", began)
}

// expectStatus checks what the Manage screen shows: the servers' k3s version (the stand-in's, all
// alike), and the demo's Deployment and Service Ready, read from the cluster (replicas, the Service's
// ClusterIP, port and endpoints from the controller manager's EndpointSlices, which may trail the pods by
// a moment: Status is read again, as the screen's Refresh would, for up to a minute).
func expectStatus(ctx context.Context, t *testing.T, eng engine.Engine, s engine.Site, version string, replicas int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := eng.Status(ctx, s)
		problem := ""
		if err != nil {
			problem = err.Error()
		} else {
			problem = statusProblem(st, version, replicas)
		}
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("status: %s", problem)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

func statusProblem(st engine.Status, version string, replicas int) string {
	if st.Version != version || st.Health != engine.Healthy {
		return fmt.Sprintf("version %s health %s, want %s healthy", st.Version, st.Health, version)
	}
	if st.K3sVersion != demo.K3sVersion || st.K3sMixed {
		return fmt.Sprintf("k3s %q (mixed %v), want %s", st.K3sVersion, st.K3sMixed, demo.K3sVersion)
	}
	ready := fmt.Sprintf("%d/%d", replicas, replicas)
	var dep, svc *engine.Component
	for i, c := range st.Components {
		switch {
		case c.Kind == "Deployment" && c.Name == demo.App:
			dep = &st.Components[i]
		case c.Kind == "Service" && c.Name == demo.App:
			svc = &st.Components[i]
		}
	}
	if dep == nil || dep.State != engine.Healthy || dep.Ready != ready || !dep.RolledOut || dep.Detail != "" {
		return fmt.Sprintf("Deployment %s: %+v; want healthy, %s ready, rolled out (components %+v)", demo.App, dep, ready, st.Components)
	}
	if svc == nil || svc.State != engine.Healthy || svc.Ready != ready || !strings.HasPrefix(svc.Address, "ClusterIP 10.43.") ||
		!slices.Contains(svc.Ports, "80→http/TCP") || svc.Detail != "" {
		return fmt.Sprintf("Service %s: %+v; want healthy, ClusterIP 10.43.x, 80→http/TCP, %s endpoints ready (components %+v)", demo.App, svc, ready, st.Components)
	}
	return ""
}

type kube struct {
	core *kubernetes.Clientset
	dyn  dynamic.Interface
}

func clients(t *testing.T, kubeconfig []byte) kube {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 30 * time.Second
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube{core: core, dyn: dyn}
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

var helmCharts = schema.GroupVersionResource{Group: "helm.cattle.io", Version: "v1", Resource: "helmcharts"}

// expectApp checks what runs: the HelmChart targets the app's namespace at version, the Deployment runs
// the version's image with the user's settings and all replicas ready, and helm's newest release is
// revision rev.
func (k kube) expectApp(ctx context.Context, t *testing.T, version string, replicas int32, greeting string, rev int) {
	t.Helper()
	hcs, err := k.dyn.Resource(helmCharts).Namespace("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hc *unstructured.Unstructured
	for i := range hcs.Items {
		if hcs.Items[i].GetName() == demo.App {
			hc = &hcs.Items[i]
		}
	}
	if hc == nil {
		t.Fatalf("no HelmChart %s among %d", demo.App, len(hcs.Items))
	}
	ns, _, _ := unstructured.NestedString(hc.Object, "spec", "targetNamespace")
	if ns != demo.App {
		t.Errorf("HelmChart targets namespace %q, want %q", ns, demo.App)
	}
	dep, err := k.core.AppsV1().Deployments(demo.App).Get(ctx, demo.App, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	var got string
	for _, e := range c.Env {
		if e.Name == "GREETING" {
			got = e.Value
		}
	}
	if c.Image != demo.ImageRepo+":"+version || got != greeting || *dep.Spec.Replicas != replicas || dep.Status.ReadyReplicas != replicas {
		t.Errorf("deployment: image %s greeting %q replicas %d ready %d; want %s:%s %q %d", c.Image, got, *dep.Spec.Replicas,
			dep.Status.ReadyReplicas, demo.ImageRepo, version, greeting, replicas)
	}
	secs, err := k.core.CoreV1().Secrets(demo.App).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + demo.App})
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for _, s := range secs.Items {
		if v, _ := strconv.Atoi(s.Labels["version"]); v > newest {
			newest = v
		}
	}
	if newest != rev {
		t.Errorf("helm release %s is at revision %d, want %d", demo.App, newest, rev)
	}
}
