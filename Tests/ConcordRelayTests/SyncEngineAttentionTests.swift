import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging
import Testing

/// What an app sees when the device itself needs its owner (`Specs/sync-protocol.md` §3,
/// §5; `Specs/hlc.md` §9): `syncNow()` throws `needsAttention` with the problem, and the
/// status stream reports `.attention(problem)`.
@Suite struct SyncEngineAttentionTests {
    static var quietLogger: Logger {
        var logger = Logger(label: "concord.sync.test")
        logger.logLevel = .critical
        return logger
    }

    /// The first `.attention` the stream reports.
    static func attention(_ statuses: AsyncStream<SyncEngine.Status>) async -> ReplicaProblem? {
        for await status in statuses {
            if case .attention(let problem) = status { return problem }
        }
        return nil
    }

    @Test(
        "a clock a year ahead of the relay's: the round stops before sealing, .attention(clock-ahead) with both dates; set right, the round succeeds"
    )
    func clockAheadOfTheRelay() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let now = SystemClock().nowMilliseconds()
            let time = ManualClock(milliseconds: now)
            let replica = try Replica.createWithoutMembers(at: directory.path("device"), options: Replica.Options(physicalClock: time))
            time.set(milliseconds: now + 365 * 86_400_000)
            try await replica.write { try $0.set("title", to: "ahead", record: RecordID.random(), in: "notes") }
            let engine = SyncEngine(replica: replica, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            let statuses = await engine.status
            let error = await #expect(throws: ConcordSyncError.self) { try await engine.syncNow() }
            #expect(error?.code == .needsAttention && error?.problem?.kind == .clockAhead, "\(String(describing: error))")
            #expect(error?.isTransient == false)
            let problem = await Self.attention(statuses)
            #expect(problem?.kind == .clockAhead && problem?.remedy == .setClock)
            #expect(problem?.message.contains(CalendarTime.date(now)) == true, "\(String(describing: problem?.message))")
            #expect(try await replica.status().pendingOperations == 1, "nothing sealed")
            time.set(milliseconds: SystemClock().nowMilliseconds())
            let summary = try await engine.syncNow()
            #expect(summary.problems.isEmpty && summary.pushed.stored == 1, "\(summary)")
            #expect(await engine.currentStatus == .synced)
        }
    }

    @Test("a copied store's engine: .attention(forked) naming recover; after recover a new engine syncs")
    func forkedStore() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let url = URL(string: relay.baseURL)!
            let original = try Replica.createWithoutMembers(at: directory.path("original"))
            try await original.write { try $0.set("title", to: "one", record: RecordID.random(), in: "notes") }
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            try FileManager.default.copyItem(atPath: directory.path("original"), toPath: directory.path("copy"))
            let copy = try Replica.open(at: directory.path("copy"))
            try await original.write { try $0.set("title", to: "original", record: RecordID.random(), in: "notes") }
            try await copy.write { try $0.set("title", to: "copy", record: RecordID.random(), in: "notes") }
            try await copy.seal()
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            let engine = SyncEngine(replica: copy, relay: url, logger: Self.quietLogger)
            let statuses = await engine.status
            let error = await #expect(throws: ConcordSyncError.self) { try await engine.syncNow() }
            #expect(error?.problem?.kind == .forked && error?.problem?.forkedAt == 2, "\(String(describing: error))")
            let problem = await Self.attention(statuses)
            #expect(problem?.remedy == .recover)
            let next = try await copy.recover().replica
            let summary = try await SyncEngine(replica: next, relay: url, logger: Self.quietLogger).syncNow()
            #expect(summary.problems.isEmpty && summary.pushed.stored == 1, "\(summary)")
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            #expect(try await original.state().digestHex == next.state().digestHex)
        }
    }

    @Test(
        "a copy that found a fork in another copy's file and recovered holds that copy's branch of its old identity (as long as the relay's, or longer); its next relay sync follows the relay's branch (found by the field soak)",
        arguments: [false, true])
    func recoveredCopyFollowsTheRelaysBranchOfItsOldIdentity(otherBranchLonger: Bool) async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let url = URL(string: relay.baseURL)!
            let original = try Replica.createWithoutMembers(at: directory.path("original"))
            let observer = try Replica.join(try await original.invite(), at: directory.path("observer"))
            try await original.write { try $0.set("title", to: "one", record: RecordID.random(), in: "notes") }
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            try FileManager.default.copyItem(atPath: directory.path("original"), toPath: directory.path("a"))
            try FileManager.default.copyItem(atPath: directory.path("original"), toPath: directory.path("b"))
            let a = try Replica.open(at: directory.path("a"))
            let b = try Replica.open(at: directory.path("b"))
            // Both copies sign a bundle 2: a's reaches the relay, b's only a shared file.
            try await a.write { try $0.set("title", to: "a", record: RecordID.random(), in: "notes") }
            try await SyncEngine(replica: a, relay: url, logger: Self.quietLogger).syncNow()
            try await b.write { try $0.set("title", to: "b", record: RecordID.random(), in: "notes") }
            try await b.seal()
            if otherBranchLonger {
                // Then the old identity's chain in a's store reaches past the relay's head.
                try await b.write { try $0.set("title", to: "b again", record: RecordID.random(), in: "notes") }
                try await b.seal()
            }
            let file = directory.path("b.concord")
            _ = try await b.exportBundleFile(to: file)
            // a finds the fork in the file and recovers: b's bundle 2 now extends the old
            // identity's chain in a's store, while the relay holds a's own bundle 2 there.
            let imported = try await a.importBundleFile(at: file)
            #expect(imported.forks >= 1, "\(imported)")
            let next = try await a.recover().replica
            try await SyncEngine(replica: next, relay: url, logger: Self.quietLogger).syncNow()
            try await SyncEngine(replica: observer, relay: url, logger: Self.quietLogger).syncNow()
            #expect(Set(try await next.records(in: "notes")) == Set(try await observer.records(in: "notes")))
            #expect(
                try await next.state().digestHex == observer.state().digestHex,
                "the recovered copy follows the relay's branch of its old identity")
        }
    }

    @Test(
        "a receiver that took a copy's branch from a file, then the relay's branch from another file (set aside as a fork), follows the relay's branch at its next relay sync, whether the relay's branch is as long or longer (found by the field soak)",
        arguments: [false, true])
    func receiverFollowsTheRelaysBranchItHadSetAside(relayBranchLonger: Bool) async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let url = URL(string: relay.baseURL)!
            let original = try Replica.createWithoutMembers(at: directory.path("original"))
            let receiver = try Replica.join(try await original.invite(), at: directory.path("receiver"))
            let observer = try Replica.join(try await original.invite(), at: directory.path("observer"))
            try await original.write { try $0.set("title", to: "one", record: RecordID.random(), in: "notes") }
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            try await SyncEngine(replica: receiver, relay: url, logger: Self.quietLogger).syncNow()
            try FileManager.default.copyItem(atPath: directory.path("original"), toPath: directory.path("copy"))
            let copy = try Replica.open(at: directory.path("copy"))
            try await copy.write { try $0.set("title", to: "copy", record: RecordID.random(), in: "notes") }
            try await copy.seal()
            try await original.write { try $0.set("title", to: "original", record: RecordID.random(), in: "notes") }
            if relayBranchLonger {
                try await original.seal()
                try await original.write { try $0.set("title", to: "original again", record: RecordID.random(), in: "notes") }
            }
            try await SyncEngine(replica: original, relay: url, logger: Self.quietLogger).syncNow()
            // The copy's file first, then the original's: the receiver keeps the copy's
            // bundle 2 and sets the relay's branch aside as a fork.
            _ = try await copy.exportBundleFile(to: directory.path("copy.concord"))
            _ = try await original.exportBundleFile(to: directory.path("original.concord"))
            _ = try await receiver.importBundleFile(at: directory.path("copy.concord"))
            let second = try await receiver.importBundleFile(at: directory.path("original.concord"))
            #expect(second.forks >= 1, "\(second)")
            try await SyncEngine(replica: receiver, relay: url, logger: Self.quietLogger).syncNow()
            try await SyncEngine(replica: observer, relay: url, logger: Self.quietLogger).syncNow()
            #expect(Set(try await receiver.records(in: "notes")) == Set(try await observer.records(in: "notes")))
            #expect(try await receiver.state().digestHex == observer.state().digestHex, "the receiver follows the relay's branch")
        }
    }

    @Test("a bundle of another device the relay refuses (its membership dated an hour ahead) does not hold back this device's own writes")
    func refusedForwardingDoesNotBlockOwnPush() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let url = URL(string: relay.baseURL)!
            let now = SystemClock().nowMilliseconds()
            let alice = try Replica.createWithoutMembers(at: directory.path("alice"))
            // X joins with its clock an hour ahead, then writes with the clock set right: its
            // bundle carries a certificate the relay refuses for another hour.
            let xClock = ManualClock(milliseconds: now + 3_600_000)
            let x = try Replica.join(try await alice.invite(), at: directory.path("x"), options: Replica.Options(physicalClock: xClock))
            xClock.set(milliseconds: now)
            try await x.write { try $0.set("title", to: "from x", record: RecordID.random(), in: "notes") }
            // Bob, his clock an hour ahead too, takes X's bundle from a file; then his clock is set.
            let bobClock = ManualClock(milliseconds: now)
            let bob = try Replica.join(
                try await alice.invite(), at: directory.path("bob"), options: Replica.Options(physicalClock: bobClock))
            bobClock.set(milliseconds: now + 3_600_000)
            let fromX = try await x.bundles().reduce(into: [[UInt8]]()) { $0.append($1.bytes) }
            #expect(try await bob.import(fromX).applied == 1)
            bobClock.set(milliseconds: SystemClock().nowMilliseconds())
            let id = RecordID.random()
            try await bob.write { try $0.set("title", to: "bob", record: id, in: "notes") }
            let summary = try await SyncEngine(replica: bob, relay: url, logger: Self.quietLogger).syncNow()
            #expect(summary.pushed.stored == 1, "\(summary)")
            #expect(try await bob.syncStatus(of: id, in: "notes") == .synced)
            try await SyncEngine(replica: alice, relay: url, logger: Self.quietLogger).syncNow()
            #expect(try await alice.record(id, in: "notes")?["title"] == "bob")
        }
    }
}
