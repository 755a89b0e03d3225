"""Checks the reference against every file in Specs/vectors.

Each checker takes one case (a parsed JSON line) and the earlier cases of its file, and
raises Mismatch (or Reject) when the reference disagrees with the case. `run` walks the
files in FILES order and returns the failures; with `first_only` it stops at the first,
which is all the mutation harness needs."""
import hashlib
import json
import pathlib
import random

from . import batch, bundle as bundles, bundle_file, coalesce, control, crdt, crypto, hlc, invite, member_bundle, member_token, membership, snapshot, values
from .importer import Importer, Space
from .codec import Reader, Reject, Writer

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "Specs" / "vectors"


class Mismatch(Exception):
    pass


def require(condition, message):
    if not condition:
        raise Mismatch(message)


def expect_reject(case, body):
    """The case is invalid: `body` must raise Reject with the expected code."""
    try:
        body()
    except Reject as error:
        require(error.code == case["expected"], f"rejected with {error.code} ({error.message}), expected {case['expected']}")
        return
    raise Mismatch(f"accepted, expected {case['expected']}")


# values.jsonl

def check_value(case, earlier):
    data = bytes.fromhex(case["hex"])

    def decode():
        r = Reader(data)
        v = values.decode(r)
        if not r.at_end():
            r.fail("bytes after the value")
        return v

    if case["expected"] != "valid":
        return expect_reject(case, decode)
    v = decode()
    require(v == values.from_json(case["value"]), f"decoded {v!r}")
    w = Writer()
    values.encode(v, w)
    require(w.bytes() == data, f"re-encodes to {w.bytes().hex()}")


# operations.jsonl

def state_of(ops):
    return crdt.State().apply_all(ops)


def fingerprint(state):
    return state.canonical_encoding(), state.record_states()


def check_batch(case, earlier):
    data = bytes.fromhex(case["hex"])
    if case["expected"] != "valid":
        return expect_reject(case, lambda: batch.decode(data))
    ops = batch.decode(data)
    expected_ops = [batch.op_from_json(j) for j in case["ops"]]
    require(ops == expected_ops, "decoded ops differ from the JSON ops")
    canonical = bytes.fromhex(case.get("reencoded_hex", case["hex"]))
    require(batch.encode(ops) == canonical, f"re-encodes to {batch.encode(ops).hex()}")
    check_state(ops, case)


def check_state(ops, case):
    """The state after `ops`, in order and in other orders, with duplicates, and merged
    from parts: the canonical bytes, digest and full record states of the case."""
    state = state_of(ops)
    require(state.canonical_encoding().hex() == case["canonical_state_hex"],
            f"canonical state {state.canonical_encoding().hex()}")
    require(state.digest_hex() == case["state_digest_hex"], "state digest")
    view = crdt.decode_canonical(bytes.fromhex(case["canonical_state_hex"]))
    require(view == crdt.visible_view(state), "canonical_state_hex does not decode to the visible state")
    if "record_states" in case:
        got = [{"collection": c.decode("utf-8"), "record": r.hex(), "state_hex": s.hex()} for c, r, s in state.record_states()]
        want = [{"collection": j["collection"], "record": values.uuid_bytes(j["record"]).hex(), "state_hex": j["state_hex"]}
                for j in case["record_states"]]
        require(got == want, f"record states {got}")
    reference = fingerprint(state)
    rng = random.Random(len(ops))
    shuffled = list(ops) + list(ops[::2])
    rng.shuffle(shuffled)
    orders = {"reversed with duplicates": list(reversed(ops)) + list(ops), "shuffled with duplicates": shuffled}
    for what, order in orders.items():
        require(fingerprint(state_of(order)) == reference, f"{what} gives another state")
    half = len(ops) // 2
    for left, right in ((ops[:half], ops[half:]), (ops[half:], ops[:half]), (ops[::2], ops[1::2])):
        merged = state_of(left).merge(state_of(right))
        require(fingerprint(merged) == reference, "merging two parts gives another state")
        twice = state_of(left).merge(state_of(right)).merge(state_of(ops))
        require(fingerprint(twice) == reference, "merging again changes the state")


