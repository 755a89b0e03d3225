import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Recovery of a device that forked its chain or wrote with a wrong clock (issue 12.1 and
/// 12.2; `Specs/sync-protocol.md` §5, `Specs/hlc.md` §9), on real SQLite stores.
@Suite("recovery")
struct RecoveryTests {
    static let day: UInt64 = 86_400_000
    static let year: UInt64 = 365 * day

    /// Copies a replica directory as a user would (a backup, a copied folder).
    static func copyStore(_ from: String, to: String) throws {
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    /// Every bundle `from` holds that `to` lacks, imported into `to`.
    @discardableResult
    static func send(_ from: Replica, to: Replica) async throws -> ImportSummary {
        try await to.import(collect(from.bundles(since: to.versionVector())).map(\.bytes))
    }

    @Test("a copied store writes on both copies: the fork is reported, recover keeps both copies' writes, everyone converges")
    func forkFromACopiedStoreIsRecovered() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob")
        let before = RecordID.random()
        try await alice.write { try $0.set("title", to: "before the copy", record: before, in: "notes") }
        try await Self.send(alice, to: bob)
        try await bob.write { try $0.set("title", to: "bob saw it", record: RecordID.random(), in: "notes") }
        try await Self.send(bob, to: alice)  // acknowledges alice's bundle 1
        #expect(try await alice.status().unacknowledgedBundles == 0)
        try Self.copyStore(dir + "/alice", to: dir + "/copy")
        let copy = try Replica.open(at: dir + "/copy")
        #expect(copy.replicaID == alice.replicaID)

        let onOriginal = RecordID.random()
        let onCopy = RecordID.random()
        try await alice.write { try $0.set("title", to: "written on the original", record: onOriginal, in: "notes") }
        try await copy.write { try $0.set("title", to: "written on the copy", record: onCopy, in: "notes") }
        try await copy.write { try $0.add("tag", to: "tags", record: onCopy, in: "notes") }
        try await Self.send(alice, to: bob)  // bob holds the original's bundle 2

        // The copy meets the original's bundle 2: its own chain forked at 2.
        let summary = try await Self.send(alice, to: copy)
        #expect(summary.forks == 1)
        let problems = try await copy.status().problems
        #expect(problems.map(\.kind) == [.forked], "\(problems)")
        #expect(problems.first?.forkedAt == 2)
        #expect(problems.first?.remedy == .recover)
        #expect(problems.first?.message.contains("concord recover") == true)
        #expect(try await copy.syncStatus(of: onCopy, in: "notes").isPending)

        let recovery = try await copy.recover()
        print("recovered: \(recovery)")
        let next = recovery.replica
        #expect(next.replicaID != alice.replicaID)
        #expect(recovery.previousDevice == alice.replicaID)
        #expect(recovery.reissuedBundles == 2...2)
        #expect(try await next.problems().isEmpty)
        // The copy now holds the original's write too (its bundle 2 extends the old chain).
        #expect(try await next.record(onOriginal, in: "notes")?["title"] == "written on the original")
        #expect(try await next.record(onCopy, in: "notes")?["title"] == "written on the copy")
        #expect(try await next.versionVector()[alice.membership.device.publicKey] == 2)
        // The old instance refuses to write into the recovered store.
        let refused = await #expect(throws: ConcordError.self) {
            try await copy.write { try $0.set("x", to: 1, record: onCopy, in: "notes") }
        }
        #expect(refused?.code == .identityChanged)

        // Everyone converges, and nothing written on either copy is lost.
        try await Self.send(next, to: bob)
        try await Self.send(next, to: alice)
        try await Self.send(bob, to: next)
        try await Self.send(alice, to: next)
        for replica in [alice, bob, next] {
            #expect(try await replica.record(onCopy, in: "notes")?["title"] == "written on the copy")
            #expect(try await replica.record(onCopy, in: "notes")?.members(of: "tags") == ["tag"])
            #expect(try await replica.record(onOriginal, in: "notes")?["title"] == "written on the original")
            #expect(try await replica.record(before, in: "notes") != nil)
        }
        let digests = try await [alice.state().digestHex, bob.state().digestHex, next.state().digestHex]
        #expect(Set(digests).count == 1, "\(digests)")
        #expect(try await bob.status().quarantinedBundles == 0, "relay-free peers never saw the copy's old bundle")
        // Reopening finds the new identity; the old key is kept as a retired key file.
        let reopened = try Replica.open(at: dir + "/copy")
        #expect(reopened.replicaID == next.replicaID)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/copy")
        #expect(files.contains { $0.hasSuffix(".retired.key") }, "\(files)")
    }

    @Test("a replica that applied the copy's old bundle converges with one that never saw it once the re-issued writes arrive")
    func shadowedOldBranchConverges() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let carol = try Replica.join(try await alice.invite(), at: dir + "/carol")
        let dave = try Replica.join(try await alice.invite(), at: dir + "/dave")
        try Self.copyStore(dir + "/alice", to: dir + "/copy")
        let copy = try Replica.open(at: dir + "/copy")
        let id = RecordID.random()
        try await copy.write { tx in
            try tx.set("title", to: "from the copy", record: id, in: "notes")
            try tx.add("a", to: "tags", record: id, in: "notes")
        }
        try await alice.write { try $0.set("title", to: "from the original", record: RecordID.random(), in: "notes") }
        // Carol gets the copy's bundle 1 first (say, from a shared folder); Dave the original's.
        try await Self.send(copy, to: carol)
        try await Self.send(alice, to: dave)
        try await Self.send(alice, to: copy)  // the copy learns of the fork
        let next = try await copy.recover().replica
        // Carol removes the tag after seeing only the re-issued add; Dave too.
        try await Self.send(next, to: carol)
        try await Self.send(next, to: dave)
        try await carol.write { try $0.remove("a", from: "tags", record: id, in: "notes") }
        try await Self.send(carol, to: dave)
        try await Self.send(dave, to: carol)
        #expect(try await carol.record(id, in: "notes")?.members(of: "tags") == [])
        #expect(try await dave.record(id, in: "notes")?.members(of: "tags") == [])
        #expect(try await carol.record(id, in: "notes")?["title"] == "from the copy")
        #expect(try await dave.record(id, in: "notes")?["title"] == "from the copy")
        // The record reads the same, though only Carol holds the old copy's operations.
        #expect(try await carol.record(id, in: "notes") == dave.record(id, in: "notes"))
        #expect(try await carol.history(of: "title", record: id, in: "notes").count == 2)
        #expect(try await dave.history(of: "title", record: id, in: "notes").count == 1)
    }

    @Test(
        "a device that wrote a year ahead, then had its clock fixed: the problem is named in dates, recover re-dates the writes, peers accept them"
    )
    func wroteAYearAheadThenRecovered() async throws {
        let dir = temporaryDirectory()
        let now = SystemClock().nowMilliseconds()
        let time = ManualClock(milliseconds: now)
        let options = Replica.Options(physicalClock: time)
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let tablet = try Replica.join(try await alice.invite(), at: dir + "/tablet", options: options)
        // Someone sets the tablet's year wrong; it writes.
        time.set(milliseconds: now + Self.year)
        let id = RecordID.random()
        try await tablet.write { try $0.set("title", to: "written a year ahead", record: id, in: "notes") }
        try await tablet.seal()
        // Peers refuse it: it is dated a year after their clocks.
        let refused = try await Self.send(tablet, to: alice)
        #expect(refused.rejected.first?.error.code == .clockDriftExceeded)
        // The clock is set right. Without a second opinion the device cannot tell which date is right.
        time.set(milliseconds: now)
        let problems = try await tablet.problems()
        #expect(problems.map(\.kind) == [.clockDisagrees], "\(problems)")
        #expect(problems.first?.message.contains(CalendarTime.date(now + Self.year)) == true, "\(problems)")
        #expect(problems.first?.message.contains(CalendarTime.date(now)) == true)
        // A relay (or any second clock) agreeing with the device: it wrote ahead.
        #expect(try await tablet.problems(realTime: now).map(\.kind) == [.wroteAhead])
        // Writes still work meanwhile (the clock's counter), and are re-dated too.
        try await tablet.write { try $0.set("body", to: "after the fix", record: id, in: "notes") }

        let recovery = try await tablet.recover()
        #expect(recovery.redatedOperations == 2, "\(recovery)")
        let next = recovery.replica
        #expect(try await next.problems().isEmpty)
        #expect(await next.lastClockReading.milliseconds < now + 60_000, "the clock continues from the present")
        let accepted = try await Self.send(next, to: alice)
        #expect(accepted.rejected.isEmpty && accepted.applied == 1, "\(accepted)")
        #expect(try await alice.record(id, in: "notes")?["title"] == "written a year ahead")
        #expect(try await alice.record(id, in: "notes")?["body"] == "after the fix")
        // And a later write elsewhere wins over it, as it should.
        try await alice.write { try $0.set("title", to: "alice, later", record: id, in: "notes") }
        try await Self.send(alice, to: next)
        #expect(try await next.record(id, in: "notes")?["title"] == "alice, later")
    }

    @Test(
        "a clock reset to 2000 after writing: every newer change is refused with dates, writes go on, recover refuses until the clock is set"
    )
    func clockResetTo2000() async throws {
        let dir = temporaryDirectory()
        let now = SystemClock().nowMilliseconds()
        let time = ManualClock(milliseconds: now)
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let tablet = try Replica.join(try await alice.invite(), at: dir + "/tablet", options: Replica.Options(physicalClock: time))
        try await alice.write { try $0.set("title", to: "alice", record: RecordID.random(), in: "notes") }
        try await Self.send(alice, to: tablet)
        time.set(milliseconds: 946_684_800_000)  // 2000-01-01: a flat battery
        let problems = try await tablet.problems()
        #expect(problems.map(\.kind) == [.clockBehind], "\(problems)")
        #expect(problems.first?.remedy == .setClock)
        #expect(problems.first?.message.contains("2000-01-01 00:00 UTC") == true, "\(problems)")
        // A newer change of Alice's is refused, the message in dates.
        try await alice.write { try $0.set("title", to: "later", record: RecordID.random(), in: "notes") }
        let refused = try await Self.send(alice, to: tablet)
        #expect(refused.rejected.first?.error.message.contains("2000-01-01 00:00 UTC") == true, "\(refused.rejected)")
        // Local writes still get readings after everything held.
        let id = RecordID.random()
        try await tablet.write { try $0.set("title", to: "offline", record: id, in: "notes") }
        let recover = await #expect(throws: ConcordError.self) { try await tablet.recover() }
        #expect(
            recover?.code == .clockFailure && recover?.message.contains("Set the date and time") == true, "\(String(describing: recover))")
        // The clock is set: everything flows again, nothing was lost.
        time.set(milliseconds: SystemClock().nowMilliseconds())
        #expect(try await tablet.problems().isEmpty)
        #expect(try await Self.send(alice, to: tablet).applied == 1)
        #expect(try await Self.send(tablet, to: alice).applied >= 1)
        #expect(try await alice.record(id, in: "notes")?["title"] == "offline")
    }

    @Test("clock exhaustion while the clock is behind what the replica holds says what to do in dates, not 'wait a moment'")
    func exhaustionWhileBehindNamesTheDates() async throws {
        let dir = temporaryDirectory()
        let now = SystemClock().nowMilliseconds()
        let time = ManualClock(milliseconds: now + Self.day)
        let alice = try Replica.createWithoutMembers(at: dir + "/alice", options: Replica.Options(physicalClock: time))
        // A peer's op stamped at the last counter value of a millisecond a day ahead.
        let bob = try Membership.join(try await alice.invite(), device: Identity(), issuedAt: now)
        var peer = bob.makeReplica(
            clock: HybridLogicalClock(
                physicalClock: FixedClock(milliseconds: now + Self.day), last: HLCTimestamp(milliseconds: now + Self.day, counter: .max - 1)
            ))
        let op = try peer.set("title", to: "late", record: RecordID.random(), in: "notes")
        #expect(op.stamp.hlc.counter == .max)
        #expect(try await alice.import(bob.seal([op], previous: nil).bytes).appliedIDs.count == 1)
        time.set(milliseconds: now)
        let error = await #expect(throws: ConcordError.self) {
            try await alice.write { try $0.set("x", to: 1, record: RecordID.random(), in: "notes") }
        }
        #expect(error?.code == .clockFailure)
        #expect(error?.message.contains("wait a moment") == false, "\(String(describing: error))")
        #expect(error?.message.contains("set this device's date and time") == true, "\(String(describing: error))")
    }

    @Test("a device that joined with its clock a day ahead renews its membership once the clock is right; peers accept its bundles")
    func membershipFromTheFutureIsRenewed() async throws {
        let dir = temporaryDirectory()
        let now = SystemClock().nowMilliseconds()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let ahead = Replica.Options(physicalClock: FixedClock(milliseconds: now + Self.day))
        let tablet = try Replica.join(try await alice.invite(), at: dir + "/tablet", options: ahead)
        #expect(tablet.membership.latestIssueTime == now + Self.day)
        // Set right, the tablet's membership is renewed when the store opens.
        let fixed = try Replica.open(at: dir + "/tablet")
        #expect(fixed.membership.latestIssueTime <= SystemClock().nowMilliseconds())
        #expect(fixed.replicaID == tablet.replicaID)
        #expect(try Replica.open(at: dir + "/tablet").membership.certificates == fixed.membership.certificates, "stored")
        try await fixed.write { try $0.set("title", to: "tablet", record: RecordID.random(), in: "notes") }
        let summary = try await Self.send(fixed, to: alice)
        #expect(summary.applied == 1 && summary.rejected.isEmpty, "\(summary)")
        // A reader cannot renew: it is told to join again.
        let reader = try Replica.join(try await alice.invite(readOnly: true), at: dir + "/reader", options: ahead)
        let problems = try await Replica.open(at: dir + "/reader").problems()
        #expect(problems.map(\.kind) == [.membershipFromTheFuture] && problems.first?.remedy == .joinAgain, "\(problems)")
        _ = reader
    }

    @Test("a recovery interrupted between the store and the key files finishes when the store is opened")
    func interruptedKeySwitchFinishesOnOpen() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        try await alice.write { try $0.set("title", to: "x", record: RecordID.random(), in: "notes") }
        let next = try await alice.recover().replica
        let files = FileManager.default
        let path = dir + "/alice"
        let retired = try #require(try files.contentsOfDirectory(atPath: path).first { $0.hasSuffix(".retired.key") })
        // Undo the file switch: as if the process died right after the store transaction.
        try files.moveItem(atPath: path + "/device.key", toPath: path + "/device.key.next")
        try files.moveItem(atPath: path + "/" + retired, toPath: path + "/device.key")
        let reopened = try Replica.open(at: path)
        #expect(reopened.replicaID == next.replicaID)
        #expect(!files.fileExists(atPath: path + "/device.key.next"))
    }
}
