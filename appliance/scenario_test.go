package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-delivery/ferry/internal/progress"
	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stesting "k8s.io/client-go/testing"
)

type eventLog struct {
	mu sync.Mutex
	ev []progress.Event
}

func (l *eventLog) sink(e progress.Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }
func (l *eventLog) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ev {
		if strings.Contains(e.Msg, sub) {
			return true
		}
	}
	return false
}

func bundle(t *testing.T, version, mode string) Bundle {
	return Bundle{
		SpecInput: SpecInput{App: "shop", Version: version, Chart: testChart(t, "shop", version, "", 0), TargetNamespace: "shop",
			Defaults:  map[string]any{"image": "registry.local/shop:" + version, "sim": map[string]any{"mode": mode}},
			Overrides: map[string]any{"site": "lab"}},
		BundleDigest: "sha256:bundle-" + version,
		Images: VersionImages{
			Images: map[string][]string{"linux/amd64": {"registry.local/shop:" + version, "registry.local/db:15"}},
			Blobs:  map[string][]Blob{"linux/amd64": {{Digest: "sha256:base", Size: 1000}, {Digest: "sha256:shop-" + version, Size: 100}, {Digest: "sha256:db", Size: 500}}},
		},
	}
}

// testOptions gives healthy changes ample time: a loaded CI machine running -race can take seconds to
// render and reconcile, and a healthy path returns as soon as it is healthy anyway. Scenarios that must
// time out use neverReadyTimeout instead.
func testOptions(t *testing.T, log *eventLog) Options {
	return Options{RecordsDir: t.TempDir(), PollInterval: 3 * time.Millisecond, Timeout: 15 * time.Second, Sink: log.sink, HeartbeatInterval: time.Hour}
}

// neverReadyTimeout bounds the scenarios whose app never becomes Ready: they wait it out in full, and the
// automatic rollback that follows gets the same budget.
const neverReadyTimeout = 2 * time.Second

func liveSpecJSON(t *testing.T, c *Cluster) string {
	hc, err := c.Helm.HelmV1().HelmCharts(DefaultNamespace).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(hc.Spec)
	return string(b)
}

// specJSON builds b's spec as Ferry does on c (with c's values key, which names the values Secret).
func specJSON(t *testing.T, c *Cluster, b Bundle) string {
	b.Namespace = DefaultNamespace
	key, _, err := NewStore(c, "", "").ValuesKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.ValuesKey = key
	s, err := BuildSpec(b.SpecInput)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(s.Chart.Spec)
	return string(j)
}

// noDataLoss fails when Ferry deleted a HelmChart (that uninstalls the app) or a PVC.
func noDataLoss(t *testing.T, c *Cluster) {
	t.Helper()
	for _, a := range c.Helm.(interface{ Actions() []k8stesting.Action }).Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("Ferry deleted a %s: that uninstalls the app", a.GetResource().Resource)
		}
	}
	for _, a := range c.Kube.(interface{ Actions() []k8stesting.Action }).Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "persistentvolumeclaims" {
			t.Error("a PVC was deleted")
		}
	}
}