# hlc.jsonl

def check_clock(case, earlier):
    clock = hlc.Clock(last=int(case["last"]), max_drift=int(case["max_drift_ms"]))
    for i, step in enumerate(case["steps"]):
        pt = int(step["pt_ms"])
        call = step["call"]
        try:
            if call == "now":
                result = clock.now(pt)
            elif call == "receive":
                result = clock.receive(int(step["remote"]), pt)
            else:
                clock.observe(int(step["remote"]), pt)
                result = None
            got = "valid"
        except Reject as error:
            got, result = error.code, None
        require(got == step["expected"], f"step {i} ({call}): {got}, expected {step['expected']}")
        if "result" in step:
            require(str(result) == step["result"], f"step {i} ({call}) gives {result}, expected {step['result']}")
        require(str(clock.last) == step["last"], f"step {i} ({call}) leaves last = {clock.last}, expected {step['last']}")


# coalescing.jsonl

def check_coalescing(case, earlier):
    ops = [batch.op_from_json(j) for j in case["ops"]]
    kept = coalesce.coalesce(ops)
    expected = [batch.op_from_json(j) for j in case["coalesced"]]
    require(kept == expected, f"coalesced to {[batch.op_to_json(o) for o in kept]}")
    require(fingerprint(state_of(kept)) == fingerprint(state_of(ops)), "the coalesced ops give another state")


# bundles.jsonl

def bundle_space(case):
    return Space(bytes.fromhex(case["space_seed_hex"]), case["encrypted"])


def make_importer(case):
    """A fresh importing device of the case's space, clock and limits (section 9.2)."""
    return Importer(bundle_space(case), case["now_ms"], case["max_drift_ms"], case["max_bundle_bytes"], case["max_held_bundles"])


def check_bundle(case, earlier):
    importer = make_importer(case)
    for name in case["import_before"]:
        require(name in earlier, f"import_before names {name}, not an earlier case")
        try:
            importer.import_bundle(bytes.fromhex(earlier[name]["bundle_hex"]))
        except Reject as error:
            raise Mismatch(f"importing {name} first was rejected: {error.code} ({error.message})")
    before = fingerprint(importer.state)
    data = bytes.fromhex(case["bundle_hex"])
    if case["expected"] != "valid" and not case.get("void"):
        expect_reject(case, lambda: importer.import_bundle(data))
        require(fingerprint(importer.state) == before, "a rejection changed the state")
        require(importer.state.digest_hex() == case["state_digest_hex"], "state digest")
        return
    if case.get("void"):
        # Section 7.7 step 11: verified and extending its chain, but the payload fails to
        # open: void, with the expected code as the reason; nothing is applied.
        try:
            outcome = importer.import_bundle(data)
        except Reject as error:
            raise Mismatch(f"rejected with {error.code} ({error.message}), expected void with {case['expected']}")
        require(outcome[0] == "applied" and [i.hex() for i in outcome[1]] == case["applied_ids_hex"], f"imported as {outcome}")
        require(importer.voided and importer.voided[-1] == (outcome[1][0], case["expected"]),
                f"voided {importer.voided}, expected void with {case['expected']}")
        require(fingerprint(importer.state) == before, "a void bundle changed the state")
        require(importer.state.digest_hex() == case["state_digest_hex"], "state digest")
        return
    outcome = importer.import_bundle(data)
    require(outcome[0] == case["outcome"], f"outcome {outcome[0]}, expected {case['outcome']}")
    b = bundles.decode(data, case["max_bundle_bytes"])
    require(b.id.hex() == case["bundle_id_hex"], "bundle id")
    require(b.signed.hex() == case["signed_bytes_hex"] and b.signature.hex() == case["signature_hex"], "signed bytes")
    require(b.author.hex() == case["author_public_key_hex"] and b.seq == case["sequence"], "author or sequence")
    if outcome[0] == "applied":
        require([i.hex() for i in outcome[1]] == case["applied_ids_hex"], f"applied {[i.hex() for i in outcome[1]]}")
    elif outcome[0] == "duplicate":
        require(outcome[1] == b.id, "duplicate of another bundle")
    elif outcome[0] == "held":
        require(outcome[1] == case["waiting_for"], f"held waiting for {outcome[1]}")
    else:
        require(outcome[1] == b.author and outcome[2] == case["fork_sequence"], f"fork at {outcome[2]}")
    if "plaintext_hex" not in case:
        # A fork or duplicate whose payload does not open (decided before step 11).
        require(outcome[0] in ("fork", "duplicate"), "payload keys missing")
        try:
            bundles.contents(b, bundle_space(case))
        except Reject:
            require(importer.state.digest_hex() == case["state_digest_hex"], "state digest")
            return
        raise Mismatch("the payload opens, but the case has no payload keys")
    text = bundles.plaintext(b, bundle_space(case))
    require(text.hex() == case["plaintext_hex"], "plaintext")
    context, ops = bundles.contents(b, bundle_space(case))
    require([(a.hex(), s) for a, s in context] == [(e["author"], e["seq"]) for e in case["context"]], f"context {context}")
    require(text.endswith(bytes.fromhex(case["batch_hex"])), "batch_hex is not the end of the plaintext")
    require(ops == [batch.op_from_json(j) for j in case["ops"]], "ops")
    require(importer.state.digest_hex() == case["state_digest_hex"], f"state digest {importer.state.digest_hex()}")


