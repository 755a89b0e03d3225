#!/usr/bin/env python3
"""Independent reference for Specs/permissions.md (issue 14): policies and decisions.

A pure, standard-library-only reading of the spec, written from the text and not from the
Swift code, so that two implementations can be compared:

- policy JSON (section 3.4) -> canonical body bytes (section 3.3) -> normalized JSON;
- the body decoder with every rule of section 3.3;
- owner tags and owned record ids (section 5.1), scope ids (section 7.1);
- the governing policy G(A, k) (section 4.1);
- decide(...) (section 6.2) -> ("allowed", None, None) or ("denied", code, message).

    python3 Tools/reference/policy.py --self-test
    python3 Tools/reference/policy.py --normalize FILE     # prints the normalized JSON
    python3 Tools/reference/policy.py --body FILE          # prints the body in hex
"""
import hashlib
import json
import re
import sys

MAX_ROLES = 32
MAX_ENTRIES = 64
MAX_PATTERNS = 64
MAX_NAME = 255
MAX_BODY = 16384
ACCESS = ("none", "own", "any")
BASES = {"writer": 2, "reader": 3}
BUILTIN_REFS = ("writer", "reader")
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")


class PolicyError(ValueError):
    """An invalid policy (JSON) or a broken body; `path` says where."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def key(s):
    """Sort key: the UTF-8 bytes (Specs/crdt-semantics.md section 1)."""
    return s.encode("utf-8")


def has_cc(s):
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in s)


# ---------------------------------------------------------------- model and checks
# A policy is {"roles": {name: base}, "entries": {collection: {"read": [..] | None,
# "write": {role: grant}}}}; a grant is (create, update, delete, mode, patterns) with
# mode "all" | "allow" | "deny".

ALL_GRANT = ("any", "any", "any", "all", ())


def check_role_name(name, path):
    if not isinstance(name, str) or not ROLE_NAME.match(name) or name in ("admin", "writer", "reader"):
        raise PolicyError(path, f"{name!r} is not a role name (a-z first, then a-z 0-9 _ -, at most 32; not admin, writer, reader)")


def check_collection(name, path):
    if not isinstance(name, str) or not (1 <= len(key(name)) <= MAX_NAME) or has_cc(name):
        raise PolicyError(path, f"{name!r} is not a collection name (1 to {MAX_NAME} bytes, no control characters)")


def check_pattern(p, path):
    if not isinstance(p, str) or not (1 <= len(key(p)) <= MAX_NAME) or has_cc(p) or p == ".*":
        raise PolicyError(path, f"{p!r} is not a field pattern")


def validate(policy, encrypted):
    """The semantic rules of section 3.3 (shared by the JSON reader and the body decoder)."""
    roles, entries = policy["roles"], policy["entries"]
    if len(roles) > MAX_ROLES:
        raise PolicyError("roles", f"{len(roles)} roles (at most {MAX_ROLES})")
    if len(entries) > MAX_ENTRIES:
        raise PolicyError("collections", f"{len(entries)} entries (at most {MAX_ENTRIES})")
    for name in roles:
        check_role_name(name, f"roles.{name}")

    def defined(ref):
        return ref in BUILTIN_REFS or ref in roles

    def writer_base(ref):
        return ref == "writer" or roles.get(ref) == "writer"

    for coll, entry in entries.items():
        path = f"collections.{coll}"
        check_collection(coll, path)
        read = entry["read"]
        if read is not None:
            if coll == "*":
                raise PolicyError(path + ".read", "the wildcard entry cannot have a read list")
            if not encrypted:
                raise PolicyError(path + ".read", "read lists need an encrypted space")
            if not (1 <= len(read) <= MAX_ROLES + 2):
                raise PolicyError(path + ".read", "a read list holds 1 to 34 roles")
            for ref in read:
                if not defined(ref):
                    raise PolicyError(path + ".read", f"role {ref!r} is not defined")
        for ref, grant in entry["write"].items():
            gpath = f"{path}.write.{ref}"
            if not defined(ref):
                raise PolicyError(gpath, f"role {ref!r} is not defined")
            if not writer_base(ref):
                raise PolicyError(gpath, f"role {ref!r} has base reader and cannot be granted writes")
            if read is not None and ref not in read:
                raise PolicyError(gpath, f"role {ref!r} may write a scoped collection it may not read")
            create, update, delete, mode, patterns = grant
            if (create, update, delete) == ("none", "none", "none"):
                raise PolicyError(gpath, "a grant that allows nothing (leave the role out)")
            if mode != "all" and not (1 <= len(patterns) <= MAX_PATTERNS):
                raise PolicyError(gpath + ".fields", f"1 to {MAX_PATTERNS} patterns")
            for p in patterns:
                check_pattern(p, gpath + ".fields")
        if len(entry["write"]) > MAX_ROLES + 1:
            raise PolicyError(path + ".write", "too many grants")


# ---------------------------------------------------------------- JSON
def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise PolicyError("", f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _check_scalars(v):
    """Strings must be Unicode scalars (a lone surrogate escape such as "\\ud800" is not
    text, section 3.4 rule 1); numbers other than integers never appear in a valid policy.
    Deeper nesting than a policy uses is refused like Concord's reader (32 levels)."""
    stack = [(v, 0)]
    while stack:
        x, depth = stack.pop()
        if depth >= 32:
            raise PolicyError("", "not JSON: nested too deeply")
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                raise PolicyError("", "not JSON: a lone surrogate escape") from None
        elif isinstance(x, dict):
            stack.extend((k, depth + 1) for k in x)
            stack.extend((y, depth + 1) for y in x.values())
        elif isinstance(x, list):
            stack.extend((y, depth + 1) for y in x)


