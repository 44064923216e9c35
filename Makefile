# make demo: install what is missing, build release, run the default simulation.
# make test: install what is missing, build, run every test.
# make reproduce: regenerate Reports/reference/paper-reproduction.md (a test checks it is current).
SWIFT ?= swift
APT_PACKAGES := pkg-config libgsl-dev libsqlite3-dev libibverbs-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE_BIN := .build/release/hpccloud

.PHONY: deps build release demo test reproduce clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product hpccloud

demo: release
	$(RELEASE_BIN) simulate

reproduce: release
	mkdir -p Reports/reference
	$(RELEASE_BIN) reproduce paper --out Reports/reference/paper-reproduction.md

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

clean:
	rm -rf .build
