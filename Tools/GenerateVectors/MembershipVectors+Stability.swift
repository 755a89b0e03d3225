// Specs/vectors/membership.jsonl, continued: the control ops ack (0A), stale (0B) and
// checkpoint (0C) of Specs/snapshots.md §2 and §3, finality in the evaluation, and the
// stable cut of Specs/crdt-semantics.md §11.1 (StabilityTracker). Fixed test seeds (bytes
// d1 to df). TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

private let key = MembershipHistoryBuilder.key
private let owner = key(0xD1), deputy = key(0xD2), writerA = key(0xD3), writerB = key(0xD4), readerDevice = key(0xD5)
private let stranger = key(0xD6)
private let inviteDeputy = key(0xD9), inviteWriters = key(0xDA), inviteReader = key(0xDB)
private let t: UInt64 = 1_960_000_000_000
private let never: UInt64 = 4_000_000_000_000

/// One stable-cut computation of an evaluate case: the replica's held vector, the
/// acknowledgements of its data bundles (author, sequence, causal context with the
/// author's entry `k − 1`), and what ``StabilityTracker`` must give.
struct StabilityCheck {
    let held: VersionVector
    let acks: [(PublicKey, UInt64, VersionVector)]

    func run(_ state: MembershipState) -> (counted: [PublicKey], cut: VersionVector) {
        var tracker = StabilityTracker()
        for (author, sequence, context) in acks { tracker.record(.init(author: author, sequence: sequence, context: context)) }
        return (tracker.countedMembers(membership: state, held: held), tracker.stableCut(membership: state, held: held))
    }
}

private func json(_ vector: VersionVector) -> JSON {
    .object(vector.entries.sorted { $0.key < $1.key }.map { ($0.key.hex, JSON.number($0.value)) })
}

func stabilityJSON(_ state: MembershipState, _ checks: [StabilityCheck]) -> [(String, JSON)] {
    let checkpoints = state.checkpoints.map { c -> JSON in
        .object([("bundle_id", .string(c.by.bundleID.hex)), ("stable", json(c.stable)), ("seen", json(c.seen)),
                 ("snapshot", .string(c.snapshot?.hex ?? ""))])
    }
    let members = state.members.map { m -> JSON in
        .object([("device", .string(m.device.hex)), ("final_through", .number(m.finalThrough)),
                 ("stale_since", .string(m.staleSince?.by.bundleID.hex ?? "")), ("last_ack", .number(m.lastAck?.sequence ?? 0))])
    }
    let computations = checks.map { check -> JSON in
        let (counted, cut) = check.run(state)
        let acks = check.acks.map { author, sequence, context -> JSON in
            .object([("author", .string(author.hex)), ("sequence", .number(sequence)), ("context", json(context))])
        }
        return .object([("held", json(check.held)), ("acks", .array(acks)), ("counted", .array(counted.map { .string($0.hex) })),
                        ("stable_cut", json(cut))])
    }
    return [("checkpoints", .array(checkpoints)), ("member_stability", .array(members)), ("stability", .array(computations))]
}

private func vector(_ entries: [(Identity, UInt64)]) -> VersionVector {
    VersionVector(Dictionary(uniqueKeysWithValues: entries.map { ($0.0.publicKey, $0.1) }))
}

/// The owner (genesis 1, invites 2 to 4), an admin deputy, two writers and a reader, each
/// joined at 1.
private func office() -> MembershipHistoryBuilder {
    var h = MembershipHistoryBuilder(encrypted: false, spaceSeed: 0xDF)
    h.genesis(owner, name: "office", at: t)
    h.add("invite-deputy", .invite(id: inviteDeputy.publicKey, role: .admin, expires: never, maxUses: 1), by: owner.publicKey)
    h.add("invite-writers", .invite(id: inviteWriters.publicKey, role: .writer, expires: never, maxUses: 0), by: owner.publicKey)
    h.add("invite-reader", .invite(id: inviteReader.publicKey, role: .reader, expires: never, maxUses: 0), by: owner.publicKey)
    h.join("join-deputy", deputy, with: inviteDeputy, name: "deputy")
    h.join("join-a", writerA, with: inviteWriters, name: "tablet a")
    h.join("join-b", writerB, with: inviteWriters, name: "tablet b")
    h.join("join-reader", readerDevice, with: inviteReader, name: "screen")
    return h
}

@MainActor func addMembershipStabilityVectors() {
    addStabilityDecodeVectors()
    addAckAndStaleHistories()
    addCheckpointHistories()
    addFinalityHistories()
}

