"""The merge model of Specs/crdt-semantics.md: LWW registers, add-wins OR-sets with observed
tags, the record delete rule, apply, state merge, the canonical encoding of the visible
state (Specs/wire-format.md section 5) and the full record state in the storage encoding
(Specs/storage-schema.md section 5), which the vectors use to pin the hidden state.

A stamp is (hlc, replica bytes); Python's tuple order is the stamp order."""
import hashlib

from . import dev, values
from .codec import Writer


def lww_key(stamp):
    """The order LWW uses to compare stamps: the stamp order (hlc, then replica bytes)."""
    hlc, replica = stamp
    if dev.on("lww-tie-replica-reversed"):
        return (hlc, bytes(255 - b for b in replica))
    if dev.on("lww-no-replica-tiebreak"):
        return (hlc,)
    return stamp


def lww_beats(stamp, value, current):
    """Section 3: (v, s) replaces (v0, s0) when s > s0, or s == s0 and v0 < v."""
    s0, v0 = current
    new, old = lww_key(stamp), lww_key(s0)
    if new != old:
        return new > old
    if dev.on("lww-identical-stamp-keeps-current"):
        return False
    if dev.on("lww-identical-stamp-smaller-value-wins"):
        return values.less(value, v0)
    return values.less(v0, value)


