# Ferry's build, test and demo entry points. `make run` and `make test` are the two commands the README
# promises; both install what they need first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
GO ?= go
BIN := bin
ENGINE_PKGS := ./payload/... ./packaging/... ./installer/... ./appliance/... ./internal/...
# Engine packages and the headless GUI tests need neither cgo nor a display.
UNIT_ENV := CGO_ENABLED=0
UNIT_TAGS := -tags ci

.PHONY: all deps deps-build deps-gui build ferry ferryctl run test test-unit test-integration vet fmt-check clean

all: build

deps:
	scripts/install-deps.sh all

deps-build:
	scripts/install-deps.sh build

deps-gui:
	scripts/install-deps.sh build gui

build: ferryctl ferry

ferryctl: deps-build
	$(UNIT_ENV) $(GO) build -o $(BIN)/ferryctl ./cmd/ferryctl

# The desktop app needs cgo (GLFW/OpenGL); fyneDo migration is on in FyneApp.toml.
ferry: deps-gui
	$(GO) build -tags migrated_fynedo -o $(BIN)/ferry ./cmd/ferry

run: ferry
	./$(BIN)/ferry

vet: deps-build
	$(UNIT_ENV) $(GO) vet $(UNIT_TAGS) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Fast unit tests: no root, no network, no display.
test-unit: deps-build
	$(UNIT_ENV) $(GO) test $(UNIT_TAGS) -count=1 ./...

# Slow scenarios with real parts (containerd, site lab hosts, real window). Each area has its own target
# so it can be run alone; this target runs them all.
# Areas add their scenario targets to INTEGRATION_TARGETS from their own mk/<area>.mk file, so parallel
# work never edits the same lines.
INTEGRATION_TARGETS :=
-include mk/*.mk

test-integration: deps $(INTEGRATION_TARGETS)
	@echo "integration: ran $(words $(INTEGRATION_TARGETS)) scenario target(s): $(INTEGRATION_TARGETS)"

# The README's test command: what CI runs.
test: fmt-check vet test-unit test-integration

clean:
	rm -rf $(BIN)
