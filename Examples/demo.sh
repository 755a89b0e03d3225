#!/usr/bin/env bash
# Two devices, no network: a school laptop (A) and a district-office laptop (B) keep the
# same to-do list, edit it offline, and sync by carrying .concord files (a USB stick).
#
#   Examples/demo.sh                      # builds `concord` with swift build if needed
#   CONCORD=/path/to/concord Examples/demo.sh
#
# Everything happens in a temporary directory (embedded SQLite stores), removed at the end.
set -euo pipefail

if [ -z "${CONCORD:-}" ]; then
  swift build --product ConcordCLI >/dev/null
  CONCORD="$(swift build --show-bin-path)/ConcordCLI"
fi
if [ ! -x "$CONCORD" ]; then
  echo "demo: no concord binary at $CONCORD; build it with: make cli (or swift build --product ConcordCLI)" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/concord-demo.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
A="$WORK/school"      # device A's replica
B="$WORK/office"      # device B's replica
USB="$WORK/usb"       # the USB stick carried between them
mkdir -p "$USB"
a() { "$CONCORD" --store "$A" "$@"; }
b() { "$CONCORD" --store "$B" "$@"; }
step() { printf '\n==> %s\n' "$*"; }
show() { printf '    $ %s\n' "$*"; }

step "1. Device A creates a space (a new identity, an encrypted space, A its first admin)"
show "concord init --name \"School laptop\""
echo "    space id: $(a init --name "School laptop")"

step "2. A writes a to-do, offline, and exports it to the USB stick"
TODO="$(a new-id)"
show "concord put todos $TODO title='\"Buy milk\"' done=false"
a put todos "$TODO" title='"Buy milk"' done=false
show "concord add todos $TODO tags '\"errand\"'"
a add todos "$TODO" tags '"errand"'
show "concord export usb/a1.concord"
a export "$USB/a1.concord" | sed 's/^/    /'

step "3. A invites B as a writer for 7 days; B joins with the token (one text line) and imports A's file"
show "concord invite --role writer --expires 7d"
TOKEN="$(a invite --role writer --expires 7d)"
echo "    ${TOKEN:0:40}... (it grants one role to one device, and expires)"
show "concord join TOKEN --name \"Office tablet\""
echo "    B joined space $(b join "$TOKEN" --name "Office tablet")"
show "A: concord export usb/a1.concord   (again: the file now carries A's signed invite, which admits B)"
a export "$USB/a1.concord" | sed 's/^/    /'
show "concord import usb/a1.concord"
b import "$USB/a1.concord" | sed 's/^/    /'
b get todos "$TODO" | sed 's/^/    B sees: /'

step "4. Both edit offline, concurrently: the same field (title) and the same set (tags)"
show "A: concord put todos ... title='\"Buy oat milk\"'; concord add ... tags '\"school\"'; concord remove ... tags '\"errand\"'"
a put todos "$TODO" title='"Buy oat milk"'
a add todos "$TODO" tags '"school"'
a remove todos "$TODO" tags '"errand"'
sleep 0.01
show "B: concord put todos ... title='\"Buy milk and bread\"' done=true; concord add ... tags '\"errand\"'; a second to-do"
b put todos "$TODO" title='"Buy milk and bread"' done=true
b add todos "$TODO" tags '"errand"'
SECOND="$(b new-id)"
b put todos "$SECOND" title='"Call the district office"' done=false
echo "    A now has:"; a get todos "$TODO" | sed 's/^/      /'
echo "    B now has:"; b get todos "$TODO" | sed 's/^/      /'

step "5. They exchange files both ways over the USB stick"
show "A: concord export usb/a2.concord      B: concord export usb/b1.concord"
a export "$USB/a2.concord" | sed 's/^/    A: /'
b export "$USB/b1.concord" | sed 's/^/    B: /'
show "A: concord import usb/b1.concord"
a import "$USB/b1.concord" | sed 's/^/    A: /'
show "A: concord import usb/b1.concord   (the same file again: only duplicates, nothing changes)"
a import "$USB/b1.concord" | sed 's/^/    A: /'
show "B: concord import usb/a2.concord"
b import "$USB/a2.concord" | sed 's/^/    B: /'

