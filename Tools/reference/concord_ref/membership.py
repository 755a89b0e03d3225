"""Membership (Specs/membership.md): the signed statements of section 3, the evaluation of
section 5 (with the decisions of 5.1), the epochs of section 7 and the admission decision
of section 6, over records whose control payloads control.py decodes. Written from the
spec text; the Swift model was read only where the text leaves a choice open."""

from . import dev
from .codec import Reject, Writer
from .control import base, decode, encode  # noqa: F401 (the control payload, section 3)
from .crypto import verifies

RANK = {"admin": 0, "writer": 1, "reader": 2}
ADMISSION_KINDS = ("genesis", "join", "successor")
MAX_SUCCESSORS = 16


# Signed statements (section 3 table)

def _statement(context, *parts):
    w = Writer()
    w.raw(context.encode() + b"\x00")
    for p in parts:
        if isinstance(p, str):
            w.blob(p.encode("utf-8"))
        elif isinstance(p, int):
            w.fixed64(p)
        else:
            w.raw(p)
    return w.bytes()


def signature_verifies(op, author, t, space_id):
    kind = op["kind"]
    if kind == "genesis":
        if dev.on("membership-genesis-signature-unchecked"):
            return True
        flags = bytes([1 if op["encrypted"] else 0])
        message = _statement("concord-genesis-v1", space_id, author, op["name"], flags, t)
        return verifies(space_id, message, op["signature"])
    if kind == "join":
        if dev.on("membership-join-signature-unchecked"):
            return True
        message = _statement("concord-join-v1", space_id, author, op["id"], op["name"])
        return verifies(op["id"], message, op["signature"])
    if kind == "successor":
        if dev.on("membership-successor-signature-unchecked"):
            return True
        message = _statement("concord-successor-v1", space_id, op["predecessor"], author, op["cutoff"], op["name"])
        return verifies(op["predecessor"], message, op["signature"])
    return True


# Section 5: evaluation

class Record:
    def __init__(self, author, k, t, bundle_id, payload):
        self.author, self.k, self.t, self.bundle_id, self.payload = author, k, t, bundle_id, payload
        self.op = None

    def key(self):
        return (self.t, self.author, self.k, self.bundle_id, self.payload)


class Member:
    def __init__(self, device, name, role, ref):
        self.device, self.name = device, name
        self.assignments = [(0, role, ref)]  # (boundary, role, op index)
        self.cut = None  # (cut-off, op index)
        self.removals = []  # (cut-off, op index, keep)
        self.retired = None
        self.successors = []
        self.final = 0  # snapshots.md 2: the greatest S_C[device] over applied checkpoints
        self.stale = None  # the applied stale op's index, until an ack of the device after it
        self.last_ack = None  # (k, vector with own entry k) of its latest applied ack op

    def eff_cut(self):
        """The cut-off raised to the final position (finality, snapshots.md 2)."""
        if self.cut is None:
            return None
        return self.cut[0] if dev.on("stability-finality-ignored") else max(self.cut[0], self.final)

    def eff_retired(self):
        if self.retired is None:
            return None
        return self.retired if dev.on("stability-finality-ignored") else max(self.retired, self.final)

    def assigned(self, k, ignore=None):
        """The role of the last assignment (processing order) with boundary < k."""
        order = self.assignments if dev.on("membership-first-assignment-wins") else reversed(self.assignments)
        for b, role, ref in order:
            if ref != ignore and (b < k or (b == k and dev.on("membership-boundary-inclusive"))):
                return role
        return None

    def standing(self, k):
        if self.cut is not None and k > self.eff_cut():
            return "removed"
        if self.retired is not None and k > self.eff_retired():
            return "retired"
        return self.assigned(k)

    def role_prime(self, k):
        """role'(P, k): as standing, ignoring retirement."""
        if self.cut is not None and k > self.eff_cut():
            return "removed"
        return self.assigned(k)


