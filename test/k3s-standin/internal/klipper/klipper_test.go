package klipper

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