step "6. Both print the same state"
show "concord list todos --json"
a list todos --json > "$WORK/a.json"
b list todos --json > "$WORK/b.json"
sed 's/^/    /' "$WORK/a.json"
if diff -u "$WORK/a.json" "$WORK/b.json"; then
  echo "    A and B are identical: the later title won, and the set kept every concurrent add"
  echo "    (B's add of \"errand\" wins over A's concurrent remove: add-wins)"
else
  echo "demo: the replicas differ" >&2
  exit 1
fi

step "7. The overwritten concurrent value is not lost: concord conflicts shows it"
show "concord conflicts todos $TODO"
a conflicts todos "$TODO" | sed 's/^/    /'

step "8. A tampered copy of a file is rejected, and nothing changes"
cp "$USB/b1.concord" "$USB/tampered.concord"
python3 - "$USB/tampered.concord" <<'PY' 2>/dev/null || printf '\x5a' | dd of="$USB/tampered.concord" bs=1 seek=120 conv=notrunc 2>/dev/null
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[120] ^= 0x01          # flip one bit inside a bundle
open(path, "wb").write(bytes(data))
PY
echo "    flipped one bit of a copy of B's file: usb/tampered.concord"
before_vector="$(a vector)"; before_list="$(a list todos --json)"
show "A: concord import usb/tampered.concord"
status=0
a import "$USB/tampered.concord" 2>"$WORK/err.txt" | sed 's/^/    /' || status=$?
sed 's/^/    stderr: /' "$WORK/err.txt"
if [ "$(a vector)" = "$before_vector" ] && [ "$(a list todos --json)" = "$before_list" ] && grep -q "checksum" "$WORK/err.txt"; then
  echo "    rejected (exit status $status), and A's version vector and records are unchanged"
else
  echo "demo: the tampered file was not rejected cleanly" >&2
  exit 1
fi

step "9. A tablet C joins, then is lost: A removes it; what C writes afterwards is refused everywhere"
C="$WORK/lost"
c() { "$CONCORD" --store "$C" "$@"; }
c join "$(a invite --role writer)" --name "Lost tablet" >/dev/null
a export "$USB/a3.concord" >/dev/null
c import "$USB/a3.concord" >/dev/null
c export "$USB/c1.concord" >/dev/null
a import "$USB/c1.concord" >/dev/null
show "concord members"
a members | sed 's/^/    /'
c put todos "$(c new-id)" title='"written after the tablet was lost"'
c export "$USB/c2.concord" >/dev/null
show "A: concord remove-member \"Lost tablet\""
a remove-member "Lost tablet" | sed 's/^/    /'
show "A: concord import usb/c2.concord   (the lost tablet's later file)"
a import "$USB/c2.concord" 2>/dev/null | sed 's/^/    /' || true
if [ "$(a list todos --json)" = "$(b list todos --json)" ]; then
  echo "    refused: A's to-dos are unchanged"
else
  echo "demo: the removed tablet's write was applied" >&2
  exit 1
fi
a export "$USB/a4.concord" >/dev/null
c import "$USB/a4.concord" >/dev/null
show "C: concord put todos ...   (the tablet, found again)"
status=0
c put todos "$(c new-id)" title='"x"' 2>"$WORK/err.txt" || status=$?
sed 's/^/    stderr: /' "$WORK/err.txt"
if [ "$status" -eq 4 ]; then
  echo "    not allowed (exit status 4): removed devices cannot write, nor read what is written after"
else
  echo "demo: the removed tablet could still write (exit $status)" >&2
  exit 1
fi

step "Done. Try it yourself: concord --help, and concord <command> --help for examples."
