package kubelet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

type allPresent struct{}

func (allPresent) Missing(context.Context, []string) ([]string, error) { return nil, nil }

func probe(cmd ...string) *corev1.Probe {
	if cmd == nil {
		return nil
	}
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}}
}

// A readiness probe that execs `false` is never Ready (as on a real node); `true`, other commands and no
// probe at all are Ready once the images are present, as before.
func TestReadinessProbeFalseNeverReady(t *testing.T) {
	cases := []struct {
		name      string
		probes    [][]string // one container per entry
		wantReady bool
	}{
		{"no probe", [][]string{nil}, true},
		{"true", [][]string{{"true"}}, true},
		{"false", [][]string{{"false"}}, false},
		{"/bin/false", [][]string{{"/bin/false"}}, false},
		{"other command taken as passing", [][]string{{"cat", "/tmp/healthy"}}, true},
		{"one of two containers false", [][]string{{"true"}, {"/bin/false"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1"},
				Spec: corev1.PodSpec{NodeName: "n1"}}
			for i, p := range tc.probes {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
					Name: string(rune('a' + i)), Image: "registry.example/shop/web:1", ReadinessProbe: probe(p...)})
			}
			cs := fake.NewClientset(pod)
			k := &Kubelet{Client: cs, NodeName: "n1", InternalIP: "10.0.0.1", Images: allPresent{},
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			k.Init()
			for range 3 { // repeated passes must settle, not flap or rewrite the status
				cur, err := cs.CoreV1().Pods("shop").Get(ctx, "web-1", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				k.syncPod(ctx, cur)
			}
			got, _ := cs.CoreV1().Pods("shop").Get(ctx, "web-1", metav1.GetOptions{})
			if got.Status.Phase != corev1.PodRunning {
				t.Fatalf("phase %s, want Running", got.Status.Phase)
			}
			if isReady(got) != tc.wantReady {
				t.Fatalf("Ready = %v, want %v; conditions %+v", isReady(got), tc.wantReady, got.Status.Conditions)
			}
			for i, c := range got.Status.ContainerStatuses {
				want := !neverReady(pod.Spec.Containers[i])
				if c.Ready != want || c.State.Running == nil {
					t.Errorf("container %s: ready %v running %v, want ready %v and running", c.Name, c.Ready, c.State.Running != nil, want)
				}
			}
			updates, events := 0, 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "update" && a.GetSubresource() == "status" {
					updates++
				}
				if a.GetVerb() == "create" && a.GetResource().Resource == "events" {
					events++
				}
			}
			if updates != 1 {
				t.Errorf("%d status updates over 3 passes, want 1", updates)
			}
			if wantEvents := map[bool]int{true: 0, false: 1}[tc.wantReady]; events != wantEvents {
				t.Errorf("%d events, want %d (one Unhealthy when never Ready)", events, wantEvents)
			}
		})
	}
}

// countingRunner stands in for klipper.Runner: it counts how often the kubelet asks for a pod's work.
type countingRunner struct {
	mu    sync.Mutex
	calls int
}

func (r *countingRunner) Run(context.Context, *corev1.Pod) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return "Release \"shop\" has been upgraded. Happy Helming!", nil
}

func (r *countingRunner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// A helm job pod's work is asked for once, even when its final status write fails once and the informer
// keeps showing the pod as it was before (the stale object is what the sync loop is handed). The final
// status still lands, and the kubelet's mark is dropped once it sees that final phase.
func TestHelmJobFinalStatusRetriedNotRerun(t *testing.T) {
	cases := []struct {
		name string
		fail error // returned once by the API for the final (Succeeded) status write
	}{
		{"conflict", apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "helm-install-shop-x7k2p", errors.New("the object has been modified"))},
		{"server error", apierrors.NewInternalError(errors.New("etcdserver: leader changed"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "helm-install-shop-x7k2p", Namespace: "kube-system", UID: "u-helm",
					Labels:          map[string]string{"helmcharts.helm.cattle.io/chart": "shop"},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "helm-install-shop", UID: "u-job"}}},
				Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "helm", Image: "rancher/klipper-helm:v0.9.8"}}},
			}
			cs := fake.NewClientset(pod)
			var failed atomic.Int32
			cs.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				u, ok := a.(k8stesting.UpdateAction)
				if !ok || u.GetSubresource() != "status" || u.GetObject().(*corev1.Pod).Status.Phase != corev1.PodSucceeded || !failed.CompareAndSwap(0, 1) {
					return false, nil, nil
				}
				return true, nil, tc.fail
			})
			runner := &countingRunner{}
			k := &Kubelet{Client: cs, NodeName: "n1", InternalIP: "10.0.0.1", Images: allPresent{}, Klipper: runner,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			k.Init()

			deadline := time.Now().Add(10 * time.Second)
			var got *corev1.Pod
			for {
				k.syncPod(ctx, pod.DeepCopy()) // the informer has not caught up: always the pod as created
				var err error
				if got, err = cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
					t.Fatal(err)
				}
				if got.Status.Phase == corev1.PodSucceeded || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got.Status.Phase != corev1.PodSucceeded {
				t.Fatalf("phase %s, want Succeeded", got.Status.Phase)
			}
			if n := failed.Load(); n != 1 {
				t.Fatalf("the final status write failed %d times, want 1 (the test did not exercise the retry)", n)
			}
			// More stale passes after the final write must not ask again either.
			for range 3 {
				k.syncPod(ctx, pod.DeepCopy())
			}
			if n := runner.count(); n != 1 {
				t.Errorf("helm runner asked %d times for one pod, want 1", n)
			}
			if msg := got.Status.ContainerStatuses[0].State.Terminated; msg == nil || !strings.Contains(msg.Message, "Happy Helming") {
				t.Errorf("termination state %+v, want the run's output as message", msg)
			}
			k.syncPod(ctx, got) // the informer catches up
			k.mu.Lock()
			marks := len(k.running)
			k.mu.Unlock()
			if marks != 0 {
				t.Errorf("%d helm job marks left after the final phase was seen, want 0", marks)
			}
		})
	}
}
