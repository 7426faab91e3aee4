package appliance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A release with every kind of component: the manifest as helm stores it, the shop's web, db and web
// Service and more (Components sorts them by kind and name, whatever the manifest's order).
const componentsManifest = manifest + `---
# Source: shop/templates/admin.yaml
apiVersion: v1
kind: Service
metadata:
  name: admin
---
# Source: shop/templates/ext.yaml
apiVersion: v1
kind: Service
metadata:
  name: mail
---
# Source: shop/templates/agent.yaml
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
---
# Source: shop/templates/migrate.yaml
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
---
# Source: shop/templates/cache.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
---
# Source: shop/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
`

func TestComponents(t *testing.T) {
	chart := shopChart()
	r := rel(2, release.StatusDeployed, hashNew, "Upgrade complete")
	r.Manifest = componentsManifest
	rels := helmReleases(t, r)
	yes, no := true, false
	three := int32(3)
	web := deployment(3, 3, 2, 4, 4) // rolled out, one replica not available
	web.Spec.Replicas = &three
	db := statefulSet(1, "db-1", "db-2") // rolling update under way
	agent := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop", Generation: 1},
		Spec:   appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}}
	migrate := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "shop"},
		Status: batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	cache := deployment(1, 1, 0, 1, 1)
	cache.Name = "cache"
	cache.Spec.Selector.MatchLabels = map[string]string{"app": "cache"}
	pull := pullingPod("ErrImageNeverPull")
	pull.Name, pull.Labels, pull.Spec.Containers[0].Image = "cache-1", map[string]string{"app": "cache"}, "registry.local/cache:7"
	svc := func(name string, spec corev1.ServiceSpec) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: spec}
	}
	slice := func(svc string, ready ...*bool) discoveryv1.EndpointSlice {
		es := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-x", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: svc}}}
		for i, r := range ready {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.0." + string(rune('1'+i))},
				Conditions: discoveryv1.EndpointConditions{Ready: r}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: svc + string(rune('a'+i))}})
		}
		return es
	}
	v6 := slice("web", &yes, &no, nil) // the same pods again in an IPv6 slice: counted once
	v6.Name = "web-v6"
	s := Snapshot{Chart: chart, Releases: rels,
		Deployments:  []appsv1.Deployment{web, cache},
		StatefulSets: []appsv1.StatefulSet{db},
		DaemonSets:   []appsv1.DaemonSet{agent},
		Jobs:         []batchv1.Job{migrate},
		Pods:         []corev1.Pod{pull},
		Services: []corev1.Service{
			svc("web", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.43.0.12", Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP, NodePort: 30080}}}),
			svc("admin", corev1.ServiceSpec{ClusterIP: "10.43.0.13", Selector: map[string]string{"app": "admin"}, Ports: []corev1.ServicePort{{Port: 9000, Protocol: corev1.ProtocolUDP}}}),
			svc("mail", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "mail.plant7.example"}),
		},
		EndpointSlices: []discoveryv1.EndpointSlice{slice("web", &yes, &no, nil), v6, slice("other", &yes)},
	}
	got := Components(s)
	want := []Component{
		{Kind: "Deployment", Namespace: "shop", Name: "cache", State: ComponentFailed, Ready: 0, Desired: 1, RolledOut: true,
			Reason: "image registry.local/cache:7 missing on node node-2 (pod cache-1: ErrImageNeverPull)"},
		{Kind: "Deployment", Namespace: "shop", Name: "web", State: ComponentDegraded, Ready: 2, Desired: 3, RolledOut: true,
			Reason: "waiting to become available (2/3 ready)"},
		{Kind: "StatefulSet", Namespace: "shop", Name: "db", State: ComponentProgressing, Ready: 1, Desired: 1, Reason: "waiting to finish its rolling update"},
		{Kind: "DaemonSet", Namespace: "shop", Name: "agent", State: ComponentReady, Ready: 2, Desired: 2, RolledOut: true},
		{Kind: "Job", Namespace: "shop", Name: "migrate", State: ComponentReady, Ready: 1, Desired: 1, RolledOut: true},
		{Kind: "Service", Namespace: "shop", Name: "admin", State: ComponentDown, ServiceType: "ClusterIP", ClusterIP: "10.43.0.13", Ports: []string{"9000/UDP"},
			Reason: "no pod matches its selector app=admin"},
		{Kind: "Service", Namespace: "shop", Name: "mail", State: ComponentReady, ServiceType: "ExternalName", ClusterIP: "mail.plant7.example"},
		{Kind: "Service", Namespace: "shop", Name: "web", State: ComponentDegraded, ServiceType: "NodePort", ClusterIP: "10.43.0.12",
			Ports: []string{"80→8080/TCP node 30080"}, EndpointsReady: 2, Endpoints: 3, Reason: "1 endpoint(s) not ready"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("components (-want +got):\n%s", d)
	}
	lines := map[string]string{
		"cache": "Deployment shop/cache: Failed, 0/1 ready, rolled out (image registry.local/cache:7 missing on node node-2 (pod cache-1: ErrImageNeverPull))",
		"db":    "StatefulSet shop/db: Progressing, 1/1 ready, rolling out (waiting to finish its rolling update)",
		"web":   "Service shop/web: Degraded, NodePort 10.43.0.12, 80→8080/TCP node 30080, 2/3 endpoints ready (1 endpoint(s) not ready)",
		"mail":  "Service shop/mail: Ready, ExternalName mail.plant7.example",
	}
	for _, c := range got {
		if w, ok := lines[c.Name]; ok && (c.Name != "web" || c.Kind == "Service") && c.String() != w {
			t.Errorf("String() = %q, want %q", c.String(), w)
		}
	}

	// A workload the release renders but the cluster lacks, and one rendered into another namespace.
	s.Deployments = nil
	if c := Components(s)[0]; c.Name != "cache" || c.State != ComponentMissing || c.Reason != "not created yet" || c.Summary() != "not in the cluster" {
		t.Errorf("missing deployment: %+v %q", c, c.Summary())
	}
	// No release yet: nothing to list.
	if c := Components(Snapshot{Chart: chart}); c != nil {
		t.Errorf("no release: %+v", c)
	}
}

