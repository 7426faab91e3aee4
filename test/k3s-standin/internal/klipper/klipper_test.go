package klipper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestParseInstallArgs(t *testing.T) {
	// The argument list helm-controller v0.17.9's args() builds.
	got, err := parseInstallArgs([]string{"install", "--namespace", "demo", "--create-namespace", "--take-ownership",
		"--version", "1.2.3", "--set", "replicas=2", "--set-string", "tag=v1\\,2"})
	if err != nil {
		t.Fatal(err)
	}
	want := installFlags{createNamespace: true, takeOwnership: true, set: []string{"replicas=2"}, setString: []string{"tag=v1\\,2"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(installFlags{})); diff != "" {
		t.Error(diff)
	}
	if _, err := parseInstallArgs([]string{"install", "--wait"}); err == nil {
		t.Error("unknown argument accepted")
	}
	if _, err := parseInstallArgs([]string{"install", "--set"}); err == nil {
		t.Error("--set without value accepted")
	}
}

func TestIsHelmJobPod(t *testing.T) {
	pod := func(label, owner string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}}
		if label != "" {
			p.Labels["helmcharts.helm.cattle.io/chart"] = label
		}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "Job", Name: owner}}
		}
		return p
	}
	for _, c := range []struct {
		p    *corev1.Pod
		want bool
	}{
		{pod("app", "helm-install-app"), true},
		{pod("app", "helm-delete-app"), true},
		{pod("", "helm-install-app"), false},
		{pod("app", "other-job"), false},
		{pod("app", ""), false},
	} {
		if got := IsHelmJobPod(c.p); got != c.want {
			t.Errorf("IsHelmJobPod(%v, %v) = %v", c.p.Labels, c.p.OwnerReferences, got)
		}
	}
}

// A pod's work runs once: the kubelet asking again (its informer still showing the pod Running, or its
// final status write lost) gets the first result back, also while the first run is still going; another
// pod runs on its own.
func TestRunOncePerPod(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	r := &Runner{Work: func(ctx context.Context, pod *corev1.Pod, logf func(string, ...any)) error {
		calls.Add(1)
		logf("Installing %s", pod.Name)
		<-release
		if pod.Name == "bad" {
			return errors.New("helm failed")
		}
		return nil
	}}
	pod := func(name, uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID(uid)}}
	}
	type res struct {
		out string
		err error
	}
	ctx := context.Background()
	first, second := make(chan res, 1), make(chan res, 1)
	go func() { out, err := r.Run(ctx, pod("helm-install-a", "u1")); first <- res{out, err} }()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() { out, err := r.Run(ctx, pod("helm-install-a", "u1")); second <- res{out, err} }()
	select {
	case <-second:
		t.Fatal("a repeated call returned while the first run was still going")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	a, b := <-first, <-second
	if a.err != nil || a.out != "Installing helm-install-a\n" || b != a {
		t.Fatalf("first %+v, repeated %+v", a, b)
	}
	if out, err := r.Run(ctx, pod("helm-install-a", "u1")); out != a.out || err != nil {
		t.Fatalf("after the run: %q %v", out, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("work ran %d times for one pod", n)
	}
	if _, err := r.Run(ctx, pod("bad", "u2")); err == nil {
		t.Fatal("failing work reported success")
	}
	if _, err := r.Run(ctx, pod("bad", "u2")); err == nil || err.Error() != "helm failed" {
		t.Fatalf("repeated failed pod: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("work ran %d times for two pods", n)
	}
}

// memoryHelm is helm with in-memory release storage and a kube client that accepts everything: the
// release bookkeeping of install and upgrade is helm's own.
func memoryHelm() *action.Configuration {
	return &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
}

// helmJob is a pod of helm-controller's install job for release "shop" as v0.17.9 writes it: the
// revision it saw when it made the job, the config hash and failurePolicy abort (Ferry's).
func helmJob(expected string) job {
	env := map[string]string{"NAME": "shop", "TARGET_NAMESPACE": "shop", "CONFIG_HASH": "H", "FAILURE_POLICY": "abort"}
	if expected != "-" {
		env["EXPECTED_RELEASE_REVISION"] = expected
	}
	return job{args: []string{"install"}, env: env, namespace: "shop"}
}

func testChart(version string) *chart.Chart {
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "shop", Version: version},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\ndata:\n  v: {{ .Chart.Version }}\n")}},
	}
}

// revisions is the release's history: revision -> status.
func revisions(t *testing.T, cfg *action.Configuration) map[int]release.Status {
	t.Helper()
	h, err := cfg.Releases.History("shop")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]release.Status{}
	for _, r := range h {
		out[r.Version] = r.Info.Status
	}
	return out
}

