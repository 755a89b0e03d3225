// The cases of Specs/vectors/membership.jsonl (MembershipVectors.swift writes them).
import Concord
import ConcordCore
import ConcordCrypto

private let key = MembershipHistoryBuilder.key
private let admin = key(0x51), second = key(0x52), writer = key(0x53), reader = key(0x54)
private let stranger = key(0x55), restored = key(0x56)
private let inviteA = key(0x61), inviteW = key(0x62), inviteR = key(0x63), inviteX = key(0x64), inviteY = key(0x65)
private let t: UInt64 = 1_900_000_000_000

/// Two admins, a writer and a reader, each with one data bundle after joining. Chains:
/// admin 1 genesis, 2-4 invites, 5 data (next 6); the others 1 join, 2 data (next 3).
private func classroom(encrypted: Bool = false) -> MembershipHistoryBuilder {
    var h = MembershipHistoryBuilder(encrypted: encrypted)
    h.genesis(admin, name: "Ms Dlamini's laptop")
    h.add("invite-admin", .invite(id: inviteA.publicKey, role: .admin, expires: 4_000_000_000_000, maxUses: 1), by: admin.publicKey)
    h.add("invite-writer", .invite(id: inviteW.publicKey, role: .writer, expires: 4_000_000_000_000, maxUses: 0), by: admin.publicKey)
    h.add("invite-reader", .invite(id: inviteR.publicKey, role: .reader, expires: 4_000_000_000_000, maxUses: 0), by: admin.publicKey)
    h.join("join-second", second, with: inviteA, name: "office")
    h.join("join-writer", writer, with: inviteW, name: "Amina's tablet")
    h.join("join-reader", reader, with: inviteR, name: "projector")
    for device in [admin, second, writer, reader] { h.write(device) }
    return h
}

private func remove(_ h: inout MembershipHistoryBuilder, _ label: String, by a: Identity, _ target: Identity, cutoff: UInt64,
                    keep: [PublicKey] = [], recipients: [PublicKey] = [], at ms: UInt64? = nil) {
    let epoch = h.encrypted ? h.epoch(recipients.isEmpty ? [a.publicKey] : recipients) : nil
    h.add(label, .remove(target: target.publicKey, cutoff: cutoff, keep: keep.sorted(), epoch: epoch), by: a.publicKey, at: ms)
}

