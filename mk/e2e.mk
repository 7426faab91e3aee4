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

# Broken upgrades roll back by themselves (test/e2e TestBrokenUpgradesRollBack, lab ID 10): a shop of two
# images (web Deployment + db StatefulSet with a PVC on a static hostPath PV), v1 -> v2, then three broken
# v3 (never Ready, rejected in helm, image missing) each rolled back to v2 with the PVC, its data and the
# HelmChart untouched; manual rollback to v1; history; k3s restarted with every kept image still pinned.
# Always tears its lab down.
E2E_ROLLBACK_LAB_ID := 10
.PHONY: test-e2e-rollback
INTEGRATION_TARGETS += test-e2e-rollback

test-e2e-rollback: standin-amd64 ferryctl
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_E2E_ROLLBACK=1 FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 FERRYCTL_BIN=$(CURDIR)/$(BIN)/ferryctl $(UNIT_ENV) \
	  $(GO) test -count=1 -tags ci -timeout 30m -v -run '^TestBrokenUpgradesRollBack$$' ./test/e2e/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(E2E_ROLLBACK_LAB_ID) || rc=1; exit $$rc
