# Concord: the two commands of the README, plus benchmarks.
#
#   make demo    two devices offline with the `concord` CLI: invite, edit, swap files, converge
#   make test    portability, doc-sample and lint checks; unit, property and conformance
#                tests with warnings as errors; the Python reference and its mutation harness;
#                the examples, the app package (Examples/AppPackage) and DocC
#                (installs libsodium-dev if missing)
#   make bench   Concord beside Yrs (pycrdt) and Loro, same workloads, same run (and on sets the
#                Rust crdts ORSWOT, built offline with cargo from Debian's librust-crdts-dev and
#                librust-bincode-dev; left out with the reason printed when missing); then change
#                bundles, the persisted SQLite store (writes, import vs raw SQLite, queries,
#                memory), and verification per bundle (a classroom's sync of small bundles,
#                the share of the import spent verifying; membership's and a 20-rule permission
#                policy's import overhead), a school year (30 devices, 190 days: replica
#                and relay sizes with collection on and off, beside Yrs and Loro on the
#                same history); BENCH_ARGS="--only store" runs
#                one section; then the relay
#                (make bench-relay: fan-out beside a bare broadcast server, throughput, initial
#                pull; SQLite vs PostgreSQL)
#
# On a fresh Debian machine the only prerequisite is Swift 6.1+; libsodium is installed
# with apt when running as root, otherwise the exact command is printed.

SWIFT ?= swift
PYTHON ?= python3
# bash for pipefail: a build piped into a log must still fail the recipe.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: all demo cli test docs bench bench-relay bench-peer bench-smoke deps vectors fuzz clean clean-ours

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
	$(SWIFT) build --product ConcordCLI
	CONCORD="$$($(SWIFT) build --show-bin-path)/ConcordCLI" Examples/demo.sh

# The `concord` tool as `.build/cli/concord` (its executable target is ConcordCLI; it is not
# a product, so apps depending on Concord do not resolve the relay server's packages):
#   make cli && export PATH="$$PWD/.build/cli:$$PATH"
cli: deps
	$(SWIFT) build --product ConcordCLI
	@mkdir -p .build/cli && ln -sf "$$($(SWIFT) build --show-bin-path)/ConcordCLI" .build/cli/concord
	@echo "built .build/cli/concord"

# PostgreSQL for the relay tests: Tools/postgres.sh starts a throwaway cluster on
# 127.0.0.1 (installing PostgreSQL with apt-get when missing and running as root) and
# prints its URL. Set CONCORD_TEST_POSTGRES_URL yourself to use another server, or
# NO_POSTGRES=1 to skip those tests.
# The CLI tests run in a process of their own: they wait for real `concord` processes
# synchronously, and on a 2-core machine two such waits hold the whole cooperative thread
# pool, stalling the timers of the in-process relay and sync tests beside them.
# PermissionProperties, StaleDeviceProperties and CompactionProperties run alone last: their 1,000 histories keep
# both cores busy for minutes, and beside them a relay feed test timed out (RelayFeedTests,
# 30 s deadline).
test: deps
	@$(PYTHON) -c "import nacl" 2>/dev/null || $(PYTHON) -m pip install -q pynacl
	@echo "==> independent check of Specs/vectors/bundles.jsonl (PyNaCl)"
	$(PYTHON) Tools/verify_bundle_vectors.py
	@echo "==> independent reference (Tools/reference) against Specs/vectors, and its mutation harness"
	$(PYTHON) Tools/reference/mutants.py
	@echo "==> Specs/vectors/pruning.jsonl is what the reference writes (Tools/reference/gen_pruning_vectors.py)"
	$(PYTHON) Tools/reference/gen_pruning_vectors.py --check
	@echo "==> independent reading of Specs/permissions.md (Tools/reference/policy.py): self-test, vectors current, mutants caught"
	$(PYTHON) Tools/reference/policy.py --self-test
	$(PYTHON) Tools/reference/gen_permission_vectors.py --check
	$(PYTHON) Tools/reference/gen_permission_vectors.py --mutants
	@echo "==> independent check of Specs/vectors/peer.jsonl (PyNaCl)"
	$(PYTHON) Tools/verify_peer_vectors.py
	@echo "==> library code uses no Linux-only API (Tools/check-portability.sh)"
	Tools/check-portability.sh --self-test
	Tools/check-portability.sh
	@echo "==> the documentation's code samples are the compiled ones (Tools/doc-samples.py)"
	$(PYTHON) Tools/doc-samples.py --check
	@echo "==> swift format lint, no file above its baseline (Tools/lint.sh)"
	Tools/lint.sh --self-test
	Tools/lint.sh
	@mkdir -p .build
	$(SWIFT) build --build-tests 2>&1 | tee .build/build-tests.log
	@echo "==> warnings are errors in our code (Tools/check-warnings.sh)"
	Tools/check-warnings.sh --self-test
	Tools/check-warnings.sh .build/build-tests.log
	@if [ -z "$$NO_POSTGRES" ] && [ -z "$$CONCORD_TEST_POSTGRES_URL" ]; then echo "==> PostgreSQL for the relay tests (Tools/postgres.sh)"; fi
	@url="$$CONCORD_TEST_POSTGRES_URL"; \
	if [ -z "$$NO_POSTGRES" ] && [ -z "$$url" ]; then url="$$(Tools/postgres.sh start | tail -n 1)" || exit 1; fi; \
	if [ -n "$$url" ]; then echo "relay tests on PostgreSQL at $$url"; else echo "NO_POSTGRES set: PostgreSQL relay tests skipped"; fi; \
	export CONCORD_TEST_POSTGRES_URL="$$url"; \
	echo "==> library, relay, sync and property tests (in-process)"; \
	failed=0; \
	$(SWIFT) test --skip-build --skip ConcordCLITests --skip PermissionProperties --skip StaleDeviceProperties --skip CompactionProperties || failed=1; \
	echo "==> CLI tests (real concord processes)"; \
	$(SWIFT) test --skip-build --filter ConcordCLITests || failed=1; \
	echo "==> permission, stale-device and compaction property tests (1,000 histories each; alone, they keep both cores busy for minutes)"; \
	$(SWIFT) test --skip-build --filter 'PermissionProperties|StaleDeviceProperties|CompactionProperties' || failed=1; \
	exit $$failed
	@echo "==> example: two-replicas"
	$(SWIFT) run --skip-build two-replicas > /dev/null && echo "two-replicas example: converged"
	@echo "==> example: notes (two replicas on disk syncing by bundle files)"
	$(SWIFT) run --skip-build notes-example
	@echo "==> example: classroom (learners sync through a relay it starts; the teacher sees all)"
	$(SWIFT) run --skip-build classroom-example
	@echo "==> an app package on Concord + ConcordSync: no server packages, its tests and demo (Examples/AppPackage)"
	Tools/check-app-package.sh
	@echo "==> DocC for every library product, warnings as errors (Tools/build-docs.sh)"
	Tools/build-docs.sh

