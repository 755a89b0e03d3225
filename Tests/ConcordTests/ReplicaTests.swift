import ConcordCore
import ConcordCrypto
import ConcordStore
import Foundation
import Synchronization
import Testing

@testable import Concord
@testable import ConcordProtocol

/// A fresh temporary directory for one test.
func temporaryDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "concord-tests/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("Replica on SQLite")
struct ReplicaTests {
    @Test("create, write, reopen: writes survive and the clock resumes")
    func createWriteReopen() async throws {
        let dir = temporaryDirectory()
        let id = RecordID.random()
        do {
            let replica = try Replica.createWithoutMembers(at: dir + "/a")
            try await replica.write { tx in
                try tx.set("title", to: "Buy milk", record: id, in: "todos")
                try tx.add("errand", to: "tags", record: id, in: "todos")
            }
            #expect(try await replica.syncStatus(of: id, in: "todos") == .unsealed)
        }
        let reopened = try Replica.open(at: dir + "/a")
        let record = try #require(try await reopened.record(id, in: "todos"))
        #expect(record["title"] == "Buy milk")
        #expect(record.members(of: "tags") == ["errand"])
        #expect(try await reopened.status().pendingOperations == 2)
        #expect(await reopened.lastClockReading > .zero)
    }

    @Test("two replicas on disk sync by bundles both ways, with conflicts and acknowledgement")
    func twoReplicasSync() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob")
        let id = RecordID.random()
        try await alice.write { try $0.set("title", to: "from alice", record: id, in: "notes") }
        try await bob.write { try $0.set("title", to: "from bob", record: id, in: "notes") }

        let fromAlice = try await collect(alice.bundles(since: bob.versionVector()))
        let fromBob = try await collect(bob.bundles(since: alice.versionVector()))
        #expect(try await bob.import(fromAlice.map(\.bytes)).applied == 1)
        #expect(try await alice.import(fromBob.map(\.bytes)).applied == 1)
        #expect(try await alice.import(fromBob.map(\.bytes)).duplicates == 1)

        #expect(try await alice.state().digestHex == bob.state().digestHex)
        let winner = try #require(try await alice.record(id, in: "notes"))["title"]
        let losers = try await alice.conflicts(of: "title", record: id, in: "notes")
        #expect(losers.count == 1)
        #expect(losers.first?.value != winner)
        #expect(try await alice.history(of: "title", record: id, in: "notes").count == 2)

