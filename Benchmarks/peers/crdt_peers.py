#!/usr/bin/env python3
"""Run ONE benchmark workload on ONE peer CRDT system and print ONE JSON object.

Peers: Yrs (through pycrdt) and Loro (through loro). Benchmarks/run.py calls this
script once per run, each in a fresh process, so peak_rss_mb is per run.

    python3 Benchmarks/peers/crdt_peers.py --system {yrs,loro} --workload {map,set} \
        --writes 100000 --keys 10000 --seed 42 [--batch 1000]

The workloads mirror Benchmarks/ConcordBench (the Concord side):

* Two replicas A and B (distinct client / peer ids 1 and 2). Replica r in {0, 1}
  draws its writes from random.Random(seed * 2 + r), independently of the other.
* map: one map "m". Write number w (0-based, per replica) sets key "k{i}",
  i uniform in [0, keys), to the int w. Draw order per write: i = randrange(keys).
* set: elements "e{i}". Per write: add if random() < 0.7 else remove, then
  i = randrange(keys). Neither Yrs nor Loro has an add-wins OR-set, so the
  stand-in is a map element -> True: add = insert the key; remove = delete the key
  if present, else nothing (it still counts as one write attempt).
* Local writes are applied in batches of --batch writes per transaction
  (pycrdt: `with doc.transaction():`; Loro: doc.commit() after each batch).
  The random draws are made before the clock starts, so local_writes_per_s
  measures the CRDT only: writes / seconds for replica A's writes.
* Exchange: each replica exports everything it wrote as one update (pycrdt:
  doc.get_update(); Loro: doc.export(ExportMode.Updates(VersionVector())), no
  snapshot); then A's update is imported into B and B's into A.
  update_bytes = size of A's update; import_ms = median of the two separately
  timed imports (each applies the other replica's `writes` changes);
  merge_ms = both exports + both imports.
* converged: both replicas' map contents are equal afterwards.
* peak_rss_mb: getrusage(RUSAGE_SELF).ru_maxrss at the end, in MiB.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import resource
import statistics
import sys
import time

ADD_PROBABILITY = 0.7


# --------------------------------------------------------------------------- workload

def make_ops(workload: str, writes: int, keys: int, seed: int, replica: int):
    """Pre-draw one replica's writes: (names, adds) where adds is None for `map`."""
    rng = random.Random(seed * 2 + replica)
    prefix = "k" if workload == "map" else "e"
    pool = [f"{prefix}{i}" for i in range(keys)]  # shared str objects, no per-write alloc
    if workload == "map":
        return [pool[rng.randrange(keys)] for _ in range(writes)], None
    names, adds = [], []
    for _ in range(writes):
        adds.append(rng.random() < ADD_PROBABILITY)
        names.append(pool[rng.randrange(keys)])
    return names, adds


def batches(writes: int, batch: int):
    for start in range(0, writes, batch):
        yield start, min(start + batch, writes)


# --------------------------------------------------------------------------- Yrs (pycrdt)

class YrsReplica:
    system = "yrs"
    package = "pycrdt"

    def __init__(self, client_id: int):
        import pycrdt

        self.doc = pycrdt.Doc(client_id=client_id)
        self.map = self.doc.get("m", type=pycrdt.Map)

    def apply_map(self, names, batch):
        doc, m = self.doc, self.map
        for lo, hi in batches(len(names), batch):
            with doc.transaction():
                for w in range(lo, hi):
                    m[names[w]] = w

    def apply_set(self, names, adds, batch):
        doc, m = self.doc, self.map
        for lo, hi in batches(len(names), batch):
            with doc.transaction():
                for w in range(lo, hi):
                    name = names[w]
                    if adds[w]:
                        m[name] = True
                    elif name in m:  # pycrdt raises KeyError on deleting an absent key
                        del m[name]

    def export(self) -> bytes:
        return self.doc.get_update()  # whole history as one v1 update

    def import_(self, update: bytes) -> None:
        self.doc.apply_update(update)

    def contents(self) -> dict:
        return self.map.to_py()


# --------------------------------------------------------------------------- Loro

