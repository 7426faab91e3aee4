// Package images runs Debian's containerd as a child of the stand-in, the way k3s runs its own
// (config under <data-dir>/agent/etc/containerd, root <data-dir>/agent/containerd, socket
// /run/k3s/containerd/containerd.sock), and imports the air-gap archives in <data-dir>/agent/images
// through containerd's own import (`ctr images import`, the code path k3s's import uses).
//
// Pinning follows k3s: imported images get io.cattle.k3s.pinned=pinned and io.cri-containerd.pinned=
// pinned; at every start the k3s label is first removed from all images, and only what is re-imported
// gets it back, so images of deleted archives end up un-pinned.
// It must not decide pod readiness (package kubelet asks Present).
package images
