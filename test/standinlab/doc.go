// Package standinlab runs the k3s stand-in (test/k3s-standin) on the site lab (test/lab) the way a
// person installs k3s by hand: binary at /usr/local/bin/k3s, a Type=notify k3s.service or
// k3s-agent.service, /etc/rancher/k3s/config.yaml, an image archive in agent/images; then checks the
// Nodes of one server, an amd64 agent and an arm64 agent (qemu) are Ready with the right arch labels.
//
// Its test file is behind the build tag standinlab (it needs the lab, root and both stand-in binaries);
// `make test-standin-lab` runs it. It is test infrastructure and must not be imported by product code.
package standinlab
