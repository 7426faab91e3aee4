// Package controlplane runs the upstream Kubernetes control plane inside the stand-in's process, as k3s
// does: kine (k3s's etcd shim) on sqlite under <data-dir>/server/db, kube-apiserver, kube-controller-
// manager, kube-scheduler and helm-controller v0.17.9 (the same controller k3s embeds).
//
// Everything here is upstream code driven through its own options; the glue only chooses flags. Feature
// gates, klog and component registries are process-global, so there is one control plane per process.
// It must not fake anything: faking (no containers) lives in package kubelet and klipper.
package controlplane
