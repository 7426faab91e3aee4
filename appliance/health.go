package appliance

import (
	"fmt"
	"sort"
	"strings"
	"time"

	helmv1 "github.com/k3s-io/helm-controller/pkg/apis/helm.cattle.io/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// State is the outcome of one health evaluation.
type State string

const (
	InProgress State = "InProgress"
	Healthy    State = "Healthy"
	Failed     State = "Failed"
)

// Snapshot is everything health is judged from, read from the cluster in one pass (see collect.go).
type Snapshot struct {
	Chart *helmv1.HelmChart
	// Job is helm-controller's helm-install-<app> Job, nil when absent.
	Job *batchv1.Job
	// StaleJobUID is the UID of the job that existed before the spec was applied: that job ran an older
	// spec and says nothing about this one. Empty when no job existed.
	StaleJobUID types.UID
	// StaleRevision is the newest release revision before the apply; a release without a config-hash
	// label (a klipper-helm that does not set it) counts as this spec's only when newer than that.
	StaleRevision int
	// Releases are the app's helm releases, newest revision first.
	Releases     []*Release
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
	Jobs         []batchv1.Job
	// Pods holds the pods of the target namespace and of the helm job.
	Pods   []corev1.Pod
	Events []corev1.Event
	// Services and EndpointSlices of the release's namespaces; only Status reads them (Components).
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	// Started is when the spec was applied; Timeout bounds the wait (zero: no timeout). Now is the
	// evaluation time, passed in so the evaluation stays a pure function.
	Started time.Time
	Timeout time.Duration
	Now     time.Time
}

// Health is the verdict of Evaluate.
type Health struct {
	State State
	// Reason says why the state is what it is, in words an engineer can act on.
	Reason string
	// Waiting names what is not ready yet (InProgress, or Failed by timeout).
	Waiting []string
	// ConfigHash is the config hash of the current job, once known.
	ConfigHash string
	// Revision is the newest helm release revision, 0 when none.
	Revision int
}

func (h Health) String() string {
	s := string(h.State)
	if h.Reason != "" {
		s += ": " + h.Reason
	}
	return s
}

// imagePullReasons are the kubelet's waiting reasons for an image that cannot be had. On an air-gapped
// node no registry will ever answer, so one of these is final: the image is not in the node's containerd.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true, "InvalidImageName": true,
}

// Evaluate decides health. Success is helm-controller's job for this spec Complete, AND the newest
// release deployed by that job, AND every workload of the release rolled out (helm runs without --wait,
// helm-controller has no success condition: k3s-contract.md §9).
func Evaluate(s Snapshot) Health {
	h := evaluate(s)
	if h.State == InProgress && s.Timeout > 0 && !s.Started.IsZero() && s.Now.Sub(s.Started) > s.Timeout {
		h.State = Failed
		h.Reason = fmt.Sprintf("timed out after %s waiting for %s", s.Timeout, strings.Join(h.Waiting, ", "))
	}
	return h
}