        // Bob's bundle was sealed after nothing from Alice: not an acknowledgement yet.
        #expect(try await alice.syncStatus(of: id, in: "notes").isPending)
        // Bob writes again and sends it: its context now includes Alice's bundle.
        try await bob.write { try $0.set("body", to: "hello", record: id, in: "notes") }
        let more = try await collect(bob.bundles(since: alice.versionVector()))
        try await alice.import(more.map(\.bytes))
        #expect(try await alice.syncStatus(of: id, in: "notes") == .synced)
        #expect(try await alice.state().digestHex == bob.state().digestHex)
    }

    @Test("bundles(since:) starts at the earliest wanted bundle and yields exactly the full scan's bundles above the vector, in log order")
    func bundlesSinceReadsTheTail() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob")
        // Interleave both chains in Alice's log: a1 b1 a2 b2 ... a6 b6.
        for round in 0..<6 {
            try await alice.write { try $0.set("n", to: .int(Int64(round)), record: RecordID(high: 1, low: UInt64(round)), in: "a") }
            try await bob.write { try $0.set("n", to: .int(Int64(round)), record: RecordID(high: 2, low: UInt64(round)), in: "b") }
            let fromBob = try await collect(bob.bundles(since: alice.versionVector()))
            try await alice.import(fromBob.map(\.bytes))
        }
        let everything = try await collect(alice.bundles(since: VersionVector()))
        #expect(everything.count == 12)
        let aliceKey = everything[0].author
        let bobKey = everything[1].author
        for vector in [
            VersionVector([aliceKey: 3, bobKey: 5]), VersionVector([aliceKey: 6, bobKey: 2]), VersionVector([aliceKey: 6, bobKey: 6]),
            VersionVector([bobKey: 4]), VersionVector([aliceKey: 0, bobKey: 0]),
        ] {
            let expected = everything.filter { $0.sequence > vector[$0.author] }.map(\.id)
            #expect(try await collect(alice.bundles(since: vector, pageSize: 2)).map(\.id) == expected, "\(vector)")
        }
        // The scan starts just before the earliest wanted bundle, not at the log's start.
        let start = try await alice.scanStart(above: VersionVector([aliceKey: 5, bobKey: 4]))
        let firstWanted = try #require(everything.firstIndex { $0.author == bobKey && $0.sequence == 5 })
        #expect(start == Int64(firstWanted))
        #expect(try await alice.scanStart(above: VersionVector([aliceKey: 6, bobKey: 6])) == nil)
    }

    @Test("queries are answered from the index with the documented order")
    func queries() async throws {
        let replica = try Replica.createWithoutMembers(at: temporaryDirectory() + "/q")
        var ids: [RecordID] = []
        try await replica.write { tx in
            for i in 0..<20 {
                let id = RecordID(high: 0, low: UInt64(i))
                try tx.set("priority", to: .int(Int64(i % 5)), record: id, in: "todos")
                try tx.set("done", to: .bool(i % 2 == 0), record: id, in: "todos")
            }
        }
        ids = (0..<20).map { RecordID(high: 0, low: UInt64($0)) }
        let open = try await replica.records(matching: RecordQuery("todos").where("done", .equals(false)).where("priority", .greaterThanOrEqual(3)).order(by: "priority", descending: true))
        #expect(open.map(\.id) == [ids[9], ids[19], ids[3], ids[13]])
        #expect(try await replica.count(matching: RecordQuery("todos").where("done", .equals(true))) == 10)
        #expect(try await replica.records(matching: RecordQuery("todos").limit(3, offset: 2)).map(\.id) == Array(ids[2..<5]))
    }

    @Test("observers hear local writes and remote imports")
    func observation() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob")
        let stream = await bob.changes(in: "todos")
        let id = RecordID.random()
        try await alice.write { try $0.set("title", to: "remote", record: id, in: "todos") }
        try await bob.import(collect(alice.bundles()).map(\.bytes))
        try await bob.write { try $0.delete(record: id, in: "todos") }
        var iterator = stream.makeAsyncIterator()
        let first = try #require(await iterator.next())
        #expect(first.map(\.kind) == [.inserted])
        #expect(first.first?.origin == .remote(alice.replicaID))
        let second = try #require(await iterator.next())
        #expect(second.map(\.kind) == [.deleted])
        #expect(second.first?.origin == .local)
    }

    @Test("localWrites() signals each committed local write with its operation count; not empty writes, failed writes or imports")
    func localWriteSignal() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob")
        let signals = await bob.localWrites()
        let heard = Mutex<[Int]>([])
        let listener = Task { for await count in signals { heard.withLock { $0.append(count) } } }
        defer { listener.cancel() }
        try await alice.write { try $0.set("title", to: "remote", record: RecordID.random(), in: "todos") }
        try await bob.import(collect(alice.bundles()).map(\.bytes))  // remote: no signal
        try await bob.write { _ in }  // nothing written: no signal
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await bob.write { tx in
                try tx.set("title", to: "discarded", record: RecordID.random(), in: "todos")
                throw Abort()
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(heard.withLock { $0 }.isEmpty, "imports, empty and failed writes must not signal")
        let id = RecordID.random()
        try await bob.write { tx in
            try tx.set("title", to: "a", record: id, in: "todos")
            try tx.set("done", to: false, record: id, in: "todos")
        }
        for _ in 0..<200 where heard.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(heard.withLock { $0 } == [2], "the two-operation write")
    }

    @Test("a read-only member cannot write")
    func readerCannotWrite() async throws {
        let dir = temporaryDirectory()
        let alice = try Replica.createWithoutMembers(at: dir + "/alice")
        let reader = try Replica.join(try await alice.invite(readOnly: true), at: dir + "/reader")
        await #expect(throws: ConcordError.self) {
            try await reader.write { try $0.set("x", to: 1, record: .random(), in: "c") }
        }
        try await alice.write { try $0.set("x", to: 1, record: .random(), in: "c") }
        #expect(try await reader.import(collect(alice.bundles()).map(\.bytes)).applied == 1)
        #expect(try await reader.records(in: "c").count == 1)
        // Reopening a reader restores its membership from content.key.
        let reopened = try Replica.open(at: dir + "/reader")
        #expect(reopened.role == .reader)
    }
}

func collect(_ stream: BundleStream) async throws -> [ChangeBundle] {
    var result: [ChangeBundle] = []
    for try await bundle in stream { result.append(bundle) }
    return result
}
