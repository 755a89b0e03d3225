#!/usr/bin/env bash
# Warnings as errors for this repository's code: fails when a build log (the output of a
# full `swift build --build-tests`, as `make test` runs on a clean clone) holds a compiler
# warning in one of our files. Dependencies' warnings are theirs and not counted; neither
# are the generated documentation samples (Tests/DocSamples), which show API calls whose
# results a reader would use.
#
#   Tools/check-warnings.sh BUILD-LOG
#   Tools/check-warnings.sh --self-test
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd -P)"

scan() {
  grep -E "^${root}/(Sources|Tests|Examples|Benchmarks|Tools|Fuzz)/[^:]+:[0-9]+:[0-9]+: warning:" "$1" \
    | grep -v "^${root}/Tests/DocSamples/" | sort -u || true
}

if [[ "${1:-}" == "--self-test" ]]; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  printf '%s\n' "${root}/Sources/Concord/X.swift:3:5: warning: variable 'x' was never used" \
    "${root}/.build/checkouts/swift-nio/Sources/NIOCore/Y.swift:1:1: warning: ignored, a dependency" \
    "${root}/Tests/DocSamples/DocSamples.swift:9:9: warning: ignored, a sample" > "$log"
  [[ $(scan "$log" | wc -l) -eq 1 ]] || { echo "check-warnings self-test FAILED"; exit 1; }
  echo "check-warnings self-test: our warning caught, a dependency's and a sample's ignored"
  exit 0
fi

log="${1:?usage: Tools/check-warnings.sh BUILD-LOG}"
warnings=$(scan "$log")
if [[ -n "$warnings" ]]; then
  echo "$warnings"
  echo "check-warnings: $(wc -l <<<"$warnings") warning(s) in our code; warnings are errors here"
  exit 1
fi
echo "check-warnings: no warning in our code"
