"""Snapshot manifests and chunks (Specs/snapshots.md sections 4.2 and 4.4), read as a loader
reads them: the manifest (structure, limits, signature), every chunk against it (length,
id, header), the chunk plaintexts (records in (collection, id) order across chunks, record
states that parse) and the counts and state digest. Refusals raise Reject with the spec's
code: malformedSnapshot, unsupportedVersion, invalidSignature, invalidKey, snapshotMismatch.

Record states are parsed with the rules of Specs/storage-schema.md section 5, without
re-encoding them (the Swift decoder also checks that each is in its one canonical form)."""
from . import crypto, dev, member_token, values
from .codec import Reader, Reject

MAX_LINKS = 65536
MAX_CHUNKS = 65536
MAX_MANIFEST = 64 << 20
MAX_CHUNK = (64 << 20) + 1024


def varint_len(n):
    length = 1
    while n >= 0x80:
        n >>= 7
        length += 1
    return length


def decode_manifest(data):
    if len(data) > MAX_MANIFEST:
        raise Reject("malformedSnapshot", "manifest too large")
    if data[:4] != b"CNCS":
        raise Reject("malformedSnapshot", "magic")
    r = Reader(data[4:], code="malformedSnapshot")
    version = r.byte()
    if version != 1:
        raise Reject("unsupportedVersion", f"manifest format {version}")
    flags = r.byte()
    if flags & ~1:
        r.fail("reserved flag bits")
    m = {"encrypted": bool(flags & 1)}
    m["space"] = r.take(32)
    m["author"] = r.take(32)
    m["made_at"] = r.fixed64()
    m["key_id"] = r.take(16) if m["encrypted"] else None
    m["checkpoint"] = r.take(32)
    vector_start = r.offset
    n = r.count(32 + 1 + 32 + 8, "links")
    if n > MAX_LINKS:
        r.fail("too many links")
    links, previous = [], None
    for _ in range(n):
        author = r.take(32)
        if previous is not None and not previous < author and not dev.on("snapshot-accept-unsorted-links"):
            r.fail("links not strictly increasing")
        previous = author
        seq = r.varint()
        if seq == 0:
            r.fail("link of sequence 0")
        links.append((author, seq, r.take(32), r.fixed64()))
    m["links"] = links
    m["vector_encoding"] = bytes(r.data[vector_start:r.offset])
    m["membership_digest"] = r.take(32)
    m["visible_digest"] = r.take(32)
    m["state_digest"] = r.take(32)
    m["records"], m["live"], m["stubs"] = r.varint(), r.varint(), r.varint()
    if m["live"] > m["records"] or m["stubs"] > m["records"] - m["live"]:
        r.fail("more live records and stubs than records")
    m["plaintext_bytes"] = r.varint()
    c = r.count(33, "chunks")
    if not 1 <= c <= MAX_CHUNKS:
        r.fail(f"{c} chunks")
    overhead = 40 if m["encrypted"] else 0
    chunks = []
    for index in range(c):
        chunk_id = r.take(32)
        length = r.varint()
        least = 4 + 1 + 32 + varint_len(index) + overhead
        if not least <= length <= MAX_CHUNK:
            r.fail(f"chunk {index} of {length} bytes")
        chunks.append((chunk_id, length))
    m["chunks"] = chunks
    signed_end = 4 + r.offset
    signature = r.take(64)
    if not r.at_end():
        r.fail("trailing bytes")
    signed = data[:signed_end]
    if not dev.on("snapshot-skip-signature") and not crypto.verifies(m["author"], signed, signature):
        raise Reject("invalidSignature", "manifest signature")
    m["id"] = crypto.blake2b256(signed)
    return m


def decode_chunk(data, index, m):
    chunk_id, length = m["chunks"][index]
    if len(data) != length or (crypto.blake2b256(data) != chunk_id and not dev.on("snapshot-skip-chunk-id")):
        raise Reject("malformedSnapshot", f"chunk {index}: length or id")
    if data[:4] != b"CNCK":
        raise Reject("malformedSnapshot", "chunk magic")
    if len(data) < 5 or data[4] != 1:
        raise Reject("unsupportedVersion", "chunk format")
    r = Reader(data[5:], code="malformedSnapshot")
    if r.take(32) != m["state_digest"]:
        r.fail("chunk names another state digest")
    if r.varint() != index:
        r.fail("chunk index")
    payload = bytes(r.data[r.offset:])
    if m["encrypted"] and len(payload) < 40:
        r.fail("encrypted payload too short")
    return data[:5 + r.offset], payload


