# Upgrade benchmark on the site lab (test/e2e/bench_upgrade_test.go, lab ID 12): a 150 MiB three-image
# app of random layers, v2 changing one 16 MiB layer; prints bytes Ferry sent per node / bytes the node
# lacked (asserted <= 1.05), / full v2 bundle, NIC bytes, and upgrade wall time vs scp of the full bundle
# measured in the same run. Not in INTEGRATION_TARGETS (a measurement, ~2-3 min). Always tears down.
BENCH_LAB_ID := 12
.PHONY: bench-upgrade

bench-upgrade: standin-amd64 ferryctl
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_BENCH_UPGRADE=1 FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 FERRYCTL_BIN=$(CURDIR)/$(BIN)/ferryctl $(UNIT_ENV) \
	  $(GO) test -count=1 -tags ci -timeout 30m -v -run '^TestBenchUpgradeOnLab$$' ./test/e2e/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(BENCH_LAB_ID) || rc=1; exit $$rc
