import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Testing

/// The evaluation function of `Specs/membership.md` §5 and the admission decision of §6,
/// on histories of really signed ops: one test per consequence the spec lists, and the
/// rules each op must meet.
@Suite struct MembershipEvaluationTests {
    let admin = identity(0x01), second = identity(0x02), writer = identity(0x03), reader = identity(0x04)
    let stranger = identity(0x05), restored = identity(0x06)
    let inviteW = identity(0x21), inviteR = identity(0x22), inviteA = identity(0x23), inviteX = identity(0x24)

    /// A space with two admins, a writer and a reader, each having written one data bundle
    /// after its admission.
    func classroom(encrypted: Bool = false) -> MembershipScenario {
        var s = MembershipScenario(encrypted: encrypted)
        s.genesis(admin, name: "Ms Dlamini's laptop")
        s.invite(by: admin, role: .admin, key: inviteA)
        s.invite(by: admin, role: .writer, key: inviteW)
        s.invite(by: admin, role: .reader, key: inviteR)
        s.join(second, with: inviteA, name: "office")
        s.join(writer, with: inviteW, name: "Amina's tablet")
        s.join(reader, with: inviteR, name: "projector")
        for device in [admin, second, writer, reader] { s.write(device) }
        return s
    }

    // MARK: - Admissions and position rules

    @Test func genesisMakesTheCreatorAdminAndJoinsGrantTheInviteRole() {
        let state = classroom().evaluate()
        #expect(state.role(admin) == .admin && state.role(second) == .admin)
        #expect(state.role(writer) == .writer && state.role(reader) == .reader)
        #expect(state.member(writer.publicKey)?.name == "Amina's tablet")
        #expect(state.member(writer.publicKey)?.invite == inviteW.publicKey)
        #expect(state.invite(inviteW.publicKey)?.uses == 1)
        #expect(state.voidOps.isEmpty && state.pendingOps.isEmpty)
        #expect(state.data(writer, 2) == .applied && state.data(admin, 5) == .applied)
        #expect(state.data(reader, 2) == .refused(.notAWriter))
        #expect(state.data(stranger, 1) == .held)
        #expect(state.admission(author: reader.publicKey, sequence: 2, isControl: true) == .applied)
    }

    @Test func aGenesisSignedByAnotherKeyOrASecondGenesisIsVoid() {
        var s = MembershipScenario()
        let forged = MembershipStatement.genesis(
            space: identity(0x77), author: admin.publicKey, name: "x", stamp: MembershipScenario.stamp(5), epoch: nil)
        let bad = s.add(forged, by: admin.publicKey, at: 5)
        #expect(s.evaluate().genesis == nil && s.evaluate().isVoid(bad))
        // With the real genesis later in the order, the first (forged) stays void and the admin is admin.
        var t = MembershipScenario()
        let good = t.genesis(admin)
        let again = t.genesis(second)
        let state = t.evaluate()
        #expect(state.genesis == good.reference && state.isVoid(again) && state.role(second) == nil)
    }

    @Test func positionRulesVoidAdmissionsAfterBundleOneAndAdminOpsAtBundleOne() {
        var s = MembershipScenario()
        s.genesis(admin)
        let lateJoin = s.join(writer, with: inviteW, at: nil)  // made before the invite exists, at position 1
        s.invite(by: admin, key: inviteW)
        let badJoin = s.add(
            MembershipStatement.join(invite: inviteW, spaceID: s.spaceID, author: stranger.publicKey, name: "s"), by: stranger.publicKey,
            position: 2)
        let newcomer = identity(0x35)
        let inviteAtOne = s.add(
            .invite(id: inviteX.publicKey, role: .writer, expires: .max, maxUses: 0), by: newcomer.publicKey, position: 1)
        let state = s.evaluate()
        // The join waited for its invite and was then applied, though stamped before it.
        #expect(!state.isVoid(lateJoin) && state.role(writer) == .writer)
        #expect(state.isVoid(badJoin) && state.isVoid(inviteAtOne))
        // Neither has a valid bundle 1 yet: their data waits.
        #expect(state.data(stranger, 3) == .held && state.data(newcomer, 2) == .held)
    }

