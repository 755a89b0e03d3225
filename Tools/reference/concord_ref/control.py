"""The control payload of Specs/membership.md section 3 (format 1): `decode` with every
decoder check (and the decisions of section 5.1 "Decoder"), and `encode`, its inverse.
Also the named roles (`04`) and `set-policy` (kind `0D`) of Specs/permissions.md 3.1 and
3.2, and `ack`, `stale`, `checkpoint` (kinds `0A` to `0C`) of Specs/snapshots.md 2."""
import re

from . import dev
from .codec import Reader, Reject, Writer

ROLES = {1: "admin", 2: "writer", 3: "reader"}
KINDS = {1: "genesis", 2: "invite", 3: "join", 4: "set-role", 5: "remove", 6: "revoke-invite",
         7: "rotate", 8: "grant", 9: "successor", 10: "ack", 11: "stale", 12: "checkpoint", 13: "set-policy",
         14: "scope-key"}
MAX_NAME = 64
MAX_RECIPIENTS = 65536
SEALED = 80
MAX_VECTOR = 65536
MAX_SCOPE_READERS = 34
MAX_POLICY_BODY = 16384
MAX_SEALED_POLICY = 24 + MAX_POLICY_BODY + 16
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Named(str):
    """A policy role (permissions.md 3.1): compares as its name, carries its base."""

    def __new__(cls, name, base):
        self = super().__new__(cls, name)
        self.base = base
        return self


def base(role):
    """The built-in role membership applies: the base of a policy role."""
    if dev.on("membership-named-role-is-reader") and isinstance(role, Named):
        return "reader"
    return role.base if isinstance(role, Named) else role


# Section 3: the control payload

def _fail(r, message):
    raise Reject("malformedBundle", f"membership op: {message} at offset {r.offset}")


def _name(r):
    try:
        data = r.string()
    except Reject as error:  # invalid UTF-8 is a bad name: malformedBundle (section 3)
        if dev.on("membership-name-utf8-malformed-encoding"):
            raise
        raise Reject("malformedBundle", f"membership op: {error.message}")
    text = data.decode("utf-8")
    size = len(text) if dev.on("membership-name-length-in-characters") else len(data)
    if not 1 <= size <= MAX_NAME and not dev.on("membership-name-any-length"):
        _fail(r, f"a name of {len(data)} bytes")
    top = 0x7F if dev.on("membership-name-c1-allowed") else 0x9F
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= top for c in text) and not dev.on("membership-name-controls-allowed"):
        _fail(r, "a name holding a control character")
    return text


def _role(r):
    b = r.byte()
    if b == 4:
        base_byte = r.byte()
        if base_byte not in (2, 3) and not dev.on("membership-named-role-any-base"):
            _fail(r, f"a named role with base byte {base_byte}")
        try:
            name = r.string().decode("utf-8")
        except Reject as error:
            raise Reject("malformedBundle", f"membership op: {error.message}")
        if (not ROLE_NAME.fullmatch(name) or name in ("admin", "writer", "reader")) and not dev.on("membership-role-name-unchecked"):
            _fail(r, f"a bad role name {name!r}")
        return Named(name, ROLES.get(base_byte, "reader"))
    if b not in ROLES and dev.on("membership-unknown-role-is-reader"):
        return "reader"
    if b not in ROLES:
        _fail(r, f"role byte {b}")
    return ROLES[b]


def _position(r, what):
    v = r.varint()
    if v == 0 and not dev.on("membership-position-zero-accepted"):
        _fail(r, f"a {what} of 0")
    return v


def _increasing(keys):
    if dev.on("membership-lists-unsorted"):
        return True
    return all(a < b for a, b in zip(keys, keys[1:]))


def _keys(r, what):
    n = r.count(32, what)
    keys = [r.take(32) for _ in range(n)]
    if not _increasing(keys):
        _fail(r, f"the {what} list is not strictly increasing")
    return keys


def _recipients(r):
    n = r.count(32 + SEALED, "recipients")
    if not 1 <= n <= MAX_RECIPIENTS and not (n == 0 and dev.on("membership-recipients-zero-accepted")):
        _fail(r, f"{n} recipients")
    out = [(r.take(32), r.take(SEALED)) for _ in range(n)]
    if not _increasing([k for k, _ in out]):
        _fail(r, "recipients not strictly increasing")
    return out


def _epoch(r):
    key_id = r.take(16)
    recipients = _recipients(r)
    history = r.blob()
    if history and not (len(history) >= 24 + 16 + 48 and (len(history) - 40) % 48 == 0) \
            and not dev.on("membership-history-any-length"):
        _fail(r, f"a history blob of {len(history)} bytes")
    return {"key_id": key_id, "recipients": recipients, "history": history}