class Record:
    """One record's CRDT state (section 5)."""

    def __init__(self):
        self.deleted_at = None       # D
        self.delete_bundle = None    # sequence of the bundle that carried D, when known (section 11.4)
        self.last_write = None       # W
        self.registers = {}          # field -> (stamp, value)
        self.sets = {}               # field -> {value identity -> (value, {tag stamp: removed})}

    def visible(self):
        if self.last_write is None:
            return False
        if self.deleted_at is None:
            return True
        if dev.on("delete-tie-write-wins"):
            return self.last_write >= self.deleted_at
        return self.last_write > self.deleted_at

    def dropped(self, stamp):
        """An operation stamped at or before D is dropped (a delete wins an exact tie)."""
        if self.deleted_at is None:
            return False
        if dev.on("delete-tie-keeps-write"):
            return stamp < self.deleted_at
        return stamp <= self.deleted_at

    def apply(self, op, bundle=None):
        s = op.stamp
        if op.kind == "delete":
            if self.deleted_at is not None and self.deleted_at >= s:
                if self.deleted_at == s and bundle is not None and (self.delete_bundle is None or bundle > self.delete_bundle):
                    self.delete_bundle = bundle
                return
            self.deleted_at = s
            self.delete_bundle = bundle
            if dev.on("delete-counts-as-write"):
                self.note_write(s)
            self.prune()
            return
        if op.kind in ("set", "add") or dev.on("remove-counts-as-write"):
            if not (dev.on("dropped-write-not-counted") and self.dropped(s)):
                self.note_write(s)
        if self.dropped(s):
            return
        if op.kind == "set":
            current = self.registers.get(op.field)
            if current is None or lww_beats(s, op.value, current):
                self.registers[op.field] = (s, op.value)
        elif op.kind == "add":
            tags = self.entry(op.field, op.value)
            if s not in tags or (dev.on("add-revives-removed-tag") and tags[s]):
                tags[s] = False
        else:
            live = [t for t in op.observed if self.remove_keeps(t, s)]
            if dev.on("remove-kills-every-live-tag"):
                entry = self.sets.get(op.field, {}).get(values.identity(op.value))
                live = [t for t, removed in entry[1].items() if not removed] if entry else []
            if dev.on("remove-only-known-tags"):
                entry = self.sets.get(op.field, {}).get(values.identity(op.value))
                live = [t for t in live if entry and t in entry[1]]
            if live:
                tags = self.entry(op.field, op.value)
                for t in live:
                    tags[t] = True

    def remove_keeps(self, tag, s):
        """Section 5: keep only observed tags t with t < s and t > D."""
        if dev.on("remove-keeps-future-tags"):
            before = True
        elif dev.on("remove-keeps-tag-equal-to-own-stamp"):
            before = tag <= s
        else:
            before = tag < s
        if self.deleted_at is None or dev.on("remove-ignores-delete"):
            after = True
        elif dev.on("remove-keeps-tag-at-delete"):
            after = tag >= self.deleted_at
        else:
            after = tag > self.deleted_at
        return before and after

    def note_write(self, s):
        if self.last_write is None or s > self.last_write:
            self.last_write = s

    def entry(self, field, value):
        entries = self.sets.setdefault(field, {})
        key = values.identity(value)
        if key not in entries:
            entries[key] = (value, {})
        return entries[key][1]

    def prune(self):
        """Drop every register, tag and tombstone stamped at or before D, then empty sets."""
        d = self.deleted_at
        if d is None:
            return

        def gone(stamp):
            return stamp < d if dev.on("prune-keeps-stamp-at-delete") else stamp <= d

        self.registers = {f: r for f, r in self.registers.items() if not gone(r[0])}
        for field in list(self.sets):
            entries = self.sets[field]
            for key in list(entries):
                value, tags = entries[key]
                kept = {t: rm for t, rm in tags.items()
                        if not gone(t) or (dev.on("prune-keeps-tombstones") and rm)}
                if kept:
                    entries[key] = (value, kept)
                else:
                    del entries[key]
            if not entries:
                del self.sets[field]

    def merge(self, other):
        """Section 6: W and D take the maximum, registers merge by LWW, sets by union (a
        removed tag wins), then the prune runs with the merged D."""
        if other.deleted_at is not None:
            if self.deleted_at is None or other.deleted_at > self.deleted_at:
                self.delete_bundle = other.delete_bundle
            elif other.deleted_at == self.deleted_at and other.delete_bundle is not None:
                self.delete_bundle = max(self.delete_bundle or 0, other.delete_bundle)
        for attr in ("last_write", "deleted_at"):
            theirs = getattr(other, attr)
            if theirs is not None and (getattr(self, attr) is None or theirs > getattr(self, attr)):
                setattr(self, attr, theirs)
        for field, (s, v) in other.registers.items():
            current = self.registers.get(field)
            if current is None or lww_beats(s, v, current):
                self.registers[field] = (s, v)
        for field, entries in other.sets.items():
            for key, (value, tags) in entries.items():
                mine = self.entry(field, value)
                for t, removed in tags.items():
                    mine[t] = mine.get(t, False) or removed
        if not dev.on("merge-skips-prune"):
            self.prune()

    def copy(self):
        r = Record()
        r.deleted_at, r.last_write, r.delete_bundle = self.deleted_at, self.last_write, self.delete_bundle
        r.registers = dict(self.registers)
        r.sets = {f: {k: (v, dict(t)) for k, (v, t) in e.items()} for f, e in self.sets.items()}
        return r

    def members(self, field):
        """Live members of a set field, in value order."""
        found = [v for v, tags in self.sets.get(field, {}).values() if not all(tags.values())]
        return sorted(found, key=values.key)

    # Section 11.2-11.3: the pruned form at a frontier {replica: hlc}.

    def prune_at(self, frontier):
        """Drops removed tags the frontier delivers, then values and sets left empty, and W of
        a hidden record (its delete stub stays). Returns False when nothing is left."""
        def delivered(tag, removed):
            hlc, replica = tag
            if dev.on("gc-frontier-any-author"):
                head = max(frontier.values(), default=None)
            else:
                head = frontier.get(replica)
            if head is None:
                return False
            if dev.on("gc-frontier-exclusive"):
                return hlc < head
            return hlc <= head

        for field in list(self.sets):
            entries = self.sets[field]
            for key in list(entries):
                value, tags = entries[key]
                if dev.on("gc-prunes-undelivered-tombstones"):
                    kept = {t: rm for t, rm in tags.items() if not rm}
                else:
                    kept = {t: rm for t, rm in tags.items()
                            if not ((rm or dev.on("gc-drops-live-tags")) and delivered(t, rm))}
                if kept:
                    entries[key] = (value, kept)
                else:
                    del entries[key]
            if not entries:
                del self.sets[field]
        if self.last_write is not None and not self.visible() and not dev.on("gc-keeps-hidden-write"):
            self.last_write = None
        if dev.on("gc-stub-forgets-bundle"):
            self.delete_bundle = None
        if dev.on("gc-drops-delete-stub") and not self.visible() and not self.sets:
            return False
        if dev.on("gc-keeps-empty-records"):
            return True
        return not (self.deleted_at is None and self.last_write is None and not self.registers and not self.sets)

    def without_tags(self, frontier, held):
        """A copy without the set tags `frontier` delivers that `held` (a record or None)
        does not hold: for merging into a state pruned at `frontier`."""
        r = self.copy()
        if dev.on("gc-merge-ignores-frontiers"):
            return r
        for field in list(r.sets):
            entries = r.sets[field]
            for key in list(entries):
                value, tags = entries[key]
                theirs = held.sets.get(field, {}).get(key, (None, {}))[1] if held is not None else {}
                kept = {t: rm for t, rm in tags.items()
                        if not (frontier.get(t[1]) is not None and t[0] <= frontier[t[1]] and t not in theirs)}
                if kept:
                    entries[key] = (value, kept)
                else:
                    del entries[key]
            if not entries:
                del r.sets[field]
        return r

    def empty(self):
        return self.deleted_at is None and self.last_write is None and not self.registers and not self.sets

    def storage_encoding(self):
        """Specs/storage-schema.md section 5: the full state, hidden parts included."""
        stamps = [s for s in (self.deleted_at, self.last_write) if s is not None]
        stamps += [s for s, _ in self.registers.values()]
        stamps += [t for e in self.sets.values() for _, tags in e.values() for t in tags]
        table = sorted({replica for _, replica in stamps})
        where = {replica: i for i, replica in enumerate(table)}
        # Version 2 when the delete's bundle is known: its sequence follows deleted at.
        bundle = self.delete_bundle if self.deleted_at is not None else None
        w = Writer()
        w.u8(1 if bundle is None else 2)
        w.varint(len(table))
        for replica in table:
            w.raw(replica)

        def stamp(s):
            w.fixed64(s[0])
            w.varint(where[s[1]])

        for i, s in enumerate((self.deleted_at, self.last_write)):
            if s is None:
                w.u8(0)
            else:
                w.u8(1)
                stamp(s)
            if i == 0 and bundle is not None:
                w.varint(bundle)
        w.varint(len(self.registers))
        for field in sorted(self.registers, key=name_key):
            s, v = self.registers[field]
            w.blob(field)
            stamp(s)
            values.encode(v, w)
        w.varint(len(self.sets))
        for field in sorted(self.sets, key=name_key):
            entries = sorted(self.sets[field].values(), key=lambda e: values.key(e[0]))
            w.blob(field)
            w.varint(len(entries))
            for value, tags in entries:
                values.encode(value, w)
                w.varint(len(tags))
                for t in sorted(tags):
                    stamp(t)
                    w.u8(1 if tags[t] else 0)
        return w.bytes()