    @Test func aJoinWhoseInviteOpIsMissingIsPendingAndItsDataHeld() {
        var s = classroom()
        let invite = s.invite(by: admin, key: inviteX)
        let join = s.join(stranger, with: inviteX)
        let partial = s.evaluate(s.records.filter { $0 != invite })
        #expect(partial.pendingOps == [join] && partial.pendingDevices == [stranger.publicKey])
        #expect(!partial.isVoid(join) && partial.data(stranger, 2) == .held)
        let full = s.evaluate()
        #expect(full.pendingOps.isEmpty && full.role(stranger) == .writer && full.data(stranger, 2) == .applied)
    }

    @Test func aJoinWithAForgedInviteSignatureIsVoid() {
        var s = classroom()
        s.invite(by: admin, key: inviteX)
        // Signed by another key than the invite's.
        let forged = MembershipStatement.join(invite: identity(0x66), spaceID: s.spaceID, author: stranger.publicKey, name: "thief")
        guard case let .join(_, name, signature) = forged else { return }
        let record = s.add(.join(invite: inviteX.publicKey, name: name, inviteSignature: signature), by: stranger.publicKey)
        let state = s.evaluate()
        #expect(state.isVoid(record) && state.member(stranger.publicKey) == nil)
        #expect(state.data(stranger, 2) == .refused(.notAWriter))
    }

    // MARK: - Consequences (Specs/membership.md §5)

