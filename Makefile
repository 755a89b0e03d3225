# Concord: the two commands of the README, plus benchmarks.
#
#   make demo    two devices offline with the `concord` CLI: invite, edit, swap files, converge
#   make test    unit, property and conformance tests (installs libsodium-dev if missing)
#   make bench   Concord beside Yrs (pycrdt) and Loro, same workloads, same run; then change
#                bundles, and the persisted SQLite store (writes, import vs raw SQLite, queries,
#                memory); BENCH_ARGS="--only store" runs one section
#
# On a fresh Debian machine the only prerequisite is Swift 6.1+; libsodium is installed
# with apt when running as root, otherwise the exact command is printed.

SWIFT ?= swift
PYTHON ?= python3
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: all demo test bench bench-smoke deps vectors fuzz clean

all: test

deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists libsodium; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "==> installing libsodium-dev and pkg-config with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsodium-dev pkg-config; \
	  else \
	    echo "libsodium is missing. Install it, then re-run make:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y libsodium-dev pkg-config"; \
	    exit 1; \
	  fi; \
	fi

# Two devices offline on embedded SQLite, with the real `concord` CLI (Examples/demo.sh).
demo: deps
	$(SWIFT) build --product concord
	CONCORD="$$($(SWIFT) build --show-bin-path)/concord" Examples/demo.sh

test: deps
	@$(PYTHON) -c "import nacl" 2>/dev/null || $(PYTHON) -m pip install -q pynacl
	@echo "==> independent check of Specs/vectors/bundles.jsonl (PyNaCl)"
	$(PYTHON) Tools/verify_bundle_vectors.py
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@echo "==> example: two-replicas"
	$(SWIFT) run --skip-build two-replicas > /dev/null && echo "two-replicas example: converged"
	@echo "==> example: notes (two replicas on disk syncing by bundle files)"
	$(SWIFT) run --skip-build notes-example

bench: deps
	$(SWIFT) build -c release --product concord-bench
	@$(PYTHON) -c "import pycrdt, loro" 2>/dev/null || $(PYTHON) -m pip install -q pycrdt loro
	$(PYTHON) Benchmarks/run.py $(BENCH_ARGS)

# A quick end-to-end run of the benchmark harness (small sizes, one run; store at 100k ops).
bench-smoke:
	$(MAKE) bench BENCH_ARGS=--quick

# Regenerates Specs/vectors from fixed inputs; the conformance tests read them.
vectors:
	$(SWIFT) run concord-vectors Specs/vectors

# libFuzzer on the decoders (FUZZ_SECONDS per target); crashes land in fuzz-artifacts/.
FUZZ_SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-*
