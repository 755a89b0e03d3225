"""The import pipeline of Specs/wire-format.md section 7.7, with the bundle log (chains,
held and quarantined bundles) and the replica it applies to."""
from . import bundle as bundles, certificates, crdt, crypto, dev, hlc
from .codec import Reject


class Space:
    """What the importer knows of its space: the id, whether it encrypts, the content key."""

    def __init__(self, seed, encrypted):
        self.space_id = crypto.public_key(seed)
        self.encrypted = encrypted
        self.content_key = crypto.content_key(seed)


class Importer:
    """One importing device: its replica state and clock, and its bundle log."""

    def __init__(self, space, now, max_drift, max_bundle_bytes, max_held_bundles):
        self.space = space
        self.now = now
        self.max_drift = max_drift
        self.max_bundle_bytes = max_bundle_bytes
        self.max_held_bundles = max_held_bundles
        self.state = crdt.State()
        self.clock = hlc.Clock(max_drift=max_drift)
        self.heads = {}          # author -> (seq, id)
        self.ids = set()         # ids of the bundles in the chains
        self.held = {}           # (author, seq) -> Bundle
        self.quarantined = []    # Bundles
        self.voided = []         # (id, code) of void chain bundles, in the order they entered
        self.marks = {}          # author -> chain mark: greatest hlc max of its chain's data bundles

    # The pipeline

    def import_bundle(self, data):
        """Returns ("applied", [ids]) | ("duplicate", id) | ("held", waiting_for) |
        ("fork", author, seq); raises Reject (and changes nothing) on a rejection."""
        b = bundles.decode(data, self.max_bundle_bytes) if not dev.on("pipeline-space-before-structure") \
            else self.space_first(data)
        if dev.on("pipeline-signature-before-space"):
            bundles.verify_signature(b)
        self.check_space(b)
        if dev.on("pipeline-membership-before-signature"):
            self.check_member(b)
        bundles.verify_signature(b)
        if dev.on("pipeline-drift-before-membership"):
            self.check_drift(b)
        self.check_member(b)
        if not dev.on("bundle-skips-drift"):
            self.check_drift(b)

        if dev.on("pipeline-position-before-duplicate"):
            fork = self.fork(b)
            if fork:
                return fork
        if self.known(b.id):
            return self.reimport(b)
        if dev.on("pipeline-payload-before-position"):
            contents = bundles.contents(b, self.space)
        fork = self.fork(b)
        if fork:
            return fork
        head_seq = self.head(b.author)[0]
        if dev.on("pipeline-held-limit-before-payload") and b.seq > head_seq + 1:
            self.check_held_limit(b)
        # Only a bundle that extends its chain may be void: one that would be held is
        # rejected on a payload failure, and becomes void when it arrives in order.
        contents = bundles.contents(b, self.space) if b.seq > head_seq + 1 else self.open(b)
        if b.seq > head_seq + 1 or (dev.on("fork-skips-sequence-at-or-below-head") and b.seq <= head_seq):
            if b.seq <= head_seq:
                self.receive(b, contents)
                return ("applied", [b.id])
            self.check_held_limit(b)
            self.held[(b.author, b.seq)] = b
            return ("held", b.seq if dev.on("held-reports-own-sequence") else head_seq + 1)
        self.receive(b, contents)
        return ("applied", [b.id] + self.extend(b))

    def space_first(self, data):
        if len(data) >= 38 and data[6:38] != self.space.space_id:
            raise Reject("wrongSpace", "another space")
        return bundles.decode(data, self.max_bundle_bytes)

    def check_space(self, b):
        if b.space_id != self.space.space_id:
            raise Reject("wrongSpace", "the bundle belongs to another space")

    def check_member(self, b):
        certificates.check_member(b, self.space.space_id, self.now, self.max_drift)

    def check_drift(self, b):
        reading = b.hlc_min if dev.on("bundle-drift-checks-hlc-min") else b.hlc_max
        hlc.check_drift(reading, self.now, self.max_drift)

    def known(self, bundle_id):
        in_held = any(h.id == bundle_id for h in self.held.values()) and not dev.on("duplicate-ignores-held")
        in_quarantine = any(q.id == bundle_id for q in self.quarantined) and not dev.on("duplicate-ignores-quarantined")
        return bundle_id in self.ids or in_held or in_quarantine

    def reimport(self, b):
        """Step 9, and the end of step 13: a held bundle that now extends its chain is
        applied instead of being reported as a duplicate."""
        head_seq = self.head(b.author)[0]
        waiting = self.held.get((b.author, b.seq))
        if b.seq == head_seq + 1 and waiting is not None and waiting.id == b.id:
            self.receive(b, self.open(b))
            del self.held[(b.author, b.seq)]
            return ("applied", [b.id] + self.extend(b))
        return ("duplicate", b.id)

    def head(self, author):
        return self.heads.get(author, (0, bytes(32)))

    def fork(self, b):
        """Step 10: a place the chain already has, a broken link, or a place a held bundle
        already takes."""
        head_seq, head_id = self.head(b.author)
        below = b.seq <= head_seq and not dev.on("fork-skips-sequence-at-or-below-head")
        taken = (b.author, b.seq) in self.held and not dev.on("fork-skips-held-place")
        broken = b.seq == head_seq + 1 and b.previous != head_id and not dev.on("fork-skips-previous-link")
        if below or taken or broken:
            self.quarantined.append(b)
            return ("fork", b.author, b.seq)
        return None

    def check_held_limit(self, b):
        """Step 12: at most max_held_bundles held, counted over all authors."""
        if dev.on("held-limit-per-author"):
            count = sum(1 for author, _ in self.held if author == b.author)
        else:
            count = len(self.held)
        full = count > self.max_held_bundles if dev.on("held-limit-off-by-one") else count >= self.max_held_bundles
        if full:
            raise Reject("tooManyHeldBundles", f"{count} bundles held")

    # Step 11: a verified bundle whose payload every member fails to open the same way is
    # void, not rejected; an unknown batch format stays rejected.
    VOID_CODES = ("decryptionFailed", "encryptionMismatch", "malformedBundle", "emptyBundle", "authorMismatch")

    def open(self, b):
        """The payload's (context, ops), or ("void", code) for a void bundle. Called when b
        extends its chain, so the chain mark is its predecessor's."""
        try:
            contents = bundles.contents(b, self.space)
        except Reject as error:
            voids = error.code in self.VOID_CODES or (dev.on("batch-version-void") and error.code == "unsupportedVersion")
            if not voids or dev.on("payload-failure-rejected"):
                raise
            return ("void", error.code)
        # Chain monotonicity, last in step 11: hlc min after the chain mark.
        mark = self.marks.get(b.author)
        if mark is not None and not getattr(b, "control", False) and not dev.on("monotonicity-off"):
            broken = b.hlc_min < mark if dev.on("monotonicity-allows-equal") else b.hlc_min <= mark
            if broken:
                return ("void", "chainNotMonotone")
        return contents

    def receive(self, b, contents):
        """LocalReplica.receive: observe the newest stamp (drift check), then apply. A void
        bundle applies nothing and moves no clock; it is reported once."""
        if contents[0] == "void":
            self.voided.append((b.id, contents[1]))
            return
        _, ops = contents
        if ops:
            self.clock.observe(max(op.hlc for op in ops), self.now)
        self.state.apply_all(ops)

    def extend(self, b):
        """Append b to its author's chain, then release held bundles that now extend it."""
        self.append(b)
        released = []
        last = b
        while not dev.on("release-nothing"):
            place = (last.author, last.seq + 1)
            nxt = self.held.pop(place, None) or self.take_quarantined(last)
            if nxt is None:
                break
            if nxt.previous != last.id:
                self.quarantined.append(nxt)
                nxt = self.take_quarantined(last)
                if nxt is None:
                    break
            try:
                self.receive(nxt, self.open(nxt))
            except Reject:
                self.held[(nxt.author, nxt.seq)] = nxt
                break
            self.append(nxt)
            released.append(nxt.id)
            last = nxt
            if dev.on("release-only-one"):
                break
        return released

    def take_quarantined(self, last):
        if dev.on("release-skips-quarantined"):
            return None
        for i, q in enumerate(self.quarantined):
            if q.author == last.author and q.seq == last.seq + 1 and q.previous == last.id:
                return self.quarantined.pop(i)
        return None

    def append(self, b):
        mark = self.marks.get(b.author)
        if getattr(b, "control", False):
            pass  # control bundles neither checked nor counted
        elif dev.on("monotonicity-predecessor-only") or mark is None:
            self.marks[b.author] = b.hlc_max
        else:
            self.marks[b.author] = max(mark, b.hlc_max)
        self.heads[b.author] = (b.seq, b.id)
        self.ids.add(b.id)
