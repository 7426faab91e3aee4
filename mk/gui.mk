# The desktop wizard's real-window scenario: builds the cgo binary, runs it under Xvfb, drives the first
# screens with xdotool and checks screenshots (gui/xtest/realwindow.sh). The headless GUI tests run with
# the unit tests (CGO_ENABLED=0 -tags ci).
.PHONY: test-gui gui-cross-windows gui-package
INTEGRATION_TARGETS += test-gui

test-gui: deps-gui ferry
	gui/xtest/realwindow.sh $(BIN)/ferry

FYNE_TOOLS ?= fyne.io/tools/cmd/fyne@v1.7.4

# Optional cross-build for Windows (Debian's gcc-mingw-w64; ~18 min cold on 2 cores, so not in `make test`).
gui-cross-windows:
	scripts/install-deps.sh build gui cross-windows
	GOOS=windows CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) build -tags migrated_fynedo -ldflags -H=windowsgui -o $(BIN)/ferry.exe ./cmd/ferry

# Linux archive (bin/Ferry.tar.xz: binary, .desktop file, icon) with fyne.io/tools. `fyne package` bumps
# Build in FyneApp.toml on every run; the file is restored so packaging leaves the tree clean.
gui-package: ferry
	cp FyneApp.toml $(BIN)/.FyneApp.toml.orig; \
	$(GO) run $(FYNE_TOOLS) package --os linux --exe $(BIN)/ferry; rc=$$?; \
	cp $(BIN)/.FyneApp.toml.orig FyneApp.toml; rm -f $(BIN)/.FyneApp.toml.orig; \
	[ $$rc -ne 0 ] || mv -f Ferry.tar.xz $(BIN)/; exit $$rc

# Benchmarks (issue 7), not in CI: first-window time under Xvfb and the peak RSS of the real GUI process
# (ferry --bundle) verifying a 2 GB bundle (built once into FERRY_BENCH_CACHE, default
# /var/tmp/ferry-bench), with a no-GUI baseline. Prints figures.
.PHONY: bench-gui
bench-gui: deps-gui ferry
	gui/xtest/bench.sh $(BIN)/ferry
