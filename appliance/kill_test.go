package appliance

import (
	"context"
	"errors"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// storeNodes is a NodeImages with memory: Land adds the blobs to the node's store, so a re-plan sees what
// an interrupted run already landed. kill, when set, is called at the start of each Land with the node
// and the number of Land calls so far; it may end the calling goroutine (runtime.Goexit), which is how a
// test kills "the laptop" mid-landing: no deferred engine code runs after the engine's own defers, no
// record is closed, exactly as after a SIGKILL.
type storeNodes struct {
	mu      sync.Mutex
	present map[string]BlobSet
	landed  []LandRequest
	kill    func(node string, call int)
	block   chan struct{} // when set, Land waits for it to close
}

func newStoreNodes(blobs ...string) *storeNodes {
	s := &storeNodes{present: map[string]BlobSet{}}
	for _, n := range []string{"node-1", "node-2"} {
		s.present[n] = BlobSet{}
		for _, b := range blobs {
			s.present[n][b] = true
		}
	}
	return s
}

func (s *storeNodes) Nodes(context.Context) ([]Node, error) {
	return []Node{{Name: "node-1", Platform: "linux/amd64"}, {Name: "node-2", Platform: "linux/amd64"}}, nil
}

func (s *storeNodes) Present(_ context.Context, n Node) (BlobSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := BlobSet{}
	for k := range s.present[n.Name] {
		out[k] = true
	}
	return out, nil
}

func (s *storeNodes) Land(ctx context.Context, n Node, r LandRequest) error {
	s.mu.Lock()
	call := len(s.landed)
	s.landed = append(s.landed, r)
	kill, block := s.kill, s.block
	s.mu.Unlock()
	if kill != nil {
		kill(n.Name, call)
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	for _, b := range r.Missing {
		s.present[n.Name][b.Digest] = true
	}
	s.mu.Unlock()
	return nil
}

func (s *storeNodes) requests() []LandRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LandRequest(nil), s.landed...)
}

// fakeLiveness stands for the laptop's lock files: tokens in dead are holders known to be gone.
type fakeLiveness struct {
	mu    sync.Mutex
	token string
	dead  map[string]bool
}

func (f *fakeLiveness) Token() string { return f.token }
func (f *fakeLiveness) Gone(t string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead[t]
}

// killedRun runs fn in a goroutine that the test may end with runtime.Goexit, and waits for it.
func killedRun(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func helmChartUpdates(c *Cluster) int {
	n := 0
	for _, a := range c.Helm.(interface{ Actions() []k8stesting.Action }).Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "helmcharts" {
			n++
		}
	}
	return n
}

func countAction(recs []Record, a Action, version string) int {
	n := 0
	for _, r := range recs {
		if r.Action == a && r.Version == version {
			n++
		}
	}
	return n
}