// The full life of an app on the simulated cluster: deploy, upgrade, three broken upgrades that each roll
// back by themselves to the exact recorded v2 spec, a manual rollback, and the history of every step.
func TestLifecycleWithAutomaticRollback(t *testing.T) {
	c, o, log := simCluster(t)
	ctx := context.Background()

	v1 := bundle(t, "1.0.0", "ok")
	res, err := Deploy(ctx, c, v1, o)
	if err != nil || res.State != StateSucceeded || res.Health.State != Healthy {
		t.Fatalf("deploy v1: %v %+v", err, res.Health)
	}
	if _, err := Deploy(ctx, c, v1, o); !errors.Is(err, ErrAlreadyDeployed) {
		t.Fatalf("second deploy: %v", err)
	}
	v2 := bundle(t, "2.0.0", "ok")
	res, err = Upgrade(ctx, c, v2, o)
	if err != nil || res.State != StateSucceeded {
		t.Fatalf("upgrade v2: %v %+v", err, res.Health)
	}
	if res.Plan == nil || res.Plan.From != "1.0.0" || len(res.Plan.ImagesAdded) != 1 || res.Plan.ImagesAdded[0] != "registry.local/shop:2.0.0" {
		t.Fatalf("plan %+v", res.Plan)
	}
	v2Spec := liveSpecJSON(t, c)
	if v2Spec != specJSON(t, c, v2) {
		t.Fatal("live spec is not the built v2 spec")
	}
	again, err := Upgrade(ctx, c, v2, o)
	if err != nil || again.Changed || again.Record.Version != "2.0.0" {
		t.Fatalf("re-running the same upgrade must change nothing: %v %+v", err, again)
	}

	broken := []struct {
		mode, cause string
	}{
		{"neverReady", "timed out"},
		{"helmFail", "broken chart: web cannot render"},
		{"imageMissing", "image registry.local/shop:3.0.0 missing on node node-1"},
	}
	for _, b := range broken {
		t.Run(b.mode, func(t *testing.T) {
			o := o
			if b.mode == "neverReady" {
				o.Timeout = neverReadyTimeout
			}
			res, err := Upgrade(ctx, c, bundle(t, "3.0.0", b.mode), o)
			if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), b.cause) {
				t.Fatalf("err = %v, want ErrUnhealthy naming %q", err, b.cause)
			}
			if !res.RolledBack || res.RolledBackTo != "2.0.0" || res.Version != "2.0.0" || res.Health.State != Healthy {
				t.Fatalf("not rolled back: %+v", res)
			}
			if got := liveSpecJSON(t, c); got != v2Spec {
				t.Fatal("rollback did not re-apply the exact recorded v2 spec")
			}
			st, err := Status(ctx, c, "shop", o)
			if err != nil || st.Version != "2.0.0" || st.Health.State != Healthy {
				t.Fatalf("status after rollback: %v %+v", err, st.Health)
			}
		})
	}
	if !log.has("cleared aborted helm release") {
		t.Error("the helm failure under failurePolicy abort was not cleared before re-applying v2")
	}

	if _, err := Upgrade(ctx, c, bundle(t, "1.5.0", "ok"), o); !errors.Is(err, ErrDowngrade) {
		t.Fatalf("downgrade: %v", err)
	}
	other := bundle(t, "4.0.0", "ok")
	other.Chart = testChart(t, "blog", "4.0.0", "", 0)
	if _, err := Upgrade(ctx, c, other, o); !errors.Is(err, ErrDifferentApp) {
		t.Fatalf("different app: %v", err)
	}
	gated := bundle(t, "4.0.0", "ok")
	gated.UpgradeFrom = ">=3.0.0"
	if _, err := Upgrade(ctx, c, gated, o); !errors.Is(err, ErrNotUpgradable) {
		t.Fatalf("upgradeFrom: %v", err)
	}

	rb, err := Rollback(ctx, c, "shop", "", o)
	if err != nil || rb.Version != "1.0.0" || rb.State != StateSucceeded {
		t.Fatalf("manual rollback: %v %+v", err, rb)
	}
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("manual rollback did not re-apply the v1 spec")
	}
	if _, err := Rollback(ctx, c, "shop", "3.0.0", o); !errors.Is(err, ErrNoRollbackTarget) {
		t.Fatalf("rollback to a version that never succeeded: %v", err)
	}

	h, err := History(ctx, c, "shop", o)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, r := range h.Records {
		steps = append(steps, string(r.Action)+" "+r.Version+" "+string(r.State))
	}
	want := []string{
		"deploy 1.0.0 succeeded", "upgrade 2.0.0 succeeded",
		"upgrade 3.0.0 rolled-back", "auto-rollback 2.0.0 succeeded",
		"upgrade 3.0.0 rolled-back", "auto-rollback 2.0.0 succeeded",
		"upgrade 3.0.0 rolled-back", "auto-rollback 2.0.0 succeeded",
		"rollback 1.0.0 succeeded",
	}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	// Every record is mirrored to the site records on the laptop.
	files, _ := filepath.Glob(filepath.Join(o.RecordsDir, "shop", "*.json"))
	if len(files) != len(want) {
		t.Fatalf("%d mirrored records, want %d", len(files), len(want))
	}
	var last Record
	b, _ := os.ReadFile(files[len(files)-1])
	if err := json.Unmarshal(b, &last); err != nil || last.State != StateSucceeded || last.Version != "1.0.0" {
		t.Fatalf("mirrored record: %v %+v", err, last)
	}
	// The StatefulSet's claim, made from the rendered chart's volumeClaimTemplates at v1, is still there.
	if _, err := c.Kube.CoreV1().PersistentVolumeClaims("shop").Get(ctx, "data-db-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("PVC of the first deploy: %v", err)
	}
	noDataLoss(t, c)
}

