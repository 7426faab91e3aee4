# Site lab (issue 3): target hosts as systemd-nspawn machines (amd64 + arm64 under qemu), see docs/testing.md.
# test-lab boots a site of 3 amd64 + 1 arm64 hosts and proves the harness; it always tears its labs down,
# even when a test failed or the test binary died (the `lab down` calls after go test).
.PHONY: test-lab lab-up lab-down lab-status lab-rootfs

LAB_CMD := CGO_ENABLED=0 $(GO) run ./test/lab/cmd/lab
LAB_TEST_IDS := 7 8
LAB_ID ?= 0
LAB_HOSTS ?= 3
LAB_ARM64 ?= 1

test-lab: deps-build
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_LAB_TEST_IDS="$(LAB_TEST_IDS)" CGO_ENABLED=0 $(GO) test -count=1 -timeout 45m -v ./test/lab/... || rc=$$?; \
	  for id in $(LAB_TEST_IDS); do $(LAB_CMD) down --id $$id || rc=1; done; exit $$rc

INTEGRATION_TARGETS += test-lab

# A site for demos and manual runs: make lab-up LAB_HOSTS=3 LAB_ARM64=1; inventory in
# /var/lib/ferry-lab/ferrylab$(LAB_ID)/inventory.json.
lab-up: deps-build
	scripts/install-deps.sh lab containerd
	$(LAB_CMD) up --id $(LAB_ID) --hosts $(LAB_HOSTS) --arm64 $(LAB_ARM64)

lab-down:
	$(LAB_CMD) down --id $(LAB_ID)

lab-status:
	$(LAB_CMD) status --id $(LAB_ID)

# Builds the cached base rootfs (both arches) without booting anything, e.g. to warm a CI machine.
lab-rootfs: deps-build
	scripts/install-deps.sh lab
	$(LAB_CMD) rootfs --arch amd64,arm64
