#!/usr/bin/env bash
# Builds the DocC documentation of every library product, with warnings as errors (an
# unresolved symbol link, a missing topic, a malformed directive fail the build).
#
# Symbol graphs come from `swift package dump-symbol-graph` (SwiftPM's own command, on
# the existing build) and the catalogs are converted by the toolchain's `docc`: no
# documentation plugin is added to Package.swift, so apps depending on Concord resolve
# nothing extra. Output: .build/docs/<Module>.doccarchive.
#
#   Tools/build-docs.sh [Module...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
modules=("$@")
[[ ${#modules[@]} -eq 0 ]] && modules=(ConcordCore ConcordCrypto ConcordStore ConcordProtocol Concord ConcordSync ConcordTesting)

# DOCS_REUSE_GRAPHS=1 reuses the symbol graphs of the previous run (while editing articles).
[[ -n "${DOCS_REUSE_GRAPHS:-}" ]] || swift package dump-symbol-graph --skip-synthesized-members >/dev/null
graphs=$(find .build -path '*/symbolgraph' -type d -newer Package.swift | head -n 1)
[[ -z "$graphs" ]] && graphs=$(find .build -path '*/symbolgraph' -type d | head -n 1)
out=.build/docs
rm -rf "$out"
mkdir -p "$out"
for module in "${modules[@]}"; do
  catalog="Sources/$module/$module.docc"
  [[ -d "$catalog" ]] || { echo "build-docs: $module has no DocC catalog ($catalog)"; exit 1; }
  dir="$out/graphs-$module"
  mkdir -p "$dir"
  cp "$graphs/$module.symbols.json" "$dir/"
  find "$graphs" -name "$module@*.symbols.json" -exec cp {} "$dir/" \;
  echo "==> docc convert $module"
  docc convert "$catalog" --additional-symbol-graph-dir "$dir" --fallback-display-name "$module" \
    --fallback-bundle-identifier "org.concord.$module" --output-path "$out/$module.doccarchive" \
    --warnings-as-errors 2>&1 | tee "$out/$module.log"
  if grep -qE "(warning|error):" "$out/$module.log"; then
    echo "build-docs: $module has documentation warnings (see above)"
    exit 1
  fi
done
echo "build-docs: ${#modules[@]} catalogs built with no warnings (.build/docs)"