def _vector(r, what):
    """snapshots.md 2: varint n (0..65536) | n x (author bytes[32] | seq varint >= 1),
    authors strictly increasing."""
    n = r.count(33, f"{what} vector")
    if n > MAX_VECTOR:
        _fail(r, f"a {what} vector of {n} entries")
    entries = []
    for _ in range(n):
        author = r.take(32)
        seq = r.varint()
        if seq == 0 and not dev.on("stability-vector-zero-accepted"):
            _fail(r, f"a {what} entry of 0")
        entries.append((author, seq))
    if not _increasing([a for a, _ in entries]):
        _fail(r, f"the {what} vector is not strictly increasing")
    return {a: n for a, n in entries if n}


def decode(payload, encrypted):
    """The op of a control payload as a dict with "kind" and its fields; Reject
    (malformedBundle, or encryptionMismatch for a genesis of the other kind of space)."""
    r = Reader(payload, "malformedBundle")
    version = r.byte()
    if version != 1:
        if dev.on("membership-version-unsupported"):
            raise Reject("unsupportedVersion", f"control payload format {version}")
        _fail(r, f"control payload format {version}")
    kind_byte = r.byte()
    if kind_byte not in KINDS:
        _fail(r, f"kind {kind_byte}")
    kind = KINDS[kind_byte]
    op = {"kind": kind}
    if kind == "genesis":
        op["name"] = _name(r)
        flags = r.byte()
        if flags & ~1 and not dev.on("membership-genesis-reserved-flags-accepted"):
            _fail(r, f"reserved genesis flags {flags}")
        op["encrypted"] = (flags & 1) == 1
        if op["encrypted"] != encrypted and dev.on("membership-genesis-mismatch-malformed"):
            _fail(r, "the genesis flag differs from the space")
        if op["encrypted"] != encrypted:
            raise Reject("encryptionMismatch", "the genesis flag differs from the space")
        op["signature"] = r.take(64)
        op["epoch"] = _epoch(r) if encrypted or (dev.on("membership-epoch-optional") and r.remaining) else None
        if op["epoch"] and op["epoch"]["history"] and not dev.on("membership-genesis-history-accepted"):
            _fail(r, "a genesis history blob")
    elif kind == "invite":
        op["id"] = r.take(32)
        op["role"] = _role(r)
        op["expires"] = r.fixed64()
        op["max_uses"] = r.varint()
    elif kind == "join":
        op["id"] = r.take(32)
        op["name"] = _name(r)
        op["signature"] = r.take(64)
    elif kind == "set-role":
        op["target"] = r.take(32)
        op["role"] = _role(r)
        op["boundary"] = _position(r, "boundary")
    elif kind == "remove":
        op["target"] = r.take(32)
        op["cutoff"] = _position(r, "cut-off")
        op["keep"] = _keys(r, "keep")
        op["epoch"] = _epoch(r) if encrypted or (dev.on("membership-epoch-optional") and r.remaining) else None
    elif kind == "revoke-invite":
        op["id"] = r.take(32)
        op["seen"] = _keys(r, "seen")
    elif kind == "rotate":
        if not encrypted and not dev.on("membership-rotate-in-plain-space-decodes"):
            _fail(r, "a rotate in an unencrypted space")
        op["epoch"] = _epoch(r)
    elif kind == "grant":
        if not encrypted and dev.on("membership-grant-in-plain-space-rejected"):
            _fail(r, "a grant in an unencrypted space")
        op["key_id"] = r.take(16)
        op["recipients"] = _recipients(r)
    elif kind == "ack":
        op["held"] = _vector(r, "held")
    elif kind == "stale":
        op["target"] = r.take(32)
        op["last_seen"] = r.varint()
        op["reason"] = r.byte()
        if op["reason"] not in (1, 2) and not dev.on("stability-any-stale-reason"):
            _fail(r, f"stale reason {op['reason']}")
    elif kind == "checkpoint":
        op["stable"] = _vector(r, "stable")
        op["seen"] = _vector(r, "seen")
        op["snapshot"] = r.take(32)
    elif kind == "set-policy":
        op["seen"] = _vector(r, "seen")
        op["form"] = form = r.byte()
        if form == 1:
            if encrypted and not dev.on("policy-form-any-space"):
                _fail(r, "a plaintext policy in an encrypted space")
            op["body"] = r.blob()
            if len(op["body"]) > MAX_POLICY_BODY:
                _fail(r, f"a policy body of {len(op['body'])} bytes")
        elif form == 2:
            if not encrypted and not dev.on("policy-form-any-space"):
                _fail(r, "a sealed policy in an unencrypted space")
            op["key_id"] = r.take(16)
            op["body"] = r.blob()
            if len(op["body"]) > MAX_SEALED_POLICY:
                _fail(r, f"a sealed policy of {len(op['body'])} bytes")
        elif form != 0:
            _fail(r, f"policy form {form}")
    elif kind == "scope-key":
        if not encrypted:
            _fail(r, "a scope-key in an unencrypted space")
        n = r.count(2, "scope roles")
        if not 1 <= n <= MAX_SCOPE_READERS:
            _fail(r, f"a scope of {n} roles")
        readers = []
        for _ in range(n):
            try:
                ref = r.string().decode("utf-8")
            except Reject as error:
                raise Reject("malformedBundle", f"membership op: {error.message}")
            if ref not in ("writer", "reader") and (not ROLE_NAME.fullmatch(ref) or ref == "admin") \
                    and not dev.on("scope-readers-unchecked"):
                _fail(r, f"a scope role {ref!r}")
            readers.append(ref)
        if not all(a.encode() < b.encode() for a, b in zip(readers, readers[1:])) and not dev.on("scope-readers-unchecked"):
            _fail(r, "scope roles not strictly increasing")
        op["readers"] = readers
        op["epoch"] = _epoch(r)
    else:
        op["predecessor"] = r.take(32)
        op["cutoff"] = _position(r, "cut-off")
        op["name"] = _name(r)
        op["signature"] = r.take(64)
    if not r.at_end() and not dev.on("membership-accept-trailing-bytes"):
        _fail(r, f"{r.remaining} trailing bytes")
    return op


