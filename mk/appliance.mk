# Appliance scenarios. Today: the engine's state machine (deploy, upgrade, automatic rollback, crash
# reconcile) on the simulated helm-controller, under the race detector, repeated to shake out ordering
# bugs. The live-cluster scenarios (site lab + k3s stand-in) join this target when those land on main.
.PHONY: test-appliance
test-appliance: deps-build
	CGO_ENABLED=1 $(GO) test -race -tags ci -count=2 ./appliance/...

INTEGRATION_TARGETS += test-appliance

# The engine against the helm-controller k3s embeds (v0.17.9, inside the k3s stand-in, test double):
# spec.valuesSecrets accepted and projected, secret values rendered by helm, none in any HelmChart;
# deploy, upgrade, rollback re-creating a deleted values Secret. ~25 s once the stand-in is built.
.PHONY: test-appliance-standin
test-appliance-standin: standin-amd64
	scripts/install-deps.sh build containerd
	FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 CGO_ENABLED=0 \
		$(GO) test -count=1 -tags ci -run 'OnStandin' -v ./appliance/

INTEGRATION_TARGETS += test-appliance-standin
