"""Writing, or checking, a vector file that a generator under Tools/reference renders."""

from __future__ import annotations

import pathlib


def write_or_check(out: pathlib.Path, root: pathlib.Path, text: str, cases: list[dict], check: bool) -> int:
    """With `check`, exits 0 when `out` holds exactly `text` (else 1); otherwise writes it and
    prints how many cases of each group it holds. Returns the exit status."""
    if check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print(f"{out.relative_to(root)}: {'up to date' if same else 'differs from the generator'}")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    groups: dict[str, int] = {}
    for c in cases:
        groups[c["group"]] = groups.get(c["group"], 0) + 1
    print(f"wrote {out.relative_to(root)}: {len(cases)} cases " + ", ".join(f"{g} {n}" for g, n in groups.items()))
    return 0
