// Specs/vectors/membership.jsonl, continued: the cases that close the former known gaps of
// Tools/reference/mutants.py (each history or payload as the former
// Tools/reference/membership_gaps.py built it, from Specs/membership.md §3, §5, §5.1 and
// §7). Each catches one deviation that no earlier case told apart (named above each). Fixed test seeds (bytes 80 to 9f and a0 to b0). TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

private let key = MembershipHistoryBuilder.key
private let creator = key(0x81), adminA = key(0x82), adminB = key(0x83), member = key(0x84)
private let predecessor = key(0x85), successorKey = key(0x86), forger = key(0x87)
private let inviteOne = key(0x91), inviteTwo = key(0x92)
private let t: UInt64 = 1_900_000_000_000
private let never: UInt64 = 4_000_000_000_000

/// A space (seed 80) with its genesis by `creator` at `t`.
private func space(encrypted: Bool = false) -> MembershipHistoryBuilder {
    var h = MembershipHistoryBuilder(encrypted: encrypted, spaceSeed: 0x80)
    h.genesis(creator, name: "creator", at: t)
    return h
}

private func invite(_ h: inout MembershipHistoryBuilder, _ label: String, by a: Identity, _ i: Identity, _ role: RoleAssignment, at ms: UInt64) {
    h.add(label, .invite(id: i.publicKey, role: role, expires: never, maxUses: 0), by: a.publicKey, at: ms)
}

private func setRole(_ h: inout MembershipHistoryBuilder, _ label: String, by a: Identity, _ target: Identity, _ role: RoleAssignment,
                     boundary: UInt64, at ms: UInt64, position: UInt64? = nil) {
    h.add(label, .setRole(target: target.publicKey, role: role, boundary: boundary), by: a.publicKey, at: ms, position: position)
}

private func remove(_ h: inout MembershipHistoryBuilder, _ label: String, by a: Identity, _ target: Identity, cutoff: UInt64,
                    epoch: EpochField? = nil, at ms: UInt64) {
    h.add(label, .remove(target: target.publicKey, cutoff: cutoff, keep: [], epoch: epoch), by: a.publicKey, at: ms)
}

/// A space with `member` joined through a writer invite (creator: genesis 1, invite 2).
private func withWriter(encrypted: Bool = false) -> MembershipHistoryBuilder {
    var h = space(encrypted: encrypted)
    invite(&h, "invite", by: creator, inviteOne, .writer, at: t + 1)
    h.join("join", member, with: inviteOne, name: "member", at: t + 2)
    return h
}

