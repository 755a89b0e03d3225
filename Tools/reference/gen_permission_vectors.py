#!/usr/bin/env python3
"""Writes Specs/vectors/permissions.jsonl (Specs/permissions.md section 10, stage 1) from the
independent Python reference (Tools/reference/policy.py), so that the Swift implementation
is checked against a second reading of the spec. Fixed inputs only: running it twice gives
the same file.

    python3 Tools/reference/gen_permission_vectors.py            # writes the file
    python3 Tools/reference/gen_permission_vectors.py --check    # exits 1 if the file differs
    python3 Tools/reference/gen_permission_vectors.py --mutants  # each deviation must fail a case

Groups (one JSON object a line, each with `group`, `name` and `expected`):

- policy_json: `input` (JSON text), `encrypted` -> `body_hex` and `json` (normalized JSON);
  expected "valid".
- policy_invalid: `input` (JSON text), `input_hex` (the file's bytes) or `body_hex`, and
  `encrypted`; expected "invalidPolicy" (`reason`: the reference's message, informative).
- owner_id: `space_id_hex`, `device_hex` -> `tag_hex`; with `random_hex` -> `record_id_hex`;
  every case: `record_id_hex` and `family` (device ids) -> expected "bound" or "unbound".
- decide: `policy` (normalized JSON text, null for none, "broken"), `encrypted`, `role`
  ("admin", "writer" or {"name", "base"}), `op` {kind, collection, field?}, `section`
  (null: general; else the read roles of its scope), `own`, and `create` (given, or derived
  from `family` {author, sequence, predecessors, writes} by section 5.2) -> expected
  "allowed" or a reason code, and `message` when denied.
- scope: `readers` -> `scope_id_hex` (section 7.1); expected "valid".
"""
import json
import pathlib
import sys
import unicodedata

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import policy as ref  # noqa: E402
from concord_ref.generated import write_or_check  # noqa: E402

ROOT = HERE.parent.parent
OUT = ROOT / "Specs" / "vectors" / "permissions.jsonl"
CLASSROOM = (ROOT / "Examples" / "policies" / "classroom.json").read_text(encoding="utf-8")

cases = []


def add(group, name, expected, **fields):
    case = {"group": group, "name": name, "expected": expected}
    case.update(fields)
    cases.append(case)


def doc(collections=None, roles=None, **extra):
    d = {"concord_policy": 1}
    if roles is not None:
        d["roles"] = {n: {"base": b} for n, b in roles.items()}
    if collections is not None:
        d["collections"] = collections
    d.update(extra)
    return json.dumps(d, ensure_ascii=False)


# ---------------------------------------------------------------- policy_json
def valid(name, text, encrypted=True, description=None):
    p = ref.policy_from_json(text, encrypted)
    body = ref.encode_body(p)
    normalized = ref.policy_to_json(p)
    assert ref.decode_body(body, encrypted) == p and ref.encode_body(ref.decode_body(body, encrypted)) == body
    assert ref.policy_to_json(ref.policy_from_json(normalized, encrypted)) == normalized
    fields = {"encrypted": encrypted, "input": text, "body_hex": body.hex(), "json": normalized}
    if description:
        fields = {"description": description, **fields}
    add("policy_json", name, "valid", **fields)


valid("classroom", CLASSROOM, description="Examples/policies/classroom.json, normalized: it prints byte for byte")


