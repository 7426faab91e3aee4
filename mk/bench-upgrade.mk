# Upgrade benchmark on the site lab (test/e2e/bench_upgrade_test.go, lab ID 12): a 150 MiB three-image
# app of random layers, v2 changing one 16 MiB layer; prints bytes Ferry sent per node / bytes the node
# lacked (asserted <= 1.05), / full v2 bundle, NIC bytes, and upgrade wall time vs scp of the full bundle
# measured in the same run. Not in INTEGRATION_TARGETS (a measurement, ~2-3 min). Always tears down.
BENCH_LAB_ID := 12
.PHONY: bench-upgrade

bench-upgrade: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(BENCH_LAB_ID),FERRY_LAB=1 FERRY_BENCH_UPGRADE=1,30m,TestBenchUpgradeOnLab)
