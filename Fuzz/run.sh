#!/usr/bin/env bash
# Builds and runs the libFuzzer targets for Concord's decoders (see Fuzz/README.md):
#
#   operations   the operation-batch decoder        Fuzz/OperationBatchFuzzer.swift
#   bundles      the change-bundle decoder, verifier  Fuzz/BundleFuzzer.swift, Fuzz/BundleFuzzWorld.swift
#                and importer
#   membership   the control payload, invite token    Fuzz/MembershipFuzzer.swift
#                (format 2) and history blob decoders
#   policy       permission policy bodies and files  Fuzz/PolicyFuzzer.swift
#
#   Fuzz/run.sh [seconds] [target...]    # default: 60 s per target, every target
#   Fuzz/run.sh 300 bundles              # five minutes on the bundle fuzzer only
#
# Everything is built into .build-fuzz/ (corpora persist there between runs). Crashes are
# written to fuzz-artifacts/<target>-crash-*; copy each one into Tests/Fixtures/regressions/
# as <target>-<short-description>.bin and add a line to its README (the conformance tests
# replay every file there on every `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else targets=(operations bundles membership policy); fi
out=".build-fuzz"
mkdir -p "$out/modules" "$out/obj" fuzz-artifacts

# lld: gold warns about every ASan symbol it cannot export.
flags=(-O -sanitize=fuzzer,address -use-ld=lld -parse-as-library -package-name concord -enable-testing -I "$out/modules" -I Sources/CSodium)

# Compiles one package module (whole-module, one object), unless its object is newer than
# its sources and the objects of the modules it imports. The bundle fuzzer needs only the
# protocol layer (ConcordProtocol), which builds without the store and GRDB.
#   build_module <name> "<imported package modules>"
build_module() {
  local name="$1" deps="$2"
  local object="$out/obj/$name.o"
  local inputs=("Sources/$name")
  for dep in $deps; do inputs+=("$out/obj/$dep.o"); done
  if [ -f "$object" ] && [ -z "$(find "${inputs[@]}" -newer "$object" \( -name '*.swift' -o -name '*.o' \) | head -1)" ]; then
    return
  fi
  echo "==> compiling module $name"
  swiftc "${flags[@]}" -module-name "$name" -wmo -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
    -c $(find "Sources/$name" -name '*.swift' | sort) -o "$object"
}

build_operations() {
  echo "==> building the operation-batch fuzzer"
  swiftc -O -sanitize=fuzzer,address -use-ld=lld -parse-as-library -package-name concord -module-name ConcordCore \
    Sources/ConcordCore/*.swift Fuzz/OperationBatchFuzzer.swift -o "$out/fuzz-operations"
  # Seed corpus: the valid operation batches of the conformance vectors.
  mkdir -p "$out/corpus-operations"
  python3 - "$out/corpus-operations" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for i, line in enumerate(open("Specs/vectors/operations.jsonl")):
    case = json.loads(line)
    (out / f"vector-{i:04d}").write_bytes(bytes.fromhex(case["hex"]))
PY
}

build_bundles() {
  build_module ConcordCore ""
  build_module ConcordCrypto ""
  build_module ConcordProtocol "ConcordCore ConcordCrypto"
  echo "==> building the bundle fuzzer"
  swiftc "${flags[@]}" -module-name BundleFuzzer Fuzz/BundleFuzzer.swift Fuzz/BundleFuzzWorld.swift \
    "$out/obj/ConcordCore.o" "$out/obj/ConcordCrypto.o" "$out/obj/ConcordProtocol.o" -lsodium -o "$out/fuzz-bundles"
  # Seed corpus: the fuzzer's own valid bundles, and the bundle vectors if they exist.
  mkdir -p "$out/corpus-bundles"
  CONCORD_FUZZ_WRITE_CORPUS="$out/corpus-bundles" SWIFT_BACKTRACE=enable=no "$out/fuzz-bundles"
  if [ -f Specs/vectors/bundles.jsonl ]; then
    python3 - "$out/corpus-bundles" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for line in open("Specs/vectors/bundles.jsonl"):
    case = json.loads(line)
    if "bundle_hex" in case:
        (out / f"vector-{case['name']}").write_bytes(bytes.fromhex(case["bundle_hex"]))
PY
  fi
}

build_membership() {
  build_module ConcordCore ""
  build_module ConcordCrypto ""
  build_module ConcordProtocol "ConcordCore ConcordCrypto"
  echo "==> building the membership fuzzer"
  swiftc "${flags[@]}" -module-name MembershipFuzzer Fuzz/MembershipFuzzer.swift \
    "$out/obj/ConcordCore.o" "$out/obj/ConcordCrypto.o" "$out/obj/ConcordProtocol.o" -lsodium -o "$out/fuzz-membership"
  # Seed corpus: the control payloads, token bytes and texts, and history blobs of the vectors.
  mkdir -p "$out/corpus-membership"
  python3 - "$out/corpus-membership" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for line in open("Specs/vectors/membership.jsonl"):
    case = json.loads(line)
    for key in ("payload_hex", "token_hex", "blob_hex"):
        if key in case:
            (out / f"vector-{case['name']}-{key}").write_bytes(bytes.fromhex(case[key]))
    for op in case.get("ops", []):
        (out / f"vector-{case['name']}-{op['bundle_id'][:16]}").write_bytes(bytes.fromhex(op["payload_hex"]))
    if case.get("type") == "token":
        (out / f"vector-{case['name']}-text").write_bytes(case["text"].encode())
PY
}

build_policy() {
  build_module ConcordCore ""
  build_module ConcordCrypto ""
  build_module ConcordProtocol "ConcordCore ConcordCrypto"
  echo "==> building the policy fuzzer"
  swiftc "${flags[@]}" -module-name PolicyFuzzer Fuzz/PolicyFuzzer.swift \
    "$out/obj/ConcordCore.o" "$out/obj/ConcordCrypto.o" "$out/obj/ConcordProtocol.o" -lsodium -o "$out/fuzz-policy"
  # Seed corpus: the bodies and files (valid and invalid) of the permission vectors.
  mkdir -p "$out/corpus-policy"
  python3 - "$out/corpus-policy" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for line in open("Specs/vectors/permissions.jsonl", encoding="utf-8").read().split("\n")[:-1]:
    case = json.loads(line)
    for key in ("body_hex", "input_hex"):
        if key in case:
            (out / f"vector-{case['name']}-{key}").write_bytes(bytes.fromhex(case[key]))
    for key in ("input", "json"):
        if key in case:
            (out / f"vector-{case['name']}-{key}").write_bytes(case[key].encode("utf-8"))
PY
}

status=0
for target in "${targets[@]}"; do
  case "$target" in
    operations) build_operations; max_len=4096 ;;
    bundles) build_bundles; max_len=4096 ;;
    membership) build_membership; max_len=4096 ;;
    policy) build_policy; max_len=20000 ;;
    *) echo "unknown target $target (operations, bundles, membership or policy)" >&2; exit 2 ;;
  esac
  echo "==> fuzzing $target for ${seconds}s"
  # The Swift runtime's backtracer reads the stack in ways ASan reports; libFuzzer's own
  # handler prints the trace and saves the input.
  SWIFT_BACKTRACE=enable=no "$out/fuzz-$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=5 -print_final_stats=1 \
    -artifact_prefix="fuzz-artifacts/$target-" "$out/corpus-$target" || status=$?
done
if [ "$status" -ne 0 ]; then
  echo "==> a fuzzer failed (exit $status); its input is in fuzz-artifacts/:" >&2
  ls -1 fuzz-artifacts >&2
fi
exit "$status"