def opt_stamp(r, replicas):
    flag = r.byte()
    if flag > 1:
        r.fail("option flag")
    return stamp(r, replicas) if flag else None


def stamp(r, replicas):
    hlc = r.fixed64()
    index = r.varint()
    if index >= len(replicas):
        r.fail("replica index out of range")
    return (hlc, replicas[index])


def parse_record_state(data):
    """(visible, stub) of a record state (Specs/storage-schema.md section 5); rejects one
    that does not parse."""
    r = Reader(data, code="malformedSnapshot")
    version = r.byte()
    if version not in (1, 2):
        r.fail(f"record state version {version}")
    replicas = [r.take(32) for _ in range(r.count(32, "replicas"))]
    deleted = opt_stamp(r, replicas)
    if version == 2:
        if deleted is None or r.varint() == 0:
            r.fail("version 2 without a delete bundle")
    written = opt_stamp(r, replicas)
    for _ in range(r.count(1, "registers")):
        r.string()
        stamp(r, replicas)
        values.decode(r)
    for _ in range(r.count(1, "sets")):
        r.string()
        for _ in range(r.count(1, "entries")):
            values.decode(r)
            for _ in range(r.count(9, "tags")):
                stamp(r, replicas)
                if r.byte() > 1:
                    r.fail("tag flag")
    if not r.at_end():
        r.fail("trailing bytes in a record state")
    visible = written is not None and (deleted is None or written > deleted)
    return visible, (not visible and deleted is not None)


def parse_records(plaintext):
    r = Reader(plaintext, code="malformedSnapshot")
    records = []
    while not r.at_end():
        collection = r.string()
        record_id = r.take(16)
        state = r.blob()
        key = (collection, record_id)
        if records and not records[-1][0] < key and not dev.on("snapshot-skip-record-order"):
            r.fail("records out of order")
        records.append((key, state))
    return records


def load(manifest, chunks, key=None):
    """What a loader checks, in order; returns (manifest, [(collection, id, state bytes)])."""
    m = decode_manifest(manifest)
    if len(chunks) != len(m["chunks"]):
        raise Reject("malformedSnapshot", "chunk count")
    opened = [decode_chunk(c, i, m) for i, c in enumerate(chunks)]
    if m["encrypted"] and (key is None or member_token.key_id(key) != m["key_id"]):
        raise Reject("invalidKey", "the epoch key the manifest names is not given")
    plaintexts, records = [], []
    for index, (header, payload) in enumerate(opened):
        if m["encrypted"]:
            plaintext = crypto.open_box(key, payload, header)
            if plaintext is None:
                raise Reject("decryptionFailed", f"chunk {index}")
        else:
            plaintext = payload
        these = parse_records(plaintext)
        if not these and len(chunks) > 1:
            raise Reject("malformedSnapshot", f"chunk {index} holds no record")
        if records and these and not records[-1][0] < these[0][0] and not dev.on("snapshot-skip-record-order"):
            raise Reject("malformedSnapshot", "records out of order across chunks")
        plaintexts.append(plaintext)
        records += these
    live = stubs = 0
    for _, state in records:
        visible, stub = parse_record_state(state)
        live += visible
        stubs += stub
    if (len(records), live, stubs, sum(map(len, plaintexts))) != (m["records"], m["live"], m["stubs"], m["plaintext_bytes"]):
        raise Reject("snapshotMismatch", "counts")
    vector = b"" if dev.on("snapshot-digest-without-vector") else m["vector_encoding"]
    digest = crypto.blake2b256(b"concord-state-v1\x00" + vector + b"".join(plaintexts))
    if digest != m["state_digest"] and not dev.on("snapshot-skip-state-digest"):
        raise Reject("snapshotMismatch", "state digest")
    return m, [(c, i, s) for (c, i), s in records]