func evaluate(s Snapshot) Health {
	if s.Chart == nil {
		return Health{State: Failed, Reason: "the HelmChart does not exist"}
	}
	name := s.Chart.Name
	jobName := "helm-install-" + name
	ours := s.Job != nil && s.Job.UID != s.StaleJobUID
	if !ours {
		// A Failed condition from before the spec was applied belongs to the old job; only a failure to
		// generate the job at all is about this spec.
		if c := chartCondition(s.Chart, helmv1.HelmChartFailed); c != nil && c.Status == corev1.ConditionTrue && c.Reason != "Job failed" {
			return Health{State: Failed, Reason: fmt.Sprintf("helm-controller: %s: %s", c.Reason, c.Message)}
		}
		return Health{State: InProgress, Waiting: []string{"helm-controller to start job " + jobName}}
	}
	h := Health{ConfigHash: jobConfigHash(s.Job)}
	if len(s.Releases) > 0 {
		h.Revision = s.Releases[0].Version
	}
	if cond := jobCondition(s.Job, batchv1.JobFailed); cond != nil {
		h.State = Failed
		h.Reason = fmt.Sprintf("helm job %s failed: %s", jobName, jobFailureCause(s, cond))
		return h
	}
	if jobCondition(s.Job, batchv1.JobComplete) == nil {
		// helm has already recorded this config's attempt as failed: the job's retries cannot change that.
		if len(s.Releases) > 0 && madeBy(s.Releases[0], h.ConfigHash, s.StaleRevision) && s.Releases[0].Info != nil && s.Releases[0].Info.Status == "failed" {
			h.State = Failed
			h.Reason = fmt.Sprintf("helm release %s revision %d failed: %s", name, s.Releases[0].Version, s.Releases[0].Info.Description)
			return h
		}
		h.State = InProgress
		h.Waiting = []string{"helm job " + jobName + " to complete"}
		if w := podTrouble(s, s.Job.Namespace, s.Job.Spec.Selector); w != "" {
			h.Waiting[0] += " (" + w + ")"
		}
		return h
	}
	if len(s.Releases) == 0 {
		h.State = Failed
		h.Reason = fmt.Sprintf("helm job %s completed but release %s does not exist", jobName, name)
		return h
	}
	newest := s.Releases[0]
	if !madeBy(newest, h.ConfigHash, s.StaleRevision) {
		// The job completed without producing a release for this config (klipper-helm skips when the hash
		// or the expected revision does not match); helm-controller will run it again.
		h.State = InProgress
		h.Waiting = []string{fmt.Sprintf("a helm release of %s made by job %s (newest is revision %d)", name, jobName, newest.Version)}
		return h
	}
	if newest.Info == nil {
		h.State = Failed
		h.Reason = fmt.Sprintf("helm release %s revision %d has no status", name, newest.Version)
		return h
	}
	switch st := newest.Info.Status; st {
	case "deployed":
	case "failed":
		h.State = Failed
		h.Reason = fmt.Sprintf("helm release %s revision %d failed: %s", name, newest.Version, newest.Info.Description)
		return h
	default:
		h.State = InProgress
		h.Waiting = []string{fmt.Sprintf("helm release %s revision %d (%s)", name, newest.Version, st)}
		return h
	}
	refs, err := releaseWorkloads(newest, s.Chart.Spec.TargetNamespace)
	if err != nil {
		h.State = Failed
		h.Reason = err.Error()
		return h
	}
	for _, ref := range refs {
		ready, failure, selector := workloadStatus(s, ref)
		if failure != "" {
			h.State = Failed
			h.Reason = ref.String() + ": " + failure
			return h
		}
		if ready == "" {
			continue
		}
		if selector != nil {
			if missing := imageMissing(s, ref.Namespace, selector); missing != "" {
				h.State = Failed
				h.Reason = ref.String() + ": " + missing
				return h
			}
			if w := podTrouble(s, ref.Namespace, selector); w != "" {
				ready += " (" + w + ")"
			}
		}
		h.Waiting = append(h.Waiting, ref.String()+" "+ready)
	}
	if len(h.Waiting) > 0 {
		h.State = InProgress
		return h
	}
	h.State = Healthy
	h.Reason = fmt.Sprintf("release %s revision %d deployed, %d workload(s) rolled out", name, newest.Version, len(refs))
	return h
}

// madeBy says whether release r was made for the job with config hash: by klipper-helm's label, or,
// when the release carries no label at all, by being newer than the revision seen before the apply.
func madeBy(r *Release, hash string, staleRevision int) bool {
	if r.ConfigHash != "" || hash == "" {
		return r.ConfigHash == hash
	}
	return r.Version > staleRevision
}