@MainActor func addMembershipGapVectors() {
    addMembershipGapDecodeVectors()

    // membership-ties-by-arrival
    var h = withWriter()
    setRole(&h, "to-reader", by: creator, member, .reader, boundary: 1, at: t + 3, position: 3)
    setRole(&h, "to-admin", by: creator, member, .admin, boundary: 1, at: t + 3, position: 3)
    let (a, b) = (h.names["to-reader"]!, h.names["to-admin"]!)
    let last = a.bundleID.hex > b.bundleID.hex ? a : b
    let winner: RoleAssignment = last == a ? .reader : .admin
    membershipEvaluateCase("tie_broken_by_bundle_id", "two set-roles of one writer by the creator, forked at the same (t, author, k = 3): the one with the greater bundle id is processed last and wins; it arrives first (an implementation breaking ties by arrival order gets the other role)",
                           h, arrival: [last] + h.records.filter { $0 != last },
                           admissions: [(member, 1, false), (member, 1, true)]) { $0.member(member.publicKey)?.role == winner && $0.voidOps.isEmpty }

    // membership-genesis-recipients-unchecked
    h = MembershipHistoryBuilder(encrypted: true, spaceSeed: 0x80)
    let wide = h.epoch([creator.publicKey, member.publicKey])
    h.add("genesis", MembershipStatement.genesis(space: h.spaceKey, author: creator.publicKey, name: "creator", stamp: MembershipHistoryBuilder.stamp(t), epoch: wide),
          by: creator.publicKey, at: t)
    membershipEvaluateCase("genesis_sealed_to_another_device", "encrypted: a genesis whose epoch is sealed to its author and another device: void (its only recipient must be its author); no member, no epoch",
                           h, admissions: [(creator, 2, false), (member, 1, false)]) { $0.voidOps.count == 1 && $0.members.isEmpty && $0.epochs.isEmpty }

    // membership-recheck-counts-own-assignment
    h = space()
    invite(&h, "invite", by: creator, inviteOne, .admin, at: t + 1)
    h.join("join", adminA, with: inviteOne, name: "a", at: t + 2)
    setRole(&h, "demotes-itself", by: adminA, adminA, .writer, boundary: 1, at: t + 3)
    setRole(&h, "demoted", by: creator, adminA, .reader, boundary: 10, at: t + 4)
    let own = h.names["demotes-itself"]!
    membershipEvaluateCase("recheck_ignores_own_assignment", "an admin demotes itself to writer from boundary 1 at its position 2; a later demotion by the creator re-checks its ops, ignoring the assignment its own op made: the self-demotion stays applied (admin, writer, reader)",
                           h, admissions: [(adminA, 1, false), (adminA, 3, false), (adminA, 10, false)]) {
        !$0.voidOps.contains(own) && $0.member(adminA.publicKey)?.assignments.map(\.role) == [.admin, .writer, .reader]
    }

    // membership-revocations-any-seen
    h = withWriter()
    h.add("revoke-seen", .revokeInvite(id: inviteOne.publicKey, seen: [member.publicKey]), by: creator.publicKey, at: t + 3)
    h.add("revoke-unseen", .revokeInvite(id: inviteOne.publicKey, seen: []), by: creator.publicKey, at: t + 4)
    let revokedJoin = h.names["join"]!
    membershipEvaluateCase("invite_revoked_twice", "an invite revoked twice: the join is in the seen list of the first revocation, not of the second: void (a join must be seen by every revocation)",
                           h, admissions: [(member, 2, false)]) { $0.voidOps.contains(revokedJoin) && $0.member(member.publicKey) == nil }

    // membership-successors-unlimited
    h = space()
    invite(&h, "invite", by: creator, inviteOne, .writer, at: t + 1)
    h.join("join", predecessor, with: inviteOne, name: "p", at: t + 2)
    let heirs = (0..<17).map { key(0xA0 + UInt8($0)) }
    for (n, heir) in heirs.enumerated() {
        h.add("successor-\(n)", MembershipStatement.successor(predecessor: predecessor, spaceID: h.spaceID, author: heir.publicKey, cutoff: 1, name: "heir \(n)"),
              by: heir.publicKey, at: t + 3 + UInt64(n))
    }
    let heirOps = (0..<17).map { h.names["successor-\($0)"]! }
    membershipEvaluateCase("seventeen_successors", "seventeen successors of one writer: the first 16 in order apply, the 17th is void",
                           h, admissions: [(heirs[0], 1, false), (heirs[15], 1, false), (heirs[16], 1, false)]) {
        $0.voidOps == [heirOps[16]] && $0.member(heirs[16].publicKey) == nil && $0.member(heirs[15].publicKey) != nil
    }

    // membership-grant-never-taints
    h = withWriter(encrypted: true)
    let removal = h.epoch([creator.publicKey])
    remove(&h, "remove", by: creator, member, cutoff: 1, epoch: removal, at: t + 3)
    h.add("grant", .grant(keyID: removal.keyID, recipients: [.init(key: member.publicKey, sealed: [UInt8](repeating: 0x77, count: 80))]),
          by: creator.publicKey, at: t + 4)
    membershipEvaluateCase("grant_to_removed_taints", "encrypted: a writer is removed (the removal's epoch sealed to the creator only), then the creator grants that epoch to the removed writer: the epoch is tainted and the current epoch stays the genesis's",
                           h, admissions: [(member, 2, false)]) { $0.epochs.map(\.isTainted) == [false, true] && $0.currentEpoch == $0.epochs.first }
    addMembershipGapHistories()
}

