#!/usr/bin/env bash
# The "an app can depend on Concord" check (issue 17): builds Examples/AppPackage, a
# separate package that depends on the Concord and ConcordSync products by path, from a
# fresh resolution; fails if its Package.resolved pins any server package; runs its tests
# and its demo. Prints the CPU time of the app's clean build (README, "Install").
#
#   Tools/check-app-package.sh
set -euo pipefail
cd "$(dirname "$0")/../Examples/AppPackage"
export PATH="$PATH:/opt/swift/usr/bin"
# Packages only the relay server and the tool need (swift-service-lifecycle is not here: the
# HTTP client's swift-nio-extras and swift-configuration bring it).
SERVER_PACKAGES='^(hummingbird|hummingbird-websocket|hummingbird-auth|postgres-nio|postgres-kit|swift-prometheus|swift-metrics|swift-argument-parser|swift-docc-plugin|swift-docc-symbolkit|compress-nio|swift-websocket)$'

rm -f Package.resolved
swift package resolve >/dev/null
pins=$(python3 -c 'import json; print("\n".join(p["identity"] for p in json.load(open("Package.resolved"))["pins"]))')
echo "app package resolves: $(tr '\n' ' ' <<<"$pins")"
if grep -Eq "$SERVER_PACKAGES" <<<"$pins"; then
  echo "check-app-package: the app resolves server or tool packages: $(grep -E "$SERVER_PACKAGES" <<<"$pins" | tr '\n' ' ')"
  exit 1
fi
fresh=$([[ -d .build/debug ]] && echo "incremental" || echo "clean")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
TIMEFORMAT="app package $fresh build: %R s wall, %U s user + %S s system CPU"
if ! { time swift build --build-tests > "$log" 2>&1; }; then
  cat "$log"
  echo "check-app-package: the app package does not build"
  exit 1
fi
grep -E "error|warning: " "$log" | grep -v "unhandled" || true
swift test --skip-build
swift run --skip-build NotesAppDemo
echo "check-app-package: the app builds on Concord + ConcordSync without server packages, its tests and demo pass"
