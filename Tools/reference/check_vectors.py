#!/usr/bin/env python3
"""Runs the independent reference (Tools/reference/concord_ref) against every file in
Specs/vectors and prints one line per disagreement.

    python3 Tools/reference/check_vectors.py

Exits 1 on any disagreement, 2 without PyNaCl (python3 -m pip install pynacl)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from concord_ref import crypto, vectors  # noqa: E402


def main():
    if crypto.SigningKey is None:
        print("PyNaCl is not installed. Install it with:\n    python3 -m pip install pynacl", file=sys.stderr)
        return 2
    if not vectors.content_key_known_answer():
        print("content key derivation disagrees with Specs/wire-format.md section 7.8", file=sys.stderr)
        return 1
    failures, checked = vectors.run()
    for file, name, message, *_ in failures:
        print(f"FAIL {file} {name}: {message}", file=sys.stderr)
    cases = vectors.load("membership.jsonl")
    kinds = {kind: sum(case["type"] == kind for case in cases) for kind in ("decode", "token", "history", "policy_body", "peer_secret")}
    histories = len(cases) - sum(kinds.values())
    print(f"reference implementation: {checked - len(failures)} of {checked} vectors agree "
          f"(membership: {kinds['decode']} decode cases, {histories} histories, {kinds['token']} invite tokens, "
          f"{kinds['history']} history blobs, {kinds['policy_body']} sealed policy bodies; format-3 bundles: {len(vectors.load('member_bundles.jsonl'))} cases)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