@MainActor func addMembershipVectors() {
    addMembershipDecodeVectors()
    addMembershipTokenVectors()
    let everyone = [admin, second, writer, reader, stranger, restored]
    func all(_ ks: [UInt64]) -> [(Identity, UInt64, Bool)] { everyone.flatMap { d in ks.map { (d, $0, false) } } }

    var h = classroom()
    membershipEvaluateCase("admissions_by_role", "a genesis, three invites and three joins: admins and writers are applied, readers refused, unknown devices held",
                           h, admissions: all([1, 2, 3]) + [(reader, 2, true)]) { $0.voidOps.isEmpty && $0.members.count == 4 }

    h = classroom()
    h.add("invite-x", .invite(id: inviteX.publicKey, role: .writer, expires: 4_000_000_000_000, maxUses: 0), by: admin.publicKey)
    h.join("join-stranger", stranger, with: inviteX, name: "guest")
    var partial = h
    partial.records.removeAll { $0 == h.names["invite-x"] }
    membershipEvaluateCase("join_pending_without_its_invite", "a join whose invite op is not held is pending (neither valid nor void); its author's data is held",
                           partial, admissions: [(stranger, 2, false), (stranger, 2, true)]) { $0.pendingDevices == [stranger.publicKey] && $0.voidOps.isEmpty }
    membershipEvaluateCase("join_waits_for_its_invite", "the same join with its invite: applied",
                           h, admissions: [(stranger, 2, false)]) { $0.member(stranger.publicKey)?.role == .writer }

    h = classroom()
    h.write(writer, bundles: 5)
    h.add("demote", .setRole(target: writer.publicKey, role: .reader, boundary: 4), by: admin.publicKey, at: t + 1)
    h.add("promote", .setRole(target: writer.publicKey, role: .admin, boundary: 6), by: second.publicKey, at: t)
    membershipEvaluateCase("concurrent_role_changes_later_wins", "two admins change one device's role; the later in (t, author, k) order wins from its boundary: writer to 4, reader after; the ops arrive in the order made (the demotion first), so an implementation applying them in arrival order makes it an admin at 7",
                           h, arrival: h.records, admissions: [(writer, 4, false), (writer, 5, false), (writer, 7, false)]) { $0.member(writer.publicKey)?.role == .reader }

    h = classroom()
    remove(&h, "remove-writer", by: admin, writer, cutoff: 2)
    membershipEvaluateCase("removal_with_cutoff", "the writer is removed with cut-off 2: its bundle 2 is applied, 3 and later refused; a later control bundle is evidence",
                           h, admissions: [(writer, 2, false), (writer, 3, false), (writer, 9, false), (writer, 3, true)]) { $0.member(writer.publicKey)?.cut?.cutoff == 2 }

    h = classroom()
    remove(&h, "admin-removes-second", by: admin, second, cutoff: 2, at: t)
    remove(&h, "second-removes-admin", by: second, admin, cutoff: 5, at: t + 1)
    membershipEvaluateCase("mutual_removal_both_removed", "two admins remove each other, each without having seen the other's removal: both are removed (an implementation without the mutual rule keeps the admin whose removal came first)",
                           h, admissions: [(admin, 5, false), (admin, 6, false), (second, 2, false), (second, 3, false)]) {
        $0.members.filter { $0.status == .removed }.count == 2 && $0.voidOps.isEmpty
    }

    h = classroom()
    remove(&h, "admin-removes-second", by: admin, second, cutoff: 2, at: t)
    remove(&h, "retaliation", by: second, admin, cutoff: 6, at: t + 1)
    remove(&h, "second-removes-writer", by: second, writer, cutoff: 1, at: t + 2)
    membershipEvaluateCase("removed_admin_that_saw_its_removal", "an admin removed at cut-off 2 removes its remover after seeing that removal (cut-off 6, its position): void, as is its removal of the writer",
                           h, admissions: [(admin, 7, false), (writer, 2, false), (second, 3, false)]) { $0.voidOps.count == 2 }

    for (label, removalAt) in [("before", t), ("after", t + 50)] {
        h = classroom()
        remove(&h, "remove-second", by: admin, second, cutoff: 2, at: removalAt)
        h.add("invite-by-second", .invite(id: inviteX.publicKey, role: .writer, expires: 4_000_000_000_000, maxUses: 0), by: second.publicKey, at: t + 10)
        h.join("join-stranger", stranger, with: inviteX, name: "let in", at: t + 11)
        membershipEvaluateCase("admin_removed_while_admitting_\(label)", "an admin removed at cut-off 2 invites at its position 3 (the removal ordered \(label) the invite); the invite and the join through it are void",
                               h, arrival: [h.names["join-stranger"]!, h.names["invite-by-second"]!] + h.records.dropLast(2),
                               admissions: [(stranger, 2, false), (second, 3, false)]) { $0.member(stranger.publicKey) == nil && $0.voidOps.count == 2 }
    }

    for seen in [false, true] {
        h = classroom()
        h.add("invite-x", .invite(id: inviteX.publicKey, role: .writer, expires: 4_000_000_000_000, maxUses: 0), by: admin.publicKey, at: t)
        h.join("join-stranger", stranger, with: inviteX, name: "guest", at: t + 5)
        h.add("revoke", .revokeInvite(id: inviteX.publicKey, seen: seen ? [stranger.publicKey] : []), by: second.publicKey, at: t + 9)
        membershipEvaluateCase("revoked_invite_join_\(seen ? "seen" : "unseen")", "an invite is revoked after a join through it \(seen ? "that the revocation lists in seen: the join stays" : "that the revocation did not see: the join is void")",
                               h, admissions: [(stranger, 2, false)]) { ($0.member(stranger.publicKey) != nil) == seen }
    }

    h = classroom()
    h.add("invite-x", .invite(id: inviteX.publicKey, role: .writer, expires: t, maxUses: 0), by: admin.publicKey, at: t - 100)
    h.add("invite-y", .invite(id: inviteY.publicKey, role: .writer, expires: t, maxUses: 0), by: admin.publicKey, at: t - 99)
    h.join("on-time", stranger, with: inviteX, name: "on time", at: t)
    h.join("late", restored, with: inviteY, name: "late", at: t + 1)
    membershipEvaluateCase("expired_invite", "a join stamped in the invite's expiry millisecond is valid; one a millisecond later is void (an implementation ignoring expiry admits it)",
                           h, admissions: [(stranger, 2, false), (restored, 2, false)]) { $0.member(restored.publicKey) == nil && $0.member(stranger.publicKey) != nil }

    h = classroom()
    h.add("invite-x", .invite(id: inviteX.publicKey, role: .reader, expires: 4_000_000_000_000, maxUses: 2), by: admin.publicKey)
    for (i, byte) in [UInt8(0x71), 0x72, 0x73].enumerated() { h.join("join-\(i)", key(byte), with: inviteX, name: "reader \(i)", at: t - UInt64(i)) }
    membershipEvaluateCase("max_uses_in_order", "an invite with max uses 2 and three joins: the two first in order are applied, the third (made first) is void",
                           h, admissions: [(key(0x71), 2, true), (key(0x73), 2, true)]) { $0.invite(inviteX.publicKey)?.uses == 2 && $0.voidOps.count == 1 }

    h = classroom()
    let forgedGenesis = MembershipStatement.genesis(space: key(0x5F), author: stranger.publicKey, name: "forger", stamp: MembershipHistoryBuilder.stamp(t), epoch: nil)
    h.add("forged-genesis", forgedGenesis, by: stranger.publicKey, at: t)
    guard case let .join(_, _, joinSignature) = MembershipStatement.join(invite: key(0x5E), spaceID: h.spaceID, author: restored.publicKey, name: "thief") else { return }
    h.add("forged-join", .join(invite: inviteW.publicKey, name: "thief", inviteSignature: joinSignature), by: restored.publicKey, at: t + 1)
    guard case let .successor(_, _, _, successorSignature) = MembershipStatement.successor(
        predecessor: key(0x5D), spaceID: h.spaceID, author: key(0x57).publicKey, cutoff: 2, name: "usurper") else { return }
    h.add("forged-successor", .successor(predecessor: admin.publicKey, cutoff: 2, name: "usurper", predecessorSignature: successorSignature), by: key(0x57).publicKey, at: t + 2)
    membershipEvaluateCase("forged_signatures", "a genesis signed by another key than the space's, a join signed by another key than the invite's, a successor signed by another key than the predecessor's: all void",
                           h, admissions: [(stranger, 2, false), (restored, 2, false), (key(0x57), 2, false)]) { $0.voidOps.count == 3 && $0.members.count == 4 }

    h = classroom()
    h.write(second, bundles: 3)
    h.add("late-invite", .invite(id: inviteX.publicKey, role: .writer, expires: 4_000_000_000_000, maxUses: 0), by: second.publicKey)
    h.add("successor", MembershipStatement.successor(predecessor: second, spaceID: h.spaceID, author: restored.publicKey, cutoff: 4, name: "office, restored"), by: restored.publicKey)
    membershipEvaluateCase("successor_retires_predecessor", "a successor with cut-off 4 inherits the admin role; the predecessor's bundles after 4 are refused and its invite at 6 is void (retroactively)",
                           h, admissions: [(second, 4, false), (second, 5, false), (second, 6, true), (restored, 2, false)]) {
        $0.member(restored.publicKey)?.role == .admin && $0.voidOps.count == 1
    }

    for kept in [false, true] {
        h = classroom()
        h.add("successor", MembershipStatement.successor(predecessor: writer, spaceID: h.spaceID, author: restored.publicKey, cutoff: 2, name: "new tablet"), by: restored.publicKey)
        remove(&h, "remove-writer", by: admin, writer, cutoff: 2, keep: kept ? [restored.publicKey] : [])
        membershipEvaluateCase("removal_\(kept ? "keeps" : "voids")_successor", "removing a device \(kept ? "that lists its successor in keep: the successor stays" : "without keep: its successor is void too")",
                               h, admissions: [(restored, 2, false)]) { ($0.member(restored.publicKey) != nil) == kept }
    }

    h = classroom(encrypted: true)
    let members = [admin, second, writer, reader].map(\.publicKey)
    h.add("rotate", .rotate(h.epoch(members)), by: admin.publicKey)
    remove(&h, "remove-reader", by: admin, reader, cutoff: 2, recipients: members.filter { $0 != reader.publicKey })
    h.add("stale-rotate", .rotate(h.epoch(members)), by: second.publicKey)
    membershipEvaluateCase("rotations_and_tainted_epoch", "encrypted: epoch 0 at the genesis, a rotation, a removal's epoch without the reader, then a rotation still sealed to the removed reader (tainted): the current epoch is the removal's",
                           h, admissions: [(reader, 3, false)]) { $0.epochs.count == 4 && $0.epochs[3].isTainted && $0.currentEpoch == $0.epochs[2] }
    addMembershipGapVectors()
}

