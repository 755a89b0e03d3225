#!/usr/bin/env python3
"""Writes Specs/vectors/pruning.jsonl (Specs/crdt-semantics.md sections 11.2-11.3, the pruned
form; Specs/snapshots.md section 9 stage 1) from the independent Python reference
(Tools/reference/concord_ref/crdt.py). Fixed inputs and fixed seeds: running it twice gives
the same file. Tools/reference/check_vectors.py (and so the mutation harness) checks the
file against the reference; ConformanceTests/PruningVectorTests against ConcordCore.

    python3 Tools/reference/gen_pruning_vectors.py            # writes the file
    python3 Tools/reference/gen_pruning_vectors.py --check    # exits 1 if the file differs

Every case has `group`, `name`, `expected` ("valid"), `ops` (each op as in
operations.jsonl, plus `bundle`: the sequence of the bundle carrying it in its author's
chain) and `frontier` (`[{replica, hlc}]`, by replica bytes: per author the newest
delivered clock reading; an author not named has nothing delivered). Apply `ops` in order
(each with its bundle) to an empty state:

- group "prune": `record_states` and `canonical_state_hex` are the state before pruning;
  `pruned_record_states` the records of its pruned form at `frontier` (canonical state
  unchanged); then `later_ops` (each author's ops after the frontier) applied to the pruned
  form give `later_record_states` and `later_canonical_state_hex`, the same canonical state
  as applying them without pruning.
- group "merge": `ops` pruned at `frontier` and `other_ops` pruned at `other_frontier`,
  merged by the rule of section 11.3 (either way round: same records), give
  `merged_record_states` and `canonical_state_hex` (the canonical state of all the ops).

Record states are the storage encoding (Specs/storage-schema.md section 5; version 2 when
the record's delete bundle is known), `[{collection, record, state_hex}]` by collection
bytes then id.
"""
import json
import pathlib
import random
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from concord_ref import batch, crdt  # noqa: E402
from concord_ref.generated import write_or_check  # noqa: E402

ROOT = HERE.parent.parent
OUT = ROOT / "Specs" / "vectors" / "pruning.jsonl"

A, B, C = bytes([0xAA]) * 32, bytes([0xBB]) * 32, bytes([0xCC]) * 32
BASE = 1_700_000_000_000 << 16
RECORDS = ["E621E1F8-C36C-495A-93FC-0C247A3E6E5F", "0F8FAD5B-D9CB-469F-A165-70867728950E",
           "7C9E6679-7425-40DE-944B-E07FC1F90AE7"]


def t(n):
    """The n-th clock reading (milliseconds apart)."""
    return BASE + (n << 16)


def string(s):
    data = s.encode("utf-8")
    return {"type": "string", "string": s, "utf8_hex": data.hex()}


class Op:
    """An op as JSON (the form of operations.jsonl) with its bundle sequence."""

    def __init__(self, kind, replica, hlc, bundle, record=0, field=None, value=None, observed=(), collection="todos"):
        self.json = {"kind": kind, "replica": replica.hex(), "hlc": str(hlc), "collection": collection,
                     "record": RECORDS[record]}
        if field is not None:
            self.json["field"] = field
            self.json["value"] = string(value) if isinstance(value, str) else value
        if kind == "remove":
            self.json["observed"] = [{"replica": r.hex(), "hlc": str(h)} for h, r in observed]
        self.json["bundle"] = bundle

    @property
    def stamp(self):
        return (int(self.json["hlc"]), bytes.fromhex(self.json["replica"]))


def frontier_json(frontier):
    return [{"replica": r.hex(), "hlc": str(h)} for r, h in sorted(frontier.items())]


def frontier_from_json(j):
    return {bytes.fromhex(e["replica"]): int(e["hlc"]) for e in j}


def state_of(ops_json):
    """The state after ops (JSON, with bundles), in order."""
    state = crdt.State()
    for j in ops_json:
        state.apply(batch.op_from_json(j), j.get("bundle"))
    return state


def uuid_text(record_id):
    """A record id as operations.jsonl writes it: an uppercase UUID."""
    h = record_id.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def record_states(state):
    return [{"collection": c.decode("utf-8"), "record": uuid_text(r), "state_hex": s.hex()} for c, r, s in state.record_states()]


cases = []


def prune_case(name, ops, frontier, later=()):
    ops_json = [o.json for o in ops]
    later_json = [o.json for o in later]
    before = state_of(ops_json)
    pruned = state_of(ops_json).prune(frontier)
    assert pruned.canonical_encoding() == before.canonical_encoding(), name
    after = state_of(ops_json).prune(frontier)
    for j in later_json:
        after.apply(batch.op_from_json(j), j.get("bundle"))
    assert after.canonical_encoding() == state_of(ops_json + later_json).canonical_encoding(), name
    cases.append({
        "group": "prune", "name": name, "expected": "valid", "ops": ops_json, "frontier": frontier_json(frontier),
        "record_states": record_states(before), "canonical_state_hex": before.canonical_encoding().hex(),
        "pruned_record_states": record_states(pruned),
        "later_ops": later_json, "later_record_states": record_states(after),
        "later_canonical_state_hex": after.canonical_encoding().hex(),
    })


