import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// The resurrection guard in the store-backed importer (`Specs/crdt-semantics.md` §11.4,
/// `Specs/snapshots.md` §3, issue 16 stage 3): a tablet goes away and edits a record offline;
/// the teacher deletes it, marks the tablet stale and checkpoints once the phone acknowledged
/// the delete; the tablet returns. The record stays deleted on every device, whichever
/// arrives first, the import reports the dropped write, and the tablet is told.
@Suite("Replica: the resurrection guard")
struct ReplicaResurrectionGuardTests {
    static let day: UInt64 = 86_400_000

    @discardableResult
    func sync(_ from: Replica, to: Replica) async throws -> ImportSummary {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
    }

    func write(_ replica: Replica, _ title: String, record: RecordID) async throws {
        try await replica.write { try $0.set("title", to: .string(title), record: record, in: "todos") }
        try await replica.seal()
    }

    /// A laptop (admin), a phone and a tablet (writers), each having acknowledged the others,
    /// and the tablet's draft of record (5, 5) on every device.
    func classroom() async throws -> (laptop: Replica, phone: Replica, tablet: Replica, time: ManualClock) {
        let time = ManualClock(milliseconds: 1_900_000_000_000)
        let dir = temporaryDirectory()
        let options = Replica.Options(physicalClock: time)
        let laptop = try await Replica.create(at: dir + "/laptop", name: "laptop", options: options)
        let phone = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/phone", name: "phone", options: options)
        let tablet = try await Replica.join(try await laptop.invite(role: .writer), at: dir + "/tablet", name: "tablet", options: options)
        for device in [phone, tablet] { try await sync(device, to: laptop) }
        for device in [phone, tablet] { try await sync(laptop, to: device) }
        for device in [phone, tablet] {
            try await device.performStabilityDuties()
            try await sync(device, to: laptop)
        }
        try await laptop.performStabilityDuties()
        try await write(tablet, "draft", record: RecordID(high: 5, low: 5))
        try await sync(tablet, to: laptop)
        for device in [phone, tablet] { try await sync(laptop, to: device) }
        return (laptop, phone, tablet, time)
    }