def _only_keys(obj, allowed, path):
    if not isinstance(obj, dict):
        raise PolicyError(path, "must be an object")
    for k in obj:
        if k not in allowed:
            raise PolicyError(path, f"unknown key {k!r}")


def _string_set(values, path, check):
    if not isinstance(values, list) or not values:
        raise PolicyError(path, "must be a non-empty list")
    for v in values:
        check(v, path)
    if len(set(values)) != len(values):
        raise PolicyError(path, "duplicate entries")
    return sorted(values, key=key)


def _check_role_ref(v, path):
    if not isinstance(v, str):
        raise PolicyError(path, f"{v!r} is not a role")


def _grant_from_json(g, path):
    if g == "all":
        return ALL_GRANT
    _only_keys(g, ("create", "update", "delete", "fields"), path)
    rights = []
    for right in ("create", "update", "delete"):
        v = g.get(right, "none")
        if v not in ACCESS:
            raise PolicyError(f"{path}.{right}", f"{v!r} is not none, own or any")
        rights.append(v)
    mode, patterns = "all", ()
    if "fields" in g:
        f = g["fields"]
        _only_keys(f, ("allow", "deny"), path + ".fields")
        if len(f) != 1:
            raise PolicyError(path + ".fields", "holds exactly one of allow, deny")
        mode = next(iter(f))
        patterns = tuple(_string_set(f[mode], f"{path}.fields.{mode}", lambda v, p: check_pattern(v, p)))
    return (*rights, mode, patterns)


def policy_from_json(text, encrypted=True):
    """Section 3.4: the JSON a user writes -> the policy model. Raises PolicyError."""
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise PolicyError("", f"not JSON: {e}") from None
    except RecursionError:
        raise PolicyError("", "not JSON: nested too deeply") from None
    _check_scalars(doc)
    _only_keys(doc, ("concord_policy", "roles", "collections"), "")
    version = doc.get("concord_policy")
    if type(version) is not int or version != 1:
        raise PolicyError("concord_policy", "must be the integer 1")
    roles = {}
    raw_roles = doc.get("roles", {})
    _only_keys(raw_roles, list(raw_roles) if isinstance(raw_roles, dict) else (), "roles")
    for name, spec in raw_roles.items():
        check_role_name(name, f"roles.{name}")
        _only_keys(spec, ("base",), f"roles.{name}")
        if not isinstance(spec.get("base"), str) or spec["base"] not in BASES:
            raise PolicyError(f"roles.{name}.base", "must be writer or reader")
        roles[name] = spec["base"]
    entries = {}
    raw = doc.get("collections", {})
    _only_keys(raw, list(raw) if isinstance(raw, dict) else (), "collections")
    for coll, spec in raw.items():
        path = f"collections.{coll}"
        _only_keys(spec, ("read", "write"), path)
        read = None
        if "read" in spec:
            read = _string_set(spec["read"], path + ".read", _check_role_ref)
        write = {}
        raw_write = spec.get("write", {})
        _only_keys(raw_write, list(raw_write) if isinstance(raw_write, dict) else (), path + ".write")
        for ref, g in raw_write.items():
            write[ref] = _grant_from_json(g, f"{path}.write.{ref}")
        entries[coll] = {"read": read, "write": write}
    policy = {"roles": roles, "entries": entries}
    validate(policy, encrypted)
    if len(encode_body(policy)) > MAX_BODY:
        raise PolicyError("", f"the policy is over {MAX_BODY} bytes")
    return policy