def merge_case(name, ops, frontier, other_ops, other_frontier, everything):
    a_json, b_json = [o.json for o in ops], [o.json for o in other_ops]
    a, b = state_of(a_json).prune(frontier), state_of(b_json).prune(other_frontier)
    merged = a.merge_pruned(b, frontier, other_frontier)
    other_way = state_of(b_json).prune(other_frontier).merge_pruned(state_of(a_json).prune(frontier), other_frontier, frontier)
    assert record_states(merged) == record_states(other_way), name
    full = state_of([o.json for o in everything])
    assert merged.canonical_encoding() == full.canonical_encoding(), name
    cases.append({
        "group": "merge", "name": name, "expected": "valid", "ops": a_json, "frontier": frontier_json(frontier),
        "other_ops": b_json, "other_frontier": frontier_json(other_frontier),
        "merged_record_states": record_states(merged), "canonical_state_hex": merged.canonical_encoding().hex(),
    })


# ---------------------------------------------------------------- hand-made cases
def handmade():
    add_b = Op("add", B, t(2), 1, field="tags", value="x")
    rm_a = Op("remove", A, t(3), 1, field="tags", value="x", observed=[add_b.stamp])
    title = Op("set", A, t(1), 1, field="title", value="Buy milk")
    # The remove arrived before the add: the tombstone stays until B's chain passes t(2).
    prune_case("tombstone_of_undelivered_add_stays", [title, rm_a], {A: t(3), B: t(1)}, later=[add_b])
    prune_case("tombstone_of_unknown_author_stays", [title, rm_a], {A: t(3)}, later=[add_b])
    # Delivered exactly at the frontier: dropped (delivered means hlc <= F).
    prune_case("tombstone_at_frontier_is_dropped", [title, add_b, rm_a], {A: t(3), B: t(2)})
    prune_case("tombstone_below_frontier_is_dropped", [title, add_b, rm_a], {A: t(3), B: t(9)})
    # Another author's head far ahead does not deliver B's tag.
    add_b_late = Op("add", B, t(7), 2, field="tags", value="y")
    rm_late = Op("remove", A, t(8), 2, field="tags", value="y", observed=[add_b_late.stamp])
    prune_case("frontier_is_per_author", [title, add_b, rm_a, rm_late], {A: t(8), B: t(2)}, later=[add_b_late])
    # Live tags stay, delivered or not; a value keeps its live tag when another is removed.
    add_a = Op("add", A, t(4), 2, field="tags", value="x")
    add_a2 = Op("add", A, t(5), 2, field="tags", value="z")
    prune_case("live_tags_stay", [title, add_b, rm_a, add_a, add_a2], {A: t(5), B: t(2)})
    # A record touched only by a remove whose tags are all delivered goes whole (here the
    # tag names B's op at t(2), a set on another record: delivered, never an add there).
    rm_only = Op("remove", A, t(3), 1, record=1, field="tags", value="x", observed=[(t(2), B)])
    set_other = Op("set", B, t(2), 1, record=0, field="title", value="Other")
    prune_case("record_of_delivered_tombstones_only_goes", [set_other, rm_only], {A: t(3), B: t(2)})
    prune_case("record_of_undelivered_tombstones_only_stays", [rm_only], {A: t(3), B: t(1)}, later=[set_other])
    # A hidden record keeps its delete stub (D and the delete's bundle), drops W.
    w = Op("set", B, t(2), 1, field="title", value="Old")
    d = Op("delete", A, t(5), 3)
    prune_case("hidden_record_keeps_stub_drops_write", [title, w, d], {A: t(5), B: t(2)},
               later=[Op("set", B, t(4), 2, field="title", value="Too late")])
    prune_case("stub_without_write", [d], {A: t(5)}, later=[Op("set", B, t(9), 1, field="title", value="Again")])
    # A hidden record with a tombstone after D not delivered yet keeps it.
    add_after = Op("add", B, t(7), 2, field="tags", value="x")
    rm_after = Op("remove", A, t(8), 4, field="tags", value="x", observed=[add_after.stamp])
    prune_case("hidden_record_keeps_undelivered_tombstone", [title, w, d, rm_after], {A: t(8), B: t(2)},
               later=[add_after])
    # A record revived after its delete stays whole (D, its bundle and W).
    revive = Op("set", B, t(6), 2, field="title", value="Back")
    prune_case("revived_record_keeps_d_and_w", [title, w, d, revive], {A: t(5), B: t(6)})
    # A delete applied without its bundle position keeps the version-1 layout.
    d_unknown = Op("delete", A, t(5), 3)
    del d_unknown.json["bundle"]
    prune_case("stub_with_unknown_bundle", [title, w, d_unknown], {A: t(5), B: t(2)})
    # An empty frontier prunes only hidden writes and nothing else.
    prune_case("empty_frontier", [title, add_b, rm_a, w, d], {})
    # Merges of pruned states: A pruned after B's add and A's remove; B still holds its add live.
    everything = [title, add_b, rm_a]
    merge_case("merge_pruned_with_unpruned_keeps_value_removed", [title, add_b, rm_a], {A: t(3), B: t(2)},
               [add_b], {B: t(2)}, everything)
    merge_case("merge_keeps_tag_not_delivered_on_the_other_side", [title, rm_a], {A: t(3)},
               [add_b], {B: t(2)}, everything)
    merge_case("merge_hidden_stub_with_live_copy", [title, w, d], {A: t(5), B: t(2)},
               [title, w], {A: t(1), B: t(2)}, [title, w, d])