// A second pod of the same helm job (helm-controller replaced or retried the job after a pod's helm run
// went through) must not run helm again: klipper-helm compares the newest revision with the job's
// EXPECTED_RELEASE_REVISION and exits 0 without touching the release. Without the guard each such pod
// added a revision: a single v1 -> v2 change ended at revision 4 on a loaded machine.
func TestRevisionGuard(t *testing.T) {
	ctx := context.Background()
	cfg := memoryHelm()
	var log []string
	logf := func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
	run := func(expected, version string) error {
		return installOrUpgrade(ctx, cfg, helmJob(expected), installFlags{}, testChart(version), map[string]any{}, time.Minute, logf)
	}

	// Install: the job was made with no release (revision 0); a second pod of that job finds revision 1.
	if err := run("0", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := run("0", "1.0.0"); err != nil {
		t.Fatalf("second pod of the install job: %v (klipper-helm exits 0)", err)
	}
	// Upgrade: made at revision 1; the first pod upgrades, the next two (replaced job, retried pod) do not.
	for i := 0; i < 3; i++ {
		if err := run("1", "2.0.0"); err != nil {
			t.Fatalf("pod %d of the upgrade job: %v", i+1, err)
		}
	}
	want := map[int]release.Status{1: release.StatusSuperseded, 2: release.StatusDeployed}
	if diff := cmp.Diff(want, revisions(t, cfg)); diff != "" {
		t.Fatalf("revisions after one install and one upgrade, each run by several pods (-want +got):\n%s\nlog:\n%s", diff, strings.Join(log, "\n"))
	}
	skipped := 0
	for _, l := range log {
		if strings.HasPrefix(l, "Current release revision ") {
			skipped++
		}
	}
	if skipped != 3 {
		t.Errorf("%d pods reported the revision guard, want 3:\n%s", skipped, strings.Join(log, "\n"))
	}

	// A job made before a newer change landed must not undo it: made at revision 1, the release is at 2.
	if err := run("1", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if got := revisions(t, cfg); len(got) != 2 {
		t.Fatalf("a stale job changed the release: %v", got)
	}
	// A failed newest revision is left to failurePolicy: the failed upgrade's next pod (made at revision
	// 2, finding revision 3 failed) aborts, so the job fails, as before the guard.
	cfg.KubeClient = &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}, UpdateError: errors.New("rejected")}
	if err := run("2", "3.0.0"); err == nil {
		t.Fatal("failing upgrade reported success")
	}
	if err := run("2", "3.0.0"); !errors.Is(err, ErrAborted) {
		t.Fatalf("next pod after a failed upgrade: %v, want %v (failurePolicy abort)", err, ErrAborted)
	}
	if got := revisions(t, cfg); len(got) != 3 || got[3] != release.StatusFailed {
		t.Fatalf("revisions after a failed upgrade and its retry: %v", got)
	}
	// Without EXPECTED_RELEASE_REVISION (older helm-controller) nothing is checked: a new job upgrades.
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard}
	cfg2 := memoryHelm()
	for i, v := range []string{"1.0.0", "2.0.0"} {
		if err := installOrUpgrade(ctx, cfg2, helmJob("-"), installFlags{}, testChart(v), map[string]any{}, time.Minute, logf); err != nil {
			t.Fatalf("run %d without the guard: %v", i+1, err)
		}
	}
	if got := revisions(t, cfg2); len(got) != 2 {
		t.Fatalf("without EXPECTED_RELEASE_REVISION: %v", got)
	}
}

// A restart of the stand-in (a new Runner on the same Dir) must not run a finished pod's work again: the
// kubelet asks again for every helm pod still shown Running, and a second run of an upgrade pod whose
// helm run went through added a helm revision. Its result comes back instead, failures included; a run
// the restart cut short is run again.
func TestRunSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	work := func(ctx context.Context, pod *corev1.Pod, logf func(string, ...any)) error {
		calls.Add(1)
		logf("Already installed shop, upgrading")
		if pod.Name == "bad" {
			return errors.New("helm failed")
		}
		return nil
	}
	pod := func(name, uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID(uid)}}
	}
	ctx := context.Background()
	before := &Runner{Dir: dir, Work: work}
	out, err := before.Run(ctx, pod("helm-install-shop-a", "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Run(ctx, pod("bad", "u2")); err == nil {
		t.Fatal("failing work reported success")
	}

	var log []string
	after := &Runner{Dir: dir, Work: work, Log: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }}
	if got, err := after.Run(ctx, pod("helm-install-shop-a", "u1")); err != nil || got != out {
		t.Fatalf("after a restart: %q, %v; want the first run's %q", got, err, out)
	}
	if _, err := after.Run(ctx, pod("bad", "u2")); err == nil || err.Error() != "helm failed" {
		t.Fatalf("failed pod after a restart: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("work ran %d times for two pods across a restart (log %q)", n, log)
	}
	if len(log) != 2 || !strings.Contains(log[0], "before a restart") {
		t.Errorf("log after the restart: %q", log)
	}

	// Cut short: the record says started, no result.
	if err := after.save("u3", runRecord{}); err != nil {
		t.Fatal(err)
	}
	third := &Runner{Dir: dir, Work: work}
	out, err = third.Run(ctx, pod("helm-install-shop-b", "u3"))
	if err != nil || calls.Load() != 3 || !strings.Contains(out, "interrupted by a restart") {
		t.Fatalf("interrupted run: %q, %v, %d calls", out, err, calls.Load())
	}
	// ... and, finished now, is not run by the next start either.
	if _, err := (&Runner{Dir: dir, Work: work}).Run(ctx, pod("helm-install-shop-b", "u3")); err != nil || calls.Load() != 3 {
		t.Fatalf("finished re-run ran again: %v, %d calls", err, calls.Load())
	}
}
