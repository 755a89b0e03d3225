"""Operation batches, format 1 (Specs/wire-format.md section 4, decoder checklist section 6).

An operation is an `Op`; a stamp is the tuple (hlc, replica), which orders by hlc, then
by the replica's 32 bytes (Specs/hlc.md section 2)."""
import unicodedata
from collections import namedtuple

from . import dev, values
from .codec import Reader, Reject, Writer, U64

Op = namedtuple("Op", "kind hlc replica collection record field value observed")
Op.__new__.__defaults__ = (None, None, ())
Op.stamp = property(lambda op: (op.hlc, op.replica))

KINDS = ["set", "add", "remove", "delete"]
FORMAT = 1
MIN_OP_BYTES = 5
MIN_TAG_BYTES = 2


def decode(data):
    """Decodes a whole batch; raises Reject(malformedEncoding | unsupportedVersion)."""
    r = Reader(data)
    if dev.on("batch-version-after-tables"):
        r.byte()
        read_tables(r)
        r.offset = 0
    version = r.byte()
    if version != FORMAT:
        raise Reject("unsupportedVersion", f"operation batch format {version}")
    replicas, names, records = read_tables(r)
    count = r.count(MIN_OP_BYTES, "ops")
    ops = []
    previous = 0
    for _ in range(count):
        kind_byte = r.byte()
        if kind_byte >= len(KINDS):
            if not dev.on("batch-unknown-kind-is-delete"):
                r.fail(f"unknown op kind {kind_byte}")
            kind_byte = 3
        kind = KINDS[kind_byte]
        replica = index(r, replicas)
        hlc = add_delta(r, 0 if dev.on("batch-delta-from-zero") else previous, r.zigzag())
        previous = hlc
        collection = index(r, names)
        record = index(r, records)
        field = value = None
        observed = ()
        if kind != "delete":
            field = index(r, names)
            value = values.decode(r)
        if kind == "remove":
            tags = []
            base = hlc
            for _ in range(r.count(MIN_TAG_BYTES, "observed tags")):
                tag_replica = index(r, replicas)
                tag_hlc = add_delta(r, base, r.zigzag())
                if dev.on("batch-tag-delta-chained"):
                    base = tag_hlc
                tags.append((tag_hlc, tag_replica))
            observed = tuple(tags)
        ops.append(Op(kind, hlc, replica, collection, record, field, value, observed))
    if not r.at_end() and not dev.on("batch-accept-trailing-bytes"):
        r.fail("trailing bytes after the last op")
    return ops


def read_tables(r):
    replicas = [r.take(32) for _ in range(r.count(32, "replicas"))]
    names = [r.string() for _ in range(r.count(1, "names"))]
    if dev.on("names-normalized-nfc"):
        names = [unicodedata.normalize("NFC", n.decode("utf-8")).encode("utf-8") for n in names]
    records = [r.take(16) for _ in range(r.count(16, "records"))]
    return replicas, names, records


def index(r, table):
    i = r.varint()
    limit = len(table) + (1 if dev.on("batch-index-bound-inclusive") else 0)
    if i >= limit:
        r.fail(f"index {i} out of range ({len(table)} entries)")
    return table[min(i, len(table) - 1)] if table else r.fail("index into an empty table")


def add_delta(r, base, delta):
    """Section 2: deltas are applied modulo 2^64."""
    if dev.on("batch-delta-not-modular"):
        value = base + delta
        if not 0 <= value < U64:
            r.fail("clock reading out of range")
        return value
    return (base + delta) % U64


def encode(ops):
    """The canonical encoding (section 4, "Encoder rules")."""
    replicas, names, records = {}, {}, {}

    def use(table, item):
        if item not in table:
            table[item] = len(table)

    for op in ops:
        use(replicas, op.replica)
        if dev.on("encode-field-before-collection") and op.field is not None:
            use(names, op.field)
        use(names, op.collection)
        use(records, op.record)
        if op.field is not None:
            use(names, op.field)
        for _, tag_replica in op.observed:
            use(replicas, tag_replica)
    if dev.on("encode-tables-sorted"):
        replicas, names, records = ({k: i for i, k in enumerate(sorted(t))} for t in (replicas, names, records))
    w = Writer()
    w.u8(FORMAT)
    for table in (replicas, names, records):
        w.varint(len(table))
        for item in table:
            if table is names:
                w.blob(item)
            else:
                w.raw(item)
    w.varint(len(ops))
    previous = 0
    for op in ops:
        w.u8(KINDS.index(op.kind))
        w.varint(replicas[op.replica])
        w.zigzag(signed_delta(op.hlc, previous))
        previous = op.hlc
        w.varint(names[op.collection])
        w.varint(records[op.record])
        if op.kind != "delete":
            w.varint(names[op.field])
            values.encode(op.value, w)
        if op.kind == "remove":
            w.varint(len(op.observed))
            for tag_hlc, tag_replica in op.observed:
                w.varint(replicas[tag_replica])
                w.zigzag(signed_delta(tag_hlc, op.hlc))
    return w.bytes()


def signed_delta(hlc, base):
    d = (hlc - base) % U64
    return d - U64 if d >= 1 << 63 else d


# JSON form (Specs/wire-format.md section 9.1)

def stamp_from_json(j):
    return (int(j["hlc"]), bytes.fromhex(j["replica"]))


def op_from_json(j):
    kind = j["kind"]
    field = value = None
    observed = ()
    if kind != "delete":
        field = j["field"].encode("utf-8")
        value = values.from_json(j["value"])
    if kind == "remove":
        observed = tuple(stamp_from_json(t) for t in j["observed"])
    return Op(kind, int(j["hlc"]), bytes.fromhex(j["replica"]), j["collection"].encode("utf-8"),
              values.uuid_bytes(j["record"]), field, value, observed)


def op_to_json(op):
    """The JSON form of an op, for vectors and messages."""
    out = {"kind": op.kind, "replica": op.replica.hex(), "hlc": str(op.hlc),
           "collection": op.collection.decode("utf-8", "replace"), "record": op.record.hex()}
    if op.field is not None:
        out["field"] = op.field.decode("utf-8", "replace")
        out["value"] = repr(op.value)
    if op.kind == "remove":
        out["observed"] = [{"replica": r.hex(), "hlc": str(h)} for h, r in op.observed]
    return out
