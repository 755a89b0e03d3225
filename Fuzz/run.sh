#!/usr/bin/env bash
# Builds and runs the libFuzzer targets for Concord's decoders.
#
#   Fuzz/run.sh [seconds]      # default 60 s per target
#
# Crashes are written to fuzz-artifacts/; copy each one into Tests/Fixtures/regressions/
# (the regression test replays every file there on every `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=".build-fuzz"
mkdir -p "$out" fuzz-artifacts "$out/corpus-operations"

# Seed corpus: the valid operation batches of the conformance vectors.
python3 - "$out/corpus-operations" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for i, line in enumerate(open("Specs/vectors/operations.jsonl")):
    case = json.loads(line)
    (out / f"vector-{i:04d}").write_bytes(bytes.fromhex(case["hex"]))
PY

echo "==> building the operation-batch fuzzer"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name ConcordCore \
  Sources/ConcordCore/*.swift Fuzz/OperationBatchFuzzer.swift -o "$out/fuzz-operations"

echo "==> fuzzing the operation-batch decoder for ${seconds}s"
"$out/fuzz-operations" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
  -artifact_prefix=fuzz-artifacts/ "$out/corpus-operations"