# member_bundles.jsonl

def check_member_bundle(case, earlier):
    """Section 7.11: verification for a space of `space_format`, then every field of a
    valid case, the control op's kind or the opened data payload."""
    data = bytes.fromhex(case["bundle_hex"])
    limit = case.get("max_bundle_bytes", bundles.DEFAULT_MAX_BUNDLE_BYTES)

    def verify():
        return member_bundle.verify(data, bytes.fromhex(case["space_id_hex"]), case["space_format"],
                                    case["now_ms"], case["max_drift_ms"], limit)

    if case["expected"] != "valid":
        return expect_reject(case, verify)
    b = verify()
    require(b.version == case["space_format"], f"format {b.version}")
    require(b.control == case["is_control"] and b.encrypted == case["is_encrypted"], f"control {b.control}, encrypted {b.encrypted}")
    require(b.author.hex() == case["author_hex"] and b.seq == case["sequence"], "author or sequence")
    require(b.previous.hex() == case["previous_hex"], "previous")
    require((str(b.hlc_min), str(b.hlc_max)) == (case["hlc_min"], case["hlc_max"]), f"clock range {b.hlc_min}...{b.hlc_max}")
    require(b.id.hex() == case["bundle_id_hex"], "bundle id")
    require(b.id == crypto.blake2b256(data[:-64]), "the id is not BLAKE2b-256 of the signed bytes")
    require((b.key_id.hex() if b.key_id is not None else None) == case.get("key_id_hex"), "key id")
    if b.control:
        require(b.payload.hex() == case["payload_hex"], "control payload")
        op = member_bundle.control_op(b)
        require(op["kind"] == case["op_kind"], f"op kind {op['kind']}")
        require(control.encode(op) == b.payload, "the control op re-encodes differently")
        return
    key = bytes.fromhex(case["epoch_key_hex"]) if b.encrypted else None
    if key is not None:
        require(member_token.key_id(key) == b.key_id, "the key id is not the epoch key's id")
    wanted = case.get("sections", [])
    require(len(wanted) == len(b.sections), f"{len(b.sections)} scope sections, expected {len(wanted)}")
    for (key_id, sealed), want in zip(b.sections, wanted):
        require(key_id.hex() == want["key_id_hex"] and len(sealed) == want["length"], "section key id or length")
        if "scope_key_hex" not in want:
            continue
        try:
            ops = member_bundle.open_section(b, key_id, sealed, bytes.fromhex(want["scope_key_hex"]))
            got = "valid"
        except Reject as error:
            got = error.code
        require(got == want["expected"], f"scope section {got}, expected {want['expected']}")
        if got == "valid":
            require(batch.encode(ops).hex() == want["batch_hex"], "scope section batch")
    try:
        text = member_bundle.open_data(b, key)
        member_bundle.data_contents(b, text)
        got = "valid"
    except Reject as error:
        got = error.code
    require(got == case.get("open_expected", "valid"), f"general section {got}, expected {case.get('open_expected', 'valid')}")
    if got == "valid":
        require(text.hex() == case["plaintext_hex"], "plaintext")


