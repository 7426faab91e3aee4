package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/ferry-delivery/ferry/test/k3s-standin/internal/klipper"
)

// Images answers which images are missing on this node.
type Images interface {
	Missing(ctx context.Context, refs []string) ([]string, error)
}

// HelmRunner does a helm job pod's work (package klipper's Runner); an interface so tests can count how
// often the kubelet asks.
type HelmRunner interface {
	Run(ctx context.Context, pod *corev1.Pod) (string, error)
}

// Kubelet is one node's kubelet stand-in.
type Kubelet struct {
	Client     kubernetes.Interface // as system:node:<name>
	NodeName   string
	Labels     map[string]string
	Taints     []corev1.Taint
	InternalIP string
	Version    string // kubeletVersion, e.g. v1.35.8+standin
	Runtime    string // containerRuntimeVersion
	Images     Images
	Klipper    HelmRunner // nil: helm job pods are treated as any other Job pod
	Log        *slog.Logger

	kick    chan struct{}
	mu      sync.Mutex
	running map[types.UID]*helmRun // helm job pods run or being run, until their final phase is seen
	ipSeq   uint32
}

// Kick makes the kubelet look at waiting pods now (after an image import).
func (k *Kubelet) Kick() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Init prepares the kubelet; call before Kick can be used.
func (k *Kubelet) Init() {
	k.kick = make(chan struct{}, 1)
	k.running = map[types.UID]*helmRun{}
}

// Register creates or updates this node's Node object and marks it Ready.
func (k *Kubelet) Register(ctx context.Context) error {
	nodes := k.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, k.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.NodeName, Labels: k.Labels}, Spec: corev1.NodeSpec{Taints: k.Taints}}
		node, err = nodes.Create(ctx, node, metav1.CreateOptions{})
	} else if err == nil {
		changed := false
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		for key, v := range k.Labels {
			if node.Labels[key] != v {
				node.Labels[key], changed = v, true
			}
		}
		if changed {
			node, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("registering node %s: %w", k.NodeName, err)
	}
	return k.updateStatus(ctx)
}

func (k *Kubelet) updateStatus(ctx context.Context) error {
	node, err := k.Client.CoreV1().Nodes().Get(ctx, k.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             *resource.NewQuantity(110, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	hostname, _ := os.Hostname()
	node.Status = corev1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "k3s stand-in kubelet is posting ready status (no containers run)"),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.InternalIP}, {Type: corev1.NodeHostName, Address: hostname}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               readTrim("/etc/machine-id"),
			KernelVersion:           kernel(),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: k.Runtime,
			KubeletVersion:          k.Version,
			KubeProxyVersion:        k.Version,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
		Images: node.Status.Images,
	}
	_, err = k.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func (k *Kubelet) renewLease(ctx context.Context) error {
	leases := k.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, k.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, gerr := k.Client.CoreV1().Nodes().Get(ctx, k.NodeName, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		l = &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: k.NodeName, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}},
			Spec: coordv1.LeaseSpec{HolderIdentity: ptr.To(k.NodeName), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// Run registers the node and keeps node and pods in step until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	for {
		err := k.Register(ctx)
		if err == nil {
			break
		}
		k.Log.Warn("registering node, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	k.Log.Info("node registered", "node", k.NodeName, "labels", k.Labels)
	go k.heartbeat(ctx)

	factory := informers.NewSharedInformerFactoryWithOptions(k.Client, 30*time.Second,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	queue := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case queue <- struct{}{}:
		default:
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke})
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		present := map[types.UID]bool{}
		for _, obj := range inf.GetStore().List() {
			pod := obj.(*corev1.Pod)
			present[pod.UID] = true
			k.syncPod(ctx, pod)
		}
		k.prune(present)
		select {
		case <-ctx.Done():
			return nil
		case <-queue:
		case <-k.kick:
		case <-tick.C:
		}
	}
}