    @Test func twoAdminsRemovingEachOtherAreBothRemoved() {
        var s = classroom()
        // Neither saw the other's removal: each cuts the other at the last bundle it had
        // seen (admin's 5, second's 2); admin's removal is its bundle 6, second's its 3.
        let byAdmin = s.remove(by: admin, second, cutoff: 2, at: 1_900_000_000_000)
        let bySecond = s.remove(by: second, admin, cutoff: 5, at: 1_900_000_000_001)
        let state = s.evaluate()
        #expect(!state.isVoid(byAdmin) && !state.isVoid(bySecond))
        #expect(state.member(admin.publicKey)?.cut?.cutoff == 5 && state.member(second.publicKey)?.cut?.cutoff == 2)
        #expect(state.member(admin.publicKey)?.cut?.by == bySecond.reference)
        #expect(state.data(admin, 5) == .applied && state.data(admin, 6) == .refused(.removed(by: second.publicKey, at: bySecond.stamp)))
        // Every admission before the cut-offs stands.
        #expect(state.role(writer) == .writer && state.role(reader) == .reader && state.voidOps.isEmpty)
        #expect(state.data(second, 2) == .applied && state.data(second, 3) == .refused(.removed(by: admin.publicKey, at: byAdmin.stamp)))
        // The same in the other order of stamps.
        var r = classroom()
        r.remove(by: second, admin, cutoff: 5, at: 1_900_000_000_000)
        r.remove(by: admin, second, cutoff: 2, at: 1_900_000_000_001)
        #expect(
            r.evaluate().members.filter { $0.status == .removed }.map(\.device).sorted() == [admin.publicKey, second.publicKey].sorted())
    }

    @Test func aRemovedAdminThatSawItsRemovalCannotRemoveItsRemoverOrAnyoneElse() {
        var s = classroom()
        let byAdmin = s.remove(by: admin, second, cutoff: 2)
        // second (a thief with the lost tablet) saw byAdmin (admin's bundle 6) and cuts admin after it.
        let retaliation = s.remove(by: second, admin, cutoff: 6)
        let other = s.remove(by: second, writer, cutoff: 1)
        let state = s.evaluate()
        #expect(!state.isVoid(byAdmin) && state.isVoid(retaliation) && state.isVoid(other))
        #expect(state.member(admin.publicKey)?.status == .active && state.member(writer.publicKey)?.status == .active)
        // A writer removed by an admin cannot use the mutual rule: it is not an admin.
        var w = classroom()
        w.remove(by: admin, writer, cutoff: 2)
        let byWriter = w.remove(by: writer, admin, cutoff: 1)
        #expect(w.evaluate().isVoid(byWriter) && w.evaluate().member(admin.publicKey)?.cut == nil)
    }

    @Test func aRemovalConcurrentWithAPromotionRemoves() {
        for promotionFirst in [true, false] {
            var s = classroom()
            s.setRole(by: second, writer, .admin, boundary: 2, at: 1_900_000_000_000)
            s.remove(by: admin, writer, cutoff: 2, at: promotionFirst ? 1_900_000_000_001 : 1_899_999_999_999)
            // The promoted writer, not having seen its removal, invites someone.
            s.invite(by: writer, key: inviteX, at: 1_900_000_000_005)
            s.join(stranger, with: inviteX, at: 1_900_000_000_006)
            let state = s.evaluate()
            #expect(state.member(writer.publicKey)?.status == .removed, "promotion first: \(promotionFirst)")
            #expect(state.data(writer, 3) == .refused(.removed(by: admin.publicKey, at: state.member(writer.publicKey)!.cut!.by.stamp)))
            #expect(state.invite(inviteX.publicKey) == nil && state.member(stranger.publicKey) == nil)
        }
    }

    @Test func anAdminRemovedWhileAdmittingSomeoneAdmitsNoOne() {
        // The removal is ordered before the invite, and (retroactively) after it.
        for removalStamp: UInt64 in [1_900_000_000_000, 1_900_000_000_050] {
            var s = classroom()
            s.remove(by: admin, second, cutoff: 2, at: removalStamp)
            let invite = s.invite(by: second, key: inviteX, at: 1_900_000_000_010)
            let join = s.join(stranger, with: inviteX, at: 1_900_000_000_011)
            s.write(stranger)
            let invited = s.add(
                .invite(id: identity(0x31).publicKey, role: .writer, expires: .max, maxUses: 0), by: stranger.publicKey,
                at: 1_900_000_000_012)
            let state = s.evaluate()
            #expect(state.isVoid(invite) && state.isVoid(join) && state.isVoid(invited), "removal at \(removalStamp)")
            #expect(state.member(stranger.publicKey) == nil && state.data(stranger, 2) == .refused(.notAWriter))
            #expect(state.data(second, 3) == .refused(.removed(by: admin.publicKey, at: MembershipScenario.stamp(removalStamp))))
        }
    }

    @Test func anInviteMadeBeforeItsIssuersCutOffStaysValid() {
        var s = classroom()
        let invite = s.invite(by: second, key: inviteX)  // second's position 3
        s.join(stranger, with: inviteX)
        s.remove(by: admin, second, cutoff: 3)
        let state = s.evaluate()
        #expect(!state.isVoid(invite) && state.role(stranger) == .writer && state.member(second.publicKey)?.status == .removed)
    }

    @Test func aJoinConcurrentWithTheRevocationOfItsInviteIsVoidUnlessSeen() {
        for (revokeFirst, seen) in [(true, false), (false, false), (false, true), (true, true)] {
            var s = classroom()
            s.invite(by: admin, key: inviteX, at: 1_900_000_000_000)
            let revokeAt: UInt64 = revokeFirst ? 1_900_000_000_001 : 1_900_000_000_009
            let join = s.join(stranger, with: inviteX, at: 1_900_000_000_005)
            s.revoke(by: second, inviteX, seen: seen ? [stranger.publicKey] : [], at: revokeAt)
            let state = s.evaluate()
            #expect(state.isVoid(join) == !seen, "revoke first \(revokeFirst), seen \(seen)")
            #expect((state.role(stranger) == .writer) == seen)
            #expect(state.invite(inviteX.publicKey)?.isRevoked == true)
        }
    }

    @Test func concurrentRoleChangesTheLaterInOrderWinsFromItsBoundary() {
        var s = classroom()
        s.write(writer, bundles: 5)  // writer's chain is at 7
        s.setRole(by: admin, writer, .reader, boundary: 4, at: 1_900_000_000_000)
        s.setRole(by: second, writer, .admin, boundary: 6, at: 1_900_000_000_001)
        var state = s.evaluate()
        #expect(state.standing(of: writer.publicKey, at: 4) == .member(.writer))
        #expect(state.standing(of: writer.publicKey, at: 5) == .member(.reader) && state.data(writer, 6) == .refused(.notAWriter))
        #expect(state.standing(of: writer.publicKey, at: 7) == .member(.admin) && state.role(writer) == .admin)
        // Swapping the stamps swaps the winner: the demotion, later, wins from 4 on.
        var r = classroom()
        r.write(writer, bundles: 5)
        r.setRole(by: admin, writer, .reader, boundary: 4, at: 1_900_000_000_001)
        r.setRole(by: second, writer, .admin, boundary: 6, at: 1_900_000_000_000)
        state = r.evaluate()
        #expect(state.standing(of: writer.publicKey, at: 7) == .member(.reader) && state.role(writer) == .reader)
    }

    @Test func aDemotionBelowAnAppliedAdminOpVoidsItRetroactively() {
        var s = classroom()
        let invite = s.invite(by: second, key: inviteX, at: 1_900_000_000_000)  // second's position 3
        s.join(stranger, with: inviteX, at: 1_900_000_000_001)
        s.setRole(by: admin, second, .writer, boundary: 2, at: 1_900_000_000_002)
        let state = s.evaluate()
        #expect(state.isVoid(invite) && state.member(stranger.publicKey) == nil && state.role(second) == .writer)
        #expect(state.data(second, 3) == .applied)
    }

    @Test func anAdminDemotingItselfKeepsTheDemotion() {
        var s = classroom()
        let demotion = s.setRole(by: second, second, .reader, boundary: 1)
        let state = s.evaluate()
        #expect(!state.isVoid(demotion) && state.role(second) == .reader && state.data(second, 2) == .refused(.notAWriter))
        // A later removal re-checks second's ops; the demotion, valid when made, stays (it
        // is not re-checked against its own effect).
        s.remove(by: admin, second, cutoff: 5)
        let after = s.evaluate()
        #expect(!after.isVoid(demotion) && after.voidOps.isEmpty && after.member(second.publicKey)?.status == .removed)
    }

    @Test func successorsInheritTheRoleAndRetireTheOldChain() {
        var s = classroom()
        s.write(second, bundles: 3)  // second's chain: 1 join, 2...5 data, next 6
        // An admin op past the cut-off the successor states, applied until the successor arrives.
        let late = s.invite(by: second, key: inviteX)
        let successor = s.successor(restored, of: second, cutoff: 4, name: "office, restored")
        var state = s.evaluate()
        #expect(!state.isVoid(successor) && state.role(restored) == .admin)
        #expect(state.member(restored.publicKey)?.predecessor == second.publicKey)
        #expect(state.member(second.publicKey)?.status == .retired && state.member(second.publicKey)?.successors == [restored.publicKey])
        #expect(state.data(second, 4) == .applied && state.data(second, 5) == .refused(.retired(after: 4)))
        #expect(state.admission(author: second.publicKey, sequence: 6, isControl: true) == .storedAsEvidence)
        #expect(state.isVoid(late) && state.invite(inviteX.publicKey) == nil)
        // A forged successor (signed by another key) is void.
        let forged = MembershipStatement.successor(
            predecessor: identity(0x67), spaceID: s.spaceID, author: stranger.publicKey, cutoff: 1, name: "x")
        guard case let .successor(_, cutoff, name, signature) = forged else { return }
        let bad = s.add(
            .successor(predecessor: second.publicKey, cutoff: cutoff, name: name, predecessorSignature: signature), by: stranger.publicKey)
        state = s.evaluate()
        #expect(state.isVoid(bad) && state.member(stranger.publicKey) == nil)
    }

    @Test func removingADeviceRemovesItsSuccessorsUnlessKept() {
        for keep in [false, true] {
            var s = classroom()
            let successor = s.successor(restored, of: writer, cutoff: 2)
            s.write(restored)
            let invite = s.invite(by: admin, key: inviteX)
            // The removal lists (or not) the successor in `keep`.
            s.remove(by: admin, writer, cutoff: 2, keep: keep ? [restored.publicKey] : [])
            let state = s.evaluate()
            #expect(state.isVoid(successor) == !keep, "keep \(keep)")
            #expect(state.data(restored, 2) == (keep ? .applied : .refused(.notAWriter)))
            #expect(!state.isVoid(invite))
            // A thief minting a successor after the removal does not escape it.
            var t = s
            let minted = t.successor(stranger, of: writer, cutoff: 1)
            #expect(t.evaluate().isVoid(minted))
        }
    }

    @Test func aDeviceHasAtMostSixteenSuccessors() {
        var s = classroom()
        var records: [MembershipOpRecord] = []
        for byte in UInt8(0x40)..<0x51 { records.append(s.successor(identity(byte), of: writer, cutoff: 2)) }
        let state = s.evaluate()
        #expect(records.count == 17)
        #expect(records.prefix(16).allSatisfy { !state.isVoid($0) } && state.isVoid(records[16]))
        #expect(state.member(writer.publicKey)?.successors.count == 16)
    }

    @Test func aJoinAfterTheInviteExpiresIsVoid() {
        var s = classroom()
        let expires: UInt64 = 1_900_000_000_000
        s.invite(by: admin, key: inviteX, expires: expires, at: 1_899_000_000_000)
        s.invite(by: admin, key: identity(0x25), expires: expires, at: 1_899_000_000_001)
        let onTime = s.join(stranger, with: inviteX, at: expires)
        let late = s.join(restored, with: identity(0x25), at: expires + 1)
        let state = s.evaluate()
        #expect(!state.isVoid(onTime) && state.isVoid(late) && state.member(restored.publicKey) == nil)
    }

    @Test func anInviteAdmitsAtMostMaxUsesJoinsInOrder() {
        var s = classroom()
        s.invite(by: admin, key: inviteX, maxUses: 2)
        let joins = [identity(0x51), identity(0x52), identity(0x53)].enumerated().map { i, device in
            s.join(device, with: inviteX, at: 1_900_000_000_000 - UInt64(i))  // stamps in reverse of making
        }
        let state = s.evaluate()
        #expect(state.isVoid(joins[0]) && !state.isVoid(joins[1]) && !state.isVoid(joins[2]))
        #expect(state.invite(inviteX.publicKey)?.uses == 2)
    }

    // MARK: - Epochs (Specs/membership.md §7)

    @Test func removalsAndRotationsStartEpochsAndATaintedEpochIsNotCurrent() {
        var s = classroom(encrypted: true)
        let members = [admin, second, writer, reader].map(\.publicKey)
        s.rotate(by: admin, recipients: members)
        var state = s.evaluate()
        #expect(state.epochs.count == 2 && state.epochs.map(\.kind) == [.genesis, .rotate])
        #expect(state.currentEpoch == state.epochs[1] && !state.needsRotation)
        // Removing the reader: a new epoch without it.
        s.remove(by: admin, reader, cutoff: 2, recipients: members.filter { $0 != reader.publicKey })
        state = s.evaluate()
        #expect(state.epochs.count == 3 && state.currentEpoch?.recipients.contains(reader.publicKey) == false)
        // second rotates concurrently, still sealing to the reader: tainted, not current.
        s.rotate(by: second, recipients: members)
        state = s.evaluate()
        #expect(state.epochs.count == 4 && state.epochs[3].isTainted && state.currentEpoch == state.epochs[2] && state.needsRotation)
        // A grant of the current epoch to a removed device taints it too.
        let current = state.epochs[2].keyID
        s.add(
            .grant(keyID: current, recipients: [.init(key: reader.publicKey, sealed: [UInt8](repeating: 9, count: 80))]),
            by: admin.publicKey)
        state = s.evaluate()
        #expect(state.epochs[2].isTainted && state.epochs[2].recipients.contains(reader.publicKey) && state.currentEpoch == state.epochs[1])
    }

    @Test func epochOpsInAnUnencryptedSpaceAreVoid() {
        var s = classroom(encrypted: false)
        let grant = s.add(
            .grant(
                keyID: try! EpochKeyID(bytes: [UInt8](repeating: 1, count: 16)),
                recipients: [.init(key: admin.publicKey, sealed: [UInt8](repeating: 0, count: 80))]), by: admin.publicKey)
        var e = MembershipScenario(encrypted: true)
        let rotate = s.add(.rotate(e.epoch([admin.publicKey])), by: admin.publicKey)
        let state = s.evaluate()
        #expect(state.isVoid(grant) && state.isVoid(rotate) && state.epochs.isEmpty && state.currentEpoch == nil)
    }

    // MARK: - Determinism

    @Test func theOrderOfTheInputDoesNotMatter() {
        var s = classroom(encrypted: true)
        s.remove(by: admin, second, cutoff: 2, at: 1_900_000_000_000)
        s.remove(by: second, admin, cutoff: 2, at: 1_900_000_000_000)
        s.invite(by: second, key: inviteX)
        s.join(stranger, with: inviteX)
        s.successor(restored, of: writer, cutoff: 2)
        let reference = s.evaluate()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = (s.records + s.records.prefix(3)).shuffled(using: &rng)
            #expect(s.evaluate(shuffled) == reference)
        }
    }
}