    @Test("a returning device's edit of a checkpointed delete is dropped everywhere, reported, and rolled back on its own device")
    func staleEditIsDropped() async throws {
        let (laptop, phone, tablet, time) = try await classroom()
        let record = RecordID(high: 5, low: 5)
        let other = RecordID(high: 5, low: 6)

        // The tablet goes away. The teacher deletes the record and marks the tablet stale; a
        // day later the phone acknowledges the delete and the laptop checkpoints it.
        time.advance(by: 1_000)
        try await laptop.write { try $0.delete(record: record, in: "todos") }
        try await laptop.seal()
        let laptopID = laptop.deviceID.publicKey
        let deleteSequence = try await laptop.versionVector()[laptopID]
        try await laptop.markStale(tablet.deviceID)
        try await sync(laptop, to: phone)
        time.advance(by: Self.day + 1)
        #expect(try await phone.performStabilityDuties().acknowledged)
        try await sync(phone, to: laptop)
        #expect(try await laptop.performStabilityDuties().checkpointed)
        let checkpoint = try #require(try await laptop.stability().latestCheckpoint)
        #expect(checkpoint.stable[laptopID] >= deleteSequence)

        // Meanwhile, offline, the tablet edits the record (later than the delete) and another.
        time.advance(by: 1_000)
        try await write(tablet, "offline edit", record: record)
        try await write(tablet, "kept", record: other)

        // The phone gets the tablet's bundles before the checkpoint: the edit applies (no
        // checkpoint covers the delete there yet), then the checkpoint rolls it back.
        let early = try await sync(tablet, to: phone)
        #expect(early.guarded.isEmpty)
        #expect(try await phone.record(record, in: "todos") != nil)
        let rollback = try await sync(laptop, to: phone)
        #expect(rollback.guarded.map(\.record) == [record], "\(rollback.guarded)")
        #expect(try await phone.record(record, in: "todos") == nil)

        // The laptop gets them after its checkpoint: dropped on the way in, reported.
        let summary = try await sync(tablet, to: laptop)
        #expect(summary.guarded.count == 1)
        let dropped = try #require(summary.guarded.first)
        #expect(dropped.author == tablet.deviceID.publicKey && dropped.record == record && dropped.field == "title")
        #expect(dropped.delete.author == laptopID && dropped.delete.sequence == deleteSequence)
        #expect(try await laptop.record(record, in: "todos") == nil)
        #expect(try await laptop.record(other, in: "todos") != nil)

        // The tablet returns: its own edit is rolled back, its other write stays, it is told.
        try await sync(laptop, to: tablet)
        #expect(try await tablet.record(record, in: "todos") == nil)
        #expect(try await tablet.record(other, in: "todos") != nil)
        let problem = try #require(try await tablet.problems().first { $0.kind == .writesDroppedAfterAbsence })
        #expect(problem.remedy == .review)
        #expect(problem.message.contains("1 change made on this device"), "\(problem.message)")
        #expect(problem.message.contains("offline edit") && problem.message.contains("while this device was away"), "\(problem.message)")
        #expect(try await laptop.problems().allSatisfy { $0.kind != .writesDroppedAfterAbsence })

        // Reviewed and dismissed: no longer reported, nothing else changes; a clock problem
        // cannot be dismissed.
        let before = try await tablet.state().digest
        #expect(try await tablet.dismissProblem(.writesDroppedAfterAbsence) == 1)
        #expect(try await tablet.problems().allSatisfy { $0.kind != .writesDroppedAfterAbsence })
        #expect(try await tablet.state().digest == before)
        #expect(try await tablet.dismissProblem(.writesDroppedAfterAbsence) == 0)
        await #expect(throws: ConcordError.self) { try await tablet.dismissProblem(.forked) }

        // Every device agrees.
        let digest = try await laptop.state().digest
        #expect(try await phone.state().digest == digest)
        #expect(try await tablet.state().digest == digest)

        // Regression (review of 2026-12-07): once the dropped write lies below a later
        // checkpoint, a snapshot sealed there must leave it out as the store did; the replay
        // that seals snapshots applied it, so a device loaded from one showed the deleted
        // record again while every other device did not.
        let invite = try await laptop.invite(role: .writer)
        for _ in 0..<3 {
            time.advance(by: Self.day + 1)
            for device in [phone, tablet] {
                try await sync(laptop, to: device)
                try await device.performStabilityDuties()
                try await sync(device, to: laptop)
            }
            try await laptop.performStabilityDuties()
        }
        let tabletID = tablet.deviceID.publicKey
        let snapshot = try #require(try await laptop.sealSnapshot())
        #expect(snapshot.manifest.vector[tabletID] >= dropped.sequence, "\(snapshot.manifest.vector)")
        let newcomer = try await Replica.join(
            invite, at: temporaryDirectory() + "/newcomer", name: "newcomer", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        #expect(try await newcomer.record(record, in: "todos") == nil)
        #expect(try await newcomer.record(other, in: "todos") != nil)
        try await sync(laptop, to: newcomer)
        #expect(try await newcomer.state().digest == laptop.state().digest)
        try await sync(laptop, to: phone)
        #expect(try await phone.verifySnapshot(snapshot).state == .verified)
    }

    /// Regression: a device's problem report opened every own bundle sealed since the
    /// oldest applied checkpoint at each call (three times a sync round), so a busy
    /// device's rounds slowed down as its chain grew. A counted device's bundles after a
    /// checkpoint include its stable cut: one bundle per checkpoint is opened.
    @Test("the dropped-writes report of a device that never went away opens about one bundle per checkpoint, not its chain")
    func droppedWritesReportDoesNotReadTheWholeChain() async throws {
        let (laptop, phone, tablet, time) = try await classroom()
        for day in 0..<4 {
            for n in 0..<15 {
                try await write(phone, "day \(day), \(n)", record: RecordID(high: 6, low: UInt64(day * 100 + n)))
            }
            time.advance(by: Self.day + 1)
            for device in [phone, tablet] {
                try await sync(laptop, to: device)
                try await device.performStabilityDuties()
                try await sync(device, to: laptop)
            }
            #expect(try await laptop.performStabilityDuties().checkpointed, "day \(day)")
            try await sync(laptop, to: phone)
        }
        let checkpoints = try await phone.memberContext().state.checkpoints.count
        #expect(checkpoints >= 4)
        let scan = try await phone.scanDroppedOwnWrites()
        #expect(scan.dropped.isEmpty)
        #expect(scan.opened <= checkpoints, "opened \(scan.opened) of the phone's 60 data bundles for \(checkpoints) checkpoints")
        #expect(try await phone.problems().isEmpty)
    }

    @Test("a returning device that recovers does not re-issue its dropped writes: the deleted record stays deleted everywhere")
    func recoveryDoesNotReviveDroppedWrites() async throws {
        let (laptop, phone, tablet, time) = try await classroom()
        let record = RecordID(high: 5, low: 5)
        let other = RecordID(high: 5, low: 6)
        // Away: the record is deleted, the tablet marked stale, the delete checkpointed.
        time.advance(by: 1_000)
        try await laptop.write { try $0.delete(record: record, in: "todos") }
        try await laptop.seal()
        try await laptop.markStale(tablet.deviceID)
        try await sync(laptop, to: phone)
        time.advance(by: Self.day + 1)
        try await phone.performStabilityDuties()
        try await sync(phone, to: laptop)
        #expect(try await laptop.performStabilityDuties().checkpointed)
        // Offline, the tablet edits the record and writes another one, then returns (pulls).
        time.advance(by: 1_000)
        try await write(tablet, "offline edit", record: record)
        try await write(tablet, "kept", record: other)
        try await sync(laptop, to: tablet)
        #expect(try await tablet.record(record, in: "todos") == nil)
        #expect(try await tablet.problems().contains { $0.kind == .writesDroppedAfterAbsence })

        // Its owner recovers it (say its clock had been wrong): the new identity re-issues
        // what the space has not acknowledged, but not the writes the guard dropped, which
        // a fresh context would otherwise make look informed of the delete.
        let recovery = try await tablet.recover()
        let successor = recovery.replica
        #expect(try await successor.record(record, in: "todos") == nil, "revived on the recovered device")
        #expect(try await successor.record(other, in: "todos")?["title"] == .string("kept"))
        try await sync(successor, to: laptop)
        try await sync(successor, to: phone)
        #expect(try await laptop.record(record, in: "todos") == nil, "revived on the laptop")
        #expect(try await phone.record(record, in: "todos") == nil, "revived on the phone")
        #expect(try await laptop.record(other, in: "todos")?["title"] == .string("kept"))
        try await sync(laptop, to: successor)
        let digest = try await laptop.state().digest
        #expect(try await successor.state().digest == digest)
        #expect(try await phone.state().digest == digest)
    }
}