func (k *Kubelet) heartbeat(ctx context.Context) {
	lease := time.NewTicker(10 * time.Second)
	status := time.NewTicker(30 * time.Second)
	defer lease.Stop()
	defer status.Stop()
	_ = k.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			if err := k.renewLease(ctx); err != nil {
				k.Log.Warn("renewing node lease", "err", err)
			}
		case <-status.C:
			if err := k.updateStatus(ctx); err != nil {
				k.Log.Warn("updating node status", "err", err)
			}
		}
	}
}

func (k *Kubelet) syncPod(ctx context.Context, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		// No containers to stop: finish the deletion the way a kubelet does once they are gone.
		err := k.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To(int64(0)), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.Log.Warn("deleting pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		k.forget(pod.UID)
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		k.forget(pod.UID) // the cache has caught up with the final status: nothing will ask again
		return
	}
	missing, err := k.Images.Missing(ctx, podImages(pod))
	if err != nil {
		k.Log.Warn("checking images", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	if klipper.IsHelmJobPod(pod) && k.Klipper != nil {
		// The klipper-helm image is not required: the stand-in does the job's work itself.
		k.startHelmJob(ctx, pod)
		return
	}
	if len(missing) > 0 {
		k.setWaiting(ctx, pod, missing)
		return
	}
	final := corev1.PodRunning
	if ownedByJob(pod) {
		final = corev1.PodSucceeded
	}
	if final == corev1.PodRunning && pod.Status.Phase == corev1.PodRunning && isReady(pod) == podReadyWanted(pod) {
		return // already as it should be: no status churn (container IDs would change at every pass)
	}
	if err := k.setStatus(ctx, pod, final, ""); err != nil {
		// A conflict is retried by the next pass, which sees the pod as it now is.
		if !apierrors.IsConflict(err) {
			k.Log.Warn("updating pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		return
	}
	if final == corev1.PodRunning && !podReadyWanted(pod) {
		k.event(ctx, pod, "Unhealthy", "Readiness probe failed: the probe's command is `false` (k3s stand-in: the one probe it evaluates)")
	}
}

// neverReady is the stand-in's one evaluated probe: a readiness probe that execs `false` fails on any
// node, real kubelet included, so the container is never Ready. Every other probe is taken as passing
// (no container runs here to probe). `true` passes, as it would on a real node.
func neverReady(c corev1.Container) bool {
	p := c.ReadinessProbe
	if p == nil || p.Exec == nil || len(p.Exec.Command) != 1 {
		return false
	}
	cmd := p.Exec.Command[0]
	return cmd == "false" || cmd == "/bin/false" || cmd == "/usr/bin/false"
}

// podReadyWanted is whether every container of pod passes its readiness probe (see neverReady).
func podReadyWanted(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if neverReady(c) {
			return false
		}
	}
	return true
}

// helmRun is the kubelet's mark on a helm job pod. It stays until the informer shows the pod's final
// phase (or the pod is gone), not just until the final status is written: the cache can still show the
// pod Running right after that write, and a pod whose container has exited must not be handed to the
// runner again (klipper.Runner guards against that too, as a second line).
type helmRun struct {
	finished bool            // the runner has returned; phase and msg are final
	writing  bool            // a final status write is in flight
	written  bool            // the final status is in the API
	phase    corev1.PodPhase // PodSucceeded or PodFailed
	msg      string          // termination message
}

func (k *Kubelet) startHelmJob(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	if hr, ok := k.running[pod.UID]; ok {
		k.mu.Unlock()
		// Only a final status that could not be written is worth another look; the run itself is never
		// repeated.
		k.finishHelmJob(ctx, pod, hr)
		return
	}
	hr := &helmRun{}
	k.running[pod.UID] = hr
	k.mu.Unlock()
	if err := k.setStatus(ctx, pod, corev1.PodRunning, ""); err != nil && !apierrors.IsConflict(err) {
		// A lost Running write is harmless: the final status below is written from a fresh read.
		k.Log.Warn("updating pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	go func() {
		out, err := k.Klipper.Run(ctx, pod)
		phase := corev1.PodSucceeded
		if err != nil {
			phase = corev1.PodFailed
		}
		k.mu.Lock()
		hr.finished, hr.phase, hr.msg = true, phase, tail(out, 4000)
		k.mu.Unlock()
		k.finishHelmJob(ctx, pod, hr)
	}()
}

// errPodReplaced: a pod of the same name but another UID stands where the run's pod was.
var errPodReplaced = errors.New("pod replaced")

// finishHelmJob writes a finished run's final status, re-reading the pod after each update conflict (the
// helm-controller and the kubelet's own Running write race with it). A pod that is gone forgets its mark;
// any other failure keeps it, so the next sync pass tries the write again.
func (k *Kubelet) finishHelmJob(ctx context.Context, pod *corev1.Pod, hr *helmRun) {
	k.mu.Lock()
	if !hr.finished || hr.written || hr.writing {
		k.mu.Unlock()
		return
	}
	hr.writing = true
	phase, msg := hr.phase, hr.msg
	k.mu.Unlock()
	pods := k.Client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID != pod.UID {
			return errPodReplaced
		}
		return k.setStatus(ctx, fresh, phase, msg)
	})
	k.mu.Lock()
	hr.writing = false
	hr.written = err == nil
	k.mu.Unlock()
	switch {
	case err == nil:
	case apierrors.IsNotFound(err) || errors.Is(err, errPodReplaced):
		k.forget(pod.UID)
	case ctx.Err() != nil: // shutting down: the next start sees the pod afresh
	default:
		k.Log.Warn("writing final pod status; retrying at next sync", "pod", pod.Namespace+"/"+pod.Name, "phase", phase, "err", err)
	}
}

// forget drops a helm job pod's mark once nothing can ask for the pod again.
func (k *Kubelet) forget(uid types.UID) {
	k.mu.Lock()
	delete(k.running, uid)
	k.mu.Unlock()
}

// prune drops the marks of finished runs whose pods have left the informer's store without the kubelet
// seeing their final phase (deleted right after it was written).
func (k *Kubelet) prune(present map[types.UID]bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, hr := range k.running {
		if !present[uid] && hr.finished && !hr.writing {
			delete(k.running, uid)
		}
	}
}

func (k *Kubelet) setWaiting(ctx context.Context, pod *corev1.Pod, missing []string) {
	miss := map[string]bool{}
	for _, m := range missing {
		miss[m] = true
	}
	st := pod.DeepCopy()
	st.Status.Phase = corev1.PodPending
	k.fillCommon(st)
	changed := false
	wait := func(specs []corev1.Container, old []corev1.ContainerStatus) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, c := range specs {
			reason, msg := "ContainerCreating", ""
			if miss[c.Image] {
				// First ErrImagePull, then ImagePullBackOff, as a kubelet alternates while retrying.
				reason = "ErrImagePull"
				for _, o := range old {
					if o.Name == c.Name && o.State.Waiting != nil && o.State.Waiting.Reason == "ErrImagePull" {
						reason = "ImagePullBackOff"
					}
				}
				msg = fmt.Sprintf("Failed to pull image %q: image not present on node %s and no registry is reachable (air-gapped; import it from agent/images)", c.Image, k.NodeName)
				if reason == "ImagePullBackOff" {
					msg = fmt.Sprintf("Back-off pulling image %q: not present on node %s (air-gapped)", c.Image, k.NodeName)
				}
			}
			out = append(out, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}})
		}
		return out
	}
	st.Status.InitContainerStatuses = wait(pod.Spec.InitContainers, pod.Status.InitContainerStatuses)
	st.Status.ContainerStatuses = wait(pod.Spec.Containers, pod.Status.ContainerStatuses)
	for i, cs := range st.Status.ContainerStatuses {
		if i >= len(pod.Status.ContainerStatuses) || pod.Status.ContainerStatuses[i].State.Waiting == nil ||
			pod.Status.ContainerStatuses[i].State.Waiting.Reason != cs.State.Waiting.Reason {
			changed = true
		}
	}
	setCond(st, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status")
	setCond(st, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status")
	if !changed {
		return
	}
	if _, err := k.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		k.Log.Warn("updating pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	for _, m := range missing {
		k.event(ctx, pod, "Failed", fmt.Sprintf("Failed to pull image %q: not present on node %s (air-gapped)", m, k.NodeName))
	}
}

// setStatus writes pod's status as phase; msg is the containers' termination message.
func (k *Kubelet) setStatus(ctx context.Context, pod *corev1.Pod, phase corev1.PodPhase, msg string) error {
	st := pod.DeepCopy()
	st.Status.Phase = phase
	k.fillCommon(st)
	now := metav1.Now()
	state := func(c corev1.Container, init bool) corev1.ContainerStatus {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, ContainerID: "containerd://" + randomID(), Started: ptr.To(true)}
		switch {
		case init || phase == corev1.PodSucceeded:
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, Message: msg}
			cs.Started = ptr.To(false)
		case phase == corev1.PodFailed:
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: now, FinishedAt: now, Message: msg}
			cs.Started = ptr.To(false)
		default:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			cs.Ready = !neverReady(c)
		}
		return cs
	}
	st.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		st.Status.InitContainerStatuses = append(st.Status.InitContainerStatuses, state(c, true))
	}
	st.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		st.Status.ContainerStatuses = append(st.Status.ContainerStatuses, state(c, false))
	}
	ready := corev1.ConditionTrue
	reason := ""
	switch {
	case phase != corev1.PodRunning:
		ready, reason = corev1.ConditionFalse, "PodCompleted"
	case !podReadyWanted(pod):
		ready, reason = corev1.ConditionFalse, "ContainersNotReady"
	}
	setCond(st, corev1.PodInitialized, corev1.ConditionTrue, "", "")
	setCond(st, corev1.ContainersReady, ready, reason, "")
	setCond(st, corev1.PodReady, ready, reason, "")
	_, err := k.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{})
	return err
}