// The laptop is killed (no cancel, no clean-up) while images go to the second node. The next connect,
// at once (the lock of the dead process is free), shows v1 still live and the upgrade interrupted before
// its apply; re-running the same upgrade finishes it under the same record, sending only what node-2
// still lacks, applying the HelmChart once.
func TestKilledWhileLandingThenRerun(t *testing.T) {
	c, o, _ := simCluster(t)
	o.Timeout = 5 * time.Second
	nodes := newStoreNodes()
	o.NodeImages = nodes
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	updatesBefore := helmChartUpdates(c)
	deployLands := len(nodes.requests())

	first := o
	first.Liveness = &fakeLiveness{token: "run-1"}
	nodes.kill = func(node string, _ int) {
		if node == "node-2" {
			goruntime.Goexit() // SIGKILL while node-2's archive is on its way
		}
	}
	v2 := bundle(t, "2.0.0", "ok")
	killedRun(func() { _, _ = Upgrade(bg, c, v2, first) })
	nodes.kill = nil

	// Another process of the same laptop: run-1's lock is free, so it is gone, although its heartbeat is
	// fresh (HeartbeatInterval is an hour in these tests).
	o.Liveness = &fakeLiveness{token: "run-2", dead: map[string]bool{"run-1": true}}
	st, err := Status(bg, c, "shop", o)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Orphaned || !st.NotApplied || st.Version != "1.0.0" || st.Record.Version != "2.0.0" || st.Record.State != StateInProgress || st.Health.State != Healthy {
		t.Fatalf("status after the kill: orphaned=%v notApplied=%v version=%s record=%s %s health=%v", st.Orphaned, st.NotApplied, st.Version, st.Record.Version, st.Record.State, st.Health)
	}
	if helmChartUpdates(c) != updatesBefore {
		t.Fatal("the killed upgrade changed the HelmChart")
	}

	res, err := Upgrade(bg, c, v2, o)
	if err != nil || res.State != StateSucceeded || res.Version != "2.0.0" || !res.Changed || !res.Resumed {
		t.Fatalf("re-run: %v state=%s version=%s changed=%v", err, res.State, res.Version, res.Changed)
	}
	if res.Record.ID != st.Record.ID {
		t.Fatalf("re-run finished record %s, want the interrupted %s", res.Record.ID, st.Record.ID)
	}
	if got := helmChartUpdates(c) - updatesBefore; got != 1 {
		t.Fatalf("HelmChart updated %d times for one upgrade, want 1", got)
	}
	// Killed run: node-1 landed the new blob, node-2 was cut. Re-run: node-1 lacks nothing, node-2 the
	// new blob only.
	reqs := nodes.requests()[deployLands:]
	if len(reqs) != 4 {
		t.Fatalf("%d Land calls, want 2 killed + 2 re-run: %+v", len(reqs), reqs)
	}
	if m := reqs[2].Missing; len(m) != 0 {
		t.Fatalf("re-run resent %v to node-1, which had landed them", m)
	}
	if m := reqs[3].Missing; len(m) != 1 || m[0].Digest != "sha256:shop-2.0.0" {
		t.Fatalf("re-run sent %v to node-2, want only the blob it lacks", m)
	}
	h, _ := History(bg, c, "shop", o)
	if n := countAction(h.Records, ActionUpgrade, "2.0.0"); n != 1 || len(h.Records) != 2 {
		t.Fatalf("history has %d records, %d upgrades to 2.0.0; want 2 and 1", len(h.Records), n)
	}
	// Once more: nothing to do, and the answer says how the app stands.
	again, err := Upgrade(bg, c, v2, o)
	if err != nil || again.Changed || again.Version != "2.0.0" || again.Health.State != Healthy {
		t.Fatalf("third run: %v changed=%v version=%s health=%v", err, again.Changed, again.Version, again.Health)
	}
	noDataLoss(t, c)
}

// Without a liveness answer, a killed run's fresh heartbeat still guards the change: a re-run is refused
// until it ages out, then resumes.
func TestKilledRunWithoutLivenessWaitsForHeartbeat(t *testing.T) {
	c, o, _ := simCluster(t)
	o.HeartbeatInterval = time.Minute
	nodes := newStoreNodes()
	o.NodeImages = nodes
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	nodes.kill = func(string, int) { goruntime.Goexit() }
	v2 := bundle(t, "2.0.0", "ok")
	killedRun(func() { _, _ = Upgrade(bg, c, v2, o) })
	nodes.kill = nil
	if _, err := Upgrade(bg, c, v2, o); !errors.Is(err, ErrOperationInProgress) {
		t.Fatalf("re-run with a fresh heartbeat: %v, want ErrOperationInProgress", err)
	}
	// Three intervals later (a shorter interval stands for the time passed).
	later := o
	later.HeartbeatInterval = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if res, err := Upgrade(bg, c, v2, later); err != nil || res.State != StateSucceeded {
		t.Fatalf("re-run after the heartbeat aged: %v %s", err, res.State)
	}
}

