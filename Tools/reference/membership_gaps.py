#!/usr/bin/env python3
"""The membership deviations that Specs/vectors/membership.jsonl does not catch yet
(mutants.py KNOWN_GAPS), each with a small history that would catch it.

    python3 Tools/reference/membership_gaps.py

For each gap: builds the history (fresh keys, signed statements), evaluates it with the
unmodified reference, requires the outcome the spec text gives (written here by hand
from Specs/membership.md), then switches the deviation on and requires another outcome.
So each history is a vector to add to the Swift generator. Exits 1 if a history does
not tell the deviation apart (or the reference disagrees with the expected outcome)."""
import hashlib
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from concord_ref import dev, membership  # noqa: E402
from concord_ref.crypto import SigningKey  # noqa: E402
from concord_ref.membership import Record, encode  # noqa: E402

MS = 1_900_000_000_000


def key(n):
    return SigningKey(hashlib.sha256(b"gap key %d" % n).digest())


def pk(k):
    return bytes(k.verify_key)


class History:
    def __init__(self, encrypted=False):
        self.space = key(0)
        self.space_id = pk(self.space)
        self.encrypted = encrypted
        self.records = []
        self.next_seq = {}

    def add(self, author, op, ms, k=None):
        a = pk(author)
        k = k or self.next_seq.get(a, 1)
        self.next_seq[a] = k + 1
        payload = encode(op)
        r = Record(a, k, ms << 16, hashlib.sha256(payload + a).digest(), payload)
        self.records.append(r)
        return r

    def statement(self, context, *parts):
        return membership._statement(context, *parts)

    def genesis(self, author, ms, signer=None, name="creator", epoch_key_id=None, sealed_to=None):
        t = ms << 16
        flags = bytes([1 if self.encrypted else 0])
        sig = (signer or self.space).sign(self.statement("concord-genesis-v1", self.space_id, pk(author), name, flags, t)).signature
        to = sorted(pk(k) for k in (sealed_to or [author]))
        epoch = {"key_id": epoch_key_id, "recipients": [(r, bytes(80)) for r in to], "history": b""} if self.encrypted else None
        return self.add(author, {"kind": "genesis", "name": name, "encrypted": self.encrypted, "signature": sig, "epoch": epoch}, ms)

    def invite(self, admin, invite_key, role, ms, max_uses=0):
        return self.add(admin, {"kind": "invite", "id": pk(invite_key), "role": role, "expires": MS + 10**6, "max_uses": max_uses}, ms)

    def join(self, device, invite_key, ms, name="member", k=None):
        sig = invite_key.sign(self.statement("concord-join-v1", self.space_id, pk(device), pk(invite_key), name)).signature
        return self.add(device, {"kind": "join", "id": pk(invite_key), "name": name, "signature": sig}, ms, k)

    def remove(self, admin, target, cutoff, ms, epoch=None):
        return self.add(admin, {"kind": "remove", "target": pk(target), "cutoff": cutoff, "keep": [], "epoch": epoch}, ms)

    def revoke(self, admin, invite_key, seen, ms):
        return self.add(admin, {"kind": "revoke-invite", "id": pk(invite_key), "seen": sorted(pk(d) for d in seen)}, ms)

    def grant(self, admin, key_id, recipients, ms):
        return self.add(admin, {"kind": "grant", "key_id": key_id, "recipients": [(pk(r), bytes(80)) for r in sorted(recipients, key=pk)]}, ms)

    def set_role(self, admin, target, role, boundary, ms):
        return self.add(admin, {"kind": "set-role", "target": pk(target), "role": role, "boundary": boundary}, ms)

    def successor(self, device, predecessor, cutoff, ms, name="restored"):
        sig = predecessor.sign(self.statement("concord-successor-v1", self.space_id, pk(predecessor), pk(device), cutoff, name)).signature
        return self.add(device, {"kind": "successor", "predecessor": pk(predecessor), "cutoff": cutoff, "name": name, "signature": sig}, ms)

    def rotate(self, admin, key_id, recipients, ms):
        epoch = {"key_id": key_id, "recipients": [(pk(r), bytes(80)) for r in sorted(recipients, key=pk)], "history": b""}
        return self.add(admin, {"kind": "rotate", "epoch": epoch}, ms)

    def evaluate(self):
        return membership.evaluate(self.records, self.space_id, self.encrypted)


G, A, B, W, P, S, F = (key(n) for n in range(1, 8))
I1, I2, J = (key(n) for n in range(10, 13))


def summary(state):
    """What a vector would compare: members (role, status, cut-off), invites, epochs, void."""
    return {
        "members": {d.hex()[:8]: (m.assignments[-1][1], m.cut[0] if m.cut else None, m.retired) for d, m in state.members.items()},
        "invites": sorted(i.hex()[:8] for i in state.invites),
        "epochs": [(e["key_id"].hex()[:4], e["tainted"]) for e in state.epochs],
        "void": sorted(e.bundle_id.hex()[:8] for e in state.void),
    }


