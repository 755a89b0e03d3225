import Concord
import Foundation
import Testing

/// The "Embed a replica" example of README.md, compiled and run (paths made temporary).
@Suite("README: embed a replica")
struct ReadmeReplicaExampleTests {
    struct Todo: Codable, Identifiable {
        var id = UUID()
        var title: String
        var done = false
        var tags: Set<String> = []
    }

    @Test func example() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let alice = try Replica.create(at: dir + "/alice.concord")
        let bob = try Replica.join(try await alice.invite(), at: dir + "/bob.concord")

        let milk = Todo(title: "Buy milk", tags: ["errand"])
        try await alice.save(milk, in: "todos")
        try await bob.write { tx in
            let call = RecordID(UUID())
            try tx.set("title", to: "Call the school", record: call, in: "todos")
            try tx.set("done", to: false, record: call, in: "todos")
        }

        let changes = await bob.changes(in: "todos")

        for try await bundle in try await alice.bundles(since: await bob.versionVector()) {
            _ = try await bob.import(bundle.bytes)
        }
        for try await bundle in try await bob.bundles(since: await alice.versionVector()) {
            _ = try await alice.import(bundle.bytes)
        }
        try await alice.acknowledge(await bob.versionVector())

        let open = try await bob.all(Todo.self, matching: RecordQuery("todos")
            .where("done", .equals(false)).order(by: "title").limit(20))
        #expect(open.map(\.title) == ["Buy milk", "Call the school"])
        #expect(try await alice.syncStatus(of: RecordID(milk.id), in: "todos") == .synced)
        var iterator = changes.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.first?.kind == .inserted)
        #expect(try await alice.state().digestHex == bob.state().digestHex)
    }
}
