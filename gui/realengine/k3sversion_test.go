package realengine

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
)

func node(name, kubelet string, server bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubelet}}}
	if server {
		n.Labels[labelControlPlane] = "true"
	}
	return n
}

// The k3s version the Manage screen shows is the servers' (agents may lag during an upgrade), stated as
// mixed, with who runs what, while the servers differ.
func TestK3sVersionFromServerNodes(t *testing.T) {
	names := map[string]string{"cp-1": "CP 1", "cp-2": "CP 2", "cp-3": "CP 3"}
	for _, tc := range []struct {
		name  string
		nodes []runtime.Object
		want  string
		mixed bool
	}{
		{"no nodes", nil, "", false},
		{"one version; an older agent does not count",
			[]runtime.Object{node("cp-1", "v1.33.4+k3s1", true), node("worker", "v1.32.8+k3s1", false)}, "v1.33.4+k3s1", false},
		{"servers upgraded one at a time: newest first, each with its servers (wizard names)",
			[]runtime.Object{node("cp-3", "v1.32.8+k3s1", true), node("cp-1", "v1.33.4+k3s1", true), node("cp-2", "v1.33.4+k3s1", true), node("worker", "v1.31.0+k3s1", false)},
			"v1.33.4+k3s1 (CP 1, CP 2) · v1.32.8+k3s1 (CP 3)", true},
		{"versions compared as versions, not text", []runtime.Object{node("cp-1", "v1.33.9+k3s1", true), node("cp-2", "v1.33.10+k3s1", true)},
			"v1.33.10+k3s1 (CP 2) · v1.33.9+k3s1 (CP 1)", true},
		{"another k3s build of the same Kubernetes", []runtime.Object{node("cp-1", "v1.33.4+k3s1", true), node("cp-2", "v1.33.4+k3s2", true)},
			"v1.33.4+k3s2 (CP 2) · v1.33.4+k3s1 (CP 1)", true},
		{"no role labels: every node counts", []runtime.Object{node("a", "v1.33.4+k3s1", false), node("b", "v1.33.4+k3s1", false)}, "v1.33.4+k3s1", false},
		{"a server that never reported", []runtime.Object{node("cp-1", "v1.33.4+k3s1", true), node("cp-2", "", true)}, "v1.33.4+k3s1 (CP 1) · ? (CP 2)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, mixed, err := k3sVersion(context.Background(), kfake.NewClientset(tc.nodes...), names)
			if err != nil || got != tc.want || mixed != tc.mixed {
				t.Fatalf("k3sVersion = %q, mixed %v, %v; want %q, mixed %v", got, mixed, err, tc.want, tc.mixed)
			}
		})
	}
}
