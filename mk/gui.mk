# The desktop wizard's real-window scenario: builds the cgo binary, runs it under Xvfb, drives the first
# screens with xdotool and checks screenshots (gui/xtest/realwindow.sh). The headless GUI tests run with
# the unit tests (CGO_ENABLED=0 -tags ci).
.PHONY: test-gui gui-cross-windows gui-package
INTEGRATION_TARGETS += test-gui

test-gui: deps-gui ferry
	gui/xtest/realwindow.sh $(BIN)/ferry

# Optional cross-build check for Windows (needs Debian's gcc-mingw-w64; not part of `make test`).
gui-cross-windows:
	command -v x86_64-w64-mingw32-gcc >/dev/null || apt-get install -y -qq --no-install-recommends gcc-mingw-w64-x86-64
	GOOS=windows CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) build -tags migrated_fynedo -o $(BIN)/ferry.exe ./cmd/ferry
