# Upgrade benchmark on the site lab (test/e2e/bench_upgrade_test.go, lab ID 12): a 150 MiB three-image
# app of random layers, v2 changing one 16 MiB layer; prints bytes Ferry sent per node / bytes the node
# lacked (asserted <= 1.05), / full v2 bundle, NIC bytes, and upgrade wall time vs scp of the full bundle
# measured in the same run. Not in INTEGRATION_TARGETS (a measurement, ~2-3 min). Always tears down.
BENCH_LAB_ID := 12
.PHONY: bench-upgrade

bench-upgrade: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(BENCH_LAB_ID),FERRY_LAB=1 FERRY_BENCH_UPGRADE=1,30m,TestBenchUpgradeOnLab)

# Upgrade after upgrade on the site lab (test/e2e TestUpgradeRevisionsOnLab, lab ID 14): deploy, then
# FERRY_E2E_REVISIONS_COUNT (default 8) value-only upgrades, each asserted to add exactly one helm
# revision and one HelmChart spec write (helm trace logged otherwise). Meant to be run on a loaded
# machine to look for double applies; not in INTEGRATION_TARGETS (~3-4 min). Always tears down.
REVISIONS_LAB_ID := 14
.PHONY: stress-upgrade

stress-upgrade: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(REVISIONS_LAB_ID),FERRY_LAB=1 FERRY_E2E_REVISIONS=1 $(if $(FERRY_E2E_REVISIONS_COUNT),FERRY_E2E_REVISIONS_COUNT=$(FERRY_E2E_REVISIONS_COUNT)),30m,TestUpgradeRevisionsOnLab)
