package appliance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ComponentState is where one workload or service of the app stands.
type ComponentState string

const (
	// ComponentReady: rolled out and every replica ready (a Job: complete; a Service: every endpoint ready).
	ComponentReady ComponentState = "Ready"
	// ComponentProgressing: a rollout is under way (new spec not yet observed, replicas being replaced).
	ComponentProgressing ComponentState = "Progressing"
	// ComponentDegraded: rolled out, but only some replicas (or endpoints) are ready.
	ComponentDegraded ComponentState = "Degraded"
	// ComponentDown: rolled out and nothing is ready (a Service: no ready endpoint).
	ComponentDown ComponentState = "Down"
	// ComponentFailed: a final failure (an image missing on a node, a progress deadline exceeded, a failed Job).
	ComponentFailed ComponentState = "Failed"
	// ComponentMissing: in the release's manifest but not in the cluster.
	ComponentMissing ComponentState = "Missing"
)

// Component is one workload or service of the app's newest release, as the cluster reports it now: the
// parts an engineer recognises, so the whole system reads as one application.
type Component struct {
	Kind      string // Deployment, StatefulSet, DaemonSet, Job or Service
	Namespace string
	Name      string
	State     ComponentState

	// Workloads: ready and desired replicas (a DaemonSet: pods on nodes; a Job: succeeded and wanted
	// completions), and whether the newest spec is rolled out everywhere.
	Ready, Desired int32
	RolledOut      bool

	// Services: type, cluster IP, ports ("80/TCP", "80→8080/TCP", "80/TCP node 30080"), and the ready and
	// total endpoints behind it.
	ServiceType    string
	ClusterIP      string
	Ports          []string
	EndpointsReady int
	Endpoints      int

	// Reason says why the component is not Ready, in words an engineer can act on (e.g. "image X missing
	// on node Y"). Empty when Ready.
	Reason string
}

// IsWorkload reports whether the component runs pods (everything but a Service).
func (c Component) IsWorkload() bool { return c.Kind != "Service" }

// Summary is the component's figures in one line: "2/2 ready, rolled out" for a workload,
// "ClusterIP 10.43.0.12, 80/TCP, 2/2 endpoints ready" for a service. The Reason is not included.
func (c Component) Summary() string {
	if c.State == ComponentMissing {
		return "not in the cluster"
	}
	if c.IsWorkload() {
		s := fmt.Sprintf("%d/%d ready", c.Ready, c.Desired)
		if c.Kind == "Job" {
			s = fmt.Sprintf("%d/%d completed", c.Ready, c.Desired)
		} else if c.RolledOut {
			s += ", rolled out"
		} else {
			s += ", rolling out"
		}
		return s
	}
	parts := []string{c.ServiceType}
	if c.ClusterIP != "" {
		parts[0] += " " + c.ClusterIP
	}
	if len(c.Ports) > 0 {
		parts = append(parts, strings.Join(c.Ports, " "))
	}
	if c.ServiceType != string(corev1.ServiceTypeExternalName) {
		parts = append(parts, fmt.Sprintf("%d/%d endpoints ready", c.EndpointsReady, c.Endpoints))
	}
	return strings.Join(parts, ", ")
}