def name_key(name):
    """Names sort by their UTF-8 bytes."""
    if dev.on("names-sorted-utf16"):
        return values.utf16_units(name)
    return name


class State:
    """A replica's whole state: (collection, record id) -> Record."""

    def __init__(self):
        self.records = {}

    def apply(self, op, bundle=None):
        key = (op.collection, op.record)
        if key not in self.records:
            self.records[key] = Record()
        self.records[key].apply(op, bundle)

    def prune(self, frontier):
        """Section 11.3: the pruned form at `frontier` ({replica bytes: hlc}), in place."""
        for key in list(self.records):
            if not self.records[key].prune_at(frontier):
                del self.records[key]
        return self

    def merge_pruned(self, other, own_frontier, other_frontier):
        """Section 11.3, merge of pruned states: each side drops the tags the other side's
        frontier delivers and the other side does not hold, then the usual merge."""
        mine = {key: record.copy() for key, record in self.records.items()}
        for key in list(self.records):
            filtered = self.records[key].without_tags(other_frontier, other.records.get(key))
            if filtered.empty():
                del self.records[key]
            else:
                self.records[key] = filtered
        for key, theirs in other.records.items():
            filtered = theirs.without_tags(own_frontier, mine.get(key))
            if key in self.records:
                self.records[key].merge(filtered)
            elif not filtered.empty():
                self.records[key] = filtered
        return self

    def apply_all(self, ops):
        for op in ops:
            self.apply(op)
        return self

    def merge(self, other):
        for key, theirs in other.records.items():
            if key in self.records:
                self.records[key].merge(theirs)
            else:
                self.records[key] = theirs.copy()
        return self

    def canonical_encoding(self):
        """Specs/wire-format.md section 5: the visible state only."""
        collections = {}
        for (collection, record_id), record in self.records.items():
            if record.visible() or dev.on("canonical-includes-hidden-records"):
                collections.setdefault(collection, []).append((record_id, record))
            elif dev.on("canonical-counts-hidden-collections"):
                collections.setdefault(collection, [])
        w = Writer()
        w.u8(1)
        w.varint(len(collections))
        for collection in sorted(collections, key=name_key):
            records = sorted(collections[collection], key=lambda pair: pair[0])
            w.blob(collection)
            w.varint(len(records))
            for record_id, record in records:
                w.raw(record_id)
                w.varint(len(record.registers))
                for field in sorted(record.registers, key=name_key):
                    w.blob(field)
                    values.encode(record.registers[field][1], w)
                sets = [(f, record.members(f)) for f in sorted(record.sets, key=name_key)]
                if not dev.on("canonical-includes-empty-sets"):
                    sets = [(f, m) for f, m in sets if m]
                w.varint(len(sets))
                for field, members in sets:
                    w.blob(field)
                    w.varint(len(members))
                    for v in members:
                        values.encode(v, w)
        return w.bytes()

    def digest_hex(self):
        return hashlib.sha256(self.canonical_encoding()).hexdigest()

    def record_states(self):
        """[(collection, record id, storage encoding)] sorted by collection bytes, then id."""
        return sorted((c, r, rec.storage_encoding()) for (c, r), rec in self.records.items())