# bundle_files.jsonl

def check_bundle_file(case, earlier):
    data = bytes.fromhex(case["hex"])
    if case["expected"] != "valid":
        return expect_reject(case, lambda: bundle_file.read(data))
    space_id, entries = bundle_file.read(data)
    require(space_id.hex() == case["space_id_hex"], "space id")
    require([e.hex() for e in entries] == case["bundles_hex"], "bundles")
    require(data[-32:].hex() == case["checksum_hex"], "checksum")


# invites.jsonl

def check_invite(case, earlier):
    if case["expected"] != "valid":
        return expect_reject(case, lambda: invite.parse(case["text"]))
    token = invite.parse(case["text"])
    require(token["kind"] == case["kind"], f"kind {token['kind']}")
    require(token["space_id"].hex() == case["space_id_hex"], "space id")
    require(token["encrypted"] == case["encrypted"], "encrypted")
    require(token["bytes"].hex() == case["token_hex"], "token bytes")


# membership.jsonl

def check_membership(case, earlier):
    if case["type"] == "decode":
        return check_membership_decode(case)
    if case["type"] == "token":
        return check_member_token(case)
    if case["type"] == "history":
        return check_history_blob(case)
    if case["type"] == "policy_body":
        return check_policy_body(case)
    if case["type"] == "peer_secret":
        got = crypto.peer_secret(bytes.fromhex(case["first_epoch_key_hex"]))
        return require(got.hex() == case["peer_secret_hex"], f"peer secret {got.hex()}")
    encrypted = case["encrypted"]
    records = [membership.Record(bytes.fromhex(o["author"]), o["position"], int(o["stamp"]), bytes.fromhex(o["bundle_id"]),
                                 bytes.fromhex(o["payload_hex"])) for o in case["ops"]]
    state = membership.evaluate(records, bytes.fromhex(case["space_id_hex"]), encrypted)
    expected = case["state"]
    members = []
    for device in sorted(state.members):
        m = state.members[device]
        o = {"device": device.hex(), "name": m.name, "role": m.assignments[-1][1],
             "status": "removed" if m.cut else "retired" if m.retired is not None else "active"}
        if m.cut:
            by = state.entries[m.cut[1]]
            o.update(cutoff=m.eff_cut(), removed_by=by.author.hex(), removed_at=str(by.t))
        if m.retired is not None:
            o["retired_after"] = m.eff_retired()
        members.append(o)
    require(members == expected["members"], f"members {members}")
    invites = [{"id": i.hex(), "role": v.role, "expires": str(v.expires), "max_uses": v.max_uses, "uses": v.uses,
                "revoked": bool(v.revocations)} for i, v in sorted(state.invites.items())]
    require(invites == expected["invites"], f"invites {invites}")
    epochs = [{"key_id": e["key_id"].hex(), "kind": e["kind"], "recipients": [r.hex() for r in e["recipients"]],
               "tainted": e["tainted"]} for e in state.epochs]
    require(epochs == expected["epochs"], f"epochs {epochs}")
    current = state.current_epoch
    require((current["key_id"].hex() if current else "") == expected["current_epoch"], "current epoch")
    require([e.bundle_id.hex() for e in state.void] == expected["void"], f"void {[e.bundle_id.hex() for e in state.void]}")
    require([e.bundle_id.hex() for e in state.pending] == expected["pending"], "pending")
    for check in case["admissions"]:
        got = state.admission(bytes.fromhex(check["author"]), check["sequence"], check.get("control", False))
        require(got == check["expected"], f"admission of {check['author'][:8]} at {check['sequence']}: {got}, expected {check['expected']}")
    # permissions.md 3.2 and 4.1: the applied set-policy ops in order, and G(A, k).
    if "policies" in case:
        policies = [{"bundle_id": e.bundle_id.hex(), "form": e.op["form"],
                     "seen": {a.hex(): n for a, n in sorted(e.op["seen"].items())}} for e in state.policies]
        require(policies == case["policies"], f"policies {policies}")
    if "scope_epochs" in case:
        scopes = [{"scope": scope_id(e["readers"]), "readers": e["readers"], "key_id": e["key_id"].hex(),
                   "recipients": [r.hex() for r in e["recipients"]], "tainted": e["tainted"]} for e in state.scope_epochs]
        require(scopes == case["scope_epochs"], f"scope epochs {scopes}")
    for check in case.get("governs", []):
        got = state.governs(bytes.fromhex(check["author"]), check["sequence"])
        got = got.bundle_id.hex() if got else ""
        require(got == check["expected"], f"G({check['author'][:8]}, {check['sequence']}) = {got[:8]}, expected {check['expected'][:8]}")
    # snapshots.md 2 and 3: checkpoints, finality, stale marks, acks; crdt-semantics 11.1.
    if "checkpoints" in case:
        check_stability(case, state)
    # Section 5: the arrival order does not matter (reversed, with duplicates).
    again = membership.evaluate(records[::-1] + records[:3], bytes.fromhex(case["space_id_hex"]), encrypted)
    require([e.bundle_id for e in again.void] == [e.bundle_id for e in state.void], "another arrival order gives another void set")


