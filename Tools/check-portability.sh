#!/usr/bin/env bash
# Fails when library code (what apps link: every target a library product reaches) uses
# an API that exists on Linux only, so an iOS or macOS build would break although Linux CI
# passes. Checked (ARCHITECTURE.md, "Platforms"):
#   1. a platform C library (Glibc, Musl, Android) imported outside an `#if canImport(...)`
#      whose file also has a `canImport(Darwin)` branch;
#   2. `import FoundationNetworking` outside an `#if canImport(FoundationNetworking)`;
#   3. calls and paths that only Linux has (epoll, inotify, eventfd, /proc, O_TMPFILE, ...).
# The relay server (Sources/ConcordRelay) and the CLI (Sources/ConcordCLI) run on servers and
# are not checked.
#
#   Tools/check-portability.sh [DIR...]     check the library targets (default) or DIRs
#   Tools/check-portability.sh --self-test  prove that it catches each kind of problem
set -euo pipefail
cd "$(dirname "$0")/.."

LIBRARY_DIRS=(Sources/ConcordCore Sources/ConcordCrypto Sources/ConcordStore Sources/ConcordProtocol
              Sources/Concord Sources/ConcordRelayProtocol Sources/ConcordSync Sources/ConcordTesting)
LINUX_ONLY='epoll_|inotify_|eventfd\(|timerfd_|signalfd\(|memfd_create|accept4\(|pipe2\(|sched_getaffinity|prctl\(|O_TMPFILE|O_PATH\b|SOCK_NONBLOCK|SOCK_CLOEXEC|renameat2|statx\(|fdatasync\(|getrandom\(|sendfile\(|splice\(|"/proc/|"/sys/|Glibc\.'

check() {
  local problems=0 file line prev
  while IFS= read -r file; do
    # 1. platform C libraries only behind canImport, with a Darwin branch in the file.
    while IFS=: read -r line _; do
      prev=""; [[ $line -gt 1 ]] && prev=$(sed -n "$((line - 1))p" "$file")
      if ! [[ "$prev" =~ ^\#(if|elseif)\ canImport\((Glibc|Musl|Android)\) ]]; then
        echo "$file:$line: imports a Linux C library outside '#if canImport(...)'"; problems=$((problems + 1))
      elif ! grep -q 'canImport(Darwin)' "$file"; then
        echo "$file:$line: imports a Linux C library with no '#elseif canImport(Darwin)' branch"; problems=$((problems + 1))
      fi
    done < <(grep -nE '^[[:space:]]*import[[:space:]]+(Glibc|Musl|Android)\b' "$file" || true)
    # 2. FoundationNetworking exists on Linux only.
    while IFS=: read -r line _; do
      prev=""; [[ $line -gt 1 ]] && prev=$(sed -n "$((line - 1))p" "$file")
      if ! [[ "$prev" =~ ^\#(if|elseif)\ canImport\(FoundationNetworking\) ]]; then
        echo "$file:$line: imports FoundationNetworking outside '#if canImport(FoundationNetworking)'"; problems=$((problems + 1))
      fi
    done < <(grep -nE '^[[:space:]]*import[[:space:]]+FoundationNetworking\b' "$file" || true)
    # 3. Linux-only calls and paths (comments are skipped).
    while IFS= read -r hit; do
      echo "$file:${hit%%:*}: uses a Linux-only API: ${hit#*:}"; problems=$((problems + 1))
    done < <(grep -nE "$LINUX_ONLY" "$file" | grep -vE '^[0-9]+:[[:space:]]*//' || true)
  done < <(find "$@" -name '*.swift' | sort)
  return "$problems"
}

if [[ "${1:-}" == "--self-test" ]]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  printf 'import Glibc\nlet x = 1\n' > "$dir/Bare.swift"
  printf '#if canImport(Glibc)\nimport Glibc\n#endif\n' > "$dir/NoDarwin.swift"
  printf 'import FoundationNetworking\n' > "$dir/Networking.swift"
  printf 'let fd = epoll_create1(0)\n' > "$dir/Epoll.swift"
  printf '#if canImport(Glibc)\nimport Glibc\n#elseif canImport(Darwin)\nimport Darwin\n#endif\n// epoll_create1 in a comment is fine\n' > "$dir/Fine.swift"
  set +e
  output=$(check "$dir")
  found=$?
  set -e
  echo "$output"
  if [[ $found -ne 4 ]] || grep -q Fine.swift <<<"$output"; then
    echo "check-portability self-test FAILED: expected exactly the 4 planted problems, got $found"
    exit 1
  fi
  echo "check-portability self-test: the 4 planted problems were caught, the portable file passed"
  exit 0
fi

dirs=("$@")
[[ ${#dirs[@]} -eq 0 ]] && dirs=("${LIBRARY_DIRS[@]}")
set +e
check "${dirs[@]}"
found=$?
set -e
if [[ $found -ne 0 ]]; then
  echo "check-portability: $found Linux-only use(s) in library code; guard them with '#if canImport(...)' and give Apple platforms a branch"
  exit 1
fi
echo "check-portability: library code has no Linux-only API (${#dirs[@]} folders)"
