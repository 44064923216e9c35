# make demo: install what is missing, build release, run the default simulation.
# make test: install what is missing, build, run every test.
# make example-report: regenerate Reports/reference/example-report.{html,png}.
# make bench: run the benchmark suite (release) and write Reports/benchmarks/<date>.md.
# make bench-campaign: a sweep's scaling over threads and a Slurm job array, with a
#   model of a million-run campaign (as root: starts a single-node Slurm in a scratch dir).
# make fuzz: libFuzzer on every parser, FUZZ_SECONDS (600) each; see Tests/Fuzz/fuzz.sh.
# make reproduce: regenerate Reports/reference/model-validation.md (a test checks it is current).
SWIFT ?= swift
APT_PACKAGES := pkg-config libgsl-dev libsqlite3-dev libibverbs-dev
# The tests also render the HTML report in headless Chromium, run a sweep on a
# single-node Slurm (slurmctld, slurmd, munged started by the test), run the
# real OpenSM on an ibsim fabric, fuzz the controller's API with schemathesis (PyPI), run the
# Python policies (python3) and turn figures into PDFs (rsvg-convert, librsvg2-bin).
TEST_APT_PACKAGES := $(APT_PACKAGES) python3 librsvg2-bin openssl chromium slurm-wlm munge ibsim-utils libumad2sim0 opensm infiniband-diags iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE_BIN := .build/release/hpccloud

.PHONY: deps test-deps install-packages build release demo test fuzz reproduce example-report walkthrough-figures bench bench-campaign clean

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_APT_PACKAGES)"
	@# The API fuzzer (PyPI), run by Tests/ControlPlaneTests against the live controller.
	@python3 -m schemathesis.cli --version >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages 'schemathesis>=4,<5' \
	  || python3 -m pip install -q 'schemathesis>=4,<5'

install-packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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
	$(RELEASE_BIN) reproduce all --out Reports/reference/model-validation.md

# An example results database (two policies on the default scenario) and its
# HTML report and screenshot, committed under Reports/reference.
example-report: release test-deps
	rm -f Reports/reference/example.sqlite
	$(RELEASE_BIN) simulate --horizon 200 --db Reports/reference/example.sqlite >/dev/null
	$(RELEASE_BIN) simulate --horizon 200 --policy worst-fit --db Reports/reference/example.sqlite >/dev/null
	$(RELEASE_BIN) report Reports/reference/example.sqlite --html Reports/reference/example-report.html
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2600 \
	  --screenshot=$(CURDIR)/Reports/reference/example-report.png file://$(CURDIR)/Reports/reference/example-report.html
	rm -f Reports/reference/example.sqlite

# Every figure of the README's research walk-through, rendered by Chromium.
walkthrough-figures: release test-deps
	Reports/reference/walkthrough/render.sh $(CURDIR)/$(RELEASE_BIN)

bench: release
	mkdir -p Reports/benchmarks
	$(RELEASE_BIN) bench --repeat 3 --out Reports/benchmarks/$$(date -u +%Y-%m-%d).md > /dev/null

bench-campaign: release test-deps
	python3 Reports/benchmarks/campaign.py --hpccloud $(RELEASE_BIN) --out Reports/benchmarks/$$(date -u +%Y-%m-%d)-campaign.md

test: test-deps
	$(SWIFT) build --build-tests
	HPCCLOUD_TEST_EVERYTHING=1 $(SWIFT) test

# A separate build directory: every module is instrumented (-sanitize=fuzzer) and
# built without a main of its own (-DFUZZING), which libFuzzer supplies.
fuzz: deps
	$(SWIFT) build -c release --product hpccloud --build-path .build-fuzz --sanitize=fuzzer -Xswiftc -DFUZZING
	Tests/Fuzz/fuzz.sh

clean:
	rm -rf .build .build-fuzz