def policy_from_json_bytes(data, encrypted=True):
    """A policy file's bytes: UTF-8 (invalid UTF-8 is an error, never replaced; a byte
    order mark is not JSON), then policy_from_json."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError("", "not UTF-8") from None
    return policy_from_json(text, encrypted)


def policy_to_json(policy):
    """Normalized JSON (section 3.4), with its final line feed."""
    def grant_json(g):
        if g == ALL_GRANT:
            return "all"
        create, update, delete, mode, patterns = g
        out = {"create": create, "update": update, "delete": delete}
        if mode != "all":
            out["fields"] = {mode: list(patterns)}
        return out

    doc = {
        "concord_policy": 1,
        "roles": {n: {"base": b} for n, b in policy["roles"].items()},
        "collections": {},
    }
    for coll, e in policy["entries"].items():
        entry = {"write": {r: grant_json(g) for r, g in e["write"].items()}}
        if e["read"] is not None:
            entry["read"] = list(e["read"])
        doc["collections"][coll] = entry
    return _dump(doc, 0) + "\n"


def _dump(v, level):
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = sorted(v.items(), key=lambda kv: key(kv[0]))
        return "{\n" + ",\n".join(f"{inner}{_str(k)}: {_dump(x, level + 1)}" for k, x in items) + "\n" + pad + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(inner + _dump(x, level + 1) for x in v) + "\n" + pad + "]"
    if isinstance(v, str):
        return _str(v)
    return json.dumps(v)


def _str(s):
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    return "".join(out) + '"'


# ---------------------------------------------------------------- body (section 3.3)
def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _string(s):
    b = s.encode("utf-8")
    return _varint(len(b)) + b


def encode_body(policy):
    out = bytearray([1])
    roles = sorted(policy["roles"].items(), key=lambda kv: key(kv[0]))
    out += _varint(len(roles))
    for name, base in roles:
        out += _string(name) + bytes([BASES[base]])
    entries = sorted(policy["entries"].items(), key=lambda kv: key(kv[0]))
    out += _varint(len(entries))
    for coll, e in entries:
        out += _string(coll)
        out.append(1 if e["read"] is not None else 0)
        if e["read"] is not None:
            refs = sorted(e["read"], key=key)
            out += _varint(len(refs)) + b"".join(_string(r) for r in refs)
        grants = sorted(e["write"].items(), key=lambda kv: key(kv[0]))
        out += _varint(len(grants))
        for ref, (create, update, delete, mode, patterns) in grants:
            out += _string(ref) + bytes([ACCESS.index(create), ACCESS.index(update), ACCESS.index(delete)])
            out.append(("all", "allow", "deny").index(mode))
            if mode != "all":
                ps = sorted(patterns, key=key)
                out += _varint(len(ps)) + b"".join(_string(p) for p in ps)
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def byte(self):
        if self.pos >= len(self.data):
            raise PolicyError("body", f"ends at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self):
        n, shift, start = 0, 0, self.pos
        for i in range(10):
            b = self.byte()
            if shift == 63 and b > 1:
                raise PolicyError("body", f"varint at byte {start} is too large")
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                if i > 0 and b == 0:
                    raise PolicyError("body", f"varint at byte {start} is not minimal")
                return n
            shift += 7
        raise PolicyError("body", f"varint at byte {start} is too long")

    def count(self, lo, hi, min_item, what):
        start = self.pos
        n = self.varint()
        if not lo <= n <= hi or n * min_item > len(self.data) - self.pos:
            raise PolicyError("body", f"{what} count {n} at byte {start} is out of range")
        return n

    def string(self):
        start = self.pos
        n = self.varint()
        if n > len(self.data) - self.pos:
            raise PolicyError("body", f"string at byte {start} runs past the end")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError("body", f"string at byte {start} is not UTF-8") from None


def _increasing(items, what):
    ks = [key(x) for x in items]
    if any(a >= b for a, b in zip(ks, ks[1:])):
        raise PolicyError("body", f"{what} not strictly increasing")


def decode_body(data, encrypted=True):
    """Section 3.3; raises PolicyError (the policy is *broken*) on any violation."""
    if len(data) > MAX_BODY:
        raise PolicyError("body", f"{len(data)} bytes (at most {MAX_BODY})")
    r = _Reader(data)
    if r.byte() != 1:
        raise PolicyError("body", "unknown policy format")
    roles = {}
    names = []
    for _ in range(r.count(0, MAX_ROLES, 3, "role")):
        name = r.string()
        base = r.byte()
        if base not in (2, 3):
            raise PolicyError("body", f"role {name!r} has base byte {base}")
        names.append(name)
        roles[name] = "writer" if base == 2 else "reader"
    _increasing(names, "roles")
    entries, colls = {}, []
    for _ in range(r.count(0, MAX_ENTRIES, 3, "entry")):
        coll = r.string()
        flags = r.byte()
        if flags & ~1:
            raise PolicyError("body", f"entry {coll!r} has reserved flag bits")
        read = None
        if flags & 1:
            read = [r.string() for _ in range(r.count(1, MAX_ROLES + 2, 1, "read"))]
            _increasing(read, f"read list of {coll!r}")
        write, refs = {}, []
        for _ in range(r.count(0, MAX_ROLES + 1, 5, "grant")):
            ref = r.string()
            rights = [r.byte() for _ in range(3)]
            if any(x > 2 for x in rights):
                raise PolicyError("body", f"grant to {ref!r} has a right byte above 02")
            mode = r.byte()
            if mode > 2:
                raise PolicyError("body", f"grant to {ref!r} has field mode {mode}")
            patterns = ()
            if mode:
                patterns = tuple(r.string() for _ in range(r.count(1, MAX_PATTERNS, 1, "pattern")))
                _increasing(patterns, f"patterns of {ref!r}")
            refs.append(ref)
            write[ref] = (*(ACCESS[x] for x in rights), ("all", "allow", "deny")[mode], patterns)
        _increasing(refs, f"grants of {coll!r}")
        colls.append(coll)
        entries[coll] = {"read": read, "write": write}
    _increasing(colls, "entries")
    if r.pos != len(data):
        raise PolicyError("body", f"{len(data) - r.pos} trailing bytes")
    policy = {"roles": roles, "entries": entries}
    validate(policy, encrypted)
    return policy


# ---------------------------------------------------------------- ids (5.1, 7.1)
def owner_tag(space_id, device_id):
    return hashlib.blake2b(b"concord-owner-v1" + space_id + device_id, digest_size=32).digest()


def owned_record_id(space_id, device_id, random9):
    """An id bound to the device; `random9` gives byte 8's low 6 bits and bytes 9-15."""
    t = owner_tag(space_id, device_id)
    return t[0:6] + bytes([0x80 | (t[6] >> 4), t[7], 0x80 | (random9[0] & 0x3F)]) + random9[1:8]


