import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Compaction on devices (`Specs/snapshots.md` §5.1, issue 16 stage 5): rebase onto the
/// latest snapshot sealed or verified here and drop the log below it; the chain rule below
/// the floor; rebuilds from the base.
@Suite("Replica compaction")
struct ReplicaCompactionTests {
    func sync(_ from: Replica, to: Replica) async throws {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
    }

    static let day: UInt64 = 86_400_000

    /// `ReplicaSnapshotTests.classroom`: a laptop (admin) and a tablet (writer) with writes,
    /// deletes and set churn, acknowledged and checkpointed, then a write above the checkpoint.
    func classroom(
        _ dir: String, encrypted: Bool = true, afterJoin: (Replica, Replica) async throws -> Void = { _, _ in }
    ) async throws -> (Replica, Replica, ManualClock) {
        try await ReplicaSnapshotTests().classroom(dir, encrypted: encrypted, afterJoin: afterJoin)
    }

    func title(_ replica: Replica, _ id: RecordID, in collection: String = "todos") async throws -> Value? {
        try await replica.record(id, in: collection)?.fields.first { $0.name == "title" }?.value
    }

    @Test(
        "compact to a sealed snapshot: the log below it goes, the state stays, the replica syncs on and seals the same later snapshot",
        arguments: [true, false])
    func compactSyncAndSealAgain(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: encrypted)
        let snapshot = try #require(try await laptop.sealSnapshot())
        let digest = try await laptop.state().digestHex
        let before = try await laptop.storageReport()
        #expect(before.floor == nil)

        // A dry run changes nothing and says what a real run does.
        let dry = try await laptop.compact(historyHorizon: .zero, dryRun: true)
        #expect(dry.dryRun && dry.snapshot == snapshot.manifest.id)
        #expect(try await laptop.storageReport().counts == before.counts)
        #expect(try await laptop.storageReport().floor == nil)

        let report = try await laptop.compact(historyHorizon: .zero)
        print("compacted: \(report)")
        #expect(report.bundlesDropped == dry.bundlesDropped && report.bundlesDropped >= 12, "\(report)")
        #expect(report.bytesDropped == dry.bytesDropped && report.bytesDropped > 0)
        #expect(report.bundlesKept == before.counts.logBundles - report.bundlesDropped)
        #expect(report.controlBundles > 0 && report.stubs == 1)
        #expect(report.bytesBefore == before.bytesOnDisk && report.bytesAfter > 0)
        let after = try await laptop.storageReport()
        #expect(after.floor == snapshot.manifest.id)
        #expect(after.counts.logBundles == before.counts.logBundles - report.bundlesDropped)
        #expect(after.counts.liveRecords == before.counts.liveRecords && after.counts.deleteStubs == before.counts.deleteStubs)
        #expect(try await laptop.state().digestHex == digest)
        // Compacting again to the same snapshot drops nothing more.
        #expect(try await laptop.compact(historyHorizon: .zero).bundlesDropped == 0)

        // Both go on writing and syncing, and converge.
        time.advance(by: 1_000)
        try await tablet.write { tx in try tx.set("title", to: "late tablet", record: RecordID(high: 1, low: 1), in: "todos") }
        try await tablet.seal()
        try await laptop.write { tx in try tx.add("t9", to: "tags", record: RecordID(high: 1, low: 3), in: "todos") }
        try await laptop.seal()
        try await sync(tablet, to: laptop)
        try await sync(laptop, to: tablet)
        #expect(try await laptop.state().digestHex == (try await tablet.state().digestHex))
        #expect(try await title(laptop, RecordID(high: 1, low: 1)) == "late tablet")

