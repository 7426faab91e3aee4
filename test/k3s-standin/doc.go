// Command k3s-standin is a TEST STAND-IN for the k3s binary, never to be shipped to a user. It has
// k3s's command line (server, agent, kubectl, ctr, check-config, etcd-snapshot, --version) and runs
// the same upstream parts k3s bundles: kube-apiserver on kine/sqlite, kube-controller-manager,
// kube-scheduler, helm-controller, and Debian's containerd as a child. What it fakes is the kubelet:
// no container ever runs (see internal/kubelet and docs/k3s-standin.md). It reports its version as
// vX.Y.Z+standin so nobody mistakes it for k3s.
package main