def _vector(j):
    return {bytes.fromhex(a): n for a, n in j.items()}


def _vector_json(v):
    return {a.hex(): n for a, n in sorted(v.items()) if n}


def check_stability(case, state):
    """snapshots.md 2 and 3, crdt-semantics.md 11.1: the applied checkpoints, each member's
    final position, stale mark and last ack, and the stable cuts of the case."""
    checkpoints = [{"bundle_id": e.bundle_id.hex(), "stable": _vector_json(e.op["stable"]), "seen": _vector_json(e.op["seen"]),
                    "snapshot": "" if e.op["snapshot"] == bytes(32) else e.op["snapshot"].hex()} for e in state.checkpoints]
    require(checkpoints == case["checkpoints"], f"checkpoints {checkpoints}")
    members = [{"device": d.hex(), "final_through": m.final,
                "stale_since": state.entries[m.stale].bundle_id.hex() if m.stale is not None else "",
                "last_ack": m.last_ack[0] if m.last_ack else 0} for d, m in sorted(state.members.items())]
    require(members == case["member_stability"], f"member stability {members}")
    for check in case["stability"]:
        recorded = {}
        for ack in check["acks"]:
            author = bytes.fromhex(ack["author"])
            recorded.setdefault(author, []).append(membership.acknowledgement(author, ack["sequence"], _vector(ack["context"])))
        held = _vector(check["held"])
        counted = [d.hex() for d in membership.counted(state, recorded, held)]
        require(counted == check["counted"], f"counted {counted}")
        cut = _vector_json(membership.stable_cut(state, recorded, held))
        require(cut == check["stable_cut"], f"stable cut {cut}")


