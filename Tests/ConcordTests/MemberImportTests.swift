import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// A device of a format-3 space (`Specs/membership.md`): its membership, replica and log,
/// importing through ``BundleImporter`` like any bundle, its own control bundles included.
struct MemberDevice {
    var membership: Membership
    var replica: LocalReplica
    var log = BundleLog()
    let time: ManualClock

    init(_ membership: Membership, time: ManualClock) {
        self.membership = membership
        self.time = time
        self.replica = membership.makeReplica(clock: HybridLogicalClock(physicalClock: time))
    }

    var importer: BundleImporter { BundleImporter(membership: membership) }
    var key: PublicKey { membership.device.publicKey }
    var state: MembershipState { importer.membershipState(of: log) }

    /// Creates a space whose first admin is this device.
    static func create(name: String, encrypted: Bool, time: ManualClock, device: Identity = Identity()) throws -> MemberDevice {
        let (membership, genesis) = try Membership.createMemberSpace(
            device: device, name: name, encrypted: encrypted, stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        var created = MemberDevice(membership, time: time)
        let outcome = created.receive(genesis)
        guard case .applied = outcome else { throw ConcordError(.malformedBundle, "genesis not applied: \(outcome)") }
        return created
    }

    /// Joins with `token`; the join bundle is imported by this device.
    static func join(_ token: MemberInviteToken, name: String, time: ManualClock, device: Identity = Identity()) throws -> MemberDevice {
        let stamp = HLCTimestamp(
            milliseconds: max(time.nowMilliseconds(), HLCTimestamp(rawValue: token.inviteStamp).milliseconds + 1), counter: 0)
        let (membership, join) = try Membership.joinMember(token, device: device, name: name, stamp: stamp)
        var joined = MemberDevice(membership, time: time)
        _ = joined.receive(join)
        return joined
    }

    mutating func now() -> HLCTimestamp { try! replica.tick() }

    /// Seals and imports a control op of this device.
    @discardableResult
    mutating func control(_ op: MembershipOp) throws -> ChangeBundle {
        let bundle = try membership.sealControl(op, log: log, stamp: now())
        let outcome = receive(bundle)
        guard case .applied = outcome else { throw ConcordError(.malformedBundle, "own control bundle not applied: \(outcome)") }
        return bundle
    }

    mutating func invite(_ role: MemberRole, maxUses: UInt64 = 1) throws -> MemberInviteToken {
        let stamp = now()
        let (op, token) = try membership.invite(
            role: RoleAssignment(role), expires: time.nowMilliseconds() + 86_400_000, maxUses: maxUses, stamp: stamp, state: state, log: log
        )
        let bundle = try membership.sealControl(op, log: log, stamp: stamp)
        _ = receive(bundle)
        return token
    }

    mutating func remove(_ target: PublicKey) throws -> ChangeBundle {
        try control(try membership.removal(of: target, state: state, log: log, stamp: now()))
    }

    /// Writes `title` on the shared record and seals it.
    @discardableResult
    mutating func write(_ title: String, record: RecordID = todo) throws -> ChangeBundle {
        let op = try replica.set("title", to: .string(title), record: record, in: "todos")
        return try membership.sealMember([op], appendingTo: &log, state: state)
    }

    mutating func receive(_ bundle: ChangeBundle) -> ImportOutcome {
        importer.importBundle(bundle.bytes, into: &replica, log: &log)
    }

    /// Every bundle this device holds: chains, then evidence.
    var everything: [ChangeBundle] { log.bundles + log.evidence }

    /// Imports everything `peer` holds, in the peer's order.
    @discardableResult
    mutating func pull(from peer: MemberDevice) -> [ImportOutcome] {
        peer.everything.map { receive($0) }
    }
}

@Suite struct MemberImportTests {
    let time = ManualClock(milliseconds: t0)

    @Test(arguments: [true, false])
    func adminInvitesWriterWhoWritesAndEveryoneConverges(encrypted: Bool) throws {
        var admin = try MemberDevice.create(name: "Ms Dlamini's laptop", encrypted: encrypted, time: time)
        let token = try admin.invite(.writer)
        time.advance(by: 10)
        var tablet = try MemberDevice.join(token, name: "Amina's tablet", time: time)
        tablet.pull(from: admin)
        #expect(tablet.state.member(tablet.key)?.role == .writer)
        try tablet.write("Buy milk")
        admin.pull(from: tablet)
        #expect(admin.replica.state.record(todo, in: "todos")?["title"] == "Buy milk")
        #expect(admin.replica.state == tablet.replica.state)
        #expect(admin.state == tablet.state)
        #expect(admin.state.members.map(\.name).sorted() == ["Amina's tablet", "Ms Dlamini's laptop"])
    }

    @Test func dataBundleBeforeItsAuthorsJoinIsHeldThenApplied() throws {
        var admin = try MemberDevice.create(name: "admin", encrypted: true, time: time)
        let token = try admin.invite(.writer)
        var tablet = try MemberDevice.join(token, name: "tablet", time: time)
        tablet.pull(from: admin)
        let write = try tablet.write("hello")
        var observer = try MemberDevice.join(try admin.invite(.reader), name: "observer", time: time)
        // The observer sees the tablet's data bundle before anything else.
        #expect(observer.receive(write) == .held(waitingFor: 1))
        observer.pull(from: admin)
        observer.pull(from: tablet)
        #expect(observer.replica.state.record(todo, in: "todos")?["title"] == "hello")
        #expect(observer.log.heldCount == 0)
    }

