# payload/: the bundle format. `make test-payload` imports Ferry's per-node image archives into a real
# containerd (Debian's 1.6 + runc, own root/state/socket under /var/tmp, torn down by the test) and runs a
# static image from them, plain and zstd. `make fuzz-payload` explores the manifest parser and the bundle
# index reader from the seed corpus in payload/testdata/fuzz (FUZZTIME each).
.PHONY: test-payload fuzz-payload bench-payload

FUZZTIME ?= 60s

test-payload:
	scripts/install-deps.sh build containerd
	$(GO) test -tags integration -count=1 -run 'TestContainerd' -v ./payload/

# -fuzzminimizetime is short because minimising a 44 KB bundle input for the default 60 s stalls the run.
fuzz-payload:
	$(GO) test -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./payload/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./payload/

# Write / Verify / WriteImageArchive on a ~515 MiB two-platform bundle, as ratios to a copy+sha256
# baseline timed in the same run, with the bytes each step allocates.
bench-payload:
	$(GO) test -run '^$$' -bench '^BenchmarkBundle$$' -benchtime 1x ./payload/

INTEGRATION_TARGETS += test-payload