class Invite:
    def __init__(self, op):
        self.id, self.role, self.expires, self.max_uses = op["id"], op["role"], op["expires"], op["max_uses"]
        self.uses = 0
        self.revocations = []  # seen lists

    def admits(self, device):
        if dev.on("membership-revocation-ignores-seen"):
            return not self.revocations
        if dev.on("membership-revocations-any-seen") and self.revocations:
            return any(device in seen for seen in self.revocations)
        return all(device in seen for seen in self.revocations)

    def in_time(self, t):
        if dev.on("membership-expiry-exclusive"):
            return (t >> 16) < self.expires
        return dev.on("membership-ignore-expiry") or (t >> 16) <= self.expires

    def uses_left(self):
        return dev.on("membership-ignore-max-uses") or self.max_uses == 0 or self.uses < self.max_uses


def _order(records):
    if dev.on("membership-duplicates-count"):
        return sorted(records, key=Record.key)
    if dev.on("membership-ties-by-arrival"):
        unique = {r.key(): r for r in records}
        return sorted(unique.values(), key=lambda r: (r.t, r.author, r.k))
    unique = {r.key(): r for r in records}
    if dev.on("membership-arrival-order"):
        seen, out = set(), []
        for r in records:
            if r.key() not in seen:
                seen.add(r.key())
                out.append(r)
        return out
    return [unique[k] for k in sorted(unique)]