// A laptop killed mid-upgrade: the change is left in progress; the next connect shows its true state and,
// asked to, continues it to the end without applying it twice.
func TestCrashMidUpgradeReconcile(t *testing.T) {
	c, _, _ := fakeCluster(t)
	sim := startSim(t, c)
	log := &eventLog{}
	o := testOptions(t, log)
	o.Timeout = 5 * time.Second
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	go func() {
		for !log.has("helm job helm-install-shop to complete") {
			time.Sleep(time.Millisecond)
		}
		cancel() // the laptop goes away while helm runs
	}()
	held := bundle(t, "2.0.0", "hold")
	_, err := Upgrade(ctx, c, held, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st, err := Status(bg, c, "shop", o)
	if err != nil || !st.Orphaned || st.Health.State != InProgress || st.Record.State != StateInProgress {
		t.Fatalf("status of the orphaned upgrade: %v %+v", err, st)
	}
	// A re-run of the same upgrade while helm still runs resumes it instead of applying it again.
	sim.Release()
	o.Resume = true
	res, err := Upgrade(bg, c, held, o)
	if err != nil || res.State != StateSucceeded || res.Changed {
		t.Fatalf("resume: %v %+v", err, res)
	}
	updates := 0
	for _, a := range c.Helm.(interface{ Actions() []k8stesting.Action }).Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "helmcharts" {
			updates++
		}
	}
	if updates != 1 {
		t.Fatalf("HelmChart updated %d times for one upgrade, want 1", updates)
	}
	noDataLoss(t, c)
}

