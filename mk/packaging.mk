# Packaging (bundle builder) targets. The builder's tests are unit tests (go test ./packaging/...), run by
# `make test-unit`; the benchmark is not a test and not part of `make test` except its small smoke run.

.PHONY: bench-bundle bench-bundle-smoke

# >= 1 GiB of random layers from an in-process registry (own process): `ferryctl bundle build` vs
# `crane pull --format oci` of the same images. Prints the ratio Ferry/crane (best of 4 rounds each, order
# alternating; the machine is shared, so single rounds vary by 1.5x) and Ferry's peak RSS.
bench-bundle: deps-build
	$(UNIT_ENV) $(GO) run ./packaging/internal/benchbundle -total $$((1024*1024*1024)) -rounds 4

# The same pipeline on 64 MiB, one round: proves the benchmark and the real ferryctl binary work end to
# end (its timings are noise at this size).
bench-bundle-smoke: deps-build
	$(UNIT_ENV) $(GO) run ./packaging/internal/benchbundle -total $$((64*1024*1024)) -layer-size $$((8*1024*1024)) -rounds 1

INTEGRATION_TARGETS += bench-bundle-smoke
