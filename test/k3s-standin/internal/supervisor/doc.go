// Package supervisor answers k3s's own routes on the API server's port 6443, in front of the
// kube-apiserver handler chain: /cacerts and /ping (unauthenticated, as in k3s), /static/ (charts
// referenced as https://%{KUBERNETES_API}%/static/charts/...), and the join endpoints.
//
// Simplification (documented in docs/k3s-standin.md): real k3s hands agents their kubelet credentials
// through several /v1-k3s/ routes and a node password; here one route, authenticated with the token's
// password (HTTP basic auth user "node" or "server"), returns a node kubeconfig, and another returns the
// CA material a joining server needs. It must not serve anything else unauthenticated.
package supervisor