@MainActor private func addMembershipDecodeVectors() {
    let a = admin.publicKey, b = second.publicKey
    let (low, high) = (min(a, b), max(a, b))
    let signature = admin.sign([1, 2, 3])
    let box = [UInt8](repeating: 0x5E, count: 80)
    let keyID = [UInt8](repeating: 0xE0, count: 16)
    let epoch = try! EpochField(keyID: EpochKeyID(bytes: keyID), recipients: [.init(key: a, sealed: box)])
    func valid(_ name: String, _ op: MembershipOp, encrypted: Bool = false) {
        membershipDecodeCase(name, "a valid \(op.kind) op", op.encoded(), encrypted: encrypted, "valid")
    }
    valid("genesis_plain", .genesis(name: "Ms Dlamini's laptop", encrypted: false, spaceSignature: signature, epoch: nil))
    valid("genesis_encrypted", .genesis(name: "Ms Dlamini's laptop", encrypted: true, spaceSignature: signature, epoch: epoch), encrypted: true)
    valid("invite", .invite(id: a, role: .reader, expires: 1_900_000_000_000, maxUses: 3))
    valid("join", .join(invite: a, name: "Amina's tablet", inviteSignature: signature))
    valid("set_role", .setRole(target: b, role: .admin, boundary: 300))
    valid("remove_plain", .remove(target: b, cutoff: 7, keep: [low, high], epoch: nil))
    valid("remove_encrypted", .remove(target: b, cutoff: 7, keep: [], epoch: epoch), encrypted: true)
    valid("revoke_invite", .revokeInvite(id: a, seen: [low, high]))
    valid("rotate", .rotate(try! EpochField(keyID: EpochKeyID(bytes: keyID), recipients: [.init(key: low, sealed: box), .init(key: high, sealed: box)],
                                           history: [UInt8](repeating: 0x11, count: 88))), encrypted: true)
    valid("grant", .grant(keyID: try! EpochKeyID(bytes: keyID), recipients: [.init(key: b, sealed: box)]), encrypted: true)
    valid("successor", .successor(predecessor: b, cutoff: 4, name: "office, restored", predecessorSignature: signature))

    func bad(_ name: String, _ description: String, _ bytes: [UInt8], encrypted: Bool = false, _ code: String = "malformedBundle") {
        membershipDecodeCase(name, description, bytes, encrypted: encrypted, code)
    }
    let setRole = MembershipOp.setRole(target: b, role: .writer, boundary: 3).encoded()
    bad("version_2", "control payload version 2", [0x02] + setRole.dropFirst())
    bad("kind_10", "kind 0a", [0x01, 0x0A] + setRole.dropFirst(2))
    bad("kind_0", "kind 00", [0x01, 0x00] + setRole.dropFirst(2))
    bad("trailing_byte", "a set-role with one byte more", setRole + [0])
    bad("truncated", "a set-role without its boundary", Array(setRole.dropLast()))
    bad("role_4", "role byte 04", Array(setRole.prefix(34)) + [0x04, 0x03])
    bad("boundary_0", "a set-role with boundary 0", Array(setRole.prefix(35)) + [0x00])
    bad("cutoff_0", "a remove with cut-off 0", [0x01, 0x05] + b.bytes + [0x00, 0x00])
    func join(_ name: String) -> [UInt8] { MembershipOp.join(invite: a, name: name, inviteSignature: signature).encoded() }
    bad("name_empty", "a join with an empty name", join(""))
    bad("name_65_bytes", "a join whose name is 65 bytes", join(String(repeating: "a", count: 65)))
    membershipDecodeCase("name_64_bytes", "a join whose name is 64 bytes (32 two-byte characters)", join(String(repeating: "é", count: 32)), encrypted: false, "valid")
    bad("name_c0_control", "a name holding a line feed", join("a\nb"))
    bad("name_del", "a name holding DEL (7f)", join("a\u{7F}b"))
    bad("name_c1_control", "a name holding U+0085", join("a\u{85}b"))
    bad("name_invalid_utf8", "a name holding a lone continuation byte", [0x01, 0x03] + a.bytes + [0x02, 0x61, 0x80] + signature.bytes)
    bad("keep_count_huge", "a keep count of 2^63 - 1", [0x01, 0x05] + b.bytes + [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
    bad("seen_count_past_end", "a seen count of 2 with one key", [0x01, 0x06] + a.bytes + [0x02] + b.bytes)
    bad("seen_unsorted", "seen keys in decreasing order", [0x01, 0x06] + a.bytes + [0x02] + high.bytes + low.bytes)
    bad("keep_repeated", "a keep key twice", [0x01, 0x05] + b.bytes + [0x01, 0x02] + low.bytes + low.bytes)
    bad("recipients_unsorted", "grant recipients in decreasing order", [0x01, 0x08] + keyID + [0x02] + high.bytes + box + low.bytes + box, encrypted: true)
    bad("recipients_zero", "a rotate with no recipient", [0x01, 0x07] + keyID + [0x00, 0x00], encrypted: true)
    bad("epoch_in_plain_space", "a remove carrying an epoch field, read in an unencrypted space",
        MembershipOp.remove(target: b, cutoff: 2, keep: [], epoch: epoch).encoded())
    bad("epoch_missing_in_encrypted_space", "a remove without an epoch field, read in an encrypted space",
        MembershipOp.remove(target: b, cutoff: 2, keep: [], epoch: nil).encoded(), encrypted: true)
    bad("rotate_in_plain_space", "a rotate in an unencrypted space", MembershipOp.rotate(epoch).encoded())
    bad("genesis_flag_mismatch", "an encrypted genesis read as an unencrypted space",
        MembershipOp.genesis(name: "n", encrypted: true, spaceSignature: signature, epoch: epoch).encoded(), encrypted: false, "encryptionMismatch")
    bad("history_blob_40_bytes", "a history blob of a nonce and a tag but no entry",
        Array(MembershipOp.rotate(epoch).encoded().dropLast()) + [40] + [UInt8](repeating: 0, count: 40), encrypted: true)
}
