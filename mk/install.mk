# Installer Bootstrap on the site lab (test/installlab, lab ID 1): Ferry's own phases install the k3s
# stand-in from a TEST bundle (the stand-in never goes into a user's bundle) on 1 server + an amd64 and an
# arm64 agent, check Nodes Ready with their arch through the fetched kubeconfig, re-run as a no-op, reset.
# Needs both stand-in binaries (make standin) and root; tears its lab down even when the test fails.
INSTALL_LAB_ID := 1
.PHONY: test-install
INTEGRATION_TARGETS += test-install

test-install: standin
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 STANDIN_BIN_DIR=$(CURDIR)/$(BIN) $(UNIT_ENV) $(GO) test -count=1 -timeout 40m -v ./test/installlab/... || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(INSTALL_LAB_ID) || rc=1; exit $$rc