class _Pass:
    def __init__(self, entries, sound, voided, space_id, encrypted):
        self.entries, self.sound, self.voided = entries, sound, voided
        self.space_id, self.encrypted = space_id, encrypted
        self.members, self.invites, self.epochs = {}, {}, []
        self.policies = []  # applied set-policy ops (entry indices), membership order
        self.checkpoints = []  # applied checkpoint ops (entry indices), snapshots.md 2
        self.scope_epochs = []  # permissions.md 7.2, processing order
        self.genesis = None
        self.pass_void = set()
        self.forgotten = set()  # ops found void without being recorded in voided (a deviation)
        self.applied_by_author, self.joins_by_invite, self.successors_of = {}, {}, {}
        self.processed_invites, self.waiting = set(), {}

    def run(self):
        """None when the pass ends, else the new voided set (a restart)."""
        for i, e in enumerate(self.entries):
            op = e.op
            if op is not None and op["kind"] == "join" and i not in self.voided \
                    and op["id"] not in self.processed_invites and not dev.on("membership-joins-do-not-wait"):
                self.waiting.setdefault(op["id"], []).append(i)
                continue
            restart = self.process(i)
            if restart is not None:
                return restart
            if op is not None and op["kind"] == "invite" and op["id"] not in self.processed_invites \
                    and (op["id"] in self.invites or not dev.on("membership-only-applied-invites-release")):
                self.processed_invites.add(op["id"])
                for j in self.waiting.pop(op["id"], []):
                    restart = self.process(j)
                    if restart is not None:
                        return restart
        return None

    def process(self, i):
        if i in self.voided:
            return None
        e = self.entries[i]
        if not self.sound[i] or not self.may_act(e) or not self.rule(e):
            if dev.on("membership-void-forgotten-on-restart"):
                self.forgotten.add(i)
                return None
            self.pass_void.add(i)
            return None
        affected = self.apply(e, i)
        self.applied_by_author.setdefault(e.author, []).append(i)
        refused = {j for j in affected if j != i and self.would_refuse(self.entries[j], j)}
        if refused and dev.on("membership-no-restart"):
            # Voids them but keeps their effects (no restart from the empty state).
            self.pass_void |= refused
            return None
        if refused:
            return self.voided | self.pass_void | refused
        return None

    # Step 1 and the mutual-removal rule (5.1)
    def may_act(self, e):
        m = self.members.get(e.author)
        if m is None:
            return True
        standing = m.standing(e.k)
        if standing == "retired":
            return False
        if standing == "removed":
            return self.mutual(e, m)
        return True

    def mutual(self, e, m):
        if dev.on("membership-no-mutual-rule"):
            return False
        op = e.op
        if op["kind"] != "remove":
            return False
        if m.retired is not None and e.k > m.eff_retired():
            return False
        if m.assigned(e.k) != "admin":
            return False
        cuts = [(c, ref) for c, ref, _ in m.removals if c < e.k]
        if dev.on("membership-mutual-ignores-position"):
            return bool(cuts) and all(self.entries[ref].author == op["target"] for _, ref in cuts)
        return bool(cuts) and all(self.entries[ref].author == op["target"] and op["cutoff"] < self.entries[ref].k
                                  for _, ref in cuts)

    def is_admin(self, e):
        m = self.members.get(e.author)
        return m is not None and m.assigned(e.k) == "admin"

    # Step 2: each op's own rule
    def rule(self, e):
        op, k, a = e.op, e.k, e.author
        kind = op["kind"]
        if kind in ADMISSION_KINDS:
            if k != 1 and not dev.on("membership-position-rules-unchecked"):
                return False
        elif k < 2 and not dev.on("membership-position-rules-unchecked"):
            return False
        if kind == "genesis":
            epoch = op["epoch"]
            return self.genesis is None and op["encrypted"] == self.encrypted \
                and (epoch is None or [key for key, _ in epoch["recipients"]] == [a]
                     or dev.on("membership-genesis-recipients-unchecked"))
        if kind == "join":
            inv = self.invites.get(op["id"])
            return a not in self.members and inv is not None and inv.admits(a) and inv.in_time(e.t) and inv.uses_left()
        if kind == "successor":
            p = self.members.get(op["predecessor"])
            if a in self.members or p is None:
                return False
            if any(a not in keep for _, _, keep in p.removals) and not dev.on("membership-removal-spares-successors"):
                return False
            return (len(p.successors) < MAX_SUCCESSORS or dev.on("membership-successors-unlimited")) and base(p.role_prime(op["cutoff"] + 1)) in RANK
        if kind == "ack":  # snapshots.md 2: any member at k, its own entry k - 1
            m = self.members.get(a)
            if m is None or m.standing(k) in (None, "removed", "retired"):
                return False
            return dev.on("stability-ack-own-entry-unchecked") or op["held"].get(a, 0) == k - 1
        if not self.is_admin(e) and not dev.on("membership-admin-unchecked"):
            return False
        if kind == "invite":
            return op["id"] not in self.invites
        if kind == "set-role":
            t = self.members.get(op["target"])
            return t is not None and t.cut is None
        if kind == "remove":
            return op["target"] in self.members
        if kind == "revoke-invite":
            return op["id"] in self.invites
        if kind == "rotate":
            return self.encrypted
        if kind == "scope-key":
            return self.encrypted
        if kind == "stale":
            t = self.members.get(op["target"])
            return t is not None and t.cut is None and t.retired is None
        if kind == "checkpoint":
            stable_ok = all(op["seen"].get(x, 0) >= n for x, n in op["stable"].items())
            return (stable_ok or dev.on("stability-checkpoint-unchecked")) \
                and (op["seen"].get(a, 0) == k - 1 or dev.on("stability-checkpoint-unchecked"))
        if kind == "set-policy":  # permissions.md 3.2: the admin's own entry is k - 1
            return dev.on("policy-seen-unchecked") or op["seen"].get(a, 0) == k - 1
        # grant (of a content epoch or, permissions.md 3.2, a scope epoch)
        return self.encrypted and any(ep["key_id"] == op["key_id"] for ep in self.epochs + self.scope_epochs)

    # Step 4: would the new state have refused an applied op at its own position?
    def would_refuse(self, e, index):
        if not self.may_act(e):
            return True
        op = e.op
        if op["kind"] not in ADMISSION_KINDS and op["kind"] != "ack":
            m = self.members.get(e.author)
            own = None if dev.on("membership-recheck-counts-own-assignment") else index
            if m is None or m.assigned(e.k, ignore=own) != "admin":
                return True
        if op["kind"] == "join":
            inv = self.invites.get(op["id"])
            return inv is None or not inv.admits(e.author)
        if op["kind"] == "successor":
            p = self.members.get(op["predecessor"])
            if dev.on("membership-removal-spares-successors"):
                return False
            return p is not None and any(e.author not in keep for _, _, keep in p.removals)
        return False

    # Step 3: effects
    def apply(self, e, i):
        op, a = e.op, e.author
        kind = op["kind"]
        if kind == "genesis":
            self.genesis = i
            self.members[a] = Member(a, op["name"], "admin", i)
            if op["epoch"]:
                self.start_epoch(op["epoch"], e, kind)
            return []
        if kind == "invite":
            self.invites[op["id"]] = Invite(op)
            return []
        if kind == "join":
            inv = self.invites[op["id"]]
            self.members[a] = Member(a, op["name"], inv.role, i)
            inv.uses += 1
            self.joins_by_invite.setdefault(op["id"], []).append(i)
            return []
        if kind == "set-role":
            t = self.members[op["target"]]
            # snapshots.md 2 (finality): a boundary below the final position takes effect after it
            boundary = op["boundary"] if dev.on("stability-set-role-not-clamped") else max(op["boundary"], t.final)
            t.assignments.append((boundary, op["role"], i))
            return list(self.applied_by_author.get(op["target"], []))
        if kind == "remove":
            t = self.members[op["target"]]
            t.removals.append((op["cutoff"], i, op["keep"]))
            if t.cut is None or op["cutoff"] < t.cut[0] or dev.on("membership-last-cut-wins"):
                t.cut = (op["cutoff"], i)
            if op["epoch"]:
                self.start_epoch(op["epoch"], e, kind)
            return self.applied_by_author.get(op["target"], []) + self.successors_of.get(op["target"], [])
        if kind == "revoke-invite":
            self.invites[op["id"]].revocations.append(op["seen"])
            if dev.on("membership-revocation-not-retroactive"):
                return []
            return list(self.joins_by_invite.get(op["id"], []))
        if kind == "rotate":
            self.start_epoch(op["epoch"], e, kind)
            return []
        if kind == "set-policy":
            self.policies.append(i)
            return []
        if kind == "ack":
            m = self.members[a]
            if not dev.on("stability-ack-keeps-stale"):
                m.stale = None
            if m.last_ack is None or m.last_ack[0] < e.k:
                m.last_ack = (e.k, {**op["held"], a: e.k})
            return []
        if kind == "stale":
            self.members[op["target"]].stale = i
            return []
        if kind == "checkpoint":
            self.checkpoints.append(i)
            for device, n in op["stable"].items():
                if device in self.members:
                    self.members[device].final = max(self.members[device].final, n)
            return []
        if kind == "scope-key":
            keys = [key for key, _ in op["epoch"]["recipients"]]
            reused = any(ep["key_id"] == op["epoch"]["key_id"] for ep in self.epochs + self.scope_epochs)
            tainted = reused or any(not self.in_scope(key, op["readers"], e.t) for key in keys)
            self.scope_epochs.append({"key_id": op["epoch"]["key_id"], "readers": op["readers"], "recipients": keys,
                                      "tainted": tainted})
            return []
        if kind == "grant" and not any(ep["key_id"] == op["key_id"] for ep in self.epochs):
            ep = next(ep for ep in self.scope_epochs if ep["key_id"] == op["key_id"])
            added = [key for key, _ in op["recipients"]]
            ep["recipients"] = sorted(set(ep["recipients"]) | set(added))
            if any(not self.in_scope(key, ep["readers"], e.t) for key in added):
                ep["tainted"] = True
            return []
        if kind == "grant":
            ep = next(ep for ep in self.epochs if ep["key_id"] == op["key_id"])
            added = [key for key, _ in op["recipients"]]
            ep["recipients"] = sorted(set(ep["recipients"]) | set(added))
            if any(not self.safe(key, e.t) for key in added) and not dev.on("membership-grant-never-taints"):
                ep["tainted"] = True
            return []
        # successor
        p = self.members[op["predecessor"]]
        role = p.assignments[-1][1] if dev.on("membership-successor-inherits-role-now") else p.role_prime(op["cutoff"] + 1)
        self.members[a] = Member(a, op["name"], role, i)
        if not dev.on("membership-successor-does-not-retire"):
            p.retired = op["cutoff"] if p.retired is None else min(p.retired, op["cutoff"])
        p.successors.append(a)
        self.successors_of.setdefault(op["predecessor"], []).append(i)
        return list(self.applied_by_author.get(op["predecessor"], []))

    # Section 7 and 5.1 "Taint"
    def safe(self, key, t):
        if dev.on("membership-no-taint"):
            return True
        if key in self.members:
            return self.members[key].cut is None
        if key in self.invites:
            inv = self.invites[key]
            return not inv.revocations and (t >> 16) <= inv.expires
        return False

    # permissions.md 7.1 and 7.2: in the scope of `readers` at stamp t
    def in_scope(self, key, readers, t):
        if dev.on("scope-taint-as-content"):
            return self.safe(key, t)

        def listed(role):
            return role == "admin" or str(role) in readers
        if key in self.members:
            m = self.members[key]
            return m.cut is None and listed(m.assignments[-1][1])
        if key in self.invites:
            inv = self.invites[key]
            return not inv.revocations and (t >> 16) <= inv.expires and listed(inv.role)
        return False

    def start_epoch(self, epoch, e, kind):
        keys = [key for key, _ in epoch["recipients"]]
        reused = any(ep["key_id"] == epoch["key_id"] for ep in self.epochs) and not dev.on("membership-key-reuse-untainted")
        tainted = reused or any(not self.safe(key, e.t) for key in keys)
        self.epochs.append({"key_id": epoch["key_id"], "kind": kind, "recipients": keys, "tainted": tainted})