def reversed_keys(v):
    if isinstance(v, dict):
        return {k: reversed_keys(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [reversed_keys(x) for x in reversed(v)]
    return v


valid("classroom_compact_unsorted", json.dumps(reversed_keys(json.loads(CLASSROOM)), separators=(",", ":")),
      description="the classroom policy on one line, every object and list in reverse order")
valid("empty", '{"concord_policy": 1}', description="roles, collections and write absent: written as {}")
valid("empty_objects", '{"roles": {}, "collections": {"notes": {}}, "concord_policy": 1}', encrypted=False,
      description="an entry without grants: nobody but admins writes it")
valid("defaults_spelled_out", doc({"c": {"write": {"writer": {"update": "any"}}}}),
      description="absent create and delete are none, written out; absent fields is all, left out")
valid("any_three_times_is_all", doc({"c": {"write": {"writer": {"create": "any", "update": "any", "delete": "any"}}}}),
      description="a grant equal to \"all\" is written \"all\"")
valid("any_with_field_list_is_not_all", doc({"c": {"write": {"writer": {
    "create": "any", "update": "any", "delete": "any", "fields": {"allow": ["title"]}}}}}),
      description="near miss of \"all\": a field list keeps the object form")
valid("own_everything_is_not_all", doc({"c": {"write": {"writer": {"create": "own", "update": "own", "delete": "own"}}}}))
valid("patterns_sorted", doc({"patients": {"write": {"nurse": {"update": "any", "fields": {
    "allow": ["vitals.*", "notes", "address.city", "a", "Z", "vitals"]}}}}}, roles={"nurse": "writer"}),
      description="field lists are sets: sorted by UTF-8 bytes (uppercase before lowercase), .* patterns kept")
valid("deny_list", doc({"c": {"write": {"writer": {"create": "own", "update": "own", "fields": {"deny": ["secret.*", "grade"]}}}}}))
valid("roles_sorted_by_bytes", doc({}, roles={"b": "writer", "a_1": "reader", "a-1": "writer", "a1": "reader", "a": "writer"}),
      description="- (2d) < 1 (31) < _ (5f): byte order, not locale order")
nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
valid("nfc_and_nfd_collections_kept_apart", doc({nfc: {"write": {"writer": "all"}}, nfd: {"write": {"writer": {"update": "any"}}}}),
      description="two entries: caf\\u00e9 and cafe\\u0301 are different names (never normalized); NFD sorts first")
valid("non_ascii_names_and_escapes", '{"concord_policy": 1, "collections": {"\\u00e9l\\u00e8ves": {"write": {"writer": '
      '{"update": "any", "fields": {"deny": ["note\\u2014priv\\u00e9e", "\\ud83d\\udcda"]}}}}}}',
      description="JSON escapes in, UTF-8 out (a surrogate pair is one character)")
valid("quotes_and_backslashes_escaped", doc({'say "hi" \\ bye': {"write": {"writer": {"update": "any", "fields": {"allow": ["a\\b", 'q"']}}}}}),
      description="only \" and \\ need escaping in a valid policy; / is not escaped")
valid("del_and_c1_free_names", doc({"tab\u00a0sep~\u007e": {"write": {"writer": "all"}}}),
      description="U+00A0 and ~ are not control characters")
valid("wildcard_sorts_first", doc({"a": {"write": {"writer": "all"}}, "*": {"write": {"writer": {"create": "any"}}},
                                   "A": {"write": {"writer": "all"}}}),
      description="* (2a) sorts before letters; entries do not combine")
valid("read_lists_sorted", doc({"grades": {"read": ["writer", "teacher", "reader", "aide"], "write": {"teacher": "all", "writer": {"update": "own"}}}},
                               roles={"teacher": "writer", "aide": "reader"}),
      description="read lists are sets: sorted; built-in roles and reader-base roles may read")
valid("unencrypted_without_read_lists", doc({"c": {"write": {"writer": "all"}}}, roles={"learner": "writer"}), encrypted=False)
valid("role_defined_but_unused", doc({}, roles={"spare": "reader"}))
valid("max_32_roles", doc({}, roles={f"r{i:02d}": "writer" for i in range(32)}), description="the limit itself is valid")
valid("role_name_32_bytes", doc({}, roles={"a" * 32: "writer"}))
valid("collection_name_255_bytes", doc({"é" * 127 + "x": {"write": {"writer": "all"}}}), description="255 bytes (127 two-byte characters and one)")
valid("max_64_entries", doc({f"c{i:02d}": {"write": {"writer": {"update": "any"}}} for i in range(64)}))
valid("max_64_patterns", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": [f"f{i:02d}" for i in range(64)]}}}}}))
valid("read_list_34_roles", doc({"c": {"read": ["reader", "writer"] + [f"r{i:02d}" for i in range(32)], "write": {}}},
                                roles={f"r{i:02d}": "reader" for i in range(32)}))
valid("pattern_dot_star_after_name", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": ["a.*", "a.*.*", ".b"]}}}}}),
      description="a.*.* and .b are patterns (only .* alone is not)")


def body_of_size(total):
    """(policy JSON text, model) whose body is exactly `total` bytes: four entries of 64
    long patterns, and a fifth whose patterns are grown until the size is reached."""
    def build(full, last):
        colls = {f"c{i}": {"write": {"writer": {"update": "any", "fields": {
            "allow": [f"{i}{j:02d}" + "p" * 56 for j in range(64)]}}}} for i in range(4)}
        colls["c4"] = {"write": {"writer": {"update": "any", "fields": {
            "allow": [f"w{j:02d}" + "q" * 200 for j in range(full)] + ["z" * last]}}}}
        return {"concord_policy": 1, "collections": colls}

    for full in range(0, 10):
        for last in range(1, 256):
            d = build(full, last)
            text = json.dumps(d)
            try:
                model = ref.policy_from_json(text)
            except ref.PolicyError:
                continue
            if len(ref.encode_body(model)) == total:
                return text, model
    raise AssertionError(f"no policy of {total} bytes")


max_text, max_model = body_of_size(ref.MAX_BODY)
valid("body_exactly_16384_bytes", max_text, description="the body limit itself is valid")

# ---------------------------------------------------------------- policy_invalid


def invalid(name, text, encrypted=True, description=None):
    try:
        ref.policy_from_json(text, encrypted)
    except ref.PolicyError as e:
        fields = {"encrypted": encrypted, "input": text, "reason": str(e)}
        if description:
            fields = {"description": description, **fields}
        add("policy_invalid", name, "invalidPolicy", **fields)
        return
    raise AssertionError(f"{name}: accepted")


def invalid_bytes(name, data, encrypted=True, description=None):
    """A policy file given as bytes (`input_hex`): for inputs a JSON library would not
    carry through a string unchanged."""
    try:
        ref.policy_from_json_bytes(data, encrypted)
    except ref.PolicyError as e:
        fields = {"encrypted": encrypted, "input_hex": data.hex(), "reason": str(e)}
        if description:
            fields = {"description": description, **fields}
        add("policy_invalid", name, "invalidPolicy", **fields)
        return
    raise AssertionError(f"{name}: accepted")


def invalid_body(name, body, encrypted=True, description=None):
    try:
        ref.decode_body(body, encrypted)
    except ref.PolicyError as e:
        fields = {"encrypted": encrypted, "body_hex": body.hex(), "reason": str(e)}
        if description:
            fields = {"description": description, **fields}
        add("policy_invalid", name, "invalidPolicy", **fields)
        return
    raise AssertionError(f"{name}: accepted")


W = {"write": {"writer": "all"}}
invalid("duplicate_top_key", '{"concord_policy": 1, "concord_policy": 1}')
invalid("duplicate_collection", '{"concord_policy": 1, "collections": {"c": {}, "c": {}}}')
invalid("duplicate_grant_key", '{"concord_policy": 1, "collections": {"c": {"write": {"writer": {"update": "any", "update": "any"}}}}}')
invalid("duplicate_role", '{"concord_policy": 1, "roles": {"a": {"base": "writer"}, "a": {"base": "writer"}}}')
invalid("unknown_top_key", doc({}, extra=0))
invalid("unknown_entry_key", doc({"c": {"write": {}, "readers": ["writer"]}}))
invalid("unknown_grant_key", doc({"c": {"write": {"writer": {"update": "any", "fields_": {"deny": ["a"]}}}}}))
invalid("unknown_role_key", '{"concord_policy": 1, "roles": {"a": {"base": "writer", "label": "As"}}}')
invalid("version_missing", '{"roles": {}}')
invalid("version_2", '{"concord_policy": 2}')
invalid("version_true", '{"concord_policy": true}')
invalid("version_float", '{"concord_policy": 1.0}', description="1.0 is not the integer 1")
invalid("version_exponent", '{"concord_policy": 1e0}')
invalid("version_string", '{"concord_policy": "1"}')
invalid("not_an_object", '[{"concord_policy": 1}]')
invalid("trailing_data", '{"concord_policy": 1} {}')
invalid("lone_surrogate", '{"concord_policy": 1, "collections": {"\\ud800": {}}}', description="an escape that is not a character")
invalid("lone_low_surrogate", '{"concord_policy": 1, "collections": {"a\\udc00": {}}}')
invalid("high_surrogate_then_letter", '{"concord_policy": 1, "collections": {"\\ud800\\u0041": {}}}',
        description="a high surrogate escape must be followed by a low one")
invalid("surrogates_reversed", '{"concord_policy": 1, "collections": {"\\udc00\\ud800": {}}}')
invalid("roles_null", '{"concord_policy": 1, "roles": null}')
invalid("collections_list", '{"concord_policy": 1, "collections": []}')
invalid("write_list", doc({"c": {"write": ["writer"]}}))
invalid("role_name_uppercase", doc({}, roles={"Teacher": "writer"}))
invalid("role_name_digit_first", doc({}, roles={"1st": "writer"}))
invalid("role_name_33_bytes", doc({}, roles={"a" * 33: "writer"}))
invalid("role_name_non_ascii", doc({}, roles={"élève": "writer"}))
invalid("role_name_space", doc({}, roles={"a b": "writer"}))
invalid("role_name_empty", doc({}, roles={"": "writer"}))
invalid("role_named_admin", doc({}, roles={"admin": "writer"}))
invalid("role_named_writer", doc({}, roles={"writer": "writer"}))
invalid("role_named_reader", doc({}, roles={"reader": "reader"}))
invalid("base_admin", doc({}, roles={"a": "admin"}))
invalid("base_missing", '{"concord_policy": 1, "roles": {"a": {}}}')
invalid("base_list", '{"concord_policy": 1, "roles": {"a": {"base": ["writer"]}}}')
invalid("33_roles", doc({}, roles={f"r{i:02d}": "reader" for i in range(33)}))
invalid("65_entries", doc({f"c{i:02d}": {"write": {"writer": {"update": "any"}}} for i in range(65)}))
invalid("65_patterns", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": [f"f{i:02d}" for i in range(65)]}}}}}))
invalid("grant_to_reader_base", doc({"c": {"write": {"p": "all"}}}, roles={"p": "reader"}))
invalid("grant_to_builtin_reader", doc({"c": {"write": {"reader": {"update": "own"}}}}))
invalid("grant_to_undefined_role", doc({"c": {"write": {"ghost": "all"}}}))
invalid("grant_to_admin", doc({"c": {"write": {"admin": "all"}}}))
invalid("read_on_wildcard", doc({"*": {"read": ["writer"], "write": {}}}))
invalid("read_list_unencrypted", doc({"c": {"read": ["writer"], "write": {"writer": "all"}}}), encrypted=False)
invalid("classroom_unencrypted", CLASSROOM, encrypted=False, description="the classroom policy scopes teacher_notes")
invalid("writer_not_in_read_list", doc({"c": {"read": ["reader"], "write": {"writer": "all"}}}))
invalid("read_list_empty", doc({"c": {"read": [], "write": {}}}))
invalid("read_list_duplicate", doc({"c": {"read": ["writer", "writer"], "write": {}}}))
invalid("read_list_undefined_role", doc({"c": {"read": ["teacher"], "write": {}}}))
invalid("read_list_admin", doc({"c": {"read": ["admin"], "write": {}}}))
invalid("read_list_number", doc({"c": {"read": [3], "write": {}}}))
invalid("grant_allowing_nothing_empty", doc({"c": {"write": {"writer": {}}}}))
invalid("grant_allowing_nothing_explicit", doc({"c": {"write": {"writer": {"create": "none", "update": "none", "delete": "none",
                                                                             "fields": {"allow": ["a"]}}}}}))
invalid("grant_right_mine", doc({"c": {"write": {"writer": {"update": "mine"}}}}))
invalid("grant_right_uppercase", doc({"c": {"write": {"writer": {"update": "Any"}}}}))
invalid("grant_right_null", doc({"c": {"write": {"writer": {"update": None}}}}))
invalid("grant_string_not_all", doc({"c": {"write": {"writer": "ALL"}}}))
invalid("grant_true", doc({"c": {"write": {"writer": True}}}))
invalid("fields_empty_object", doc({"c": {"write": {"writer": {"update": "any", "fields": {}}}}}))
invalid("fields_allow_and_deny", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": ["a"], "deny": ["b"]}}}}}))
invalid("fields_empty_list", doc({"c": {"write": {"writer": {"update": "any", "fields": {"deny": []}}}}}))
invalid("fields_string", doc({"c": {"write": {"writer": {"update": "any", "fields": "all"}}}}))
invalid("fields_duplicate_pattern", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": ["a", "a"]}}}}}))
invalid("pattern_dot_star_alone", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": [".*"]}}}}}))
invalid("pattern_empty", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": [""]}}}}}))
invalid("pattern_256_bytes", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": ["p" * 256]}}}}}))
invalid("pattern_control_character", doc({"c": {"write": {"writer": {"update": "any", "fields": {"allow": ["a\tb"]}}}}}))
invalid("collection_empty", doc({"": W}))
invalid("collection_256_bytes", doc({"é" * 128: W}))
invalid("collection_c0_control", doc({"a\u0007": W}))
invalid("collection_del", doc({"a\u007f": W}))
invalid("collection_c1_control", doc({"a\u0085": W}), description="U+0085 (NEL) is in category Cc")
invalid_bytes("byte_order_mark", b'\xef\xbb\xbf{"concord_policy": 1}', description="a UTF-8 byte order mark is not JSON")
invalid_bytes("invalid_utf8_in_string", b'{"concord_policy": 1, "collections": {"caf\xe9": {}}}', description="Latin-1 e acute")
invalid_bytes("surrogate_utf8_in_string", b'{"concord_policy": 1, "collections": {"\xed\xa0\x80": {}}}')
invalid_bytes("nul_byte_in_string", b'{"concord_policy": 1, "collections": {"a\x00": {}}}',
              description="a raw control character in a JSON string")
over_text = json.dumps({"concord_policy": 1, "collections": {
    **json.loads(max_text)["collections"], "c5": {"write": {"writer": {"update": "any"}}}}})
invalid("json_body_over_16384_bytes", over_text, description="body_exactly_16384_bytes plus one entry")

# bodies
room = ref.policy_from_json(CLASSROOM)
room_body = ref.encode_body(room)
two = ref.encode_body({"roles": {"a": "writer", "b": "writer"}, "entries": {}})
invalid_body("body_unknown_version", b"\x02" + room_body[1:])
invalid_body("body_version_0", b"\x00\x00\x00")
invalid_body("body_empty", b"")
invalid_body("body_trailing_byte", room_body + b"\x00")
for cut in (1, 2, len(room_body) // 2, len(room_body) - 1):
    invalid_body(f"body_truncated_to_{cut}", room_body[:cut])
invalid_body("body_roles_unsorted", two[:2] + two[5:8] + two[2:5] + two[8:])
invalid_body("body_roles_duplicate", two[:2] + two[2:5] + two[2:5] + two[8:])
invalid_body("body_role_base_admin", two[:4] + b"\x01" + two[5:])
invalid_body("body_role_base_4", two[:4] + b"\x04" + two[5:])
invalid_body("body_role_count_33", b"\x01\x21" + b"".join(bytes([1, 0x61 + i % 26, 2]) for i in range(33)) + b"\x00")
invalid_body("body_role_count_beyond_bytes", b"\x01\x05\x01a\x02\x00")
invalid_body("body_count_non_minimal_varint", b"\x01\x80\x00\x00", description="0 written as 80 00")


def body(roles, entries):
    """Raw body bytes from lists (no checks): roles [(name, base byte)], entries
    [(name, flags, read or None, [(ref, c, u, d, mode, [patterns])])]."""
    out = bytearray([1]) + ref._varint(len(roles))
    for n, b in roles:
        out += ref._string(n) + bytes([b])
    out += ref._varint(len(entries))
    for n, flags, read, grants in entries:
        out += ref._string(n) + bytes([flags])
        if read is not None:
            out += ref._varint(len(read)) + b"".join(ref._string(r) for r in read)
        out += ref._varint(len(grants))
        for g, c, u, d, mode, pats in grants:
            out += ref._string(g) + bytes([c, u, d, mode])
            if mode:
                out += ref._varint(len(pats)) + b"".join(ref._string(p) for p in pats)
    return bytes(out)


ok_body = body([], [("c", 0, None, [("writer", 0, 2, 0, 1, ["a", "b"])])])
assert ref.decode_body(ok_body) is not None
valid_from_body = ref.policy_to_json(ref.decode_body(ok_body))
invalid_body("body_entries_unsorted", body([], [("d", 0, None, []), ("c", 0, None, [])]))
invalid_body("body_entries_duplicate", body([], [("c", 0, None, []), ("c", 0, None, [])]))
invalid_body("body_patterns_unsorted", body([], [("c", 0, None, [("writer", 0, 2, 0, 1, ["b", "a"])])]))
invalid_body("body_patterns_duplicate", body([], [("c", 0, None, [("writer", 0, 2, 0, 1, ["a", "a"])])]))
invalid_body("body_grants_unsorted", body([("t", 2)], [("c", 0, None, [("writer", 0, 2, 0, 0, []), ("t", 0, 2, 0, 0, [])])]))
invalid_body("body_read_unsorted", body([], [("c", 1, ["writer", "reader"], [])]))
invalid_body("body_read_count_0", body([], [("c", 1, [], [])]))
invalid_body("body_reserved_flag", body([], [("c", 2, None, [])]))
invalid_body("body_flag_without_list", body([], [("c", 3, None, [])]) + b"")
invalid_body("body_right_byte_3", body([], [("c", 0, None, [("writer", 0, 3, 0, 0, [])])]))
invalid_body("body_field_mode_3", body([], [("c", 0, None, [("writer", 0, 2, 0, 3, [])])]))
invalid_body("body_field_mode_with_0_patterns", body([], [("c", 0, None, [("writer", 0, 2, 0, 2, [])])]))
invalid_body("body_grant_allowing_nothing", body([], [("c", 0, None, [("writer", 0, 0, 0, 0, [])])]))
invalid_body("body_grant_to_reader", body([], [("c", 0, None, [("reader", 0, 2, 0, 0, [])])]))
invalid_body("body_grant_to_undefined", body([], [("c", 0, None, [("t", 0, 2, 0, 0, [])])]))
invalid_body("body_read_list_unencrypted", body([], [("c", 1, ["writer"], [("writer", 0, 2, 0, 0, [])])]), encrypted=False)
invalid_body("body_read_on_wildcard", body([], [("*", 1, ["writer"], [])]))
invalid_body("body_writer_not_in_read_list", body([], [("c", 1, ["reader"], [("writer", 0, 2, 0, 0, [])])]))
invalid_body("body_role_name_bad", body([("Bad", 2)], []))
invalid_body("body_collection_invalid_utf8", body([], [("c", 0, None, [])]).replace(b"\x01c", b"\x01\xff"))
invalid_body("body_collection_surrogate_utf8", body([], [("ccc", 0, None, [])]).replace(b"\x03ccc", b"\x03\xed\xa0\x80"))
invalid_body("body_pattern_dot_star", body([], [("c", 0, None, [("writer", 0, 2, 0, 1, [".*"])])]))
invalid_body("body_bytes_over_16384", ref.encode_body(max_model) + b"\x00",
             description="16,385 bytes: refused for its size before anything else")
# Near misses of the body rules, as valid cases (they must decode).
add("policy_json", "body_near_miss_read_list_and_patterns", "valid", encrypted=True,
    input=valid_from_body, body_hex=ok_body.hex(), json=valid_from_body)

# ---------------------------------------------------------------- owner_id
SPACE = bytes(range(32))
OTHER_SPACE = bytes(range(1, 33))
DEV = [bytes([0x10 + i]) * 32 for i in range(4)]
RANDOM = bytes.fromhex("a5c3f00f123456789a")


def owner(name, space, device, family, record, description=None, tag=False, random9=None):
    expected = "bound" if any(ref.is_bound(record, space, d) for d in family) else "unbound"
    fields = {"space_id_hex": space.hex(), "device_hex": device.hex()}
    if tag:
        fields["tag_hex"] = ref.owner_tag(space, device).hex()
    if random9 is not None:
        fields["random_hex"] = random9.hex()
    fields.update({"record_id_hex": record.hex(), "family": [d.hex() for d in family]})
    if description:
        fields = {"description": description, **fields}
    add("owner_id", name, expected, **fields)


for i, (space, dev, rnd) in enumerate([(SPACE, DEV[0], RANDOM), (SPACE, DEV[1], bytes(9)), (OTHER_SPACE, DEV[0], b"\xff" * 9),
                                       (bytes(32), bytes(32), bytes(range(9)))]):
    rid = ref.owned_record_id(space, dev, rnd)
    owner(f"tag_and_id_{i}", space, dev, [dev], rid, tag=True, random9=rnd[:8],
          description="random_hex: byte 8's low 6 bits from its first byte, bytes 9-15 from the rest")
rid = ref.owned_record_id(SPACE, DEV[0], RANDOM)
owner("other_device", SPACE, DEV[0], [DEV[1]], rid)
owner("other_space", OTHER_SPACE, DEV[0], [DEV[0]], rid, description="the same device's id in another space is not bound")
owner("family_with_predecessor", SPACE, DEV[1], [DEV[1], DEV[0]], rid, description="a successor owns its predecessor's records")
owner("empty_family", SPACE, DEV[0], [], rid)
owner("random_v4_id", SPACE, DEV[0], [DEV[0]], bytes.fromhex("e621e1f8c36c495a93fc0c247a3e6e5f"))
for byte in range(16):
    for bit in (0, 3, 7) if byte != 8 else range(8):
        flipped = bytearray(rid)
        flipped[byte] ^= 1 << bit
        what = ("tag" if byte in (0, 1, 2, 3, 4, 5, 7) or (byte == 6 and bit < 4) else "version" if byte == 6
                else "variant" if byte == 8 and bit >= 6 else "random")
        owner(f"flip_byte_{byte}_bit_{bit}", SPACE, DEV[0], [DEV[0]], bytes(flipped),
              description=f"one {what} bit flipped: {'still bound' if what == 'random' else 'unbound'}")

# ---------------------------------------------------------------- decide
LEARNER, TEACHER = {"name": "learner", "base": "writer"}, {"name": "teacher", "base": "writer"}
NURSE_TEXT = doc({"patients": {"write": {"nurse": {"update": "any", "fields": {"allow": ["vitals.*", "notes", "a\u00e9"]}}},
                               "read": ["nurse", "nurses", "writer"]},
                  "wards": {"write": {"nurses": {"create": "any", "delete": "own"}, "writer": {"delete": "any", "update": "own",
                                                                                                  "fields": {"deny": ["x.*"]}}}}},
                 roles={"nurse": "writer", "nurses": "writer", "visitor": "reader"})
NURSE = ref.policy_to_json(ref.policy_from_json(NURSE_TEXT))
ROOM = ref.policy_to_json(room)
POLICIES = {"classroom": ROOM, "nurse": NURSE}


def role_arg(role):
    if isinstance(role, dict):
        return (role["name"], role["base"])
    return role


def decide(name, policy, role, kind, collection, field=None, section=None, create=True, own=False, family=None,
           description=None):
    text = POLICIES.get(policy, policy)
    model = text if text in (None, "broken") else ref.policy_from_json(text)
    if family is not None:
        create = ref.is_create(family["author"], family["sequence"], set(family["predecessors"]),
                               [tuple(w) for w in family["writes"]])
    op = {"kind": kind, "collection": collection}
    if kind != "delete":
        op["field"] = field
    verdict, code, message = ref.decide(model, role_arg(role), op, section=section, create=create, own=own)
    fields = {"policy": text, "encrypted": True, "role": role, "op": op, "section": section, "create": create, "own": own}
    if family is not None:
        fields["family"] = family
    if description:
        fields = {"description": description, **fields}
    if verdict == "denied":
        fields["message"] = message
    add("decide", name, "allowed" if verdict == "allowed" else code, **fields)


# The classroom (section 2.5)
decide("learner_grade_denied", "classroom", LEARNER, "set", "results", "grade", create=False, own=True,
       description="the issue's example message")
decide("learner_creates_own", "classroom", LEARNER, "set", "results", "answer", create=True, own=True)
decide("learner_updates_own", "classroom", LEARNER, "set", "results", "answer", create=False, own=True)
decide("learner_adds_own", "classroom", LEARNER, "add", "results", "tags", create=False, own=True)
decide("learner_removes_grade_denied", "classroom", LEARNER, "remove", "results", "grade", create=False, own=True,
       description="remove names a field: the field list applies")
decide("learner_create_not_own", "classroom", LEARNER, "set", "results", "answer", create=True, own=False,
       description="no pre-claiming of others' (or unbound) records")
decide("learner_update_not_own", "classroom", LEARNER, "set", "results", "answer", create=False, own=False)
decide("learner_delete_none", "classroom", LEARNER, "delete", "results", own=True)
decide("learner_grade_field_before_create", "classroom", LEARNER, "set", "results", "grade", create=True, own=False,
       description="order of checks: the field before the create right")
decide("learner_other_collection_no_grant", "classroom", LEARNER, "set", "homework", "x", description="no * grant for learners")
decide("learner_teacher_notes_no_grant", "classroom", LEARNER, "set", "teacher_notes", "x",
       description="grant checked before placement: no-grant, not wrong-section")
decide("learner_teacher_notes_sealed_no_grant", "classroom", LEARNER, "set", "teacher_notes", "x", section=["teacher"])
decide("teacher_grade_allowed", "classroom", TEACHER, "set", "results", "grade", create=False)
decide("teacher_deletes_any", "classroom", TEACHER, "delete", "results")
decide("teacher_wildcard_allowed", "classroom", TEACHER, "set", "anything", "x", create=False)
decide("teacher_real_collection_named_star", "classroom", TEACHER, "set", "*", "x", description="reached through the wildcard entry")
decide("teacher_note_sealed_allowed", "classroom", TEACHER, "set", "teacher_notes", "x", section=["teacher"])
decide("teacher_note_general_wrong_section", "classroom", TEACHER, "set", "teacher_notes", "x")
decide("teacher_note_other_scope_wrong_section", "classroom", TEACHER, "set", "teacher_notes", "x", section=["teacher", "writer"],
       description="a key of another scope (a superset of the read set)")
decide("teacher_results_sealed_wrong_section", "classroom", TEACHER, "set", "results", "x", section=["teacher"],
       description="an unscoped collection in a scope section: 'every member'")
decide("writer_closed_world", "classroom", "writer", "set", "results", "answer", description="a plain writer has no grant")
decide("writer_wildcard_closed_world", "classroom", "writer", "delete", "anything")
decide("admin_anything", "classroom", "admin", "set", "results", "grade", own=False, create=False)
decide("admin_note_sealed", "classroom", "admin", "delete", "teacher_notes", section=["teacher"])
decide("admin_note_general_wrong_section", "classroom", "admin", "set", "teacher_notes", "x")
decide("admin_no_entry_sealed_wrong_section", "classroom", "admin", "set", "results", "x", section=["teacher"])
decide("unknown_role", "classroom", {"name": "tutor", "base": "writer"}, "set", "results", "x")
decide("role_with_other_base", "classroom", {"name": "learner", "base": "reader"}, "set", "results", "answer", own=True,
       description="the policy defines learner with base writer")
decide("role_in_policy_as_reader_base", "nurse", {"name": "visitor", "base": "reader"}, "set", "wards", "x",
       description="defined with the same base, but no grant")
# no policy, broken policy
decide("no_policy_writer", None, "writer", "set", "results", "grade", description="no policy: today's behaviour")
decide("no_policy_writer_delete", None, "writer", "delete", "results")
decide("no_policy_admin", None, "admin", "set", "x", "y")
decide("no_policy_named_role", None, LEARNER, "set", "results", "answer", own=True, description="fail-closed")
decide("no_policy_section_wrong", None, "writer", "set", "results", "x", section=["teacher"])
decide("no_policy_admin_section_wrong", None, "admin", "set", "results", "x", section=["writer"])
decide("broken_teacher", "broken", TEACHER, "set", "results", "x")
decide("broken_writer", "broken", "writer", "delete", "results")
decide("broken_admin", "broken", "admin", "set", "teacher_notes", "x", description="admins write under a broken policy")
decide("broken_admin_sealed", "broken", "admin", "set", "results", "x", section=["teacher"])
# field patterns and plurals (nurse policy)
NURSE_R = {"name": "nurse", "base": "writer"}
NURSES_R = {"name": "nurses", "base": "writer"}
for i, (field, note) in enumerate([("vitals", "name of a .* pattern"), ("vitals.pulse", "below the pattern"),
                                   ("vitals.pulse.night", "two levels below"), ("notes", "exact name"),
                                   ("vitalsx", "prefix without the dot"), ("vitals_", "near miss"), ("notes.x", "an exact name has no children"),
                                   ("note", "shorter"), ("Notes", "case"), ("name", "not listed"),
                                   ("a\u00e9", "NFC as listed"), (unicodedata.normalize("NFD", "a\u00e9"), "NFD: another field"),
                                   ("vitals.*", "the pattern's own text"), ("", "the empty field")]):
    decide(f"allow_pattern_{i}", "nurse", NURSE_R, "set", "patients", field, create=False,
           section=["nurse", "nurses", "writer"], description=f"allow [a\u00e9, notes, vitals.*]: {field!r} ({note})")
for i, field in enumerate(["x", "x.y", "xy", "y", "x.*"]):
    decide(f"deny_pattern_{i}", "nurse", "writer", "set", "wards", field, create=False, own=True,
           description=f"deny [x.*]: {field!r}")
decide("deny_list_ignored_for_delete", "nurse", "writer", "delete", "wards", description="a delete names no field")
decide("nurse_update_only_create_denied", "nurse", NURSE_R, "set", "patients", "notes", create=True,
       section=["nurse", "nurses", "writer"])
decide("nurse_delete_denied", "nurse", NURSE_R, "delete", "patients", section=["writer", "nurses", "nurse"],
       description="section roles in any order name the same scope")
decide("nurses_plural", "nurse", NURSES_R, "set", "wards", "x", create=False, own=True,
       description="a name ending in s: 'members with role `nurses`'")
decide("nurses_delete_not_own", "nurse", NURSES_R, "delete", "wards", own=False)
decide("nurses_delete_own", "nurse", NURSES_R, "delete", "wards", own=True)
decide("nurses_create_any_unbound", "nurse", NURSES_R, "add", "wards", "beds", create=True, own=False)
decide("writer_update_own_not_own", "nurse", "writer", "set", "wards", "y", create=False, own=False)
decide("writer_create_none", "nurse", "writer", "set", "wards", "y", create=True, own=True)
decide("writer_scoped_general_wrong_section", "nurse", "writer", "set", "patients", "notes", create=False,
       description="granted nothing in patients: no-grant comes first")
decide("nurse_scoped_general_wrong_section", "nurse", NURSE_R, "set", "patients", "notes", create=False,
       description="readers listed in byte order in the message")
decide("no_entry_no_wildcard", "nurse", NURSE_R, "set", "rooms", "x", description="no entry and no *: no-grant")
# create vs update from the family (section 5.2)
A, P, S, O = (bytes([0x20 + i]) * 32 for i in range(4))
h = bytes.hex
for name, fam, note in [
    ("family_first_write", {"author": h(A), "sequence": 5, "predecessors": [], "writes": []}, "nothing before: create"),
    ("family_same_bundle", {"author": h(A), "sequence": 5, "predecessors": [], "writes": [[h(A), 5]]},
     "an allowed op in the same bundle: still a create"),
    ("family_earlier_bundle", {"author": h(A), "sequence": 5, "predecessors": [], "writes": [[h(A), 4]]}, "update"),
    ("family_later_bundle", {"author": h(A), "sequence": 5, "predecessors": [], "writes": [[h(A), 6]]}, "a later bundle: create"),
    ("family_predecessor", {"author": h(A), "sequence": 1, "predecessors": [h(P)], "writes": [[h(P), 9]]},
     "a predecessor wrote it: update"),
    ("family_sibling", {"author": h(A), "sequence": 2, "predecessors": [h(P)], "writes": [[h(S), 1]]},
     "a sibling successor is not family: create"),
    ("family_other_device", {"author": h(A), "sequence": 2, "predecessors": [], "writes": [[h(O), 1], [h(O), 7]]},
     "another device's writes do not count"),
]:
    decide(f"{name}_learner", "classroom", LEARNER, "set", "results", "answer", own=True, family=fam, description=note)
    decide(f"{name}_nurse", "nurse", NURSE_R, "set", "patients", "notes", section=["nurse", "nurses", "writer"], family=fam,
           description=f"{note} (update-only grant: the answer decides)")

# ---------------------------------------------------------------- scope ids (section 7.1)
for i, readers in enumerate([["teacher"], ["reader", "teacher"], ["teacher", "reader"], ["writer"], ["teacher", "writer"],
                             ["nurse", "nurses"], ["a-1", "a1", "a_1"]]):
    add("scope", f"scope_id_{i}", "valid", readers=readers, scope_id_hex=ref.scope_id(readers).hex())


# ---------------------------------------------------------------- checking and mutants
def check_case(r, c):
    """Checks one case against the reference module `r`; raises on any difference."""
    group, enc = c["group"], c.get("encrypted", True)
    if group == "policy_json":
        p = r.policy_from_json(c["input"], enc)
        body = bytes.fromhex(c["body_hex"])
        assert r.encode_body(p) == body, "body"
        assert r.policy_to_json(p) == c["json"], "normalized JSON"
        assert r.policy_to_json(r.decode_body(body, enc)) == c["json"], "JSON of the body"
        assert r.encode_body(r.policy_from_json(c["json"], enc)) == body, "body of the normalized JSON"
    elif group == "policy_invalid":
        try:
            if "input" in c:
                r.policy_from_json(c["input"], enc)
            elif "input_hex" in c:
                r.policy_from_json_bytes(bytes.fromhex(c["input_hex"]), enc)
            else:
                r.decode_body(bytes.fromhex(c["body_hex"]), enc)
        except r.PolicyError:
            return
        raise AssertionError("accepted")
    elif group == "owner_id":
        space, device = bytes.fromhex(c["space_id_hex"]), bytes.fromhex(c["device_hex"])
        record = bytes.fromhex(c["record_id_hex"])
        if "tag_hex" in c:
            assert r.owner_tag(space, device).hex() == c["tag_hex"], "tag"
        if "random_hex" in c:
            assert r.owned_record_id(space, device, bytes.fromhex(c["random_hex"])) == record, "owned id"
        bound = any(r.is_bound(record, space, bytes.fromhex(d)) for d in c["family"])
        assert ("bound" if bound else "unbound") == c["expected"], "binding"
    elif group == "decide":
        text = c["policy"]
        model = text if text in (None, "broken") else r.policy_from_json(text, enc)
        create = c["create"]
        if "family" in c:
            f = c["family"]
            got = r.is_create(f["author"], f["sequence"], set(f["predecessors"]), [tuple(w) for w in f["writes"]])
            assert got == create, "create from the family"
        role = c["role"] if isinstance(c["role"], str) else (c["role"]["name"], c["role"]["base"])
        verdict, code, message = r.decide(model, role, c["op"], section=c["section"], create=create, own=c["own"])
        assert (code or "allowed") == c["expected"], f"decision {code}"
        assert message == c.get("message"), "message"
    elif group == "scope":
        assert r.scope_id(c["readers"]).hex() == c["scope_id_hex"], "scope id"


# Deviations of the reference (old text -> new text in policy.py), each a plausible wrong
# implementation; the vectors must catch every one.
MUTANTS = [
    ("pattern prefix without the dot", "f.startswith(p[:-1])", "f.startswith(p[:-2])"),
    ("plural always s", 'if role.endswith("s") else', 'if False else'),
    ("placement checked before the grant", "    if grant is None:\n        return deny(\"no-grant\"",
     "    if not placed:\n        return misplaced\n    if grant is None:\n        return deny(\"no-grant\""),
    ("field list skipped for remove", 'if op["kind"] == "delete":', 'if op["kind"] in ("delete", "remove"):'),
    ("wildcard combined with the entry", 'policy["entries"].get(c, policy["entries"].get("*"))',
     'policy["entries"].get("*", policy["entries"].get(c))'),
    ("binding ignores the variant", " and record_id[8] & 0xC0 == 0x80", ""),
    ("binding compares 6 bytes", "\n            and record_id[7] == t[7]", ""),
    ("ids without the version", "bytes([0x80 | (t[6] >> 4), t[7]", "bytes([t[6], t[7]"),
    ("body trailing bytes accepted", "if r.pos != len(data):", "if False:"),
    ("duplicate JSON keys accepted", "        if k in obj:\n", "        if False:\n"),
    ("\"all\" written as an object", "if g == ALL_GRANT:\n            return \"all\"", "if False:\n            return \"all\""),
    ("sorted by code points of UTF-16", 'return s.encode("utf-8")', 'return s.encode("utf-16-be")'),
    ("same bundle counts as earlier", "seq < k", "seq <= k"),
    ("siblings count as family", "(d == author and seq < k) or d in predecessors", "seq < k"),
    ("role base not compared", 'policy["roles"].get(name) != base', 'name not in policy["roles"]'),
    ("broken policy denies admins", 'if policy == "broken":\n        if role == "admin":', 'if policy == "broken":\n        if False:'),
    ("33 roles accepted", "if len(roles) > MAX_ROLES:", "if len(roles) > MAX_ROLES + 1:"),
    ("read lists in unencrypted spaces", "if not encrypted:", "if False:"),
    ("C1 controls accepted", "or 0x7F <= ord(c) <= 0x9F", "or ord(c) == 0x7F"),
    ('".*" accepted', ' or p == ".*"', ""),
    ("body limit exclusive", "if len(data) > MAX_BODY:", "if len(data) >= MAX_BODY:"),
    ("JSON body limit ignored", "    if len(encode_body(policy)) > MAX_BODY:", "    if False:"),
    ("scope ids unsorted", "refs = sorted(read_roles, key=key)", "refs = list(read_roles)"),
    ("owner tag ids swapped", 'b"concord-owner-v1" + space_id + device_id', 'b"concord-owner-v1" + device_id + space_id'),
    ("admins never misplaced", 'if role == "admin":\n        return ("allowed", None, None) if placed else misplaced',
     'if role == "admin":\n        return ("allowed", None, None)'),
    ("grant allowing nothing accepted", 'if (create, update, delete) == ("none", "none", "none"):', "if False:"),
    ("grant to reader base accepted", "if not writer_base(ref):", "if False:"),
    ("writer outside the read list accepted", "if read is not None and ref not in read:", "if False:"),
    ("lone surrogates accepted", '                x.encode("utf-8")', '                x.encode("utf-8", "surrogatepass")'),
    ("concord_policy 1.0 accepted", "if type(version) is not int or version != 1:", "if version != 1:"),
    ("reserved entry flags ignored", "if flags & ~1:", "if flags & ~3:"),
    ("non-minimal varints accepted", "if i > 0 and b == 0:", "if False:"),
    ("wrong-section readers unsorted", 'readers = ", ".join(f"`{r}`" for r in read)', 'readers = ", ".join(f"`{r}`" for r in reversed(read))'),
]


def run_mutants():
    import types
    source = (HERE / "policy.py").read_text(encoding="utf-8")
    written = [json.loads(line) for line in OUT.read_text(encoding="utf-8").split("\n")[:-1]]
    survivors = []
    for name, old, new in MUTANTS:
        if source.count(old) != 1:
            raise SystemExit(f"mutant {name!r}: its text occurs {source.count(old)} times in policy.py")
        module = types.ModuleType("policy_mutant")
        module.__file__ = str(HERE / "policy.py")
        exec(compile(source.replace(old, new), "policy_mutant", "exec"), module.__dict__)
        caught = []
        for c in written:
            try:
                check_case(module, c)
            except Exception:  # noqa: BLE001 (a crash is a caught deviation too)
                caught.append(c["name"])
        print(f"{name}: {'caught by ' + str(len(caught)) + ' (' + caught[0] + ')' if caught else 'SURVIVED'}")
        if not caught:
            survivors.append(name)
    print(f"vectors catch {len(MUTANTS) - len(survivors)} of {len(MUTANTS)} deviations")
    return 1 if survivors else 0


def render():
    """One case a line, UTF-8; the line and paragraph separators and NEL (which some line
    readers split at) are written as escapes."""
    lines = []
    for c in cases:
        line = json.dumps(c, ensure_ascii=False, separators=(",", ":"))
        for ch in "\u0085\u2028\u2029":
            line = line.replace(ch, "\\u%04x" % ord(ch))
        lines.append(line + "\n")
    return "".join(lines)


def main(argv):
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    text = render()
    if argv[1:2] == ["--mutants"]:
        for c in json.loads("[" + ",".join(text.split("\n")[:-1]) + "]"):
            check_case(ref, c)
        return run_mutants()
    return write_or_check(OUT, ROOT, text, cases, check=argv[1:2] == ["--check"])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
