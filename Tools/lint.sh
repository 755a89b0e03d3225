#!/usr/bin/env bash
# `swift format lint` (the toolchain's swift-format, rules in .swift-format) over Sources
# and Tests, as a ratchet: a file may not have more findings than Tools/lint-baseline.txt
# records for it, and a file not listed there must have none. The baseline holds what the
# code had when linting started in CI; it only ever shrinks (`--update-baseline` rewrites
# it from the current findings; review the diff: counts must not grow). Reformatting the
# whole tree at once (`swift format -i -r Sources Tests`) empties it.
#
#   Tools/lint.sh                     check
#   Tools/lint.sh --update-baseline   record the current counts
#   Tools/lint.sh --self-test         prove that a new finding fails the check
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
baseline=Tools/lint-baseline.txt

counts() {  # "<count> <file>" per file with findings, sorted by file
  (swift format lint -r "$@" 2>&1 || true) | grep -E '^[^:]+\.swift:[0-9]+:[0-9]+: (warning|error):' \
    | cut -d: -f1 | sort | uniq -c | awk '{print $1, $2}' | sort -k2
}

compare() {  # current counts on stdin-file $1 against baseline $2; prints regressions
  awk 'NR == FNR { allowed[$2] = $1; next } { if ($1 > (($2 in allowed) ? allowed[$2] : 0)) print $2 ": " $1 " finding(s), baseline " (($2 in allowed) ? allowed[$2] : 0) }' "$2" "$1"
}

case "${1:-}" in
--update-baseline)
  counts Sources Tests > "$baseline"
  echo "lint: baseline rewritten ($(awk '{s += $1} END {print s + 0}' "$baseline") findings in $(wc -l < "$baseline") files)"
  ;;
--self-test)
  dir=$(mktemp -d Tests/.lint-self-test-XXXX)
  trap 'rm -rf "$dir"' EXIT
  printf 'import Foundation\nlet   spaced = 1\n' > "$dir/Bad.swift"
  current=$(mktemp)
  counts "$dir" > "$current"
  if [[ -z "$(compare "$current" "$baseline")" ]]; then
    echo "lint self-test FAILED: a new file with findings passed"; exit 1
  fi
  rm -f "$current"
  echo "lint self-test: a new file with a finding fails the check"
  ;;
*)
  current=$(mktemp)
  trap 'rm -f "$current"' EXIT
  counts Sources Tests > "$current"
  regressions=$(compare "$current" "$baseline")
  if [[ -n "$regressions" ]]; then
    echo "$regressions"
    echo "lint: findings above the baseline; run 'swift format lint -r <file>' to see them, 'swift format -i <file>' to fix them"
    exit 1
  fi
  echo "lint: no file above its baseline ($(awk '{s += $1} END {print s + 0}' "$current") findings left, baseline $(awk '{s += $1} END {print s + 0}' "$baseline"))"
  ;;
esac