func (k *Kubelet) fillCommon(st *corev1.Pod) {
	st.Status.HostIP = k.InternalIP
	st.Status.HostIPs = []corev1.HostIP{{IP: k.InternalIP}}
	if st.Status.PodIP == "" {
		ip := k.InternalIP
		if !st.Spec.HostNetwork {
			ip = k.podIP()
		}
		st.Status.PodIP = ip
		st.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if st.Status.StartTime == nil {
		st.Status.StartTime = ptr.To(metav1.Now())
	}
	setCond(st, corev1.PodScheduled, corev1.ConditionTrue, "", "")
	setCond(st, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "")
}

// podIP hands out addresses from a per-node /24 of the default cluster CIDR; nothing routes them.
func (k *Kubelet) podIP() string {
	h := fnv.New32a()
	h.Write([]byte(k.NodeName))
	k.mu.Lock()
	k.ipSeq++
	n := k.ipSeq%250 + 2
	k.mu.Unlock()
	return fmt.Sprintf("10.42.%d.%d", h.Sum32()%250, n)
}

func (k *Kubelet) event(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         reason, Message: msg, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: k.NodeName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := k.Client.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		k.Log.Debug("recording event", "err", err)
	}
}

func setCond(p *corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus, reason, msg string) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			if p.Status.Conditions[i].Status != s {
				p.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
			p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason, p.Status.Conditions[i].Message = s, reason, msg
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()})
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning
		}
	}
	return false
}

func ownedByJob(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			return true
		}
	}
	return false
}

func podImages(p *corev1.Pod) []string {
	var out []string
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		out = append(out, c.Image)
	}
	return out
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

func kernel() string { return readTrim("/proc/sys/kernel/osrelease") }

func osImage() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}