// A cancelled context stops before the next phase: nothing is applied, nothing recorded as in progress.
func TestUpgradeCancelledBeforeApply(t *testing.T) {
	c, o, _ := simCluster(t)
	if _, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	before := liveSpecJSON(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	o.NodeImages = &fakeNodes{cancel: cancel}
	_, err := Upgrade(ctx, c, bundle(t, "2.0.0", "ok"), o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if liveSpecJSON(t, c) != before {
		t.Fatal("a cancelled upgrade changed the HelmChart")
	}
	h, _ := History(context.Background(), c, "shop", o)
	if last := h.Records[len(h.Records)-1]; last.State != StateFailed || last.Version != "2.0.0" {
		t.Fatalf("cancelled upgrade record: %+v", last)
	}
}

// fakeNodes is a NodeImages whose Land cancels the run (to test cancel between phases).
type fakeNodes struct {
	cancel func()
	landed []LandRequest
}

func (f *fakeNodes) Nodes(context.Context) ([]Node, error) {
	return []Node{{Name: "node-1", Platform: "linux/amd64"}}, nil
}
func (f *fakeNodes) Present(context.Context, Node) (BlobSet, error) {
	return BlobSet{"sha256:base": true, "sha256:db": true}, nil
}
func (f *fakeNodes) Land(ctx context.Context, n Node, r LandRequest) error {
	f.landed = append(f.landed, r)
	if f.cancel != nil {
		f.cancel()
	}
	return nil
}

// A laptop lost during an upgrade that then fails: the next connect reports the failure and the version
// to go back to; a manual rollback restores it and closes the orphaned change as rolled-back.
func TestOrphanedFailedUpgradeThenRollback(t *testing.T) {
	c, o, log := simCluster(t)
	o.Timeout = time.Minute
	bg := context.Background()
	v1 := bundle(t, "1.0.0", "ok")
	if _, err := Deploy(bg, c, v1, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	go func() {
		for !log.has("to become available") {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := Upgrade(ctx, c, bundle(t, "2.0.0", "neverReady"), o); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The engineer reconnects two minutes later: the upgrade's own timeout has passed meanwhile.
	later := o
	later.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	st, err := Status(bg, c, "shop", later)
	if err != nil || !st.Orphaned || st.Health.State != Failed || st.SuggestRollbackTo != "1.0.0" || st.Record.State != StateFailed {
		t.Fatalf("status: %v orphaned=%v health=%v suggest=%q record=%s", err, st.Orphaned, st.Health, st.SuggestRollbackTo, st.Record.State)
	}
	rb, err := Rollback(bg, c, "shop", "", o)
	if err != nil || rb.Version != "1.0.0" || rb.State != StateSucceeded {
		t.Fatalf("rollback: %v %s %s", err, rb.Version, rb.State)
	}
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("rollback did not restore the v1 spec")
	}
	h, _ := History(bg, c, "shop", o)
	if got := h.Records[1]; got.Version != "2.0.0" || got.State != StateRolledBack {
		t.Fatalf("orphaned upgrade record: %s %s", got.Version, got.State)
	}
	noDataLoss(t, c)
}

type fakePlacer struct{ placed map[string]int }

func (f *fakePlacer) PlaceChart(_ context.Context, path string, tgz []byte) error {
	f.placed[path] = len(tgz)
	return nil
}

// A chart too big for chartContent is placed on the servers before the apply, or refused up front.
func TestLargeChartNeedsPlacement(t *testing.T) {
	c, _, h := fakeCluster(t)
	startSim(t, c)
	o := testOptions(t, &eventLog{})
	b := bundle(t, "1.0.0", "ok")
	b.Chart = testChart(t, "shop", "1.0.0", "", 16*1024)
	b.InlineLimit = 8 * 1024
	if _, err := Deploy(context.Background(), c, b, o); !errors.Is(err, ErrNoChartPlacer) {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.Actions()); n != 0 {
		for _, a := range h.Actions() {
			if a.GetVerb() != "get" && a.GetVerb() != "list" {
				t.Fatalf("refused deploy still wrote: %v", a)
			}
		}
	}
	p := &fakePlacer{placed: map[string]int{}}
	o.Charts = p
	res, err := Deploy(context.Background(), c, b, o)
	if err != nil || res.State != StateSucceeded {
		t.Fatalf("deploy: %v %+v", err, res.Health)
	}
	path := StaticChartsDir + "/shop-1.0.0.tgz"
	if p.placed[path] != len(b.Chart) || res.StaticChart != path {
		t.Fatalf("placed %v, result %q", p.placed, res.StaticChart)
	}
	if res.Record.ChartRef != "" {
		t.Fatal("a static chart must not be copied into a Secret")
	}
}

// Under failurePolicy retry the helm job completes even when helm failed: the failed release decides,
// and the rollback needs no clearing.
func TestRetryPolicyHelmFailureRollsBack(t *testing.T) {
	c, o, log := simCluster(t)
	ctx := context.Background()
	retry := func(b Bundle) Bundle { b.FailurePolicy = "retry"; return b }
	v1 := retry(bundle(t, "1.0.0", "ok")) // built once: chart archives carry their build time
	if _, err := Deploy(ctx, c, v1, o); err != nil {
		t.Fatal(err)
	}
	res, err := Upgrade(ctx, c, retry(bundle(t, "2.0.0", "helmFail")), o)
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "revision 2 failed") || !res.RolledBack {
		t.Fatalf("err = %v rolledBack=%v", err, res.RolledBack)
	}
	if log.has("cleared aborted helm release") {
		t.Error("retry policy must not clear helm history")
	}
	if liveSpecJSON(t, c) != specJSON(t, c, v1) {
		t.Fatal("not back on v1")
	}
}

// A change whose process is alive (fresh heartbeat) is never resumed or overtaken by another run.
func TestLiveChangeIsNotOvertaken(t *testing.T) {
	c, _, _ := fakeCluster(t)
	o := testOptions(t, &eventLog{})
	o.HeartbeatInterval = time.Minute
	st := NewStore(c, "", "")
	if err := st.EnsureNamespace(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Record{
		{App: "shop", Version: "1.0.0", State: StateSucceeded},
		{App: "shop", Version: "2.0.0", Action: ActionUpgrade, State: StateInProgress, Heartbeat: time.Now()},
	} {
		if err := st.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Upgrade(context.Background(), c, bundle(t, "3.0.0", "ok"), o); !errors.Is(err, ErrOperationInProgress) {
		t.Fatalf("upgrade: %v", err)
	}
	if _, err := Rollback(context.Background(), c, "shop", "", o); !errors.Is(err, ErrOperationInProgress) {
		t.Fatalf("rollback: %v", err)
	}
	res, err := Status(context.Background(), c, "shop", o)
	if err != nil || res.Orphaned || res.State != StateInProgress {
		t.Fatalf("status: %v orphaned=%v state=%s", err, res.Orphaned, res.State)
	}
}

// A dry run shows the plan, bytes per node included, and changes nothing.
func TestUpgradeDryRunPlan(t *testing.T) {
	c, _, h := fakeCluster(t)
	startSim(t, c)
	o := testOptions(t, &eventLog{})
	if _, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	before := len(h.Actions())
	nodes := &fakeNodes{}
	o.NodeImages, o.DryRun = nodes, true
	res, err := Upgrade(context.Background(), c, bundle(t, "2.0.0", "ok"), o)
	if err != nil || res.Plan == nil {
		t.Fatalf("dry run: %v", err)
	}
	// node-1 has base and db: only the changed shop layer travels.
	if len(res.Plan.Nodes) != 1 || res.Plan.Nodes[0].Bytes != 100 || res.Plan.TotalBytes != 100 {
		t.Fatalf("plan %+v", res.Plan)
	}
	if len(nodes.landed) != 0 {
		t.Fatal("a dry run landed images")
	}
	for _, a := range h.Actions()[before:] {
		if a.GetVerb() != "get" && a.GetVerb() != "list" {
			t.Fatalf("a dry run wrote: %v", a)
		}
	}
	st, _ := Status(context.Background(), c, "shop", Options{})
	if st.Version != "1.0.0" {
		t.Fatalf("version after dry run: %s", st.Version)
	}
}

// A HelmChartConfig that sets failurePolicy reinstall would turn the first failure into an uninstall:
// Ferry refuses to apply under it, before changing anything.
func TestReinstallOverlayRefused(t *testing.T) {
	c, _, h := fakeCluster(t)
	startSim(t, c)
	o := testOptions(t, &eventLog{})
	_, err := h.HelmV1().HelmChartConfigs(DefaultNamespace).Create(context.Background(), &helmv1.HelmChartConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: DefaultNamespace},
		Spec:       helmv1.HelmChartConfigSpec{FailurePolicy: helmv1.FailurePolicyReinstall},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o); !errors.Is(err, ErrUnsafeOverlay) {
		t.Fatalf("err = %v", err)
	}
	if _, err := h.HelmV1().HelmCharts(DefaultNamespace).Get(context.Background(), "shop", metav1.GetOptions{}); err == nil {
		t.Fatal("a HelmChart was created under a reinstall overlay")
	}
}

// Every phase an upgrade reports is one the wizard can list.
func TestUpgradeEventsUseListedPhases(t *testing.T) {
	c, o, log := simCluster(t)
	o.NodeImages = &fakeNodes{}
	if _, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	o.Timeout = neverReadyTimeout
	if _, err := Upgrade(context.Background(), c, bundle(t, "2.0.0", "neverReady"), o); !errors.Is(err, ErrUnhealthy) {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, verb := range []string{"deploy", "upgrade", "rollback"} {
		for _, s := range Phases(verb) {
			listed[s.Phase] = true
		}
	}
	seen := map[string]bool{}
	for _, e := range log.ev {
		if !listed[e.Phase] {
			t.Errorf("event in unlisted phase %q: %s", e.Phase, e.Msg)
		}
		seen[e.Phase] = true
	}
	for _, p := range []string{PhaseCheck, PhasePlan, PhaseImages, PhaseApply, PhaseWait, PhaseRollback} {
		if !seen[p] {
			t.Errorf("no event in phase %q", p)
		}
	}
}

// notNeeded lists the phases the log says have nothing to do, each with the index of that event and of
// the first apply event (-1 when none).
func (l *eventLog) notNeeded() (phases map[string]int, firstApply int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	phases, firstApply = map[string]int{}, -1
	for i, e := range l.ev {
		if e.Msg == progress.MsgNotNeeded {
			phases[e.Phase] = i
		}
		if e.Phase == PhaseApply && firstApply < 0 {
			firstApply = i
		}
	}
	return phases, firstApply
}

// A phase with nothing to do is said (progress.MsgNotNeeded) as soon as that is known: an inline chart
// needs no placing before anything is applied, a healthy upgrade needs no rollback; a large chart and a
// failed upgrade get no such event.
func TestPhasesWithNothingToDoAreSaid(t *testing.T) {
	c, o, log := simCluster(t)
	if _, err := Deploy(context.Background(), c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	nn, apply := log.notNeeded()
	if i, ok := nn[PhaseChart]; !ok || apply < 0 || i > apply || len(nn) != 1 {
		t.Fatalf("deploy of an inline chart: not-needed events %v (first apply at %d), want only %q before the apply", nn, apply, PhaseChart)
	}
	log.ev = nil
	if _, err := Upgrade(context.Background(), c, bundle(t, "2.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	if nn, _ = log.notNeeded(); len(nn) != 2 || nn[PhaseRollback] < nn[PhaseChart] {
		t.Fatalf("healthy upgrade: not-needed events %v, want %q then %q", nn, PhaseChart, PhaseRollback)
	}
	log.ev = nil
	o.Timeout = neverReadyTimeout
	if _, err := Upgrade(context.Background(), c, bundle(t, "3.0.0", "neverReady"), o); !errors.Is(err, ErrUnhealthy) {
		t.Fatal(err)
	}
	// The rollback was needed and ran: only the chart was not.
	if nn, _ = log.notNeeded(); len(nn) != 1 {
		t.Fatalf("failed upgrade: not-needed events %v, want only %q", nn, PhaseChart)
	}
	if _, ok := nn[PhaseChart]; !ok {
		t.Fatalf("failed upgrade: not-needed events %v, want only %q", nn, PhaseChart)
	}

	c2, _, _ := fakeCluster(t)
	startSim(t, c2)
	log2 := &eventLog{}
	o2 := testOptions(t, log2)
	o2.Charts = &fakePlacer{placed: map[string]int{}}
	b := bundle(t, "1.0.0", "ok")
	b.Chart, b.InlineLimit = testChart(t, "shop", "1.0.0", "", 16*1024), 8*1024
	if _, err := Deploy(context.Background(), c2, b, o2); err != nil {
		t.Fatal(err)
	}
	if nn, _ := log2.notNeeded(); len(nn) != 0 {
		t.Fatalf("deploy of a large chart: not-needed events %v, want none", nn)
	}
}
