package kubelet

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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
