# Jump host with a login of its own on the site lab (test/jumplab, lab ID $(JUMP_LAB_ID)): a bastion that
# lets in only its own shell-less account, a target that accepts root only from the bastion; the wizard's
# real engine and the installer reach the target with the bastion's own login and name the bastion when
# it refuses. ~1 min (two amd64 hosts, the cached rootfs). Tears its lab down even when the test fails.
JUMP_LAB_ID ?= 13
.PHONY: test-jumphost

test-jumphost: deps-build
	scripts/install-deps.sh lab
	@rc=0; FERRY_LAB=1 FERRY_JUMP_LAB_ID=$(JUMP_LAB_ID) $(UNIT_ENV) $(GO) test -count=1 -timeout 15m -v ./test/jumplab/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(JUMP_LAB_ID) || rc=1; exit $$rc

INTEGRATION_TARGETS += test-jumphost