def gap_genesis_signature():
    """A genesis signed by another key than the space key, stamped before the real one:
    void, and the real genesis applies. (In forged_signatures the forged genesis comes
    after the real one, so it is void as a second genesis whatever its signature.)"""
    h = History()
    forged = h.genesis(F, MS - 1, signer=F)
    h.genesis(G, MS)
    return h, lambda s: forged in s.void and pk(G) in s.members and pk(F) not in s.members


def gap_positions():
    """A join at its author's position 2 (its bundle 1 is data): void."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    late = h.join(W, I1, MS + 2, k=2)
    return h, lambda s: late in s.void and pk(W) not in s.members


def gap_admin_rule():
    """A writer issues an invite: void (role(A, k) = admin is its rule)."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    h.join(W, I1, MS + 2)
    bad = h.invite(W, J, "admin", MS + 3)
    return h, lambda s: bad in s.void and pk(J) not in s.invites


def gap_lowest_cut():
    """Two removals of one writer, cut-off 2 then cut-off 5: the cut is the lowest (2)."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    h.join(W, I1, MS + 2)
    h.remove(G, W, 2, MS + 3)
    h.remove(G, W, 5, MS + 4)
    return h, lambda s: s.members[pk(W)].cut[0] == 2 and s.admission(pk(W), 3, False) == "removed"


def gap_voided_kept():
    """5.1 "What voided holds": B (admin) is removed by A at cut-off 1, so B's invite at 2
    is void; then G removes A at cut-off 1, which voids A's removal of B retroactively
    and restarts. B's invite stays void (it was added to voided)."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "admin", MS + 1)
    h.join(A, I1, MS + 2, name="a")
    h.join(B, I1, MS + 3, name="b")
    h.remove(A, B, 1, MS + 4)
    bad = h.invite(B, J, "writer", MS + 5)
    h.remove(G, A, 1, MS + 6)
    return h, lambda s: bad in s.void and pk(J) not in s.invites and s.members[pk(B)].cut is None


def gap_successor_role():
    """The predecessor P (admin) is demoted to writer from boundary 6 before its successor
    (cut-off 4) is applied: the successor inherits role'(P, 5) = admin, not P's current
    role."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "admin", MS + 1)
    h.join(P, I1, MS + 2)
    h.set_role(G, P, "writer", 6, MS + 3)
    h.successor(S, P, 4, MS + 4)
    return h, lambda s: s.members[pk(S)].assignments[-1][1] == "admin"


def gap_key_reuse():
    """Encrypted: a rotation whose key id repeats the genesis epoch's is tainted, and the
    current epoch stays the genesis's."""
    h = History(encrypted=True)
    h.genesis(G, MS, epoch_key_id=bytes([1] * 16))
    h.rotate(G, bytes([1] * 16), [G], MS + 1)
    return h, lambda s: [e["tainted"] for e in s.epochs] == [False, True] and s.current_epoch is s.epochs[0]


class DecodeCase:
    """A decode vector: `evaluate` decodes the payload (None when rejected)."""

    def __init__(self, payload, encrypted=False):
        self.payload, self.encrypted = payload, encrypted

    def evaluate(self):
        try:
            return membership.decode(self.payload, self.encrypted)
        except membership.Reject as error:
            return error.code


def gap_name_bytes():
    """A join whose name is 33 two-byte characters (66 bytes, 33 characters): malformedBundle."""
    op = {"kind": "join", "id": pk(I1), "name": "\u00e9" * 33, "signature": bytes(64)}
    return DecodeCase(encode(op)), lambda result: result == "malformedBundle"


def gap_genesis_history():
    """An encrypted genesis whose epoch carries a history blob (88 bytes): malformedBundle
    (5.1 "Genesis": its history blob is empty; the Swift decoder rejects it)."""
    op = {"kind": "genesis", "name": "creator", "encrypted": True, "signature": bytes(64),
          "epoch": {"key_id": bytes(16), "recipients": [(pk(G), bytes(80))], "history": bytes(88)}}
    return DecodeCase(encode(op), encrypted=True), lambda result: result == "malformedBundle"


def gap_genesis_recipients():
    """An encrypted genesis sealed to its author and another device: void (5.1 "Genesis")."""
    h = History(encrypted=True)
    g = h.genesis(G, MS, epoch_key_id=bytes([1] * 16), sealed_to=[G, W])
    return h, lambda s: g in s.void and not s.members and not s.epochs


def gap_own_assignment():
    """5.1 "Retroactivity": admin X demotes itself to writer from boundary 1 at its position
    2; a later demotion of X by G re-checks X's ops, ignoring the assignment X's op made
    itself: X's set-role stays applied."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "admin", MS + 1)
    h.join(A, I1, MS + 2)
    own = h.set_role(A, A, "writer", 1, MS + 3)
    h.set_role(G, A, "reader", 10, MS + 4)
    return h, lambda s: own not in s.void and [r for _, r, _ in s.members[pk(A)].assignments] == ["admin", "writer", "reader"]


def gap_revoked_twice():
    """5.1 "Revoked twice": W's join is in the seen list of the first revocation, not of
    the second: void."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    j = h.join(W, I1, MS + 2)
    h.revoke(G, I1, [W], MS + 3)
    h.revoke(G, I1, [], MS + 4)
    return h, lambda s: j in s.void and pk(W) not in s.members