def is_bound(record_id, space_id, device_id):
    t = owner_tag(space_id, device_id)
    return (record_id[0:6] == t[0:6] and record_id[6] == 0x80 | (t[6] >> 4)
            and record_id[7] == t[7] and record_id[8] & 0xC0 == 0x80)


def scope_id(read_roles):
    refs = sorted(read_roles, key=key)
    data = b"concord-scope-v1" + _varint(len(refs)) + b"".join(_string(r) for r in refs)
    return hashlib.blake2b(data, digest_size=32).digest()[:16]


# ---------------------------------------------------------------- 4.1 and 6.2
def governing(policies, author, k):
    """`policies`: applied set-policy ops in membership order, each (name, seen dict).
    Returns the name of G(author, k), or None."""
    found = None
    for name, seen in policies:
        if k > seen.get(author, 0):
            found = name
    return found


def is_create(author, k, predecessors, writes):
    """Section 5.2: whether an op of bundle (author, k) on a record is a create. `writes`:
    the (device, sequence) of the bundles holding an allowed op on the same record in a
    section of the same kind; `predecessors`: the author's predecessors (transitively).
    Only the author's earlier bundles and its predecessors' bundles count; siblings and
    other devices do not, and ops in the same bundle are all creates."""
    return not any((d == author and seq < k) or d in predecessors for d, seq in writes)


