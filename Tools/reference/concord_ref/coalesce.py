"""Coalescing before sealing (Specs/wire-format.md section 7.6), per record (collection
name and record id compared byte for byte), survivors kept in their original order."""
from . import crdt, dev


def coalesce(ops):
    # 1. exact duplicates are dropped (the first occurrence stays)
    unique, seen = [], set()
    for op in ops:
        if op in seen and not dev.on("coalesce-keeps-duplicates"):
            continue
        seen.add(op)
        unique.append(op)
    record = [(op.collection, op.record) for op in unique]

    # 2. the LWW winner per register; 3. the greatest delete per record
    winners, deletes = {}, {}
    for i, op in enumerate(unique):
        if op.kind == "delete":
            j = deletes.get(record[i])
            if j is None or op.stamp > unique[j].stamp:
                deletes[record[i]] = i
        elif op.kind == "set":
            key = (record[i], op.field)
            j = winners.get(key)
            if dev.on("coalesce-last-set-wins"):
                winners[key] = i
            elif j is None or crdt.lww_beats(op.stamp, op.value, (unique[j].stamp, unique[j].value)):
                winners[key] = i
    kept_sets = set(winners.values())

    # 3. per deleted record, the newest surviving set/add (the first of equal stamps)
    newest = {}
    for i, op in enumerate(unique):
        if record[i] not in deletes or op.kind not in ("set", "add"):
            continue
        if op.kind == "set" and i not in kept_sets:
            continue
        j = newest.get(record[i])
        if j is None or op.stamp > unique[j].stamp or (dev.on("coalesce-carrier-last-of-equal-stamps") and op.stamp == unique[j].stamp):
            newest[record[i]] = i

    out = []
    for i, op in enumerate(unique):
        if op.kind == "set" and i not in kept_sets:
            continue
        d = deletes.get(record[i])
        if d is None:
            out.append(op)
            continue
        if op.kind == "delete":
            if i == d or dev.on("coalesce-keeps-every-delete"):
                out.append(op)
            continue
        deleted_at = unique[d].stamp
        if op.stamp > deleted_at or (dev.on("coalesce-keeps-ops-at-delete") and op.stamp == deleted_at):
            out.append(op)
        elif newest.get(record[i]) == i and not dev.on("coalesce-drops-last-write-carrier"):
            out.append(op)
    return out
