# Appliance scenarios. Today: the engine's state machine (deploy, upgrade, automatic rollback, crash
# reconcile) on the simulated helm-controller, under the race detector, repeated to shake out ordering
# bugs. The live-cluster scenarios (site lab + k3s stand-in) join this target when those land on main.
.PHONY: test-appliance
test-appliance: deps-build
	CGO_ENABLED=1 $(GO) test -race -tags ci -count=2 ./appliance/...

INTEGRATION_TARGETS += test-appliance
