"""Values (Specs/wire-format.md section 3, Specs/crdt-semantics.md section 1).

A value is a tuple whose first element is its kind:

    ("null",) ("bool", b) ("int", i) ("double", bits) ("string", utf8 bytes)
    ("bytes", b) ("reference", collection utf8 bytes, 16 id bytes)

Tuples compare equal exactly when the spec's values are equal (doubles by bit pattern,
strings and names by UTF-8 bytes), so they serve as dictionary keys directly.
"""
import struct
import unicodedata

from . import dev
from .codec import to_signed64

RANK = {"null": 0, "bool": 1, "int": 2, "double": 3, "string": 4, "bytes": 5, "reference": 6}
KINDS = {rank: kind for kind, rank in RANK.items()}
SIGN = 1 << 63
QUIET_NAN = 0x7FF8000000000000


def decode(r):
    """One value from Reader `r` (section 3)."""
    tag = r.byte()
    kind = KINDS.get(tag)
    if kind is None:
        r.fail(f"unknown value tag {tag:#04x}")
    if kind == "null":
        return ("null",)
    if kind == "bool":
        b = r.byte()
        if b > 1 and not dev.on("bool-accept-any-nonzero"):
            r.fail(f"bool payload {b}")
        return ("bool", b != 0)
    if kind == "int":
        return ("int", r.zigzag())
    if kind == "double":
        bits = r.fixed64()
        if dev.on("double-nan-canonicalized") and is_nan(bits):
            bits = QUIET_NAN
        if dev.on("double-negative-zero-canonicalized") and bits == SIGN:
            bits = 0
        return ("double", bits)
    if kind == "string":
        return ("string", normalize(r.string()))
    if kind == "bytes":
        return ("bytes", r.blob())
    collection = normalize(r.string())
    return ("reference", collection, r.take(16))


def encode(v, w):
    kind = v[0]
    w.u8(RANK[kind])
    if kind == "bool":
        w.u8(1 if v[1] else 0)
    elif kind == "int":
        w.zigzag(v[1])
    elif kind == "double":
        w.fixed64(v[1])
    elif kind in ("string", "bytes"):
        w.blob(v[1])
    elif kind == "reference":
        w.blob(v[1])
        w.raw(v[2])


def normalize(utf8):
    """Strings are never normalized; the deviation normalizes to NFC."""
    if dev.on("strings-normalized-nfc"):
        return unicodedata.normalize("NFC", utf8.decode("utf-8")).encode("utf-8")
    return utf8


def is_nan(bits):
    return (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1) != 0


def double_key(bits):
    """IEEE 754-2008 totalOrder (section 1): b has sign bit ? ~b : b | 2^63."""
    if dev.on("double-order-unsigned-bits"):
        return bits
    if dev.on("double-order-signed-bits"):
        return to_signed64(bits)
    if dev.on("double-order-numeric"):
        value = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
        return (1, 0) if value != value else (0, value)
    if dev.on("double-order-nan-last") and is_nan(bits):
        return (1 << 64) + bits
    if bits & SIGN:
        if dev.on("double-order-negative-nan-payload-ascending") and is_nan(bits):
            return bits - 0xFFF0000000000001
        return ~bits % (1 << 64)
    return bits | SIGN


def utf16_units(utf8):
    data = utf8.decode("utf-8", "surrogatepass").encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def bytes_key(b):
    if dev.on("bytes-order-signed"):
        return [x - 256 if x > 127 else x for x in b]
    if dev.on("bytes-order-length-first"):
        return (len(b), b)
    return b


def string_key(s):
    if dev.on("string-order-utf16"):
        return utf16_units(s)
    if dev.on("string-order-length-first"):
        return (len(s), s)
    return s


def key(v):
    """A sort key for the total value order of Specs/crdt-semantics.md section 1."""
    kind = v[0]
    rank = RANK[kind]
    if dev.on("value-order-bytes-before-string") and kind in ("string", "bytes"):
        rank = 9 - rank
    if kind == "null":
        return (rank,)
    if kind == "bool":
        return (rank, (not v[1]) if dev.on("bool-order-reversed") else v[1])
    if kind == "int":
        if dev.on("value-order-numbers-mixed"):
            return (RANK["double"], (1, v[1]))
        return (rank, v[1] % (1 << 64) if dev.on("int-order-unsigned") else v[1])
    if kind == "double":
        if dev.on("value-order-numbers-mixed"):
            value = struct.unpack("<d", v[1].to_bytes(8, "little"))[0]
            return (rank, (1, value) if value == value else (2, v[1]))
        return (rank, double_key(v[1]))
    if kind == "string":
        return (rank, string_key(v[1]))
    if kind == "bytes":
        return (rank, bytes_key(v[1]))
    if dev.on("reference-order-id-first"):
        return (rank, v[2], v[1])
    return (rank, v[1], v[2])


def less(a, b):
    return key(a) < key(b)


def identity(v):
    """The dictionary key of a value in an OR-set: the value itself (equality is by bit
    pattern and bytes). Deviations merge values the spec keeps apart."""
    if v[0] == "double":
        if dev.on("double-zeros-equal") and v[1] == SIGN:
            return ("double", 0)
        if dev.on("double-nans-equal") and is_nan(v[1]):
            return ("double", QUIET_NAN)
    return v


# JSON form of Specs/wire-format.md section 9.1

def from_json(j):
    t = j["type"]
    if t == "null":
        return ("null",)
    if t == "bool":
        return ("bool", j["bool"])
    if t == "int":
        return ("int", int(j["int"]))
    if t == "double":
        return ("double", int(j["bits"], 16))
    if t == "string":
        utf8 = bytes.fromhex(j["utf8_hex"])
        if j["string"].encode("utf-8") != utf8:
            raise ValueError(f"string and utf8_hex disagree in {j}")
        return ("string", utf8)
    if t == "bytes":
        return ("bytes", bytes.fromhex(j["hex"]))
    if t == "reference":
        return ("reference", j["collection"].encode("utf-8"), uuid_bytes(j["id"]))
    raise ValueError(f"unknown value type {t}")


def uuid_bytes(text):
    data = bytes.fromhex(text.replace("-", ""))
    if len(data) != 16:
        raise ValueError(f"not a UUID: {text}")
    return data