def gap_sixteen_successors():
    """Seventeen successors of one writer: the first 16 in order apply, the 17th is void."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    h.join(P, I1, MS + 2)
    made = [h.successor(key(100 + n), P, 1, MS + 3 + n) for n in range(17)]
    return h, lambda s: made[16] in s.void and not any(m in s.void for m in made[:16])


def gap_grant_taint():
    """Encrypted: W is removed (the removal's epoch K2 sealed to G only), then G grants K2
    to W: K2 is tainted (5.1 "Taint": a grant sealing to a removed device)."""
    h = History(encrypted=True)
    h.genesis(G, MS, epoch_key_id=bytes([1] * 16))
    h.invite(G, I1, "writer", MS + 1)
    h.join(W, I1, MS + 2)
    h.remove(G, W, 1, MS + 3, epoch={"key_id": bytes([2] * 16), "recipients": [(pk(G), bytes(80))], "history": b""})
    h.grant(G, bytes([2] * 16), [W], MS + 4)
    return h, lambda s: [e["tainted"] for e in s.epochs] == [False, True] and s.current_epoch is s.epochs[0]


def gap_genesis_reserved_flags():
    """A genesis with flags 02 (a reserved bit) in an unencrypted space: malformedBundle."""
    op = {"kind": "genesis", "name": "creator", "encrypted": False, "signature": bytes(64), "epoch": None}
    payload = bytearray(encode(op))
    payload[3 + len("creator")] = 0x02
    return DecodeCase(bytes(payload)), lambda result: result == "malformedBundle"


def gap_grant_in_plain_space():
    """A grant read in an unencrypted space decodes (5.1 "Decoder"; it is void in the
    evaluation)."""
    op = {"kind": "grant", "key_id": bytes(16), "recipients": [(pk(W), bytes(80))]}
    return DecodeCase(encode(op)), lambda result: isinstance(result, dict) and result["kind"] == "grant"


def gap_ties():
    """Two set-roles of W by G forked at the same (t, G, k = 3): the one with the greater
    bundle id is processed last and wins (5.1 "Total order"); they arrive in the other
    order."""
    h = History()
    h.genesis(G, MS)
    h.invite(G, I1, "writer", MS + 1)
    h.join(W, I1, MS + 2)
    a = h.set_role(G, W, "reader", 1, MS + 3)
    h.next_seq[pk(G)] = 3
    b = h.set_role(G, W, "admin", 1, MS + 3)
    last = max(a, b, key=lambda r: r.bundle_id)
    h.records.remove(last)
    h.records.insert(0, last)  # arrives first
    role = "reader" if last is a else "admin"
    return h, lambda s: s.members[pk(W)].assignments[-1][1] == role


GAPS = [
    ("membership-genesis-reserved-flags-accepted", gap_genesis_reserved_flags),
    ("membership-grant-in-plain-space-rejected", gap_grant_in_plain_space),
    ("membership-ties-by-arrival", gap_ties),
    ("membership-genesis-history-accepted", gap_genesis_history),
    ("membership-genesis-recipients-unchecked", gap_genesis_recipients),
    ("membership-recheck-counts-own-assignment", gap_own_assignment),
    ("membership-revocations-any-seen", gap_revoked_twice),
    ("membership-successors-unlimited", gap_sixteen_successors),
    ("membership-grant-never-taints", gap_grant_taint),
    ("membership-name-length-in-characters", gap_name_bytes),
    ("membership-genesis-signature-unchecked", gap_genesis_signature),
    ("membership-position-rules-unchecked", gap_positions),
    ("membership-admin-unchecked", gap_admin_rule),
    ("membership-last-cut-wins", gap_lowest_cut),
    ("membership-void-forgotten-on-restart", gap_voided_kept),
    ("membership-successor-inherits-role-now", gap_successor_role),
    ("membership-key-reuse-untainted", gap_key_reuse),
]


def main():
    from mutants import KNOWN_GAPS
    bad = 0
    if sorted(KNOWN_GAPS) != sorted(name for name, _ in GAPS):
        print(f"mutants.py KNOWN_GAPS and the histories here name different deviations", file=sys.stderr)
        bad += 1
    for name, build in GAPS:
        dev.ACTIVE = frozenset()
        h, expected = build()
        right = h.evaluate()
        ok = expected(right)
        dev.ACTIVE = frozenset([name])
        wrong = h.evaluate()
        differs = not expected(wrong) or (isinstance(h, History) and summary(wrong) != summary(right))
        dev.ACTIVE = frozenset()
        print(f"{name}: reference {'gives' if ok else 'DOES NOT give'} the expected outcome; "
              f"the deviation {'is' if differs else 'is NOT'} told apart ({build.__doc__.split(':')[0].strip()})")
        bad += not (ok and differs)
    print(f"{len(GAPS) - bad} of {len(GAPS)} gap histories tell their deviation apart")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