// String is Kind namespace/name: state, figures, reason (ferryctl prints it).
func (c Component) String() string {
	s := fmt.Sprintf("%s %s/%s: %s, %s", c.Kind, c.Namespace, c.Name, c.State, c.Summary())
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// Components lists the workloads and services of the newest release in s: workloads first (in the
// order of the manifest's kinds: Deployments, StatefulSets, DaemonSets, Jobs), then services, each kind
// by name. It is a pure function of the snapshot; Status fills Snapshot.Services and EndpointSlices.
func Components(s Snapshot) []Component {
	if s.Chart == nil || len(s.Releases) == 0 {
		return nil
	}
	target := s.Chart.Spec.TargetNamespace
	if target == "" {
		target = s.Chart.Namespace
	}
	refs, err := releaseObjects(s.Releases[0], target, componentKinds)
	if err != nil {
		return nil
	}
	out := make([]Component, 0, len(refs))
	for _, ref := range refs {
		if ref.Kind == "Service" {
			out = append(out, serviceComponent(s, ref))
		} else {
			out = append(out, workloadComponent(s, ref))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := componentKinds[out[i].Kind], componentKinds[out[j].Kind]; ri != rj {
			return ri < rj
		}
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// componentKinds are the kinds listed as components, with their display rank.
var componentKinds = map[string]int{"Deployment": 0, "StatefulSet": 1, "DaemonSet": 2, "Job": 3, "Service": 4}

// workloadComponent reads one workload's figures; what it waits for and its final failures come from the
// same code that decides the app's health (workloadStatus, imageMissing), so the two never disagree.
func workloadComponent(s Snapshot, ref workloadRef) Component {
	c := Component{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
	found := false
	switch ref.Kind {
	case "Deployment":
		if d := findObject(s.Deployments, ref); d != nil {
			found = true
			c.Desired = replicas(d.Spec.Replicas)
			c.Ready = d.Status.AvailableReplicas
			c.RolledOut = d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= c.Desired && d.Status.Replicas <= d.Status.UpdatedReplicas
		}
	case "StatefulSet":
		if st := findObject(s.StatefulSets, ref); st != nil {
			found = true
			c.Desired = replicas(st.Spec.Replicas)
			c.Ready = st.Status.ReadyReplicas
			c.RolledOut = st.Status.ObservedGeneration >= st.Generation
			if st.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
				c.RolledOut = c.RolledOut && st.Status.UpdatedReplicas >= c.Desired &&
					(st.Status.UpdateRevision == "" || st.Status.CurrentRevision == st.Status.UpdateRevision)
			}
		}
	case "DaemonSet":
		if ds := findObject(s.DaemonSets, ref); ds != nil {
			found = true
			c.Desired = ds.Status.DesiredNumberScheduled
			c.Ready = ds.Status.NumberAvailable
			c.RolledOut = ds.Status.ObservedGeneration >= ds.Generation && ds.Status.UpdatedNumberScheduled >= c.Desired
		}
	case "Job":
		if j := findObject(s.Jobs, ref); j != nil {
			found = true
			c.Desired = replicas(j.Spec.Completions)
			c.Ready = j.Status.Succeeded
			c.RolledOut = jobCondition(j, batchv1.JobComplete) != nil
		}
	}
	if !found {
		c.State, c.Reason = ComponentMissing, "not created yet"
		return c
	}
	waiting, failure, sel := workloadStatus(s, ref)
	if failure == "" && sel != nil {
		failure = imageMissing(s, ref.Namespace, sel)
	}
	trouble := ""
	if sel != nil {
		trouble = podTrouble(s, ref.Namespace, sel)
	}
	switch {
	case failure != "":
		c.State, c.Reason = ComponentFailed, failure
		return c
	case waiting == "":
		c.State = ComponentReady
		return c
	case ref.Kind == "Job" || !c.RolledOut:
		c.State = ComponentProgressing
	case c.Ready > 0:
		c.State = ComponentDegraded
	default:
		c.State = ComponentDown
	}
	c.Reason = "waiting " + waiting
	if trouble != "" {
		c.Reason += ": " + trouble
	}
	return c
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// findObject returns the item of items named by ref, or nil.
func findObject[T any, P interface {
	*T
	GetNamespace() string
	GetName() string
}](items []T, ref workloadRef) P {
	for i := range items {
		if o := P(&items[i]); o.GetNamespace() == ref.Namespace && o.GetName() == ref.Name {
			return o
		}
	}
	return nil
}

// serviceComponent reads a service's type, address and ports, and counts the endpoints behind it from
// its EndpointSlices (what kube-proxy routes to).
func serviceComponent(s Snapshot, ref workloadRef) Component {
	c := Component{Kind: "Service", Namespace: ref.Namespace, Name: ref.Name}
	var svc *corev1.Service
	for i := range s.Services {
		if v := &s.Services[i]; v.Namespace == ref.Namespace && v.Name == ref.Name {
			svc = v
		}
	}
	if svc == nil {
		c.State, c.Reason = ComponentMissing, "not created yet"
		return c
	}
	c.ServiceType = string(svc.Spec.Type)
	if c.ServiceType == "" {
		c.ServiceType = string(corev1.ServiceTypeClusterIP)
	}
	c.ClusterIP = svc.Spec.ClusterIP
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		c.ClusterIP = svc.Spec.ExternalName
	}
	for _, p := range svc.Spec.Ports {
		c.Ports = append(c.Ports, portText(p))
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		c.State = ComponentReady
		return c
	}
	seen := map[string]bool{}
	for i := range s.EndpointSlices {
		es := &s.EndpointSlices[i]
		if es.Namespace != ref.Namespace || es.Labels[discoveryv1.LabelServiceName] != ref.Name {
			continue
		}
		for _, ep := range es.Endpoints {
			key := endpointKey(ep)
			if seen[key] {
				continue // the same pod in an IPv4 and an IPv6 slice
			}
			seen[key] = true
			c.Endpoints++
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				c.EndpointsReady++
			}
		}
	}
	switch {
	case len(svc.Spec.Selector) == 0 && c.Endpoints == 0:
		// Endpoints managed outside Kubernetes' selector logic (or a headless alias): nothing to judge.
		c.State = ComponentReady
	case c.Endpoints == 0:
		c.State, c.Reason = ComponentDown, "no pod matches its selector "+selectorText(svc.Spec.Selector)
	case c.EndpointsReady == 0:
		c.State, c.Reason = ComponentDown, "no ready endpoint: its pods are not ready"
	case c.EndpointsReady < c.Endpoints:
		c.State, c.Reason = ComponentDegraded, fmt.Sprintf("%d endpoint(s) not ready", c.Endpoints-c.EndpointsReady)
	default:
		c.State = ComponentReady
	}
	return c
}

func endpointKey(ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return string(ep.TargetRef.UID)
	}
	if ep.TargetRef != nil {
		return ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	return strings.Join(ep.Addresses, ",")
}

func portText(p corev1.ServicePort) string {
	proto := string(p.Protocol)
	if proto == "" {
		proto = string(corev1.ProtocolTCP)
	}
	s := strconv.Itoa(int(p.Port))
	if t := p.TargetPort.String(); t != "" && t != "0" && t != s {
		s += "→" + t
	}
	s += "/" + proto
	if p.NodePort != 0 {
		s += " node " + strconv.Itoa(int(p.NodePort))
	}
	return s
}

func selectorText(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + sel[k]
	}
	return strings.Join(keys, ",")
}

// collectServices adds the Services and EndpointSlices of the namespaces the newest release renders
// into. Only Status needs them, so the deploy wait loop does not pay for the extra lists.
func collectServices(ctx context.Context, c *Cluster, ns string, s *Snapshot) error {
	if s.Chart == nil {
		return nil
	}
	target := s.Chart.Spec.TargetNamespace
	if target == "" {
		target = ns
	}
	namespaces := map[string]bool{target: true}
	if len(s.Releases) > 0 {
		if refs, err := releaseObjects(s.Releases[0], target, componentKinds); err == nil {
			for _, r := range refs {
				namespaces[r.Namespace] = true
			}
		}
	}
	names := make([]string, 0, len(namespaces))
	for n := range namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		svcs, err := c.Kube.CoreV1().Services(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing services in %s: %w", n, err)
		}
		s.Services = append(s.Services, svcs.Items...)
		eps, err := c.Kube.DiscoveryV1().EndpointSlices(n).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing endpoint slices in %s: %w", n, err)
		}
		s.EndpointSlices = append(s.EndpointSlices, eps.Items...)
	}
	return nil
}
