# Laptop killed mid-upgrade, then reconnect (test/e2e/kill_e2e_test.go, lab ID 11): the ferryctl binary
# is SIGKILLed at points read from its own progress output (images on their way to the agent; HelmChart
# applied, health awaited); status, a re-run and a rollback must then tell and finish the truth: one
# record per change, one helm revision per apply, landed blobs not re-sent. Always tears its lab down.
KILL_LAB_ID := 11
.PHONY: test-e2e-kill
INTEGRATION_TARGETS += test-e2e-kill

test-e2e-kill: standin-amd64 ferryctl
	$(call e2e-lab-scenario,$(KILL_LAB_ID),FERRY_LAB=1 FERRY_E2E_KILL=1,20m,TestKilledUpgradeOnLab)
