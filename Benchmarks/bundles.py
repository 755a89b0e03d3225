"""The change-bundle section of `make bench` (imported by run.py).

Runs `concord-bench --suite bundles` (seal / verify / open / import per bundle size, and
bytes per operation when sealing every N writes of the map workload) and, in the same
run, `peers/yrs_update_size.py` (the incremental update sizes Yrs produces for the same
writes), then prints two tables and, with --json, one JSON object per metric.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_BYTES_EVERY = 1000  # bytes/op at 1,000 writes per bundle at or below Yrs
GOAL_VERIFY_SHARE = 0.10  # verification under 10% of import time


def _run(cmd: list[str], timeout: float) -> list[dict]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def run_bundles(concord_bin: str, writes: int, keys: int, seed: int, timeout: float) -> tuple[str, list[str], bool]:
    """Returns (report text, JSON lines, goals met)."""
    concord = _run([concord_bin, "--suite", "bundles", "--writes", str(writes), "--keys", str(keys), "--seed", str(seed)], timeout)
    every = ",".join(str(n) for n in (1, 100, 1000, 100000) if n <= writes)
    yrs = _run([sys.executable, str(HERE / "peers" / "yrs_update_size.py"), "--writes", str(writes), "--keys", str(keys),
                "--seed", str(seed), "--every", every], timeout)

    costs = {(o["ops"], o["encrypted"], o["metric"]): o["value"] for o in concord if "ops" in o}
    rows = []
    for encrypted in (False, True):
        for ops in (1, 100, 10000):
            c = lambda m: costs[(ops, encrypted, m)]
            rows.append([f"{ops:,}", "yes" if encrypted else "no", f"{c('seal_us'):,.1f}", f"{c('verify_us'):,.1f}",
                         f"{c('open_us'):,.1f}", f"{c('import_us'):,.1f}", f"{c('verify_share') * 100:.1f}%",
                         f"{int(c('bundle_bytes')):,}"])
    text = ["== change bundles: cost per bundle (median; import = steady state, chain and certificates known) ==",
            _table(["ops/bundle", "encrypted", "seal us", "verify us", "open us", "import us", "verify/import", "bytes"], rows)]

    sizes = {(o["every"], o["encrypted"]): o for o in concord if o.get("metric") == "bytes_per_op"}
    yrs_by = {o["every"]: o for o in yrs}
    rows = []
    for n in sorted(yrs_by):
        enc, plain, y = sizes[(n, True)], sizes[(n, False)], yrs_by[n]
        rows.append([f"{n:,}", f"{enc['value']:.2f}", f"{plain['value']:.2f}", f"{y['bytes_per_op']:.2f}",
                     f"{y['bytes_per_op'] / enc['value']:.2f}x"])
    text += ["", f"== bytes per operation, map workload ({writes:,} writes over {keys:,} keys), sealing every N writes ==",
             _table(["writes/bundle", "concord (encrypted)", "concord (plain)", "yrs", "yrs/concord"], rows),
             "concord bundles carry header, certificate, signature (and nonce + tag when encrypted); coalescing keeps the last write per field"]

    goals = []
    met = True
    if GOAL_BYTES_EVERY in yrs_by:
        ours, theirs = sizes[(GOAL_BYTES_EVERY, True)]["value"], yrs_by[GOAL_BYTES_EVERY]["bytes_per_op"]
        ok = ours <= theirs
        met &= ok
        goals.append(f"  bytes/op at {GOAL_BYTES_EVERY:,} writes per bundle: concord {ours:.2f} vs yrs {theirs:.2f} -> {'PASS' if ok else 'MISS'}")
    for ops in (1, 100, 10000):
        share = costs[(ops, True, "verify_share")]
        ok = share < GOAL_VERIFY_SHARE
        met &= ok if ops == 10000 else True
        goals.append(f"  verification {share * 100:.1f}% of import at {ops:,} ops/bundle -> {'PASS' if ok else 'MISS'}"
                     + ("" if ops == 10000 else " (one Ed25519 verification per bundle is the floor)"))
    text += ["", "Goals: bytes/op at 1,000 writes per bundle <= Yrs; verification < 10% of import time", *goals]

    lines = []
    for (ops, encrypted, metric), value in sorted(costs.items()):
        lines.append(json.dumps({"workload": f"bundles/{ops}ops/{'encrypted' if encrypted else 'plain'}", "system": "concord",
                                 "metric": metric, "value": value, "unit": "fraction" if metric == "verify_share" else ("bytes" if metric == "bundle_bytes" else "us")}))
    for (n, encrypted), o in sorted(sizes.items()):
        lines.append(json.dumps({"workload": f"bundle-size/every-{n}", "system": "concord" + ("" if encrypted else "-plain"),
                                 "metric": "bytes_per_op", "value": o["value"], "unit": "bytes/op"}))
    for n, y in sorted(yrs_by.items()):
        lines.append(json.dumps({"workload": f"bundle-size/every-{n}", "system": "yrs", "metric": "bytes_per_op",
                                 "value": y["bytes_per_op"], "unit": "bytes/op"}))
    return "\n".join(text), lines, met