        // A later checkpoint: the compacted laptop and the tablet (whole log) seal the same state.
        time.advance(by: 2 * Self.day)
        try await tablet.performStabilityDuties()
        try await sync(tablet, to: laptop)
        try await laptop.performStabilityDuties()
        try await sync(laptop, to: tablet)
        let later = try #require(try await laptop.sealSnapshot())
        #expect(later.manifest.id != snapshot.manifest.id)
        let fromLog = try #require(try await tablet.sealSnapshot())
        #expect(later.manifest.vector == fromLog.manifest.vector)
        #expect(later.manifest.stateDigest == fromLog.manifest.stateDigest)
        #expect(try await tablet.verifySnapshot(later).state == .verified)
        // And compacts to it.
        let second = try await laptop.compact(historyHorizon: .zero)
        #expect(second.snapshot == later.manifest.id && second.bundlesDropped > 0, "\(second)")
        #expect(try await laptop.state().digestHex == (try await tablet.state().digestHex))
        // Reopened from disk, it keeps its floor and syncs on.
        let reopened = try Replica.open(at: dir + "/laptop", options: Replica.Options(physicalClock: time))
        #expect(try await reopened.storageReport().floor == later.manifest.id)
        try await tablet.write { tx in try tx.set("title", to: "after reopening", record: RecordID(high: 4, low: 1), in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: reopened)
        #expect(try await reopened.state().digestHex == (try await tablet.state().digestHex))
    }

    @Test("the history horizon keeps recent bundles below the snapshot; the replica is unchanged otherwise")
    func historyHorizonKeepsRecentBundles() async throws {
        let dir = temporaryDirectory()
        let (laptop, _, time) = try await classroom(dir, encrypted: false)
        _ = try #require(try await laptop.sealSnapshot())
        let digest = try await laptop.state().digestHex
        let record = RecordID(high: 1, low: 1)
        // Every write is within the last minute: a 30-day horizon drops only the bundles
        // before the first write (control bundles: they carry no clock reading).
        let first = try await laptop.compact()
        #expect(first.bundlesDropped < 4, "\(first)")
        #expect(try await laptop.storageReport().floor != nil, "the base is set all the same")
        #expect(try await laptop.fieldHistory(of: "title", record: record, in: "todos").writes.map(\.fromBase) == [false])
        // Forty days later, the same horizon drops them.
        time.advance(by: 40 * Self.day)
        let report = try await laptop.compact()
        #expect(report.bundlesDropped >= 12, "\(report)")
        #expect(try await laptop.state().digestHex == digest)
        #expect(try await laptop.fieldHistory(of: "title", record: record, in: "todos").writes.map(\.fromBase) == [true])
    }