// Landing that takes longer than three heartbeat intervals keeps its record alive: another process must
// not take it for orphaned (and close it) while the images are still on their way.
func TestLongLandingKeepsHeartbeat(t *testing.T) {
	c, o, _ := simCluster(t)
	o.HeartbeatInterval = 200 * time.Millisecond // alive for 600 ms after each beat: margin for a loaded CI machine
	nodes := newStoreNodes()
	o.NodeImages = nodes
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	nodes.block = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Upgrade(bg, c, bundle(t, "2.0.0", "ok"), o)
		done <- err
	}()
	for len(nodes.requests()) < 3 { // 2 deploy lands + the first upgrade land
		time.Sleep(time.Millisecond)
	}
	time.Sleep(8 * o.HeartbeatInterval)
	st, err := Status(bg, c, "shop", o)
	if err != nil || st.Orphaned || st.State != StateInProgress {
		t.Fatalf("status during a long landing: %v orphaned=%v state=%s", err, st.Orphaned, st.State)
	}
	if _, err := Upgrade(bg, c, bundle(t, "2.0.0", "ok"), o); !errors.Is(err, ErrOperationInProgress) {
		t.Fatalf("a second upgrade during the landing: %v, want ErrOperationInProgress", err)
	}
	close(nodes.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A kill before the apply, then a rollback: the interrupted change is closed, nothing is re-applied.
// Another bundle after such a kill closes it the same way and goes ahead.
func TestKilledBeforeApplyThenRollbackOrOtherBundle(t *testing.T) {
	c, o, _ := simCluster(t)
	nodes := newStoreNodes()
	o.NodeImages = nodes
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	before := helmChartUpdates(c)
	first := o
	first.Liveness = &fakeLiveness{token: "run-1"}
	nodes.kill = func(string, int) { goruntime.Goexit() }
	killedRun(func() { _, _ = Upgrade(bg, c, bundle(t, "2.0.0", "ok"), first) })
	nodes.kill = nil
	o.Liveness = &fakeLiveness{token: "run-2", dead: map[string]bool{"run-1": true}}

	rb, err := Rollback(bg, c, "shop", "", o)
	if err != nil || rb.Version != "1.0.0" || rb.Changed || rb.Health.State != Healthy {
		t.Fatalf("rollback after the kill: %v version=%s changed=%v health=%v", err, rb.Version, rb.Changed, rb.Health)
	}
	if helmChartUpdates(c) != before {
		t.Fatal("rolling back an upgrade that never applied touched the HelmChart")
	}
	h, _ := History(bg, c, "shop", o)
	if last := h.Records[len(h.Records)-1]; last.Version != "2.0.0" || last.State != StateFailed {
		t.Fatalf("interrupted upgrade record after the rollback: %s %s", last.Version, last.State)
	}

	// Same again, then a v3 bundle instead of re-running v2.
	first.Liveness = &fakeLiveness{token: "run-3"}
	nodes.kill = func(string, int) { goruntime.Goexit() }
	killedRun(func() { _, _ = Upgrade(bg, c, bundle(t, "2.0.0", "ok"), first) })
	nodes.kill = nil
	o.Liveness = &fakeLiveness{token: "run-4", dead: map[string]bool{"run-3": true}}
	res, err := Upgrade(bg, c, bundle(t, "3.0.0", "ok"), o)
	if err != nil || res.Version != "3.0.0" || res.State != StateSucceeded {
		t.Fatalf("v3 after an interrupted v2: %v %s %s", err, res.Version, res.State)
	}
	h, _ = History(bg, c, "shop", o)
	for _, r := range h.Records {
		if r.State == StateInProgress {
			t.Fatalf("record %s left in progress", r.ID)
		}
	}
	noDataLoss(t, c)
}

// The API server stores a HelmChart spec that does not hash like the one sent: helm-controller's CRD
// defaults spec.driver to "secret". A laptop killed after the apply must still be seen to have applied:
// status reports the new version (not "never applied"), and the re-run waits for it without updating the
// HelmChart again.
func TestKilledAfterApplyWithRewrittenSpec(t *testing.T) {
	c, _, h := fakeCluster(t)
	h.PrependReactor("*", "helmcharts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			if hc, ok := a.(k8stesting.CreateAction).GetObject().(*helmv1.HelmChart); ok {
				hc.Spec.Driver = "secret" // as helm-controller's CRD defaults it (seen on the stand-in)
			}
		}
		return false, nil, nil
	})
	startSim(t, c)
	log := &eventLog{}
	o := testOptions(t, log)
	o.Timeout = 5 * time.Second
	bg := context.Background()
	if _, err := Deploy(bg, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	first := o
	first.Liveness = &fakeLiveness{token: "run-1"}
	first.Sink = func(e progress.Event) {
		if e.Phase == PhaseWait {
			goruntime.Goexit() // SIGKILL once the HelmChart is applied
		}
	}
	v2 := bundle(t, "2.0.0", "ok")
	killedRun(func() { _, _ = Upgrade(bg, c, v2, first) })
	o.Liveness = &fakeLiveness{token: "run-2", dead: map[string]bool{"run-1": true}}
	st, err := Status(bg, c, "shop", o)
	if err != nil || !st.Orphaned || st.NotApplied || st.Version != "2.0.0" {
		t.Fatalf("status after a kill past the apply: %v orphaned=%v notApplied=%v version=%s", err, st.Orphaned, st.NotApplied, st.Version)
	}
	updates := helmChartUpdates(c)
	res, err := Upgrade(bg, c, v2, o)
	if err != nil || res.Version != "2.0.0" || res.State != StateSucceeded || res.Changed || !res.Resumed {
		t.Fatalf("re-run: %v %s %s changed=%v", err, res.Version, res.State, res.Changed)
	}
	if n := helmChartUpdates(c) - updates; n != 0 {
		t.Fatalf("the re-run updated the applied HelmChart %d times", n)
	}
	hist, _ := History(bg, c, "shop", o)
	if n := countAction(hist.Records, ActionUpgrade, "2.0.0"); n != 1 {
		t.Fatalf("%d upgrade records for 2.0.0, want 1", n)
	}
}
