// Package nodes is the node side of the appliance over SSH hosts: it implements appliance.NodeImages
// (which blobs each node's containerd has; landing exactly the missing ones, imported and pinned) and
// appliance.ChartPlacer (a large chart on every server's static charts dir), and prunes what
// appliance.Retain says is no longer kept.
//
// Landing follows docs/appliance.md (k3s-contract.md §2, §11): a per-platform archive of only the blobs
// the node lacks is uploaded (verified, resumable) to a staging dir OUTSIDE agent/images, imported with
// `k3s ctr -n k8s.io images import`, and every image of the version is labelled
// io.cri-containerd.pinned=pinned only. k3s strips and re-applies io.cattle.k3s.pinned at each start from
// agent/images, never this label, so pinned images survive restarts and kubelet GC; Ferry owns pruning.
// A partial archive is never left in agent/images: it would be re-imported at every start and fail once
// its base layers are pruned.
//
// It must not decide what to keep (appliance.Retain does), talk to the Kubernetes API, or spell k3s
// paths of its own (installer/k3s names them). It reaches hosts only through installer/host.Host.
package nodes
