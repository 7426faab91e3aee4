# Node side of the appliance (appliance/nodes) on the site lab (lab ID 3): the k3s stand-in installed by
# hand on one amd64 host with real containerd; land v1, land v2 with one changed layer (bytes asserted),
# restart k3s (every kept image still pinned), prune v1, place a static chart. Always tears its lab down.
.PHONY: test-appliance-nodes
test-appliance-nodes: standin-amd64
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_STANDIN_BIN=$(CURDIR)/$(BIN)/k3s-standin-amd64 CGO_ENABLED=0 \
	  $(GO) test -count=1 -tags ci -timeout 25m -run 'OnStandinLab' -v ./appliance/nodes/ || rc=$$?; \
	  CGO_ENABLED=0 $(GO) run ./test/lab/cmd/lab down --id 3 || rc=1; exit $$rc

INTEGRATION_TARGETS += test-appliance-nodes