/// membership-genesis-signature-unchecked to membership-key-reuse-untainted.
@MainActor private func addMembershipGapHistories() {
    // membership-genesis-signature-unchecked
    var h = MembershipHistoryBuilder(encrypted: false, spaceSeed: 0x80)
    h.add("forged", MembershipStatement.genesis(space: forger, author: forger.publicKey, name: "forger", stamp: MembershipHistoryBuilder.stamp(t - 1), epoch: nil),
          by: forger.publicKey, at: t - 1)
    h.genesis(creator, name: "creator", at: t)
    let forged = h.names["forged"]!
    membershipEvaluateCase("forged_genesis_first", "a genesis signed by another key than the space's, stamped before the real one: void, and the real genesis applies (in forged_signatures the forged genesis comes second, void as a second genesis whatever its signature)",
                           h, admissions: [(forger, 2, false), (creator, 2, false)]) {
        $0.voidOps == [forged] && $0.member(creator.publicKey) != nil && $0.member(forger.publicKey) == nil
    }

    // membership-position-rules-unchecked
    h = space()
    invite(&h, "invite", by: creator, inviteOne, .writer, at: t + 1)
    h.add("late-join", MembershipStatement.join(invite: inviteOne, spaceID: h.spaceID, author: member.publicKey, name: "member"),
          by: member.publicKey, at: t + 2, position: 2)
    let late = h.names["late-join"]!
    membershipEvaluateCase("join_not_first", "a join at its author's position 2 (its bundle 1 is data): void",
                           h, admissions: [(member, 1, false), (member, 3, false)]) { $0.voidOps == [late] && $0.member(member.publicKey) == nil }

    // membership-admin-unchecked
    h = withWriter()
    invite(&h, "writer-invites", by: member, inviteTwo, .admin, at: t + 3)
    let byWriter = h.names["writer-invites"]!
    membershipEvaluateCase("invite_by_writer", "a writer issues an invite: void (only admins invite)",
                           h, admissions: [(member, 2, true), (member, 3, false)]) { $0.voidOps == [byWriter] && $0.invite(inviteTwo.publicKey) == nil }

    // membership-last-cut-wins
    h = withWriter()
    remove(&h, "remove-2", by: creator, member, cutoff: 2, at: t + 3)
    remove(&h, "remove-5", by: creator, member, cutoff: 5, at: t + 4)
    membershipEvaluateCase("two_removals_lowest_cut", "two removals of one writer, cut-off 2 then cut-off 5: the cut is the lowest (2); its bundle 3 is refused",
                           h, admissions: [(member, 2, false), (member, 3, false), (member, 6, false)]) { $0.member(member.publicKey)?.cut?.cutoff == 2 }

    // membership-void-forgotten-on-restart
    h = space()
    invite(&h, "invite", by: creator, inviteOne, .admin, at: t + 1)
    h.join("join-a", adminA, with: inviteOne, name: "a", at: t + 2)
    h.join("join-b", adminB, with: inviteOne, name: "b", at: t + 3)
    remove(&h, "a-removes-b", by: adminA, adminB, cutoff: 1, at: t + 4)
    invite(&h, "b-invites", by: adminB, inviteTwo, .writer, at: t + 5)
    remove(&h, "creator-removes-a", by: creator, adminA, cutoff: 1, at: t + 6)
    let voided = h.names["b-invites"]!
    membershipEvaluateCase("voided_kept_after_restart", "B (admin) is removed by A at cut-off 1, so B's invite at its position 2 is void; the creator then removes A at cut-off 1, voiding A's removal of B and restarting: B stays, its invite stays void (kept in voided)",
                           h, admissions: [(adminB, 2, false), (adminA, 2, false)]) {
        $0.voidOps.contains(voided) && $0.invite(inviteTwo.publicKey) == nil && $0.member(adminB.publicKey)?.cut == nil
    }

    // membership-successor-inherits-role-now
    h = space()
    invite(&h, "invite", by: creator, inviteOne, .admin, at: t + 1)
    h.join("join", predecessor, with: inviteOne, name: "p", at: t + 2)
    setRole(&h, "demote", by: creator, predecessor, .writer, boundary: 6, at: t + 3)
    h.add("successor", MembershipStatement.successor(predecessor: predecessor, spaceID: h.spaceID, author: successorKey.publicKey, cutoff: 4, name: "restored"),
          by: successorKey.publicKey, at: t + 4)
    membershipEvaluateCase("successor_inherits_role_at_cutoff", "an admin is demoted to writer from boundary 6 before its successor (cut-off 4) applies: the successor inherits the role at the cut-off + 1 (admin), not the predecessor's current one",
                           h, admissions: [(successorKey, 2, true)]) { $0.member(successorKey.publicKey)?.role == .admin }

    // membership-key-reuse-untainted
    h = space(encrypted: true)
    let first = h.evaluate().epochs[0].keyID
    h.add("rotate", .rotate(try! EpochField(keyID: first, recipients: [.init(key: creator.publicKey, sealed: [UInt8](repeating: 0x78, count: 80))])),
          by: creator.publicKey, at: t + 1)
    membershipEvaluateCase("rotation_reuses_key_id", "encrypted: a rotation whose key id repeats the genesis epoch's is tainted; the current epoch stays the genesis's",
                           h, admissions: [(creator, 3, false)]) { $0.epochs.map(\.isTainted) == [false, true] && $0.currentEpoch == $0.epochs.first }
}