    @Test func readerCannotWriteLocallyAndItsForgedBundleIsRefused() throws {
        var admin = try MemberDevice.create(name: "admin", encrypted: false, time: time)
        var reader = try MemberDevice.join(try admin.invite(.reader), name: "reader", time: time)
        reader.pull(from: admin)
        admin.pull(from: reader)
        expectError(.notAllowed) { try reader.write("mine") }
        // A tampered client seals anyway, below the public checks.
        let op = try reader.replica.set("title", to: "forged", record: todo, in: "todos")
        let forged = try ChangeBundle.sealMember(
            [op], author: reader.membership.device, spaceID: reader.membership.spaceID, previous: reader.log.latestBundle(of: reader.key),
            epoch: nil)
        let before = admin.replica.state
        // It keeps its place in the reader's chain (a later promotion links after it) and
        // nothing of it applies; the report names why.
        #expect(admin.receive(forged) == .applied([forged.id]))
        #expect(admin.replica.state == before)
        #expect(admin.log.voided.last?.reason.code == .notAWriter)
        #expect(admin.log.versionVector[reader.key] == 2)
    }

    /// The lost tablet: the admin removes it having seen bundles up to 3; the tablet keeps
    /// writing offline. Whatever order the removal and the late bundles reach a third
    /// member, the late bundles are not applied and every member ends identical.
    @Test(arguments: [true, false])
    func removalCutsLateBundlesInEveryOrder(encrypted: Bool) throws {
        var admin = try MemberDevice.create(name: "admin", encrypted: encrypted, time: time)
        var tablet = try MemberDevice.join(try admin.invite(.writer), name: "lost tablet", time: time)
        var teacher = try MemberDevice.join(try admin.invite(.writer), name: "teacher", time: time)
        tablet.pull(from: admin)
        teacher.pull(from: admin)
        try tablet.write("before 1", record: RecordID(high: 1, low: 1))
        try tablet.write("before 2", record: RecordID(high: 1, low: 2))
        admin.pull(from: tablet)
        time.advance(by: 10)
        let lateRecord = RecordID(high: 1, low: 3)
        let late = try tablet.write("after the removal", record: lateRecord)
        let removal = try admin.remove(tablet.key)
        #expect(admin.state.member(tablet.key)?.cut?.cutoff == 3)

        // Teacher A: late bundle first (applied), then the removal (rolled back).
        var first = teacher
        first.pull(from: tablet)
        #expect(first.replica.state.record(lateRecord, in: "todos") != nil)
        first.pull(from: admin)
        #expect(first.replica.state.record(lateRecord, in: "todos") == nil)
        // Teacher B: removal first, then the late bundle (refused).
        var second = teacher
        second.pull(from: admin)
        guard case .rejected(let error) = second.receive(late) else { Issue.record("late bundle not refused"); return }
        #expect(error.code == .removed)
        #expect(error.message.contains("admin"))
        second.pull(from: tablet)

        #expect(first.replica.state == second.replica.state)
        #expect(first.replica.state == admin.replica.state)
        #expect(first.state == second.state)
        #expect(first.log.versionVector == second.log.versionVector)
        #expect(first.log.versionVector[tablet.key] == 3)
        _ = removal
        tablet.pull(from: admin)
        if encrypted {
            // The removed tablet cannot open the new epoch; the teacher can.
            let newEpoch = admin.state.currentEpoch!.keyID
            #expect(tablet.membership.epochKey(newEpoch, records: tablet.log.membershipRecords.values, state: tablet.state) == nil)
            #expect(first.membership.epochKey(newEpoch, records: first.log.membershipRecords.values, state: first.state) != nil)
            try first.write("after rotation")
            let sealed = first.log.latestBundle(of: first.key)!
            #expect(sealed.keyID == newEpoch)
            #expect(admin.pull(from: first).contains { $0.appliedIDs.contains(sealed.id) })
            #expect(admin.replica.state == first.replica.state)
        }
        expectError(.notAllowed) { try tablet.write("still here?") }
    }

    @Test func formatsNeverMix() throws {
        let member = try MemberDevice.create(name: "admin", encrypted: false, time: time)
        var legacyDevice = Device(writer(1, of: space(5, encrypted: false)), time: time)
        // A format-3 bundle in a format-2 space, and the reverse, even with the right space id.
        let genesis = member.log.bundles[0]
        expectError(.unsupportedVersion) { try BundleVerifier(spaceID: genesis.spaceID).verify(genesis.bytes) }
        let old = try legacyDevice.seal([legacyDevice.set("title", "x")])
        expectError(.unsupportedVersion) { try BundleVerifier(spaceID: old.spaceID, format: 3).verify(old.bytes) }
        #expect(try BundleVerifier(spaceID: genesis.spaceID, format: 3).verify(genesis.bytes) == genesis)
    }

    @Test func controlBundleDecodingRules() throws {
        let member = try MemberDevice.create(name: "admin", encrypted: true, time: time)
        let genesis = member.log.bundles[0]
        #expect(genesis.format == 3 && genesis.isControl && !genesis.isEncrypted && genesis.keyID == nil)
        #expect(genesis.hlcRange.lowerBound == genesis.hlcRange.upperBound)
        // Flag byte 5: control and encrypted together, and a reserved bit.
        for flags: UInt8 in [0x03, 0x04, 0x80] {
            var bytes = genesis.bytes
            bytes[5] = flags
            expectError(.malformedBundle) { try ChangeBundle(bytes: bytes) }
        }
    }
}

extension ImportOutcome {
    /// The ids an `applied` outcome lists; empty otherwise.
    var appliedIDs: [BundleID] {
        if case .applied(let ids) = self { return ids }
        return []
    }
}
