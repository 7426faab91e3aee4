# installer/k3s: the files Ferry writes on k3s hosts. `make test-k3s` checks them with the real tools
# (shellcheck, systemd-analyze verify, sh/bash -n) and runs the real killall + uninstall scripts against a
# fake host tree inside throwaway pid, mount and network namespaces (unshare; needs root), where the
# processes, tmpfs mounts, interfaces and iptables rules they remove are real. The namespaces die with the
# test, so nothing is left behind even on failure.
.PHONY: test-k3s

test-k3s:
	scripts/install-deps.sh build k3sfiles
	$(GO) test -tags integration -count=1 -v ./installer/k3s/

INTEGRATION_TARGETS += test-k3s
