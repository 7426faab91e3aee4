# A lab scenario of test/e2e, shared by the e2e targets (this file, e2e-kill.mk, bench-upgrade.mk):
# installs the lab's apt packages, runs the scenario against the stand-in and ferryctl binaries, and
# always tears lab $(1) down, failing if the test or the teardown failed. FERRY_E2E_LAB_ID=N (in the
# environment or on make's command line) runs the scenario on lab N instead, and tears N down.
#   $(call e2e-lab-scenario,LAB_ID,ENV (FERRY_LAB=1 and the scenario's gate),TIMEOUT,TEST (empty: all))
define e2e-lab-scenario
	scripts/install-deps.sh lab containerd
	@rc=0; $(2) $(if $(FERRY_E2E_LAB_ID),FERRY_E2E_LAB_ID=$(FERRY_E2E_LAB_ID)) FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 FERRYCTL_BIN=$(CURDIR)/$(BIN)/ferryctl $(UNIT_ENV) \
	  $(GO) test -count=1 -tags ci -timeout $(3) -v $(if $(4),-run '^$(4)$$' )./test/e2e/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(or $(FERRY_E2E_LAB_ID),$(1)) || rc=1; exit $$rc
endef

# End to end on the site lab (test/e2e, lab ID 4): the ferryctl binary installs k3s (the stand-in, TEST
# bundles only) on a server + an agent, deploys v1, upgrades to v2 (one image layer changed; the bytes
# sent to each node asserted), rolls back to v1 and checks the history, over SSH only. Always tears its
# lab down.
E2E_LAB_ID := 4
.PHONY: test-e2e
INTEGRATION_TARGETS += test-e2e

test-e2e: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(E2E_LAB_ID),FERRY_LAB=1,30m,)

# Broken upgrades roll back by themselves (test/e2e TestBrokenUpgradesRollBack, lab ID 10): a shop of two
# images (web Deployment + db StatefulSet with a PVC on a static hostPath PV), v1 -> v2, then three broken
# v3 (never Ready, rejected in helm, image missing) each rolled back to v2 with the PVC, its data and the
# HelmChart untouched; manual rollback to v1; history; k3s restarted with every kept image still pinned.
# Always tears its lab down.
E2E_ROLLBACK_LAB_ID := 10
.PHONY: test-e2e-rollback
INTEGRATION_TARGETS += test-e2e-rollback

test-e2e-rollback: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(E2E_ROLLBACK_LAB_ID),FERRY_LAB=1 FERRY_E2E_ROLLBACK=1,30m,TestBrokenUpgradesRollBack)
