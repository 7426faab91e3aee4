// Package kubelet is the stand-in's kubelet: it registers this host's Node (labels as k3s sets them,
// arch from runtime.GOARCH), keeps its Lease and Ready condition fresh, and sets the status of the pods
// bound to it. THIS IS WHERE THE STAND-IN FAKES: no container is ever run. A pod becomes Running and
// Ready as soon as every image it names is present in this node's containerd; otherwise its containers
// wait with ErrImagePull / ImagePullBackOff and a message naming the image, as an air-gapped kubelet
// reports a missing image. The one probe evaluated: a container whose readinessProbe execs `false` is
// Running but never Ready (it never would be on a real node); every other probe passes. Pods of Jobs "complete" (exit 0) once their images are present. Helm job
// pods are handed to package klipper, whose result becomes the pod's phase.
//
// It acts only with the node's own credentials (system:node:<name>), so the Node authorizer and
// NodeRestriction apply as they do to a real kubelet.
package kubelet