@MainActor private func addStabilityDecodeVectors() {
    let (o, d) = (owner.publicKey, deputy.publicKey)
    let (low, high) = o < d ? (o, d) : (d, o)
    let held = vector([(owner, 4), (deputy, 2), (writerA, 7)])
    let ack = MembershipOp.ack(held: held).encoded()
    membershipDecodeCase("ack", "an ack with a held vector of three authors", ack, encrypted: false, "valid")
    membershipDecodeCase("ack_encrypted", "an ack in an encrypted space (acks are never sealed)", ack, encrypted: true, "valid")
    membershipDecodeCase("ack_empty", "an ack with an empty held vector (decodes; void in the evaluation)", MembershipOp.ack(held: VersionVector()).encoded(), encrypted: false, "valid")
    let stale = MembershipOp.stale(target: writerA.publicKey, lastSeen: 12, reason: .admin).encoded()
    membershipDecodeCase("stale_admin", "a stale op by an admin's decision (reason 01)", stale, encrypted: false, "valid")
    membershipDecodeCase("stale_policy", "a stale op from the staleAfter policy (reason 02), last seen 0",
                         MembershipOp.stale(target: writerA.publicKey, lastSeen: 0, reason: .policy).encoded(), encrypted: true, "valid")
    let checkpoint = MembershipOp.checkpoint(stable: vector([(owner, 3), (writerA, 5)]), seen: vector([(owner, 4), (writerA, 7)]), snapshot: nil).encoded()
    membershipDecodeCase("checkpoint", "a checkpoint without a snapshot (id all zero)", checkpoint, encrypted: false, "valid")
    let snapshot = try! Digest32(bytes: [UInt8](repeating: 0x5A, count: 32))
    membershipDecodeCase("checkpoint_with_snapshot", "a checkpoint naming a snapshot",
                         MembershipOp.checkpoint(stable: VersionVector(), seen: vector([(owner, 4)]), snapshot: snapshot).encoded(), encrypted: true, "valid")
    membershipDecodeCase("checkpoint_stable_above_seen", "S_C above R_C decodes (void in the evaluation)",
                         MembershipOp.checkpoint(stable: vector([(writerA, 9)]), seen: vector([(owner, 4), (writerA, 7)]), snapshot: nil).encoded(), encrypted: false, "valid")
    let (ob, lb, hb): ([UInt8], [UInt8], [UInt8]) = (o.bytes, low.bytes, high.bytes)
    let zero32 = [UInt8](repeating: 0, count: 32)
    func bytes(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
    let cases: [(String, String, [UInt8])] = [
        ("ack_entry_zero", "an ack whose held vector has an entry of 0", bytes([1, 10, 1], ob, [0])),
        ("ack_unsorted", "held authors not strictly increasing", bytes([1, 10, 2], hb, [1], lb, [1])),
        ("ack_repeated", "an author twice in the held vector", bytes([1, 10, 2], ob, [1], ob, [2])),
        ("ack_count_beyond_bytes", "a held count of 2 with one entry's bytes", bytes([1, 10, 2], ob, [1])),
        ("ack_trailing_byte", "an ack followed by a byte", bytes(ack, [0])),
        ("ack_no_vector", "an ack with no vector at all", [1, 10]),
        ("stale_reason_00", "a stale op with reason 00", bytes(Array(stale.dropLast()), [0])),
        ("stale_reason_03", "a stale op with reason 03", bytes(Array(stale.dropLast()), [3])),
        ("stale_no_reason", "a stale op without its reason byte", Array(stale.dropLast())),
        ("stale_short_target", "a stale op with a 31-byte target", bytes([1, 11], Array(ob.prefix(31)))),
        ("stale_trailing_byte", "a stale op followed by a byte", bytes(stale, [1])),
        ("checkpoint_short_snapshot", "a checkpoint whose snapshot id has 31 bytes", Array(checkpoint.dropLast())),
        ("checkpoint_trailing_byte", "a checkpoint followed by a byte", bytes(checkpoint, [0])),
        ("checkpoint_seen_unsorted", "a checkpoint whose seen authors are not increasing", bytes([1, 12, 0, 2], hb, [1], lb, [1], zero32)),
        ("checkpoint_stable_entry_zero", "a checkpoint whose stable vector has an entry of 0", bytes([1, 12, 1], ob, [0, 1], ob, [4], zero32)),
    ]
    for (name, description, payload) in cases {
        membershipDecodeCase(name, description, payload, encrypted: false, "malformedBundle")
    }
}

@MainActor private func addAckAndStaleHistories() {
    // Rules of ack: the author's own entry k − 1, bundle 2 or later, a member.
    var h = office()
    h.write(writerA, bundles: 2)  // a's data 2, 3
    h.add("ack-good", .ack(held: vector([(owner, 4), (writerA, 3)])), by: writerA.publicKey)  // a at 4
    h.add("ack-own-k", .ack(held: vector([(owner, 4), (writerA, 5)])), by: writerA.publicKey)  // a at 5: own entry 5, void
    h.add("ack-own-absent", .ack(held: vector([(owner, 4)])), by: writerA.publicKey)  // a at 6: void
    h.add("ack-reader", .ack(held: vector([(readerDevice, 1)])), by: readerDevice.publicKey)  // reader at 2: applied
    h.add("ack-stranger", .ack(held: VersionVector()), by: stranger.publicKey, position: 2)  // not a member: void
    h.add("ack-at-1", .ack(held: VersionVector()), by: key(0xD7).publicKey, position: 1)  // position 1: void
    membershipEvaluateCase(
        "ack_rules",
        "acks: tablet a at 4 with held[a] = 3 is applied; at 5 with held[a] = 5 and at 6 without its own entry are void; the reader's ack is applied (any member may acknowledge; readers are not counted); a stranger's and one at position 1 are void",
        h, admissions: [(writerA, 7, false)]
    ) { s in s.voidOps.count == 4 && s.member(writerA.publicKey)?.lastAck?.sequence == 4 && s.member(readerDevice.publicKey)?.lastAck != nil }

    // Stale until an ack ordered after it; counted members and the stable cut follow.
    h = office()
    h.write(writerA, bundles: 2)  // a's data 2, 3
    h.write(writerB)  // b's data 2
    h.add("ack-b-early", .ack(held: vector([(owner, 4), (writerB, 2)])), by: writerB.publicKey, at: t + 100)  // b at 3
    h.add("stale-b", .stale(target: writerB.publicKey, lastSeen: 3, reason: .admin), by: owner.publicKey, at: t + 200)  // owner at 5
    h.add("stale-a", .stale(target: writerA.publicKey, lastSeen: 3, reason: .policy), by: owner.publicKey, at: t + 210)  // owner at 6
    h.add("ack-a-after", .ack(held: vector([(owner, 6), (writerA, 3), (writerB, 3)])), by: writerA.publicKey, at: t + 300)  // a at 4
    let held = vector([(owner, 6), (deputy, 1), (writerA, 4), (writerB, 3), (readerDevice, 1)])
    let dataAcks: [(PublicKey, UInt64, VersionVector)] = [
        (owner.publicKey, 4, vector([(owner, 3), (writerA, 3), (writerB, 2)])),
        (owner.publicKey, 6, VersionVector()),  // its stale op: a control bundle acknowledges only its own chain
        (deputy.publicKey, 1, VersionVector()),
        (writerB.publicKey, 2, vector([(owner, 4), (writerA, 2), (writerB, 1)])),
    ]
    membershipEvaluateCase(
        "stale_until_ack_after_it",
        "the owner marks tablet b stale after b's ack (b stays stale: its ack is ordered before the stale op) and tablet a stale before a's ack (a's ack clears it). Counted: the owner (a bundle at 4 with a context, then its control bundle at 6, which acknowledges only its own chain: the owner's acknowledgement is the merge, not the latest alone), the deputy (its join at 1 acknowledges only itself) and tablet a; not b (stale), not the reader. The stable cut is the minimum of their acknowledgements and the held vector; with the deputy's ack missing the deputy is not counted",
        h, admissions: [(writerB, 4, false)],
        stability: [
            StabilityCheck(held: held, acks: dataAcks),
            StabilityCheck(held: held, acks: dataAcks.filter { $0.0 != deputy.publicKey }),
            StabilityCheck(held: held, acks: []),
        ]
    ) { s in
        s.member(writerB.publicKey)?.staleSince != nil && s.member(writerA.publicKey)?.staleSince == nil && s.voidOps.isEmpty
            && StabilityCheck(held: held, acks: dataAcks).run(s).counted.count == 3
    }

    // Rules of stale.
    h = office()
    h.add("stale-by-writer", .stale(target: writerB.publicKey, lastSeen: 1, reason: .admin), by: writerA.publicKey)
    h.add("remove-b", .remove(target: writerB.publicKey, cutoff: 1, keep: [], epoch: nil), by: owner.publicKey)
    h.add("stale-removed", .stale(target: writerB.publicKey, lastSeen: 1, reason: .admin), by: owner.publicKey)
    h.add("stale-unknown", .stale(target: stranger.publicKey, lastSeen: 0, reason: .policy), by: owner.publicKey)
    h.add("stale-reader", .stale(target: readerDevice.publicKey, lastSeen: 1, reason: .policy), by: deputy.publicKey)
    membershipEvaluateCase(
        "stale_rules",
        "stale ops: by a writer (void: admins only), of a removed device and of a device that is not a member (void); the deputy (an admin) marks the reader stale (applied)",
        h, admissions: []
    ) { s in s.voidOps.count == 3 && s.member(readerDevice.publicKey)?.staleSince != nil }
}

@MainActor private func addCheckpointHistories() {
    var h = office()
    h.write(writerA, bundles: 4)  // a's data 2 to 5
    h.add("cp-good", .checkpoint(stable: vector([(owner, 3), (writerA, 3)]), seen: vector([(owner, 4), (writerA, 5)]), snapshot: nil), by: owner.publicKey)  // owner 5
    h.add("cp-above-seen", .checkpoint(stable: vector([(writerA, 6)]), seen: vector([(owner, 5), (writerA, 5)]), snapshot: nil), by: owner.publicKey)  // 6
    h.add("cp-own-wrong", .checkpoint(stable: VersionVector(), seen: vector([(owner, 4)]), snapshot: nil), by: owner.publicKey)  // 7
    h.add("cp-by-writer", .checkpoint(stable: VersionVector(), seen: vector([(writerA, 5)]), snapshot: nil), by: writerA.publicKey)  // a 6
    h.add("cp-deputy", .checkpoint(stable: vector([(writerA, 4)]), seen: vector([(deputy, 1), (writerA, 5)]), snapshot: try! Digest32(bytes: [UInt8](repeating: 0x5C, count: 32))), by: deputy.publicKey)  // deputy 2
    membershipEvaluateCase(
        "checkpoint_rules",
        "checkpoints: the owner's with S_C ≤ R_C and R_C[owner] = k − 1 (applied), one with S_C[a] = 6 above R_C[a] = 5, one with R_C[owner] = 4 at k = 7, one by a writer (void); the deputy's naming a snapshot (applied). Tablet a's bundles are final through 4 (the greatest S_C[a])",
        h, admissions: []
    ) { s in s.checkpoints.count == 2 && s.voidOps.count == 3 && s.member(writerA.publicKey)?.finalThrough == 4 }

    // A checkpoint voided retroactively: the deputy's admin role ends below it.
    h = office()
    h.write(writerA, bundles: 4)
    h.add("cp-deputy", .checkpoint(stable: vector([(writerA, 5)]), seen: vector([(deputy, 1), (writerA, 5)]), snapshot: nil), by: deputy.publicKey, at: t + 100)
    h.add("demote-deputy", .setRole(target: deputy.publicKey, role: .writer, boundary: 1), by: owner.publicKey, at: t + 200)
    h.add("remove-a", .remove(target: writerA.publicKey, cutoff: 2, keep: [], epoch: nil), by: owner.publicKey, at: t + 300)
    membershipEvaluateCase(
        "checkpoint_void_after_demotion",
        "the deputy checkpoints tablet a through 5; the owner, not having seen it, demotes the deputy from 2 on: the checkpoint is void retroactively, so nothing is final and the owner's removal of a at 2 cuts a's bundles 3 to 5",
        h, admissions: [(writerA, 2, false), (writerA, 3, false)]
    ) { s in s.checkpoints.isEmpty && s.member(writerA.publicKey)?.cut?.cutoff == 2 }
}

@MainActor private func addFinalityHistories() {
    // Finality clamps a forced cut-off, whether the checkpoint comes before or after the
    // removal in the order.
    var h = office()
    h.write(writerA, bundles: 6)  // a's data 2 to 7
    h.add("cp", .checkpoint(stable: vector([(owner, 4), (writerA, 5)]), seen: vector([(owner, 4), (writerA, 7)]), snapshot: nil), by: owner.publicKey, at: t + 100)
    h.add("forced-remove", .remove(target: writerA.publicKey, cutoff: 2, keep: [], epoch: nil), by: deputy.publicKey, at: t + 200)
    membershipEvaluateCase(
        "finality_clamps_forced_cutoff",
        "the owner checkpoints tablet a through 5; the deputy then removes a with a forced cut-off of 2: the effective cut-off is max(2, S_C[a]) = 5, so a's bundles 3 to 5 stay applied and 6 is refused",
        h, admissions: [(writerA, 3, false), (writerA, 5, false), (writerA, 6, false), (writerA, 6, true)]
    ) { s in s.member(writerA.publicKey)?.cut?.cutoff == 5 && s.member(writerA.publicKey)?.finalThrough == 5 }

    h = office()
    h.write(writerA, bundles: 6)
    h.add("forced-remove", .remove(target: writerA.publicKey, cutoff: 2, keep: [], epoch: nil), by: deputy.publicKey, at: t + 100)
    h.add("cp-later", .checkpoint(stable: vector([(writerA, 4)]), seen: vector([(owner, 4), (writerA, 7)]), snapshot: nil), by: owner.publicKey, at: t + 200)
    h.add("cp-lower", .checkpoint(stable: vector([(writerA, 3)]), seen: vector([(owner, 5), (writerA, 7)]), snapshot: nil), by: owner.publicKey, at: t + 300)
    membershipEvaluateCase(
        "finality_checkpoint_after_removal",
        "the removal (cut-off 2) comes first in the order, then checkpoints through 4 and 3 of tablet a: the effective cut-off is the maximum over every applied checkpoint, 4",
        h, admissions: [(writerA, 4, false), (writerA, 5, false)]
    ) { s in s.member(writerA.publicKey)?.cut?.cutoff == 4 }

    h = office()
    h.write(writerA, bundles: 6)
    h.add("cp", .checkpoint(stable: vector([(writerA, 5)]), seen: vector([(owner, 4), (writerA, 7)]), snapshot: nil), by: owner.publicKey, at: t + 100)
    h.add("to-reader", .setRole(target: writerA.publicKey, role: .reader, boundary: 2), by: deputy.publicKey, at: t + 200)
    membershipEvaluateCase(
        "finality_delays_set_role",
        "after a checkpoint of tablet a through 5, a set-role to reader with boundary 2 takes effect from 6: a's data at 3 and 5 stays applied, at 6 it is refused",
        h, admissions: [(writerA, 3, false), (writerA, 5, false), (writerA, 6, false)]
    ) { s in s.member(writerA.publicKey)?.assignments.last?.boundary == 5 }

    // An honest removal: the cut-off is the remover's head of a, and S_C[a] is below it.
    h = office()
    h.write(writerA, bundles: 6)
    h.add("cp", .checkpoint(stable: vector([(writerA, 4)]), seen: vector([(owner, 4), (writerA, 6)]), snapshot: nil), by: owner.publicKey, at: t + 100)
    h.add("honest-remove", .remove(target: writerA.publicKey, cutoff: 6, keep: [], epoch: nil), by: owner.publicKey, at: t + 200)
    // Stable cuts after the removal: a removed member and a reader are not counted.
    let held = vector([(owner, 6), (deputy, 2), (writerA, 6), (writerB, 2), (readerDevice, 1)])
    let acks: [(PublicKey, UInt64, VersionVector)] = [
        (owner.publicKey, 6, vector([(owner, 5), (deputy, 1), (writerA, 6), (writerB, 1)])),
        (deputy.publicKey, 2, vector([(owner, 6), (deputy, 1), (writerA, 6), (writerB, 1)])),
        (writerB.publicKey, 2, vector([(owner, 6), (deputy, 2), (writerA, 5), (writerB, 1)])),
        (writerA.publicKey, 5, vector([(owner, 4), (writerA, 4)])),
        (readerDevice.publicKey, 1, VersionVector()),
    ]
    membershipEvaluateCase(
        "finality_leaves_an_honest_cutoff",
        "a checkpoint of tablet a through 4, then a removal at the owner's head of a (6): the cut-off stays 6. Stable cut with acknowledgements of the owner, the deputy, tablet b (counted), tablet a (removed) and the reader (not counted): a's and the reader's acknowledgements, which are behind, do not hold the cut back",
        h, admissions: [(writerA, 6, false), (writerA, 7, false)], stability: [StabilityCheck(held: held, acks: acks)]
    ) { s in s.member(writerA.publicKey)?.cut?.cutoff == 6 && StabilityCheck(held: held, acks: acks).run(s).counted.count == 3 }
}