def visible_view(state):
    """What a reader sees (section 7): [(collection, [(id, [(field, value)], [(field, [members])])])],
    everything sorted as the canonical encoding sorts it."""
    collections = {}
    for (collection, record_id), record in state.records.items():
        if record.visible():
            registers = [(f, record.registers[f][1]) for f in sorted(record.registers)]
            sets = [(f, record.members(f)) for f in sorted(record.sets) if record.members(f)]
            collections.setdefault(collection, []).append((record_id, registers, sets))
    return [(c, sorted(collections[c])) for c in sorted(collections)]


def decode_canonical(data):
    """Reads a canonical state encoding (Specs/wire-format.md section 5) back into the form
    of `visible_view`, checking its own rules: version 1, names and ids strictly
    ascending, no collection without a record, no set without a member, members strictly
    ascending in the value order, nothing after the end."""
    from .codec import Reader
    r = Reader(data)
    if r.byte() != 1:
        r.fail("canonical state version")

    def ascending(items, key, what):
        keys = [key(i) for i in items]
        if any(a >= b for a, b in zip(keys, keys[1:])):
            r.fail(f"{what} not strictly ascending")

    collections = []
    for _ in range(r.varint()):
        name = r.string()
        records = []
        count = r.varint()
        if count == 0:
            r.fail("a collection without a visible record")
        for _ in range(count):
            record_id = r.take(16)
            registers = [(r.string(), values.decode(r)) for _ in range(r.varint())]
            ascending(registers, lambda x: x[0], "register names")
            sets = []
            for _ in range(r.varint()):
                field = r.string()
                members = [values.decode(r) for _ in range(r.varint())]
                if not members:
                    r.fail("a set without a member")
                ascending(members, values.key, "set members")
                sets.append((field, members))
            ascending(sets, lambda x: x[0], "set names")
            records.append((record_id, registers, sets))
        ascending(records, lambda x: x[0], "record ids")
        collections.append((name, records))
    ascending(collections, lambda x: x[0], "collection names")
    if not r.at_end():
        r.fail("bytes after the canonical state")
    return collections