func TestComponentsDownAndProgressing(t *testing.T) {
	chart := shopChart()
	rels := helmReleases(t, rel(1, release.StatusDeployed, hashNew, "Install complete"))
	crash := pullingPod("CrashLoopBackOff")
	for _, tc := range []struct {
		name   string
		dep    appsv1.Deployment
		state  ComponentState
		reason string
	}{
		{"new spec not observed", deployment(2, 2, 2, 3, 2), ComponentProgressing, "waiting to be observed by its controller: pod web-7d9f-abcde: CrashLoopBackOff"},
		{"replacing replicas", deployment(2, 1, 2, 3, 3), ComponentProgressing, "waiting to update replicas (1/2 updated): pod web-7d9f-abcde: CrashLoopBackOff"},
		{"nothing ready", deployment(2, 2, 0, 3, 3), ComponentDown, "waiting to become available (0/2 ready): pod web-7d9f-abcde: CrashLoopBackOff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := Components(Snapshot{Chart: chart, Releases: rels, Deployments: []appsv1.Deployment{tc.dep}, Pods: []corev1.Pod{crash}})
			if cs[0].Kind != "Deployment" || cs[0].State != tc.state || cs[0].Reason != tc.reason {
				t.Fatalf("got %+v, want %s %q", cs[0], tc.state, tc.reason)
			}
		})
	}
}

// Status lists the components of a deployed app, read through the clientset from the simulated cluster:
// then an upgrade whose image never reached the node shows the failing workload and the service without
// a ready endpoint.
func TestStatusListsComponents(t *testing.T) {
	c, o, log := simCluster(t)
	ctx := context.Background()
	if _, err := Deploy(ctx, c, bundle(t, "1.0.0", "ok"), o); err != nil {
		t.Fatal(err)
	}
	st, err := Status(ctx, c, "shop", o)
	if err != nil {
		t.Fatal(err)
	}
	want := []Component{
		{Kind: "Deployment", Namespace: "shop", Name: "web", State: ComponentReady, Ready: 1, Desired: 1, RolledOut: true},
		{Kind: "StatefulSet", Namespace: "shop", Name: "db", State: ComponentReady, Ready: 1, Desired: 1, RolledOut: true},
		{Kind: "Service", Namespace: "shop", Name: "web", State: ComponentReady, ServiceType: "ClusterIP", Ports: []string{"80/TCP"}, EndpointsReady: 1, Endpoints: 1},
	}
	ignoreIP := cmpopts.IgnoreFields(Component{}, "ClusterIP")
	if d := cmp.Diff(want, st.Components, ignoreIP); d != "" {
		t.Fatalf("components (-want +got):\n%s", d)
	}
	if ip := st.Components[2].ClusterIP; !strings.HasPrefix(ip, "10.43.") {
		t.Errorf("service cluster IP %q", ip)
	}

	// The laptop is lost during an upgrade whose pods never become ready: on reconnect the orphaned
	// change is judged and the components say which part holds the app up.
	o.Timeout = time.Minute
	uctx, cancel := context.WithCancel(ctx)
	go func() {
		for !log.has("to become available") {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := Upgrade(uctx, c, bundle(t, "2.0.0", "neverReady"), o); err == nil {
		t.Fatal("the cancelled upgrade succeeded")
	}
	st, err = Status(ctx, c, "shop", o)
	if err != nil || !st.Orphaned {
		t.Fatalf("status: %v orphaned=%v", err, st.Orphaned)
	}
	want[0].State, want[0].Ready, want[0].Reason = ComponentDown, 0, "waiting to become available (0/1 ready)"
	want[2].State, want[2].EndpointsReady, want[2].Reason = ComponentDown, 0, "no ready endpoint: its pods are not ready"
	if d := cmp.Diff(want, st.Components, ignoreIP); d != "" {
		t.Fatalf("components after the lost upgrade (-want +got):\n%s", d)
	}
}