class State:
    """The result of `evaluate`: members, invites, epochs, void and pending records."""

    def __init__(self, p, entries, voided):
        self.members, self.invites, self.epochs = p.members, p.invites, p.epochs
        self.policies = [entries[i] for i in p.policies]
        self.checkpoints = [entries[i] for i in p.checkpoints]
        self.scope_epochs = p.scope_epochs
        self.void = [entries[i] for i in sorted(voided | p.pass_void | p.forgotten)]
        self.pending = [entries[i] for i in sorted(j for js in p.waiting.values() for j in js)]
        self.introduced = {e.author for e in entries if e.k == 1 and e.op is not None and e.op["kind"] in ADMISSION_KINDS}
        self.entries = entries

    @property
    def current_epoch(self):
        untainted = [ep for ep in self.epochs if not ep["tainted"] or dev.on("membership-current-epoch-last")]
        return untainted[-1] if untainted else None

    def admission(self, author, k, control):
        """Section 6: "held", "applied", "storedAsEvidence", "notAWriter", "removed",
        "retired"."""
        m = self.members.get(author)
        if m is None:
            if control:
                return "applied"
            pending = {e.author for e in self.pending}
            if dev.on("membership-unknown-authors-refused"):
                return "notAWriter"
            if dev.on("membership-void-admission-held"):
                return "held"
            return "notAWriter" if author in self.introduced and author not in pending else "held"
        standing = m.standing(k)
        if standing in ("removed", "retired"):
            if control and standing == "retired" and dev.on("membership-retired-control-applied"):
                return "applied"
            return "storedAsEvidence" if control else standing
        if control or base(standing) in ("admin", "writer"):
            return "applied"
        if base(standing) == "reader" and dev.on("membership-readers-write"):
            return "applied"
        return "notAWriter"


    def governs(self, author, k):
        """permissions.md 4.1: G(A, k), the greatest applied policy (membership order) with
        k > seen[A] (absent: 0); None when there is none."""
        if dev.on("policy-latest-governs"):
            return self.policies[-1] if self.policies else None
        for e in reversed(self.policies):
            seen = e.op["seen"].get(author, 0)
            if (k >= seen if dev.on("policy-governs-inclusive") else k > seen):
                return e
        return None