// jobConfigHash reads the config hash helm-controller stamped on its job's pod template, in the form
// klipper-helm copies onto the release label.
func jobConfigHash(j *batchv1.Job) string {
	v := strings.TrimPrefix(j.Spec.Template.Annotations[LabelConfigHash], "SHA256=")
	if len(v) > 63 {
		v = v[:63]
	}
	return v
}

func chartCondition(c *helmv1.HelmChart, t helmv1.HelmChartConditionType) *helmv1.HelmChartCondition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == t {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// jobFailureCause explains a failed job: the job condition, and what its last pod said when it exited
// (klipper-helm prints helm's error, which the kubelet keeps as the termination message or we find in
// the events).
func jobFailureCause(s Snapshot, cond *batchv1.JobCondition) string {
	parts := []string{strings.TrimSpace(cond.Reason + " " + cond.Message)}
	if len(s.Releases) > 0 {
		// The release helm wrote for this config says why, even when the job's pods are gone.
		if r := s.Releases[0]; madeBy(r, jobConfigHash(s.Job), s.StaleRevision) && r.Info != nil && r.Info.Status == "failed" {
			parts = append(parts, fmt.Sprintf("release revision %d: %s", r.Version, r.Info.Description))
		}
	}
	var newest *corev1.Pod
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Namespace != s.Job.Namespace || !selects(s.Job.Spec.Selector, p.Labels) {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
			newest = p
		}
	}
	if newest != nil {
		for _, cs := range newest.Status.ContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil && t.ExitCode != 0 {
					msg := strings.TrimSpace(t.Message)
					if msg == "" {
						msg = t.Reason
					}
					parts = append(parts, fmt.Sprintf("pod %s exited %d: %s", newest.Name, t.ExitCode, msg))
					return strings.Join(parts, "; ")
				}
			}
		}
	}
	if ev := lastWarning(s, "Job", s.Job.Namespace, s.Job.Name); ev != "" {
		parts = append(parts, ev)
	}
	return strings.Join(parts, "; ")
}

// workloadStatus returns what a workload still waits for ("" when rolled out), a final failure, and the
// selector of its pods.
func workloadStatus(s Snapshot, ref workloadRef) (waiting, failure string, sel *metav1.LabelSelector) {
	switch ref.Kind {
	case "Deployment":
		for i := range s.Deployments {
			d := &s.Deployments[i]
			if d.Namespace != ref.Namespace || d.Name != ref.Name {
				continue
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
					return "", "rollout exceeded its progress deadline: " + c.Message, d.Spec.Selector
				}
			}
			switch {
			case d.Status.ObservedGeneration < d.Generation:
				return "to be observed by its controller", "", d.Spec.Selector
			case d.Status.UpdatedReplicas < want:
				return fmt.Sprintf("to update replicas (%d/%d updated)", d.Status.UpdatedReplicas, want), "", d.Spec.Selector
			case d.Status.Replicas > d.Status.UpdatedReplicas:
				return fmt.Sprintf("to retire old replicas (%d old)", d.Status.Replicas-d.Status.UpdatedReplicas), "", d.Spec.Selector
			case d.Status.AvailableReplicas < want:
				return fmt.Sprintf("to become available (%d/%d ready)", d.Status.AvailableReplicas, want), "", d.Spec.Selector
			}
			return "", "", d.Spec.Selector
		}
	case "StatefulSet":
		for i := range s.StatefulSets {
			st := &s.StatefulSets[i]
			if st.Namespace != ref.Namespace || st.Name != ref.Name {
				continue
			}
			want := int32(1)
			if st.Spec.Replicas != nil {
				want = *st.Spec.Replicas
			}
			switch {
			case st.Status.ObservedGeneration < st.Generation:
				return "to be observed by its controller", "", st.Spec.Selector
			case st.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && st.Status.UpdatedReplicas < want:
				return fmt.Sprintf("to update replicas (%d/%d updated)", st.Status.UpdatedReplicas, want), "", st.Spec.Selector
			case st.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && st.Status.UpdateRevision != "" && st.Status.CurrentRevision != st.Status.UpdateRevision:
				return "to finish its rolling update", "", st.Spec.Selector
			case st.Status.ReadyReplicas < want:
				return fmt.Sprintf("to become ready (%d/%d ready)", st.Status.ReadyReplicas, want), "", st.Spec.Selector
			}
			return "", "", st.Spec.Selector
		}
	case "DaemonSet":
		for i := range s.DaemonSets {
			ds := &s.DaemonSets[i]
			if ds.Namespace != ref.Namespace || ds.Name != ref.Name {
				continue
			}
			want := ds.Status.DesiredNumberScheduled
			switch {
			case ds.Status.ObservedGeneration < ds.Generation:
				return "to be observed by its controller", "", ds.Spec.Selector
			case ds.Status.UpdatedNumberScheduled < want:
				return fmt.Sprintf("to update pods (%d/%d updated)", ds.Status.UpdatedNumberScheduled, want), "", ds.Spec.Selector
			case ds.Status.NumberAvailable < want:
				return fmt.Sprintf("to become available (%d/%d ready)", ds.Status.NumberAvailable, want), "", ds.Spec.Selector
			}
			return "", "", ds.Spec.Selector
		}
	case "Job":
		for i := range s.Jobs {
			j := &s.Jobs[i]
			if j.Namespace != ref.Namespace || j.Name != ref.Name {
				continue
			}
			if c := jobCondition(j, batchv1.JobFailed); c != nil {
				return "", "failed: " + strings.TrimSpace(c.Reason+" "+c.Message), j.Spec.Selector
			}
			if jobCondition(j, batchv1.JobComplete) == nil {
				return "to complete", "", j.Spec.Selector
			}
			return "", "", j.Spec.Selector
		}
	}
	return "to be created", "", nil
}

