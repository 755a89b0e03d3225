import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Stability on replicas (`Specs/snapshots.md` §2-§3, issue 16 stage 2): the store feeds the
/// tracker, sync seals acks, checkpoints and policy stale marks, admins mark devices stale.
@Suite("Replica stability: acks, checkpoints, stale members")
struct ReplicaStabilityTests {
    static let day: UInt64 = 86_400_000

    /// Imports everything `from` holds that `to` lacks.
    func sync(_ from: Replica, to: Replica) async throws {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
    }

    /// A teacher's laptop (admin) and a tablet (writer) on one manual clock, introduced.
    func classroom(_ dir: String, time: ManualClock, encrypted: Bool = true) async throws -> (Replica, Replica) {
        let options = Replica.Options(physicalClock: time)
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", encrypted: encrypted, options: options)
        let tablet = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        try await sync(laptop, to: tablet)
        try await sync(tablet, to: laptop)
        return (laptop, tablet)
    }

    func write(_ replica: Replica, _ title: String, record: RecordID) async throws {
        try await replica.write { try $0.set("title", to: .string(title), record: record, in: "todos") }
        try await replica.seal()
    }

    @Test(
        "after the initial sync both devices acknowledge; the admin checkpoints the stable cut once, not again until it moves a day later",
        arguments: [true, false])
    func acknowledgeThenCheckpoint(encrypted: Bool) async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let (laptop, tablet) = try await classroom(temporaryDirectory(), time: time, encrypted: encrypted)
        let tabletID = tablet.deviceID.publicKey
        let laptopID = laptop.deviceID.publicKey
        // The teacher writes; the tablet's initial sync brings it.
        try await write(laptop, "Buy milk", record: RecordID(high: 1, low: 1))
        try await sync(laptop, to: tablet)
        // The tablet only joined: it is not counted until it acknowledges (its join does not
        // count), so its arrival does not pull the laptop's stable cut back.
        let before = try await laptop.stability()
        #expect(before.countedMembers == [laptopID] && before.stableCut[laptopID] >= 3, "\(before)")

        let tabletDuties = try await tablet.performStabilityDuties()
        #expect(tabletDuties.acknowledged && !tabletDuties.checkpointed && tabletDuties.markedStale.isEmpty)
        // Nothing moved since: no second ack.
        #expect(try await tablet.performStabilityDuties().isEmpty)
        try await sync(tablet, to: laptop)
        let first = try await laptop.performStabilityDuties()
        #expect(first.checkpointed && first.acknowledged, "\(first)")
        let status = try await laptop.stability()
        #expect(status.countedMembers.sorted() == [laptopID, tabletID].sorted())
        #expect(status.stableCut[tabletID] >= 2 && status.stableCut[laptopID] >= 1, "\(status.stableCut)")
        let checkpoint = try #require(status.latestCheckpoint)
        #expect(checkpoint.by.author == laptopID && status.held.includes(checkpoint.stable))
        #expect(status.staleMembers.isEmpty)
        // The tablet learns of the checkpoint and the laptop's ack: its stable cut moves too.
        try await sync(laptop, to: tablet)
        #expect(try await tablet.stability().latestCheckpoint == checkpoint)
        #expect(try await tablet.stability().stableCut[laptopID] >= 1)

