# The demo (issue 7): `make demo` brings up a 3-host site lab (ID 0), builds the DEMO bundles (hello-web
# 1.0.0 and 1.1.0 with the k3s STAND-IN: it runs no container, so the app never serves) and opens the
# wizard ready to install 1.0.0. Everything the demo writes stays in DEMO_STATE (its own config dir
# through XDG_CONFIG_HOME: trusted demo key, site records); `make demo-down` removes the lab and it.
# `make test-demo` (lab 20) drives the same engine calls as the wizard end to end and always tears down.
DEMO_LAB_ID := 0
DEMO_STATE ?= /var/tmp/ferry-demo
DEMO_TEST_LAB_ID := 20
DEMO_CMD := CGO_ENABLED=0 $(GO) run ./test/demo/cmd/demo
.PHONY: demo demo-bundles demo-down test-demo
INTEGRATION_TARGETS += test-demo

demo-bundles: standin deps-build
	$(DEMO_CMD) bundles --state $(DEMO_STATE) --standin-dir $(BIN)

demo: ferry demo-bundles
	scripts/install-deps.sh lab containerd
	$(DEMO_CMD) lab --id $(DEMO_LAB_ID)
	$(DEMO_CMD) draft --state $(DEMO_STATE) --id $(DEMO_LAB_ID)
	@echo
	@echo "Demo: the wizard opens with $(DEMO_STATE)/hello-web-1.0.0.ferry (signed by the demo key, trusted"
	@echo "      in the demo's own config dir) and the lab's 3 hosts. Test each host's connection and accept its"
	@echo "      key after comparing the fingerprint above, apply Ferry's fix on Checks (the lab has no default"
	@echo "      route), choose your settings and install. Then, on Manage site: Upgrade with"
	@echo "      $(DEMO_STATE)/hello-web-1.1.0.ferry, and Roll back to 1.0.0 from the history."
	@echo "      The demo's k3s is a STAND-IN: it runs no container, so hello-web never actually serves."
	@echo "      When done: make demo-down"
	@echo
	@# Once the demo site is installed (its record has a version), a second make demo opens the start
	@# screen (the site is listed under Recent sites) instead of a new install.
	@preset="--bundle $(DEMO_STATE)/hello-web-1.0.0.ferry --site-draft $(DEMO_STATE)/site.yaml"; \
	  if grep -qs '"version":' $(DEMO_STATE)/config/ferry/sites/demo/site.json; then preset=; echo "Demo: the demo site exists: open it from Recent sites."; fi; \
	  case "$${LANG:-C}" in C|C.*|POSIX) LANG=en_US.UTF-8;; esac; \
	  set -x; LANG=$$LANG XDG_CONFIG_HOME=$(DEMO_STATE)/config ./$(BIN)/ferry --trust $(DEMO_STATE)/demo-signing.pub $$preset

# Removes DEMO_STATE only if it is a demo's folder (it holds the demo key), never a folder given by mistake.
demo-down:
	$(LAB_CMD) down --id $(DEMO_LAB_ID)
	@if [ -e $(DEMO_STATE)/demo-signing.key ]; then rm -rf $(DEMO_STATE); echo "removed $(DEMO_STATE)"; \
	  elif [ -e $(DEMO_STATE) ]; then echo "$(DEMO_STATE) is not a demo folder (no demo-signing.key): left alone"; fi

test-demo: standin deps-build
	scripts/install-deps.sh lab containerd
	@rc=0; FERRY_LAB=1 FERRY_STANDIN_DIR=$(CURDIR)/$(BIN) $(UNIT_ENV) $(GO) test -count=1 -tags ci -timeout 25m -v -run TestDemoWizardOnLab ./test/demo/ || rc=$$?; \
	  $(UNIT_ENV) $(GO) run ./test/lab/cmd/lab down --id $(DEMO_TEST_LAB_ID) || rc=1; exit $$rc
