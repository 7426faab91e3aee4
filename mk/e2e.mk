# End to end on the site lab (test/e2e, lab ID 4): the ferryctl binary installs k3s (the stand-in, TEST
# bundles only) on a server + an agent, deploys v1, upgrades to v2 (one image layer changed; the bytes
# sent to each node asserted), rolls back to v1 and checks the history, over SSH only. Always tears its
# lab down.
E2E_LAB_ID := 4
.PHONY: test-e2e
INTEGRATION_TARGETS += test-e2e

test-e2e: standin-amd64 ferryctl
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 FERRYCTL_BIN=$(CURDIR)/$(BIN)/ferryctl $(UNIT_ENV) \
	  $(GO) test -count=1 -tags ci -timeout 30m -v ./test/e2e/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(E2E_LAB_ID) || rc=1; exit $$rc