class LoroReplica:
    system = "loro"
    package = "loro"

    def __init__(self, peer_id: int):
        import loro

        self._loro = loro
        self.doc = loro.LoroDoc()
        self.doc.peer_id = peer_id  # a settable property in loro-py 1.x (no set_peer_id)
        self.map = self.doc.get_map("m")

    def apply_map(self, names, batch):
        doc, m = self.doc, self.map
        insert = m.insert
        for lo, hi in batches(len(names), batch):
            for w in range(lo, hi):
                insert(names[w], w)
            doc.commit()

    def apply_set(self, names, adds, batch):
        doc, m = self.doc, self.map
        insert, delete = m.insert, m.delete
        for lo, hi in batches(len(names), batch):
            for w in range(lo, hi):
                name = names[w]
                if adds[w]:
                    # Loro records no op when the key already holds an equal value.
                    insert(name, True)
                elif name in m:  # Loro would record a delete op even for an absent key
                    delete(name)
            doc.commit()

    def export(self) -> bytes:
        loro = self._loro
        # Updates from the empty version = every change this doc knows, no snapshot state.
        return self.doc.export(loro.ExportMode.Updates(loro.VersionVector()))

    def import_(self, update: bytes) -> None:
        self.doc.import_(update)

    def contents(self) -> dict:
        return self.map.get_value()


SYSTEMS = {"yrs": YrsReplica, "loro": LoroReplica}

NOTES = {
    ("yrs", "map"): "pycrdt Map 'm'; ints are stored as Yrs numbers (f64)",
    ("loro", "map"): "LoroMap 'm'",
    ("yrs", "set"): "no add-wins OR-set in Yrs: stand-in is a pycrdt Map element->True "
                    "(add = insert, remove = delete if present); concurrent add/remove "
                    "resolves last-writer-wins, not add-wins",
    ("loro", "set"): "no add-wins OR-set in Loro: stand-in is a LoroMap element->True "
                     "(add = insert, remove = delete if present); concurrent add/remove "
                     "resolves last-writer-wins, not add-wins; re-adding a present "
                     "element records no op in Loro",
}


# --------------------------------------------------------------------------- main

def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def run(system: str, workload: str, writes: int, keys: int, seed: int, batch: int) -> dict:
    cls = SYSTEMS[system]
    ops_a = make_ops(workload, writes, keys, seed, 0)
    ops_b = make_ops(workload, writes, keys, seed, 1)
    a, b = cls(1), cls(2)

    def apply(replica, ops):
        names, adds = ops
        if workload == "map":
            replica.apply_map(names, batch)
        else:
            replica.apply_set(names, adds, batch)

    t0 = time.perf_counter()
    apply(a, ops_a)
    local_s = time.perf_counter() - t0
    apply(b, ops_b)
    del ops_a, ops_b

    t0 = time.perf_counter()
    update_a = a.export()
    t1 = time.perf_counter()
    update_b = b.export()
    t2 = time.perf_counter()
    b.import_(update_a)
    t3 = time.perf_counter()
    a.import_(update_b)
    t4 = time.perf_counter()

    imports = [(t3 - t2) * 1000, (t4 - t3) * 1000]
    converged = a.contents() == b.contents()

    return {
        "system": system,
        "version": importlib.metadata.version(cls.package),
        "workload": workload,
        "writes": writes,
        "keys": keys,
        "local_writes_per_s": writes / local_s if local_s > 0 else float("inf"),
        "import_ms": statistics.median(imports),
        "merge_ms": (t4 - t0) * 1000,
        "update_bytes": len(update_a),
        "converged": converged,
        "peak_rss_mb": peak_rss_mb(),
        "note": f"{NOTES[(system, workload)]}; {batch} writes per transaction/commit; "
                f"driven through the {cls.package} Python bindings, so local writes/s "
                f"includes per-call Python->Rust overhead",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    p.add_argument("--workload", required=True, choices=["map", "set"])
    p.add_argument("--writes", type=int, default=100_000)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch", type=int, default=1000, help="writes per transaction / commit")
    args = p.parse_args(argv)
    if args.writes < 1 or args.keys < 1 or args.batch < 1:
        p.error("--writes, --keys and --batch must be >= 1")
    result = run(args.system, args.workload, args.writes, args.keys, args.seed, args.batch)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