# ---------------------------------------------------------------- seeded histories
def history(rng, length):
    """A history written by three authors, each op after every earlier one (so a remove
    names tags of adds it saw), chunked into bundles per author."""
    state = crdt.State()
    ops, clock, seq, open_bundle = [], 0, {A: 0, B: 0, C: 0}, {}
    values = ["x", "y", "z"]
    for _ in range(length):
        author = rng.choice([A, B, C])
        clock += rng.randint(1, 2)
        if author not in open_bundle or rng.random() < 0.4:
            seq[author] += 1
            open_bundle[author] = seq[author]
        bundle = open_bundle[author]
        record = rng.randrange(3)
        roll = rng.random()
        if roll < 0.35:
            op = Op("add", author, t(clock), bundle, record, "tags", rng.choice(values))
        elif roll < 0.65:
            value = rng.choice(values)
            entry = state.records.get((b"todos", crdt_id(record)))
            live = [tag for v, tags in (entry.sets.get(b"tags", {}).values() if entry else [])
                    if v == ("string", value.encode()) for tag, removed in tags.items() if not removed]
            if not live:
                live = [(t(max(clock - 1, 0)), rng.choice([A, B, C]))]  # a tag never added: stays a tombstone
            op = Op("remove", author, t(clock), bundle, record, "tags", value, observed=sorted(live))
        elif roll < 0.85:
            op = Op("set", author, t(clock), bundle, record, "title", rng.choice(values))
        else:
            op = Op("delete", author, t(clock), bundle, record)
        state.apply(batch.op_from_json(op.json), bundle)
        ops.append(op)
    return ops


def crdt_id(record):
    return bytes.fromhex(RECORDS[record].replace("-", ""))


def delivered_view(rng, ops):
    """Per author a delivered prefix (whole bundles), a frontier at or below each held
    head, and the ops not delivered."""
    by_author = {}
    for op in ops:
        by_author.setdefault(op.json["replica"], []).append(op)
    delivered, frontier = [], {}
    for replica, mine in sorted(by_author.items()):
        bundles = sorted({op.json["bundle"] for op in mine})
        held = rng.choice([0] + bundles)
        prefix = [op for op in mine if op.json["bundle"] <= held]
        delivered += prefix
        if prefix:
            head = max(int(op.json["hlc"]) for op in prefix)
            choice = rng.random()
            if choice < 0.6:
                frontier[bytes.fromhex(replica)] = head
            elif choice < 0.9:
                frontier[bytes.fromhex(replica)] = int(rng.choice(prefix).json["hlc"]) - rng.choice([0, 1 << 16])
    order = {id(op): i for i, op in enumerate(ops)}
    delivered.sort(key=lambda op: order[id(op)])
    later = [op for op in ops if all(op is not d for d in delivered)]
    return delivered, frontier, later


def seeded():
    for seed in range(24):
        rng = random.Random(1000 + seed)
        ops = history(rng, rng.randint(8, 30))
        delivered, frontier, later = delivered_view(rng, ops)
        prune_case(f"seeded_prune_{seed}", delivered, frontier, later=later)
    for seed in range(12):
        rng = random.Random(2000 + seed)
        ops = history(rng, rng.randint(8, 30))
        a, fa, _ = delivered_view(rng, ops)
        b, fb, _ = delivered_view(rng, ops)
        both = [op for op in ops if any(op is x for x in a + b)]
        merge_case(f"seeded_merge_{seed}", a, fa, b, fb, both)


def render():
    return "".join(json.dumps(c, sort_keys=False, separators=(",", ":")) + "\n" for c in cases)


def main(argv):
    handmade()
    seeded()
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    text = render()
    return write_or_check(OUT, ROOT, text, cases, check=argv[1:2] == ["--check"])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
