// Package k3s holds the pure, contract-exact pieces of a k3s install (docs k3s-contract.md): every path
// k3s and Ferry use on a host, the config.yaml Ferry writes per role, the systemd units and OpenRC script,
// the env file, the killall and uninstall scripts, token parsing and generation, the kubeconfig rewrite,
// registries.yaml for the embedded mirror, and the readiness and k3s-upgrade plans as data.
//
// It does no I/O to hosts: it renders bytes and plans that the installer's phases upload and run. It must
// not open network connections, run commands, or import the GUI toolkit; keeping it pure is what lets every
// file it renders be checked byte for byte by golden tests.
package k3s