def plural(role):
    return f"members with role `{role}`" if role.endswith("s") else f"{role}s"


def decide(policy, role, op, section=None, create=True, own=False):
    """Section 6.2. `policy`: the governing policy model, None (no policy or cleared) or
    "broken". `role`: "admin", "writer", or (name, base). `op`: {"kind": set|add|remove|
    delete, "collection", "field"}. `section`: None for the general section, else the read
    role list of the scope whose key sealed the op's section. `create`: whether the op is
    a create (5.2); `own`: whether the record is bound to the author's family (5.1).
    Returns ("allowed", None, None) or ("denied", code, message)."""
    def deny(code, msg):
        return ("denied", code, msg)

    c = op["collection"]
    if policy == "broken":
        if role == "admin":
            return ("allowed", None, None)
        return deny("policy-broken", "the space's policy cannot be read; only admins may write until an admin sets it again")
    entry = None if policy is None else policy["entries"].get(c, policy["entries"].get("*"))
    read = entry["read"] if entry else None
    placed = (section is None) if read is None else (section is not None and sorted(section, key=key) == read)
    readers = ", ".join(f"`{r}`" for r in read) if read else "every member"
    misplaced = ("denied", "wrong-section", f"ops of collection `{c}` must be sealed for its readers ({readers})")
    if role == "admin":
        return ("allowed", None, None) if placed else misplaced
    if role == "writer":
        name = "writer"
    else:
        name, base = role
        if policy is None or policy["roles"].get(name) != base:
            return deny("role-not-in-policy", f"role `{name}` is not in the space's policy")
    if policy is None:
        return ("allowed", None, None) if placed else misplaced
    who = plural(name)
    grant = entry["write"].get(name) if entry else None
    if grant is None:
        return deny("no-grant", f"{who} may not write collection `{c}`")
    if not placed:
        return misplaced
    create_r, update_r, delete_r, mode, patterns = grant
    if op["kind"] == "delete":
        right, reason = delete_r, "delete"
    else:
        f = op["field"]
        hit = any(f == p or (p.endswith(".*") and (f == p[:-2] or f.startswith(p[:-1]))) for p in patterns)
        if (mode == "allow" and not hit) or (mode == "deny" and hit):
            return deny("field", f"{who} may not write field `{f}` of collection `{c}`")
        right, reason = (create_r, "create") if create else (update_r, "update")
    if right == "none":
        verb = {"create": "create records in", "update": "change records of", "delete": "delete records of"}[reason]
        return deny(reason, f"{who} may not {verb} collection `{c}`")
    if right == "own" and not own:
        verb = {"create": "create their own records", "update": "change records they created",
                "delete": "delete records they created"}[reason]
        return deny(f"{reason}-not-own", f"{who} may only {verb} in collection `{c}`")
    return ("allowed", None, None)


