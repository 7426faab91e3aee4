# Installer scenarios with real OpenSSH (see installer/ssh/sshtest): every sshd-based test, plus the ones
# that need the throwaway system user `ferrytest` (password login, sudo with password on sh/dash/bash,
# non-root uploads through sudo). The user and its sudoers entry are removed by the tests' cleanup and,
# should a test binary die, by the trap below. Runs as root (CI does).
.PHONY: test-installer bench-upload
INTEGRATION_TARGETS += test-installer

test-installer: deps-build
	scripts/install-deps.sh lab
	@status=0; \
	FERRY_TEST_SYSTEM_USER=1 $(UNIT_ENV) $(GO) test $(UNIT_TAGS) -count=1 ./installer/... ./cmd/ferryctl/... || status=$$?; \
	if id ferrytest >/dev/null 2>&1; then userdel --force --remove ferrytest 2>/dev/null || true; fi; \
	rm -f /etc/sudoers.d/ferrytest; \
	exit $$status

# Not in CI: Ferry's verified upload of 1 GiB vs OpenSSH scp of the same file to the same loopback sshd,
# same run, alternating for FERRY_BENCH_ROUNDS rounds (default 3), each printed with the load average,
# then the best of each as a throughput ratio (target >= 1.0). Ferry gets the file's sha256 as the install
# phase does (from the manifest); FERRY_BENCH_NOSUM=1 leaves it out (one local hash pass beside the send).
# FERRY_BENCH_BYTES overrides the size, FERRY_BENCH_STREAMS the parallel SFTP streams (default 2).
bench-upload: deps-build
	scripts/install-deps.sh lab
	FERRY_BENCH_UPLOAD=1 $(UNIT_ENV) $(GO) test $(UNIT_TAGS) -count=1 -run '^TestBenchUpload$$' -v ./installer/ssh/ | grep -E 'bench-upload|FAIL|ok'
