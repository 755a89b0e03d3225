import ConcordCore
import ConcordStore
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Several `Replica` instances (as several processes would) on one store directory: the
/// stored clock is the truth, never an instance's memory (issue 12.1, `Specs/hlc.md` §7).
@Suite("one store, several instances: the clock")
struct SharedStoreClockTests {
    static let minutes3: UInt64 = 3 * 60_000

    /// A space with Alice (system clock), a peer whose clock is 3 minutes ahead, and Carol.
    struct Setup {
        let dir: String
        let alice: Replica
        let peer: Replica
        let carol: Replica

        init(_ name: String = #function) throws {
            dir = temporaryDirectory(name)
            alice = try Replica.createWithoutMembers(at: dir + "/alice")
            let ahead = Replica.Options(physicalClock: ShiftedClock(offset: Int64(SharedStoreClockTests.minutes3)))
            peer = try Replica.join(try alice.membership.writerInvite(), at: dir + "/peer", options: ahead)
            carol = try Replica.join(try alice.membership.writerInvite(), at: dir + "/carol")
        }
    }

    @Test(
        "an instance that imports after another imported a newer reading keeps the newer one stored; the next write wins over the value it had seen"
    )
    func staleImporterDoesNotLowerTheStoredClock() async throws {
        let setup = try Setup()
        let id = RecordID.random()
        // The peer (3 minutes ahead) writes the field; Alice's store imports it through one
        // instance while a second instance (the `sync --watch` process) is open.
        let watcher = try Replica.open(at: setup.dir + "/alice")
        try await setup.peer.write { try $0.set("title", to: "remote", record: id, in: "notes") }
        try await setup.alice.import(collect(setup.peer.bundles()).map(\.bytes))
        let afterRemote = try await Replica.open(at: setup.dir + "/alice").lastClockReading
        // The watcher then imports an ordinary bundle of Carol's: before the fix it wrote its
        // own, older clock back over the stored one.
        try await setup.carol.write { try $0.set("title", to: "carol", record: RecordID.random(), in: "notes") }
        try await watcher.import(collect(setup.carol.bundles()).map(\.bytes))
        let stored = try await Replica.open(at: setup.dir + "/alice").lastClockReading
        #expect(stored >= afterRemote, "the stored clock went back from \(afterRemote) to \(stored)")
        // A new process writes the field after having seen "remote": it must win.
        let writer = try Replica.open(at: setup.dir + "/alice")
        try await writer.write { try $0.set("title", to: "local", record: id, in: "notes") }
        #expect(try await writer.record(id, in: "notes")?["title"] == "local")
    }

    @Test("an instance whose memory is stale stamps its own writes after the stored reading")
    func staleWriterMergesTheStoredClock() async throws {
        let setup = try Setup()
        let id = RecordID.random()
        let watcher = try Replica.open(at: setup.dir + "/alice")
        try await watcher.write { try $0.set("seen", to: true, record: RecordID.random(), in: "notes") }
        try await setup.peer.write { try $0.set("title", to: "remote", record: id, in: "notes") }
        // Another instance imports the newer value; the watcher writes the same field later.
        try await setup.alice.import(collect(setup.peer.bundles()).map(\.bytes))
        try await watcher.write { try $0.set("title", to: "local", record: id, in: "notes") }
        #expect(try await watcher.record(id, in: "notes")?["title"] == "local")
        // Sealing through the stale instance seals the other instance's pending writes too.
        try await setup.alice.write { try $0.set("body", to: "x", record: id, in: "notes") }
        let sealed = try await watcher.seal()
        #expect(sealed.count == 1)
        #expect(try await setup.alice.status().pendingOperations == 0)
    }

    @Test("acknowledgements recorded by one instance are not lowered by another")
    func acknowledgementsNeverGoBack() async throws {
        let setup = try Setup()
        let stale = try Replica.open(at: setup.dir + "/alice")
        try await setup.alice.write { try $0.set("title", to: "a", record: RecordID.random(), in: "notes") }
        try await setup.alice.write { try $0.set("title", to: "b", record: RecordID.random(), in: "notes") }
        try await setup.alice.seal()
        try await setup.alice.write { try $0.set("title", to: "c", record: RecordID.random(), in: "notes") }
        try await setup.alice.seal()
        try await setup.alice.acknowledge(VersionVector([setup.alice.membership.device.publicKey: 2]))
        try await stale.acknowledge(VersionVector([setup.alice.membership.device.publicKey: 1]))
        // An import through the stale instance must not write its old acknowledgement back.
        try await setup.carol.write { try $0.set("title", to: "carol", record: RecordID.random(), in: "notes") }
        try await stale.import(collect(setup.carol.bundles()).map(\.bytes))
        #expect(try await Replica.open(at: setup.dir + "/alice").status().unacknowledgedBundles == 0)
    }
}