def open_policy_body(op, header, key):
    """permissions.md 3.2: "valid" and the body, "unreadable" (the key given is not the one
    the op names) or "broken" (it does not authenticate under the key and the control
    bundle's header); for a sealed form."""
    from .crypto import open_box
    from .member_token import key_id
    if key_id(key) != op["key_id"]:
        return "unreadable", None
    ad = op["key_id"] if dev.on("policy-sealed-ad-key-id") else header
    body = open_box(key, op["body"], ad)
    return ("broken", None) if body is None else ("valid", body)


def evaluate(records, space_id, encrypted):
    entries = _order(records)
    sound = []
    for e in entries:
        try:
            e.op = decode(e.payload, encrypted)
            sound.append(e.k >= 1 and signature_verifies(e.op, e.author, e.t, space_id))
        except Reject:
            e.op = None
            sound.append(False)
    voided = set()
    while True:
        p = _Pass(entries, sound, voided, space_id, encrypted)
        more = p.run()
        if more is None:
            return State(p, entries, voided)
        voided = set(more)



# Stability (crdt-semantics.md 11.1, snapshots.md 2 and 3)

def acknowledgement(author, k, context):
    """What bundle (author, k) acknowledges: its vector with its own entry set to k."""
    if dev.on("stability-context-without-own-entry"):
        return (k, {a: n for a, n in context.items() if n})
    return (k, {**{a: n for a, n in context.items() if n}, author: k})