@MainActor private func addMembershipGapDecodeVectors() {
    let signature = creator.sign([4, 5, 6])
    // membership-genesis-reserved-flags-accepted
    var flags = MembershipOp.genesis(name: "creator", encrypted: false, spaceSignature: signature, epoch: nil).encoded()
    flags[3 + "creator".utf8.count] = 0x02
    membershipDecodeCase("genesis_reserved_flag", "a genesis with flags 02 (a reserved bit) in an unencrypted space", flags, encrypted: false, "malformedBundle")

    // membership-grant-in-plain-space-rejected
    let grant = MembershipOp.grant(keyID: try! EpochKeyID(bytes: [UInt8](repeating: 0xE1, count: 16)),
                                   recipients: [.init(key: member.publicKey, sealed: [UInt8](repeating: 0x5E, count: 80))])
    membershipDecodeCase("grant_in_plain_space", "a grant read in an unencrypted space decodes (it is void in the evaluation)", grant.encoded(), encrypted: false, "valid")

    // membership-genesis-history-accepted
    let epoch = try! EpochField(keyID: EpochKeyID(bytes: [UInt8](repeating: 0xE2, count: 16)),
                                recipients: [.init(key: creator.publicKey, sealed: [UInt8](repeating: 0x5E, count: 80))],
                                history: [UInt8](repeating: 0x11, count: 88))
    membershipDecodeCase("genesis_with_history", "an encrypted genesis whose epoch carries a history blob (88 bytes): a genesis's history blob is empty",
                         MembershipOp.genesis(name: "creator", encrypted: true, spaceSignature: signature, epoch: epoch).encoded(), encrypted: true, "malformedBundle")

    // membership-name-length-in-characters
    membershipDecodeCase("name_33_two_byte_characters", "a join whose name is 33 two-byte characters (66 bytes): the limit is 64 bytes, not 64 characters",
                         MembershipOp.join(invite: inviteOne.publicKey, name: String(repeating: "é", count: 33), inviteSignature: signature).encoded(),
                         encrypted: false, "malformedBundle")
}