        // The tablet acknowledges again only after a day without sealing; the laptop
        // checkpoints again only after a day.
        try await write(laptop, "from the teacher", record: RecordID(high: 1, low: 2))
        try await sync(laptop, to: tablet)
        #expect(try await tablet.performStabilityDuties().isEmpty)
        time.advance(by: Self.day + 1)
        #expect(try await tablet.performStabilityDuties().acknowledged)
        try await sync(tablet, to: laptop)
        let second = try await laptop.performStabilityDuties()
        // Its checkpoint does not postpone its ack: its last data bundle is a day old.
        #expect(second.checkpointed && second.acknowledged, "\(second)")
        #expect(try await laptop.stability().latestCheckpoint != checkpoint)
        // An admin that only checkpoints keeps acknowledging: a day later, with the tablet's
        // new writes, it checkpoints and acknowledges again, so the tablet's chain becomes
        // stable (its own checkpoints alone would leave its old acknowledgement in force).
        try await write(tablet, "from the tablet", record: RecordID(high: 1, low: 3))
        try await sync(tablet, to: laptop)
        time.advance(by: Self.day + 1)
        let third = try await laptop.performStabilityDuties()
        #expect(third.acknowledged, "\(third)")
        try await sync(laptop, to: tablet)
        try await write(tablet, "seen the ack", record: RecordID(high: 1, low: 4))
        try await sync(tablet, to: laptop)
        let tabletHead = try await tablet.versionVector()[tabletID]
        #expect(try await laptop.stability().stableCut[tabletID] >= tabletHead - 1)
        // Every member's membership agrees (the ops are ordinary control bundles).
        try await sync(laptop, to: tablet)
        #expect(try await laptop.members() == (try await tablet.members()))
    }

    /// Regression (`Specs/snapshots.md` §9 stage 5, *Left* (a)): an `ack` was sealed only
    /// after `ackInterval` without a data bundle, so a device that wrote every day never
    /// acknowledged again, and a relay (which reads only `ack` ops) kept its stable cut, and
    /// its retention, at the first one.
    @Test("a writer that writes every day still seals an ack once a day, and not twice in one")
    func activeWritersStillAcknowledge() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let (laptop, tablet) = try await classroom(temporaryDirectory(), time: time, encrypted: true)
        let tabletID = tablet.deviceID.publicKey
        #expect(try await tablet.performStabilityDuties().acknowledged)
        try await sync(tablet, to: laptop)
        _ = try await laptop.performStabilityDuties()
        var lastAck = try #require(try await laptop.members().first { $0.device == tabletID }?.lastAck)
        for day in 1...3 {
            // Both write during the day; the tablet syncs twice a day.
            try await write(laptop, "teacher, day \(day)", record: RecordID(high: 2, low: UInt64(day)))
            try await sync(laptop, to: tablet)
            try await write(tablet, "tablet, day \(day)", record: RecordID(high: 3, low: UInt64(day)))
            #expect(try await tablet.performStabilityDuties().acknowledged == false, "day \(day): less than a day since its ack")
            time.advance(by: Self.day / 2)
            try await write(tablet, "tablet, day \(day) afternoon", record: RecordID(high: 4, low: UInt64(day)))
            try await sync(laptop, to: tablet)
            #expect(try await tablet.performStabilityDuties().acknowledged == false)
            time.advance(by: Self.day / 2 + 1)
            try await write(laptop, "teacher, evening \(day)", record: RecordID(high: 5, low: UInt64(day)))
            try await sync(laptop, to: tablet)
            // A day after its last ack, though it sealed data bundles since: an ack.
            #expect(try await tablet.performStabilityDuties().acknowledged, "day \(day)")
            try await sync(tablet, to: laptop)
            let ack = try #require(try await laptop.members().first { $0.device == tabletID }?.lastAck)
            #expect(ack.sequence > lastAck.sequence && ack.vector[laptop.deviceID.publicKey] > lastAck.vector[laptop.deviceID.publicKey])
            lastAck = ack
        }
        // Nothing new since its ack: none, however long it waits.
        time.advance(by: 3 * Self.day)
        #expect(try await tablet.performStabilityDuties().acknowledged == false)
    }

    @Test("an admin marks a silent writer stale after staleAfter (reason 02); it is not counted; its ack after syncing clears the mark")
    func staleAfterPolicy() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let (laptop, tablet) = try await classroom(temporaryDirectory(), time: time)
        let tabletID = tablet.deviceID.publicKey
        try await tablet.performStabilityDuties()
        try await sync(tablet, to: laptop)
        try await laptop.performStabilityDuties()
        #expect(try await laptop.stability().countedMembers.contains(tabletID))

        // 29 days of silence: nothing; 31: stale.
        time.advance(by: 29 * Self.day)
        #expect(try await laptop.performStabilityDuties().markedStale.isEmpty)
        time.advance(by: 2 * Self.day)
        let duties = try await laptop.performStabilityDuties()
        #expect(duties.markedStale == [tabletID])
        let stale = try #require(try await laptop.stability().staleMembers.first)
        #expect(stale.device == tabletID && stale.reason == .policy && stale.name == "tablet")
        #expect(!(try await laptop.stability().countedMembers.contains(tabletID)))
        // Not marked twice.
        #expect(try await laptop.performStabilityDuties().markedStale.isEmpty)

        // The tablet comes back: it syncs, sees the mark, acknowledges; the laptop counts it again.
        try await sync(laptop, to: tablet)
        #expect(try await tablet.stability().staleMembers.map(\.device) == [tabletID])
        #expect(try await tablet.performStabilityDuties().acknowledged)
        try await sync(tablet, to: laptop)
        #expect(try await laptop.stability().staleMembers.isEmpty)
        #expect(try await laptop.stability().countedMembers.contains(tabletID))
    }

    @Test("staleAfter 0 disables the policy; a writer does not mark anyone stale")
    func stalePolicyOff() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let dir = temporaryDirectory()
        var options = Replica.Options(physicalClock: time)
        options.staleAfter = 0
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", options: options)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        let other = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/other", name: "other", options: options)
        try await sync(laptop, to: tablet)
        try await sync(laptop, to: other)
        try await sync(tablet, to: laptop)
        try await sync(other, to: laptop)
        try await sync(laptop, to: tablet)
        time.advance(by: 60 * Self.day)
        #expect(try await laptop.performStabilityDuties().markedStale.isEmpty)
        #expect(try await tablet.performStabilityDuties().markedStale.isEmpty)
        #expect(try await laptop.stability().staleMembers.isEmpty)
    }

    @Test("markStale: admins only, members only; the mark is reason 01 and reaches the others")
    func markStaleByHand() async throws {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let (laptop, tablet) = try await classroom(temporaryDirectory(), time: time)
        let notAdmin = await #expect(throws: ConcordError.self) { try await tablet.markStale(laptop.deviceID) }
        #expect(notAdmin?.code == .notAllowed && notAdmin?.message.contains("only admins") == true)
        let stranger = DeviceID(identity(77).publicKey)
        let unknown = await #expect(throws: ConcordError.self) { try await laptop.markStale(stranger) }
        #expect(unknown?.code == .notAllowed && unknown?.message.contains("not a member") == true)
        try await laptop.markStale(tablet.deviceID)
        let stale = try #require(try await laptop.stability().staleMembers.first)
        #expect(stale.reason == .admin && stale.markedBy == laptop.deviceID.publicKey)
        try await sync(laptop, to: tablet)
        #expect(try await tablet.stability().staleMembers.map(\.device) == [tablet.deviceID.publicKey])
    }

    @Test("a space without members has no stability and no duties")
    func formatTwo() async throws {
        let replica = try Replica.createWithoutMembers(at: temporaryDirectory() + "/old")
        #expect(try await replica.stability().stableCut.entries.isEmpty)
        #expect(try await replica.performStabilityDuties().isEmpty)
    }
}
