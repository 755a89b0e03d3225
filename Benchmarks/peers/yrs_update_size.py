#!/usr/bin/env python3
"""Incremental update sizes of Yrs (pycrdt) on the map workload, for bundle-size comparisons.

    python3 Benchmarks/peers/yrs_update_size.py [--writes 100000] [--keys 10000] [--seed 42]
                                                [--every 1,100,1000,100000]

One replica applies the map workload of crdt_peers.py (same random draws: key `k{i}`,
value = write number) and, after every N writes, encodes what changed since the previous
encoding (`doc.get_update(previous_state_vector)`), as a device sealing a bundle every N
writes would. Prints one JSON object per N:

    {"system": "yrs", "version": ..., "workload": "map", "every": N, "writes": W,
     "updates": U, "bytes_total": B, "bytes_per_op": B / W}
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crdt_peers import make_ops  # noqa: E402  (same draws as the main peer benchmark)


def measure(every: int, names: list[str]) -> dict:
    import pycrdt

    doc = pycrdt.Doc(client_id=1)
    m = doc.get("m", type=pycrdt.Map)
    total = updates = 0
    state = doc.get_state()
    for start in range(0, len(names), every):
        with doc.transaction():
            for w in range(start, min(start + every, len(names))):
                m[names[w]] = w
        update = doc.get_update(state)
        state = doc.get_state()
        total += len(update)
        updates += 1
    return {"system": "yrs", "version": importlib.metadata.version("pycrdt"), "workload": "map",
            "every": every, "writes": len(names), "updates": updates, "bytes_total": total,
            "bytes_per_op": total / len(names)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--writes", type=int, default=100_000)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--every", default="1,100,1000,100000")
    args = p.parse_args(argv)
    names, _ = make_ops("map", args.writes, args.keys, args.seed, 0)
    for every in [int(x) for x in args.every.split(",")]:
        print(json.dumps(measure(every, names)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