# DocC archives of every library product in .build/docs (also part of `make test`).
docs:
	Tools/build-docs.sh

bench: deps
	$(SWIFT) build -c release --product concord-bench
	@$(PYTHON) -c "import pycrdt, loro" 2>/dev/null || $(PYTHON) -m pip install -q pycrdt loro
	$(PYTHON) Benchmarks/run.py $(BENCH_ARGS)
	$(MAKE) bench-relay
	$(MAKE) bench-peer

# The relay under load: 1,000 WebSocket subscribers of a load-generator process, the relay in
# a process of its own beside a bare Hummingbird WebSocket broadcast server (the ceiling):
# fan-out latency and server CPU per delivery, every delivery accounted for; push
# throughput; initial pull of 1M operations; SQLite and PostgreSQL side by side; the
# goals of issue 18 printed PASS/MISS.
RELAY_BENCH_ARGS ?=
bench-relay: deps
	$(SWIFT) build -c release --product concord-relay-bench
	@url="$$CONCORD_TEST_POSTGRES_URL"; \
	if [ -z "$$url" ]; then url="$$(Tools/postgres.sh start | tail -n 1)" || exit 1; fi; \
	ulimit -n 65536 2>/dev/null || true; \
	"$$($(SWIFT) build -c release --show-bin-path)/concord-relay-bench" --backends sqlite,postgres --postgres-url "$$url" $(RELAY_BENCH_ARGS)

# Peer sync between two namespaced hosts (needs root): 1M operations over a peer link beside
# the same through a relay on the same hosts, and live latency p50/p99 between peers.
PEER_BENCH_ARGS ?=
bench-peer: deps
	$(SWIFT) build -c release --product ConcordCLI
	$(SWIFT) build -c release --product concord-peer-bench
	$(PYTHON) Benchmarks/peer_bench.py "$$($(SWIFT) build -c release --show-bin-path)" $(PEER_BENCH_ARGS)

# A quick end-to-end run of the benchmark harness (small sizes, one run; store at 100k ops).
bench-smoke:
	$(MAKE) bench BENCH_ARGS=--quick RELAY_BENCH_ARGS=--quick PEER_BENCH_ARGS=--quick

# Regenerates Specs/vectors from fixed inputs; the conformance tests read them.
# (bundle_files.jsonl: CONCORD_WRITE_VECTORS=1 swift test --filter BundleFileVectorTests)
vectors:
	$(SWIFT) run concord-vectors Specs/vectors

# libFuzzer on the decoders (FUZZ_SECONDS per target); crashes land in fuzz-artifacts/.
FUZZ_SECONDS ?= 60
fuzz: deps
	Fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-*

# Makes the next debug build recompile this package's own targets, keeping the dependencies'
# builds. Run it after a merge or rebase that changes stored properties of a ConcordCore
# type: Swift 6.3's incremental build can recompile ConcordCore but not the targets above it,
# whose stale objects then crash (CHANGELOG; swiftlang/swift#89636).
clean-ours:
	$(SWIFT) package dump-package | $(PYTHON) -c 'import json, sys; print("\n".join(".build/debug/" + t["name"].replace("-", "_") + ".build" for t in json.load(sys.stdin)["targets"]))' | xargs rm -rf
	@echo "removed this package's debug targets; the next swift build recompiles them"
