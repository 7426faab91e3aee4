// Package klipper does the work of helm-controller's Job pods (image rancher/klipper-helm) with the
// helm SDK, since the stand-in runs no containers: it reads the pod exactly as helm-controller built
// it (args, env NAME/TARGET_NAMESPACE/FAILURE_POLICY/TIMEOUT/CONFIG_HASH..., the "values" projected
// Secret volume and the "content" chart ConfigMap volume), then installs, upgrades or uninstalls the
// release as klipper-helm's entry script does, and returns success or failure for the pod.
//
// It talks to the API only as the pod's own service account (a TokenRequest bound to the pod, as a
// kubelet mounts it), so RBAC is exercised for real. It must not touch pod status (package kubelet).
package klipper