// imageMissing reports the first pod of a workload whose image cannot be pulled, as "image X missing on
// node Y": on an air-gapped site that means Ferry did not land the image there.
func imageMissing(s Snapshot, ns string, sel *metav1.LabelSelector) string {
	var found []string
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Namespace != ns || !selects(sel, p.Labels) {
			continue
		}
		statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, cs := range statuses {
			if w := cs.State.Waiting; w != nil && imagePullReasons[w.Reason] {
				image := cs.Image
				if img := specImage(p, cs.Name); img != "" {
					image = img
				}
				node := p.Spec.NodeName
				if node == "" {
					node = "(unscheduled)"
				}
				found = append(found, fmt.Sprintf("image %s missing on node %s (pod %s: %s)", image, node, p.Name, w.Reason))
			}
		}
	}
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return strings.Join(found, "; ")
}

func specImage(p *corev1.Pod, container string) string {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			if c.Name == container {
				return c.Image
			}
		}
	}
	return ""
}

// podTrouble summarises why a workload's pods are not ready, for the progress line.
func podTrouble(s Snapshot, ns string, sel *metav1.LabelSelector) string {
	var out []string
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Namespace != ns || !selects(sel, p.Labels) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
				out = append(out, fmt.Sprintf("pod %s: %s", p.Name, w.Reason))
			}
		}
		if ev := lastWarning(s, "Pod", p.Namespace, p.Name); ev != "" && p.Status.Phase == corev1.PodPending {
			out = append(out, fmt.Sprintf("pod %s: %s", p.Name, ev))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// lastWarning returns the newest Warning event about an object, as "Reason: message".
func lastWarning(s Snapshot, kind, ns, name string) string {
	var best *corev1.Event
	for i := range s.Events {
		e := &s.Events[i]
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != kind || e.InvolvedObject.Namespace != ns || e.InvolvedObject.Name != name {
			continue
		}
		if best == nil || eventTime(best).Before(eventTime(e)) {
			best = e
		}
	}
	if best == nil {
		return ""
	}
	return best.Reason + ": " + best.Message
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(l))
}