    @Test("no snapshot sealed or verified here: a typed error with the remedy, nothing changed")
    func refusedWithoutAVerifiedSnapshot() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        let before = try await tablet.storageReport()
        let error = await #expect(throws: ConcordError.self) { try await tablet.compact() }
        #expect(error?.code == .noVerifiedSnapshot)
        #expect(error?.message.contains("concord snapshot seal") == true && error?.message.contains("verify") == true)
        #expect(try await tablet.storageReport() == before)
        // A loaded replica holds a provisional snapshot: refused too.
        let snapshot = try #require(try await laptop.sealSnapshot())
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        let provisional = await #expect(throws: ConcordError.self) { try await newcomer.compact() }
        #expect(provisional?.code == .noVerifiedSnapshot)
        // The tablet verifies the laptop's snapshot (it holds the log): then it compacts.
        #expect(try await tablet.verifySnapshot(snapshot).state == .verified)
        #expect(try await tablet.snapshotStatus()?.id == snapshot.manifest.id)
        #expect(try await tablet.compact(historyHorizon: .zero).bundlesDropped > 0)
        #expect(try await tablet.state().digestHex == (try await laptop.state().digestHex))
    }

    @Test("below the floor, a bundle with a kept id is a duplicate and another one a fork (quarantined)")
    func chainRuleBelowTheFloor() async throws {
        let dir = temporaryDirectory()
        var copyPath = ""
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false) { _, _ in
            copyPath = dir + "/copy"
            try FileManager.default.copyItem(atPath: dir + "/tablet", toPath: copyPath)
        }
        let copy = try Replica.open(at: copyPath, options: Replica.Options(physicalClock: time))
        try await copy.write { tx in try tx.set("title", to: "on the copy", record: RecordID(high: 9, low: 9), in: "todos") }
        try await copy.seal()
        let forked = try await copy.bundles(since: VersionVector())
        _ = try #require(try await laptop.sealSnapshot())
        _ = try await laptop.compact(historyHorizon: .zero)
        let floor = try #require(try await laptop.store.read { try $0.chainFloor(of: tablet.deviceID.publicKey) })
        let copyHead = try await copy.versionVector()[tablet.deviceID.publicKey]
        #expect(copyHead <= floor.sequence, "the copy's bundles lie below the laptop's floor")
        let before = try await laptop.storageReport()

        // The tablet's own chain again: every bundle below the floor is a duplicate.
        let again = try await laptop.import(try await tablet.bundles(since: VersionVector()))
        #expect(again.forks == 0 && again.duplicates > Int(floor.sequence) - 1, "\(again)")
        #expect(try await laptop.storageReport().counts.quarantinedBundles == 0)
        // The copy's chain: its first bundles are the tablet's (duplicates), its last a fork.
        let summary = try await laptop.import(forked)
        #expect(summary.forks == 1, "\(summary)")
        #expect(try await laptop.storageReport().counts.quarantinedBundles == 1)
        #expect(try await laptop.storageReport().counts.logBundles == before.counts.logBundles)
        #expect(try await title(laptop, RecordID(high: 9, low: 9)) == nil)
    }

    @Test("a removal's cut after compaction recomputes records from the base and the bundles above it")
    func cutAfterCompactionStartsFromTheBase() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: false)
        let snapshot = try #require(try await laptop.sealSnapshot())
        // A desk joins and pulls the whole log, verifies the snapshot and compacts.
        let desk = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/desk", name: "desk", options: Replica.Options(physicalClock: time))
        try await sync(laptop, to: desk)
        try await desk.verifySnapshot(snapshot)
        let report = try await desk.compact(historyHorizon: .zero)
        #expect(report.bundlesDropped > 0)
        let record = RecordID(high: 1, low: 1)  // written by the tablet below the snapshot
        #expect(try await title(desk, record) == "item 1")
        // The tablet writes again; only the desk gets it; the laptop removes the tablet at the
        // head it holds, which cuts that bundle.
        time.advance(by: 1_000)
        try await tablet.write { tx in try tx.set("title", to: "late", record: record, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: desk)
        #expect(try await title(desk, record) == "late")
        try await laptop.removeMember(tablet.deviceID)
        try await sync(laptop, to: desk)
        #expect(try await title(desk, record) == "item 1")
        #expect(try await desk.state().digestHex == (try await laptop.state().digestHex))
    }

    @Test("history before the floor shows what the base shows, and says so; conflicts there have no losers")
    func historyBeforeTheFloor() async throws {
        let dir = temporaryDirectory()
        let (laptop, tablet, time) = try await classroom(dir, encrypted: true)
        let record = RecordID(high: 1, low: 1)
        let full = try await laptop.fieldHistory(of: "title", record: record, in: "todos")
        #expect(full.truncatedBefore == nil)
        #expect(full.writes.map(\.value) == ["item 1"] && full.writes.allSatisfy { !$0.fromBase })
        let snapshot = try #require(try await laptop.sealSnapshot())
        _ = try await laptop.compact(historyHorizon: .zero)
        let truncated = try await laptop.fieldHistory(of: "title", record: record, in: "todos")
        #expect(truncated.truncatedBefore == snapshot.manifest.id)
        #expect(truncated.writes.count == 1)
        #expect(truncated.writes.first?.value == "item 1" && truncated.writes.first?.fromBase == true)
        #expect(truncated.writes.first?.isCurrent == true && truncated.writes.first?.sequence == nil)
        #expect(try await laptop.history(of: "title", record: record, in: "todos") == truncated.writes)
        #expect(try await laptop.conflicts(of: "title", record: record, in: "todos") == [])
        // A write after the floor follows the base's.
        time.advance(by: 1_000)
        try await tablet.write { tx in try tx.set("title", to: "later", record: record, in: "todos") }
        try await tablet.seal()
        try await sync(tablet, to: laptop)
        let later = try await laptop.fieldHistory(of: "title", record: record, in: "todos")
        #expect(later.writes.map(\.value) == ["item 1", "later"], "\(later)")
        #expect(later.writes.map(\.fromBase) == [true, false])
        // A replica loaded from the snapshot says the same.
        let newcomer = try await Replica.join(
            try await laptop.invite(role: .writer), at: dir + "/new", name: "new", options: Replica.Options(physicalClock: time))
        try await newcomer.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        let loaded = try await newcomer.fieldHistory(of: "title", record: record, in: "todos")
        #expect(loaded.truncatedBefore == snapshot.manifest.id && loaded.writes.map(\.value) == ["item 1"])
    }

    @Test("a far-behind device that holds part of the log loads a snapshot: rebased, its own writes kept, it converges")
    func farBehindDeviceLoadsASnapshot() async throws {
        let dir = temporaryDirectory()
        var desk: Replica?
        let (laptop, tablet, time) = try await classroom(dir, encrypted: true) { laptop, _ in
            // A desk joins early and holds the laptop's first bundles only.
            let joined = try await Replica.join(
                try await laptop.invite(role: .writer), at: dir + "/desk", name: "desk",
                options: Replica.Options(physicalClock: ManualClock(milliseconds: 1_900_000_000_000)))
            try await joined.import(try await laptop.bundles(since: try await joined.versionVector()))
            desk = joined
        }
        let far = try #require(desk)
        // Offline, it writes; the others go on and checkpoint without it (it never acknowledged).
        try await far.write { tx in try tx.set("title", to: "from the desk", record: RecordID(high: 7, low: 1), in: "todos") }
        let snapshot = try #require(try await laptop.sealSnapshot())
        let controls = try await laptop.controlBundles(through: snapshot.manifest)
        let before = try await far.versionVector()
        #expect(before[tablet.deviceID.publicKey] < snapshot.manifest.vector[tablet.deviceID.publicKey])

        let summary = try await far.loadSnapshot(snapshot, controlBundles: controls)
        #expect(summary.snapshot == snapshot.manifest.id)
        #expect(try await far.storageReport().floor == snapshot.manifest.id)
        #expect(try await far.snapshotStatus()?.state == .provisional)
        #expect(try await title(far, RecordID(high: 7, low: 1)) == "from the desk", "its own write stays")
        #expect(try await title(far, RecordID(high: 1, low: 1)) == "item 1", "the snapshot's records are there")
        #expect(try await far.record(RecordID(high: 1, low: 4), in: "todos") == nil, "and its deletes")
        // It pulls the rest and pushes its own: everyone converges.
        try await sync(laptop, to: far)
        try await sync(far, to: laptop)
        try await sync(laptop, to: tablet)
        #expect(try await far.state().digestHex == (try await laptop.state().digestHex))
        #expect(try await tablet.state().digestHex == (try await laptop.state().digestHex))
        #expect(try await title(laptop, RecordID(high: 7, low: 1)) == "from the desk")
        // A device that holds the whole log is refused (it verifies instead).
        let refused = await #expect(throws: ConcordError.self) { try await tablet.loadSnapshot(snapshot, controlBundles: controls) }
        #expect(refused?.code == .snapshotRefused)
        _ = time
    }

    @Test("a far-behind device whose own chain the snapshot covers entirely goes on sealing data and control bundles above it")
    func farBehindDeviceWithNothingNewSealsOn() async throws {
        let dir = temporaryDirectory()
        var desk: Replica?
        let (laptop, tablet, _) = try await classroom(dir, encrypted: true) { laptop, _ in
            let joined = try await Replica.join(
                try await laptop.invite(role: .writer), at: dir + "/desk", name: "desk",
                options: Replica.Options(physicalClock: ManualClock(milliseconds: 1_900_000_000_000)))
            try await joined.import(try await laptop.bundles(since: try await joined.versionVector()))
            try await laptop.import(try await joined.bundles(since: try await laptop.versionVector()))
            desk = joined
        }
        let far = try #require(desk)
        let snapshot = try #require(try await laptop.sealSnapshot())
        let me = far.deviceID.publicKey
        let head = try await far.versionVector()[me]
        #expect(head >= 1 && snapshot.manifest.vector[me] == head, "the snapshot covers the desk's whole chain")
        _ = try await far.loadSnapshot(snapshot, controlBundles: try await laptop.controlBundles(through: snapshot.manifest))
        #expect(try await far.versionVector()[me] == head)
        try await far.write { tx in try tx.set("title", to: "after the load", record: RecordID(high: 7, low: 2), in: "todos") }
        let sealed = try await far.seal()
        #expect(sealed.map(\.sequence) == [head + 1])
        _ = try await far.performStabilityDuties()
        try await sync(far, to: laptop)
        try await sync(laptop, to: far)
        try await sync(laptop, to: tablet)
        #expect(try await title(laptop, RecordID(high: 7, low: 2)) == "after the load")
        #expect(try await far.state().digestHex == (try await laptop.state().digestHex))
    }
}