def check_policy_body(case):
    """permissions.md 3.2: a sealed set-policy body, with the control bundle's header
    (wire-format 7.11, bytes [0, H)) built here from its fields as associated data."""
    op = membership.decode(bytes.fromhex(case["payload_hex"]), True)
    w = Writer()
    w.raw(b"CNCB\x03\x02" + bytes.fromhex(case["space_id_hex"]) + bytes.fromhex(case["author_hex"]))
    w.varint(case["sequence"])
    w.raw(bytes.fromhex(case["previous_hex"]))
    w.fixed64(int(case["stamp"]))
    w.fixed64(int(case["stamp"]))
    got, body = membership.open_policy_body(op, w.bytes(), bytes.fromhex(case["epoch_key_hex"]))
    require(got == case["expected"], f"{got}, expected {case['expected']}")
    if body is not None:
        require(body.hex() == case["body_hex"], "another body")


def scope_id(readers):
    """permissions.md 7.1: BLAKE2b-256("concord-scope-v1" | varint n | n x string)[0..16]."""
    w = Writer()
    w.raw(b"concord-scope-v1")
    w.varint(len(readers))
    for ref in sorted(set(readers), key=lambda x: x.encode()):
        w.blob(ref.encode())
    return hashlib.blake2b(w.bytes(), digest_size=32).digest()[:16].hex()


def check_member_token(case):
    if case["expected"] != "valid":
        return expect_reject(case, lambda: member_token.parse(case["text"]))
    token = member_token.parse(case["text"])
    require(token["bytes"].hex() == case["token_hex"], "token bytes")
    require(token["space_id"].hex() == case["space_id_hex"], "space id")
    require(token["invite_id"].hex() == case["invite_id_hex"], "invite id")
    require(token["role"] == case["role"], f"role {token['role']}")
    require(str(token["expires"]) == case["expires"], f"expires {token['expires']}")
    require(str(token["invite_stamp"]) == case["invite_stamp"], f"invite stamp {token['invite_stamp']}")
    require(token["encrypted"] == case["encrypted"], "encrypted")
    require(token.get("epoch_key_id", b"").hex() == case.get("epoch_key_id_hex", ""), "epoch key id")
    require(token.get("peer_secret", b"").hex() == case.get("peer_secret_hex", ""), "peer secret")


def check_history_blob(case):
    key, kid, blob = (bytes.fromhex(case[k]) for k in ("epoch_key_hex", "key_id_hex", "blob_hex"))
    if case["expected"] != "valid":
        return expect_reject(case, lambda: member_token.open_history(blob, key, kid))
    entries = member_token.open_history(blob, key, kid)
    got = [{"key_id_hex": i.hex(), "key_hex": k.hex()} for i, k in entries]
    require(got == case["keys"], f"keys {got}")


def check_membership_decode(case):
    payload = bytes.fromhex(case["payload_hex"])
    if case["expected"] != "valid":
        return expect_reject(case, lambda: membership.decode(payload, case["encrypted"]))
    op = membership.decode(payload, case["encrypted"])
    require(op["kind"] == case["kind"], f"kind {op['kind']}")
    require(membership.encode(op) == payload, "re-encoding differs")


# pruning.jsonl (crdt-semantics 11.2-11.3)

def pruning_state(ops_json):
    state = crdt.State()
    for j in ops_json:
        state.apply(batch.op_from_json(j), j.get("bundle"))
    return state


def pruning_frontier(j):
    return {bytes.fromhex(e["replica"]): int(e["hlc"]) for e in j}


def uuid_text(record_id):
    """A record id as operations.jsonl writes it: an uppercase UUID."""
    h = record_id.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pruning_records(state):
    return [{"collection": c.decode("utf-8"), "record": uuid_text(r), "state_hex": s.hex()} for c, r, s in state.record_states()]


