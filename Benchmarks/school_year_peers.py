#!/usr/bin/env python3
"""Replays the school-year op trace of `concord-bench --suite school-year --trace FILE` in
Yrs (pycrdt, the Rust port of Yjs with the same garbage collection) and Loro, and prints
their document sizes at the trace's measurement points (Specs/snapshots.md §7).

    python3 Benchmarks/school_year_peers.py TRACE [--systems yrs,loro]

Model, per system: one document per device (its own client/peer id) and one for the
relay; a device's writes go to its document in one transaction; a sync pulls the relay
document's updates the device lacks, then pushes the device's updates the relay lacks
(the order of Concord's relay round). A collection is a root map, a record a map in it
(created by its first write on a device; the trace's shared records are all created by
the teacher before anyone else writes them), a set field a map from the value to true
(add inserts, remove deletes the key), a record delete deletes the record's map from the
collection. Removed devices' documents are dropped; joining devices start empty.

Sizes at each measurement, of the relay document (which holds every synced update):
  yrs:  len(doc.get_update()): the whole document as an update, Yjs's GC on (deleted
        content dropped, tombstone structs kept merged).
  loro: len(export(Snapshot)) (state plus full history) and
        len(export(ShallowSnapshot(oplog_frontiers))) (the state at the frontier, history
        trimmed: Loro's own compaction at the same point).

Prints one JSON object per (system, measurement) on stdout. Python 3.11 + pycrdt, loro.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


class YrsPeers:
    name = "yrs"

    def __init__(self):
        import pycrdt
        self.pycrdt = pycrdt
        self.hub = pycrdt.Doc(client_id=1_000_000)
        self.docs = {}

    def join(self, dev):
        self.docs[dev] = self.pycrdt.Doc(client_id=dev + 1)

    def remove(self, dev):
        self.docs.pop(dev, None)

    def write(self, dev, ops):
        Map = self.pycrdt.Map
        doc = self.docs[dev]
        with doc.transaction():
            for kind, coll, rec, field, value in ops:
                root = doc.get(coll, type=Map)
                key = str(rec)
                if kind == "d":
                    if key in root:
                        del root[key]
                    continue
                if key not in root:
                    root[key] = Map()
                record = root[key]
                if kind == "s":
                    record[field] = value
                else:
                    if field not in record:
                        record[field] = Map()
                    members = record[field]
                    member = str(value)
                    if kind == "a":
                        members[member] = True
                    elif member in members:
                        del members[member]

    def sync(self, dev):
        doc = self.docs[dev]
        doc.apply_update(self.hub.get_update(doc.get_state()))
        self.hub.apply_update(doc.get_update(self.hub.get_state()))

    def sizes(self):
        return {"doc_bytes": len(self.hub.get_update())}


class LoroPeers:
    name = "loro"

    def __init__(self):
        import loro
        self.loro = loro
        self.hub = loro.LoroDoc()
        self.hub.peer_id = 1_000_000
        self.docs = {}

    def join(self, dev):
        doc = self.loro.LoroDoc()
        doc.peer_id = dev + 1
        self.docs[dev] = doc

    def remove(self, dev):
        self.docs.pop(dev, None)

    def write(self, dev, ops):
        loro = self.loro
        doc = self.docs[dev]
        for kind, coll, rec, field, value in ops:
            root = doc.get_map(coll)
            key = str(rec)
            if kind == "d":
                if root.get(key) is not None:
                    root.delete(key)
                continue
            record = root.get_or_create_container(key, loro.LoroMap())
            if kind == "s":
                record.insert(field, value)
            else:
                members = record.get_or_create_container(field, loro.LoroMap())
                member = str(value)
                if kind == "a":
                    members.insert(member, True)
                elif members.get(member) is not None:
                    members.delete(member)
        doc.commit()

    def sync(self, dev):
        loro = self.loro
        doc = self.docs[dev]
        doc.import_(self.hub.export(loro.ExportMode.Updates(doc.oplog_vv)))
        self.hub.import_(doc.export(loro.ExportMode.Updates(self.hub.oplog_vv)))

    def sizes(self):
        loro = self.loro
        return {
            "doc_bytes": len(self.hub.export(loro.ExportMode.Snapshot())),
            "shallow_bytes": len(self.hub.export(loro.ExportMode.ShallowSnapshot(self.hub.oplog_frontiers))),
        }


SYSTEMS = {"yrs": YrsPeers, "loro": LoroPeers}


def events(trace: str, follow: float):
    """The trace's events; with follow > 0, waits for the file to grow (a run still
    writing it) until it has not grown for `follow` seconds."""
    with open(trace, encoding="utf-8") as f:
        pending, idle = "", 0.0
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith("\n"):
                    yield json.loads(pending)
                    pending, idle = "", 0.0
                continue
            if follow <= 0 or idle >= follow:
                return
            time.sleep(1)
            idle += 1


def replay(system: str, trace: str, out=sys.stdout, follow: float = 0) -> list[dict]:
    peers = SYSTEMS[system]()
    started = time.perf_counter()
    ops = 0
    points = []
    for event in events(trace, follow):
        t = event["t"]
        if t == "w" and event["dev"] in peers.docs:
            peers.write(event["dev"], event["ops"])
            ops += len(event["ops"])
        elif t == "sync" and event["dev"] in peers.docs:
            peers.sync(event["dev"])
        elif t == "join":
            peers.join(event["dev"])
        elif t == "remove":
            peers.remove(event["dev"])
        elif t == "measure":
            point = {"suite": "school-year", "system": system, "day": event["day"], "ops": ops, **peers.sizes(),
                     "seconds": round(time.perf_counter() - started, 1)}
            points.append(point)
            print(json.dumps(point), file=out, flush=True)
    return points


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Replay a school-year trace in Yrs and Loro.")
    p.add_argument("trace")
    p.add_argument("--systems", default="yrs,loro")
    p.add_argument("--follow", type=float, default=0,
                   help="replay a trace still being written: wait for more until it has not grown for this many seconds")
    args = p.parse_args(argv)
    for system in args.systems.split(","):
        replay(system.strip(), args.trace, follow=args.follow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