# ---------------------------------------------------------------- self-test
def self_test(classroom_path):
    checks = 0

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            raise AssertionError(what)

    text = open(classroom_path, encoding="utf-8").read()
    room = policy_from_json(text)
    check(policy_to_json(room) == text, "the classroom file is normalized (JSON -> model -> JSON is identical)")
    body = encode_body(room)
    check(decode_body(body) == room, "body -> model -> body round trip")
    check(encode_body(decode_body(body)) == body, "one body per policy")
    check(len(body) < 200, f"classroom body is small ({len(body)} bytes)")
    try:
        policy_from_json(text, encrypted=False)
        check(False, "a read list in an unencrypted space is refused")
    except PolicyError:
        check(True, "")

    learner, teacher = ("learner", "writer"), ("teacher", "writer")
    put = lambda field, coll="results", kind="set": {"kind": kind, "collection": coll, "field": field}  # noqa: E731
    got = decide(room, learner, put("grade"), create=False, own=True)
    check(got == ("denied", "field", "learners may not write field `grade` of collection `results`"), got)
    check(decide(room, learner, put("answer"), create=True, own=True)[0] == "allowed", "learner creates own")
    check(decide(room, learner, put("answer"), create=False, own=True)[0] == "allowed", "learner updates own")
    got = decide(room, learner, put("answer"), create=False, own=False)
    check(got[1] == "update-not-own", got)
    check(decide(room, learner, put("answer"), create=True, own=False)[1] == "create-not-own", "no pre-claiming")
    check(decide(room, learner, {"kind": "delete", "collection": "results"}, own=True)[1] == "delete", "no delete")
    check(decide(room, learner, put("x", "homework"))[1] == "no-grant", "learners write nothing else")
    check(decide(room, learner, put("x", "teacher_notes"))[1] == "no-grant", "nor teacher notes")
    check(decide(room, teacher, put("grade"), create=False)[0] == "allowed", "teacher writes grades")
    check(decide(room, teacher, put("x", "anything"))[0] == "allowed", "teacher writes everywhere (*)")
    check(decide(room, teacher, put("x", "teacher_notes"), section=["teacher"])[0] == "allowed", "sealed teacher note")
    check(decide(room, teacher, put("x", "teacher_notes"))[1] == "wrong-section", "unsealed teacher note denied")
    check(decide(room, teacher, put("x", "results"), section=["teacher"])[1] == "wrong-section", "results are not scoped")
    check(decide(room, "writer", put("x"))[1] == "no-grant", "closed world: plain writers have no grant")
    check(decide(room, "admin", put("grade", "teacher_notes"), section=["teacher"])[0] == "allowed", "admins may do everything")
    check(decide(room, "admin", put("x", "teacher_notes"))[1] == "wrong-section", "but place scoped ops in their section")
    check(decide("broken", "admin", put("x"))[0] == "allowed", "admins write under a broken policy")
    check(decide(room, ("tutor", "writer"), put("x"))[1] == "role-not-in-policy", "unknown role is fail-closed")
    check(decide(room, ("learner", "reader"), put("x"))[1] == "role-not-in-policy", "base must match")
    check(decide(None, "writer", put("grade"))[0] == "allowed", "no policy: today's behaviour")
    check(decide(None, learner, put("grade"))[1] == "role-not-in-policy", "a policy role without a policy is fail-closed")
    check(decide(None, "writer", put("grade"), section=["teacher"])[1] == "wrong-section", "no policy, no sections")
    check(decide("broken", teacher, put("x"))[1] == "policy-broken", "broken policy denies")
    check(plural("nurses") == "members with role `nurses`" and plural("nurse") == "nurses", "plural rule")

    # field patterns
    p = policy_from_json(json.dumps({"concord_policy": 1, "roles": {"nurse": {"base": "writer"}}, "collections": {
        "patients": {"write": {"nurse": {"update": "any", "fields": {"allow": ["vitals.*", "notes"]}}}}}}))
    ok = lambda f: decide(p, ("nurse", "writer"), put(f, "patients"), create=False)[0] == "allowed"  # noqa: E731
    check(ok("vitals") and ok("vitals.pulse") and ok("notes"), "allow patterns match")
    check(not ok("vitalsx") and not ok("notes.x") and not ok("name"), "allow patterns do not over-match")
    check(decide(p, ("nurse", "writer"), put("notes", "patients"), create=True)[1] == "create", "update-only role")

    # invalid policies (each must be refused)
    bad = [
        '{"concord_policy": 1, "concord_policy": 1}',
        '{"concord_policy": true}',
        '{"concord_policy": 1, "extra": 0}',
        '{"concord_policy": 1, "roles": {"Teacher": {"base": "writer"}}}',
        '{"concord_policy": 1, "roles": {"admin": {"base": "writer"}}}',
        '{"concord_policy": 1, "roles": {"p": {"base": "reader"}}, "collections": {"c": {"write": {"p": "all"}}}}',
        '{"concord_policy": 1, "collections": {"*": {"read": ["writer"], "write": {}}}}',
        '{"concord_policy": 1, "collections": {"c": {"read": ["reader"], "write": {"writer": "all"}}}}',
        '{"concord_policy": 1, "collections": {"c": {"write": {"writer": {}}}}}',
        '{"concord_policy": 1, "collections": {"c": {"write": {"writer": {"update": "mine"}}}}}',
        '{"concord_policy": 1, "collections": {"c": {"write": {"writer": {"update": "any", "fields": {"deny": []}}}}}}',
        '{"concord_policy": 1, "collections": {"c": {"write": {"ghost": "all"}}}}',
        '{"concord_policy": 1, "collections": {"c": {"read": [], "write": {}}}}',
        '{"concord_policy": 1, "collections": {"c": {"read": [3], "write": {}}}}',
        '{"concord_policy": 1, "collections": {"c": {"read": ["writer", "writer"], "write": {}}}}',
        '{"concord_policy": 1, "roles": {%s}}' % ", ".join(f'"r{i}": {{"base": "reader"}}' for i in range(33)),
    ]
    for b in bad:
        try:
            policy_from_json(b)
            check(False, f"refused: {b[:60]}")
        except PolicyError:
            check(True, "")

    # broken bodies: unsorted, trailing bytes, truncated
    two = {"roles": {"a": "writer", "b": "writer"}, "entries": {}}
    good = encode_body(two)
    swapped = good[:2] + good[5:8] + good[2:5] + good[8:]
    for broken in (good + b"\x00", good[:-1], swapped, b"\x02" + good[1:]):
        try:
            decode_body(broken)
            check(False, f"broken body refused: {broken.hex()}")
        except PolicyError:
            check(True, "")

    # owner ids and scope ids
    space, dev, other = bytes(range(32)), bytes([7]) * 32, bytes([8]) * 32
    rid = owned_record_id(space, dev, bytes(range(9, 18)))
    check(len(rid) == 16 and rid[6] >> 4 == 8 and rid[8] >> 6 == 2, "UUIDv8 layout")
    check(is_bound(rid, space, dev) and not is_bound(rid, space, other), "bound to its device only")
    check(not is_bound(rid, bytes(32), dev), "bound in its space only")
    for i in range(9):
        for bit in range(8):
            flipped = bytearray(rid)
            flipped[i] ^= 1 << bit
            relevant = i < 8 or bit >= 6
            check(is_bound(bytes(flipped), space, dev) != relevant, f"bit {bit} of byte {i}")
    check(scope_id(["teacher", "reader"]) == scope_id(["reader", "teacher"]), "scope id ignores order")
    check(scope_id(["teacher"]) != scope_id(["teacher", "reader"]), "scope ids differ by role set")

    # governing policy (4.1)
    A, B = "A", "B"
    pol = [("P1", {A: 3, B: 5}), ("P2", {A: 6, B: 2})]
    check(governing(pol, A, 3) is None and governing(pol, A, 4) == "P1", "P1 from A's bundle 4")
    check(governing(pol, A, 7) == "P2" and governing(pol, B, 3) == "P2", "P2 where its admin had not seen")
    check(governing(pol, "C", 1) == "P2", "new devices: the latest policy")
    for author in (A, B, "C"):
        order = [None, "P1", "P2"]
        seq = [order.index(governing(pol, author, k)) for k in range(1, 12)]
        check(seq == sorted(seq), f"monotone along {author}'s chain")
    return checks


def main(argv):
    import pathlib
    here = pathlib.Path(__file__).resolve()
    if argv[1:2] == ["--self-test"]:
        n = self_test(here.parent.parent.parent / "Examples" / "policies" / "classroom.json")
        print(f"policy reference: {n} checks pass")
        return 0
    if len(argv) == 3 and argv[1] in ("--normalize", "--body"):
        try:
            policy = policy_from_json(open(argv[2], encoding="utf-8").read())
        except PolicyError as e:
            print(f"invalid policy: {e}", file=sys.stderr)
            return 2
        print(policy_to_json(policy) if argv[1] == "--normalize" else encode_body(policy).hex(), end="" if argv[1] == "--normalize" else "\n")
        return 0
    print(__doc__, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
