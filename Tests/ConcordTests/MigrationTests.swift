import ConcordCore
import Foundation
import Testing

@testable import Concord

/// `Replica.migrate(to:)`: a space without members (format 2) moves its live data into a
/// new space with members (issue 13, item 7), and nothing else changes.
@Suite("Migration into a space with members")
struct MigrationTests {
    @Test("live records, fields and set members move under the same ids; deleted ones do not; the old store is untouched")
    func migratesLiveState() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = try Replica.createWithoutMembers(at: dir + "/old", encrypted: false)
        let kept = RecordID.random()
        let gone = RecordID.random()
        let many = (0..<2_500).map { _ in RecordID.random() }  // more than one batch of 2,000
        try await old.write { tx in
            try tx.set("title", to: "Trip", record: kept, in: "notes")
            try tx.set("pages", to: .int(12), record: kept, in: "notes")
            try tx.add("travel", to: "tags", record: kept, in: "notes")
            try tx.add("work", to: "tags", record: kept, in: "notes")
            try tx.set("title", to: "Old", record: gone, in: "notes")
            for (i, id) in many.enumerated() { try tx.set("n", to: .int(Int64(i)), record: id, in: "rows") }
        }
        try await old.write { tx in
            try tx.remove("work", from: "tags", record: kept, in: "notes")
            try tx.delete(record: gone, in: "notes")
        }
        let before = try await old.state().digestHex
        let progress = Counter()
        let migration = try await old.migrate(
            to: dir + "/new", name: "school laptop",
            progress: { done, total in
                progress.record(done: done, total: total)
            })
        let new = migration.replica
        #expect(migration.records == 2_501 && migration.collections == 2)
        #expect(migration.values == 3 + 2_500)
        #expect(progress.last.0 == 2_501 && progress.last.1 == 2_501 && progress.calls >= 2)
        #expect(new.membership.isMemberFormat && !new.membership.isEncrypted)
        let me = try await new.whoami()
        #expect(me?.role == .admin && me?.name == "school laptop")
        #expect(try await new.records(in: "notes") == (try await old.records(in: "notes")))
        #expect(try await new.records(in: "rows") == (try await old.records(in: "rows")))
        #expect(try await new.record(gone, in: "notes") == nil)
        #expect(try await old.state().digestHex == before)
        #expect(!(try Replica.open(at: dir + "/old").membership.isMemberFormat))

        // The new space works like any other: a writer joins, syncs and reads the data.
        let token = try await new.invite(role: .writer)
        let tablet = try await Replica.join(token, at: dir + "/tablet", name: "tablet")
        try await tablet.import(try await new.bundles(since: try await tablet.versionVector()))
        #expect(try await tablet.record(kept, in: "notes")?.members(of: "tags") == [.string("travel")])
        try await tablet.write { try $0.set("title", to: "Trip 2", record: kept, in: "notes") }
    }

    @Test("an encrypted space stays encrypted; a space with members and an occupied directory are refused with a message")
    func refusals() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = try Replica.createWithoutMembers(at: dir + "/old")
        try await old.write { try $0.set("title", to: "x", record: .random(), in: "notes") }
        let migration = try await old.migrate(to: dir + "/new")
        #expect(migration.replica.membership.isEncrypted)
        #expect(migration.replica.membership.isMemberFormat)

        let again = await #expect(throws: ConcordError.self) { _ = try await migration.replica.migrate(to: dir + "/third") }
        #expect(again?.code == .unsupportedVersion && again?.message.contains("already has members") == true)
        let occupied = await #expect(throws: ConcordError.self) { _ = try await old.migrate(to: dir + "/new") }
        #expect(occupied?.code == .replicaExists)
    }

    @Test("the new space is built aside and renamed into place: a failure part-way leaves nothing, an empty directory is used")
    func buildsAsideAndRenames() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = try Replica.createWithoutMembers(at: dir + "/old", encrypted: false)
        let id = RecordID.random()
        try await old.write { try $0.set("title", to: "kept", record: id, in: "notes") }

        // A key store that cannot save fails after the staging directory was made.
        await #expect(throws: (any Error).self) {
            _ = try await old.migrate(to: dir + "/new", keyStore: RefusingKeyStore())
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/new"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["old"])

        // An empty directory made beforehand is fine, and nothing is left beside it.
        try FileManager.default.createDirectory(atPath: dir + "/new", withIntermediateDirectories: false)
        let migration = try await old.migrate(to: dir + "/new")
        #expect(try await migration.replica.record(id, in: "notes")?["title"] == "kept")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["new", "old"])
        let reopened = try Replica.open(at: dir + "/new")
        #expect(try await reopened.record(id, in: "notes")?["title"] == "kept")
        #expect(try await reopened.whoami()?.role == .admin)
    }
}

/// A key store whose disk is full.
private struct RefusingKeyStore: ReplicaKeyStore {
    struct Full: Error {}
    func load(_ secret: ReplicaSecret) throws -> [UInt8]? { nil }
    func save(_ bytes: [UInt8], as secret: ReplicaSecret) throws { throw Full() }
}

/// Progress reports seen by a migration.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls = 0
    private(set) var last = (0, 0)
    func record(done: Int, total: Int) {
        lock.withLock {
            calls += 1
            last = (done, total)
        }
    }
}
