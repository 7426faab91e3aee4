// Package e2e runs the built stand-in binary (STANDIN_BIN) as real server and agent processes on
// loopback, each in its own temp data dir with its own containerd, and checks it keeps k3s's contract:
// config merge, kubeconfig and token files, readiness notification, helm-controller releases made real
// by the klipper stand-in, the air-gap image import and pinning, and the image-pull failure mode.
// It needs root (containerd) and Debian's containerd package; `make test-standin` provides both.
package e2e
