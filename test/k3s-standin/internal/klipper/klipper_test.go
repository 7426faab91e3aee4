package klipper

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