def _later(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if dev.on("stability-latest-ack-only"):
        return a if a[0] >= b[0] else b
    merged = dict(a[1])
    for x, n in b[1].items():
        merged[x] = max(merged.get(x, 0), n)
    return (max(a[0], b[0]), merged)


def latest_acks(state, recorded):
    """Each member's latest acknowledgement: the recorded ones (author -> list of (k,
    vector)) and its applied ack ops."""
    out = {}
    for author, acks in recorded.items():
        for ack in acks:
            out[author] = _later(out.get(author), ack)
    for device, m in state.members.items():
        out[device] = _later(out.get(device), m.last_ack)
    return out


def counted(state, recorded, held):
    """Counted members, sorted: admin or writer at their head, not cut, not retired, not
    stale, acknowledged at least once."""
    acks = latest_acks(state, recorded)
    out = []
    for device in sorted(state.members):
        m = state.members[device]
        ack = acks.get(device)
        if ack is None:
            continue
        if m.cut is not None and not dev.on("stability-removed-counted"):
            continue
        if m.retired is not None:
            continue
        if m.stale is not None and not dev.on("stability-stale-counted"):
            continue
        role = m.standing(max(held.get(device, 0), ack[0]))
        if role in ("removed", "retired") or role is None:
            continue
        if base(role) == "reader" and not dev.on("stability-readers-counted"):
            continue
        out.append(device)
    return out


def stable_cut(state, recorded, held):
    """S[A] = min(held[A], min over counted M of ack(M)[A]); empty with no counted member."""
    acks = latest_acks(state, recorded)
    members = counted(state, recorded, held)
    if not members:
        return {}
    cut = {}
    for author, head in held.items():
        n = min([head] + [acks[m][1].get(author, 0) for m in members])
        if n:
            cut[author] = n
    return cut