def check_pruning(case, earlier):
    frontier = pruning_frontier(case["frontier"])
    if case["group"] == "prune":
        state = pruning_state(case["ops"])
        require(pruning_records(state) == case["record_states"], "record states before pruning")
        require(state.canonical_encoding().hex() == case["canonical_state_hex"], "canonical state before pruning")
        state.prune(frontier)
        require(pruning_records(state) == case["pruned_record_states"], f"pruned record states {pruning_records(state)}")
        require(state.canonical_encoding().hex() == case["canonical_state_hex"], "pruning changed the canonical state")
        for j in case["later_ops"]:
            state.apply(batch.op_from_json(j), j.get("bundle"))
        require(pruning_records(state) == case["later_record_states"], "record states after the later ops")
        require(state.canonical_encoding().hex() == case["later_canonical_state_hex"], "canonical state after the later ops")
        return
    other_frontier = pruning_frontier(case["other_frontier"])
    for mine, theirs, f_mine, f_theirs in ((case["ops"], case["other_ops"], frontier, other_frontier),
                                           (case["other_ops"], case["ops"], other_frontier, frontier)):
        merged = pruning_state(mine).prune(f_mine).merge_pruned(pruning_state(theirs).prune(f_theirs), f_mine, f_theirs)
        require(pruning_records(merged) == case["merged_record_states"], f"merged record states {pruning_records(merged)}")
        require(merged.canonical_encoding().hex() == case["canonical_state_hex"], "merged canonical state")


# snapshots.jsonl (snapshots.md 4.2, 4.4)

def check_snapshot(case, earlier):
    key = bytes.fromhex(case["epoch_key_hex"]) if "epoch_key_hex" in case else None
    chunks = [bytes.fromhex(c) for c in case["chunks_hex"]]
    try:
        m, records = snapshot.load(bytes.fromhex(case["manifest_hex"]), chunks, key)
    except Reject as reject:
        require(reject.code == case["expected"], f"refused with {reject.code} ({reject}), expected {case['expected']}")
        return
    require(case["expected"] == "valid", f"accepted, expected {case['expected']}")
    require(m["id"].hex() == case["snapshot_id_hex"], "snapshot id")
    require(m["state_digest"].hex() == case["state_digest_hex"], "state digest")
    require([(l[0].hex(), l[1]) for l in m["links"]] == [(v["author_hex"], v["seq"]) for v in case["vector"]], "vector")
    require([(c.decode("utf-8"), i.hex(), s.hex()) for c, i, s in records]
            == [(r["collection"], r["id_hex"], r["state_hex"]) for r in case["record_states"]], "records")


FILES = [
    ("values.jsonl", check_value),
    ("operations.jsonl", check_batch),
    ("hlc.jsonl", check_clock),
    ("coalescing.jsonl", check_coalescing),
    ("bundle_files.jsonl", check_bundle_file),
    ("invites.jsonl", check_invite),
    ("bundles.jsonl", check_bundle),
    ("membership.jsonl", check_membership),
    ("member_bundles.jsonl", check_member_bundle),
    ("pruning.jsonl", check_pruning),
    ("snapshots.jsonl", check_snapshot),
]

_loaded = {}


def load(name):
    if name not in _loaded:
        path = VECTORS / name
        _loaded[name] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if path.exists() else []
    return _loaded[name]


def run(first_only=False, files=None, first=None):
    """[(file, case name, message)] for every case the reference disagrees with, and the
    number of cases checked. `files` limits the run to some files; `first` names a file
    to check before the others (the result is the same, only found sooner)."""
    failures, checked = [], 0
    order = sorted(FILES, key=lambda item: item[0] != first)
    for name, checker in order:
        if files and name not in files:
            continue
        earlier = {}
        for case in load(name):
            checked += 1
            try:
                checker(case, earlier)
            except Exception as error:  # a deviation may fail in any way; each counts
                failures.append((name, case.get("name", "?"), f"{type(error).__name__}: {error}"))
                if not isinstance(error, (Mismatch, Reject)):
                    failures[-1] = failures[-1] + ("crash",)
                if first_only:
                    return failures, checked
            earlier[case["name"]] = case
    return failures, checked


def content_key_known_answer():
    """Specs/wire-format.md section 7.8."""
    return crypto.content_key(bytes([5] * 32)).hex() == "d2dc2baf5f96dddd6db164b23b92ee5ba3699159b290652435218c7e61254144"