def encode(op):
    """The control payload of `op` (the inverse of `decode`)."""
    w = Writer()
    w.u8(1)
    kind = op["kind"]
    w.u8(next(b for b, k in KINDS.items() if k == kind))
    role_byte = {v: b for b, v in ROLES.items()}

    def role(value):
        if isinstance(value, Named):
            w.u8(4)
            w.u8(role_byte[value.base])
            w.blob(str(value).encode())
        else:
            w.u8(role_byte[value])

    def keys(ks):
        w.varint(len(ks))
        for key in ks:
            w.raw(key)

    def recipients(rs):
        w.varint(len(rs))
        for key, sealed in rs:
            w.raw(key + sealed)

    def vector(v):
        w.varint(len(v))
        for author in sorted(v):
            w.raw(author)
            w.varint(v[author])

    def epoch(ep):
        if ep is not None:
            w.raw(ep["key_id"])
            recipients(ep["recipients"])
            w.blob(ep["history"])

    if kind == "genesis":
        w.blob(op["name"].encode())
        w.u8(1 if op["encrypted"] else 0)
        w.raw(op["signature"])
        epoch(op["epoch"])
    elif kind == "invite":
        w.raw(op["id"])
        role(op["role"])
        w.fixed64(op["expires"])
        w.varint(op["max_uses"])
    elif kind == "join":
        w.raw(op["id"])
        w.blob(op["name"].encode())
        w.raw(op["signature"])
    elif kind == "set-role":
        w.raw(op["target"])
        role(op["role"])
        w.varint(op["boundary"])
    elif kind == "remove":
        w.raw(op["target"])
        w.varint(op["cutoff"])
        keys(op["keep"])
        epoch(op["epoch"])
    elif kind == "revoke-invite":
        w.raw(op["id"])
        keys(op["seen"])
    elif kind == "rotate":
        epoch(op["epoch"])
    elif kind == "grant":
        w.raw(op["key_id"])
        recipients(op["recipients"])
    elif kind == "ack":
        vector(op["held"])
    elif kind == "stale":
        w.raw(op["target"])
        w.varint(op["last_seen"])
        w.u8(op["reason"])
    elif kind == "checkpoint":
        vector(op["stable"])
        vector(op["seen"])
        w.raw(op["snapshot"])
    elif kind == "set-policy":
        vector(op["seen"])
        w.u8(op["form"])
        if op["form"] == 2:
            w.raw(op["key_id"])
        if op["form"] in (1, 2):
            w.blob(op["body"])
    elif kind == "scope-key":
        w.varint(len(op["readers"]))
        for ref in op["readers"]:
            w.blob(ref.encode())
        epoch(op["epoch"])
    else:
        w.raw(op["predecessor"])
        w.varint(op["cutoff"])
        w.blob(op["name"].encode())
        w.raw(op["signature"])
    return w.bytes()
