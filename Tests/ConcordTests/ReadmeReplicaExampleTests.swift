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

        func sync(_ a: Replica, _ b: Replica) async throws {
            for try await bundle in try await a.bundles(since: await b.versionVector()) {
                _ = try await b.import(bundle.bytes)
            }
            for try await bundle in try await b.bundles(since: await a.versionVector()) {
                _ = try await a.import(bundle.bytes)
            }
        }

        let alice = try await Replica.create(at: dir + "/alice.concord", name: "Alice's laptop")
        let invite = try await alice.invite(role: .writer, expiresIn: 7 * 86_400_000)
        let bob = try await Replica.join(invite, at: dir + "/bob.concord", name: "Bob's phone")
        try await sync(alice, bob)

        let milk = Todo(title: "Buy milk", tags: ["errand"])
        try await alice.save(milk, in: "todos")
        try await bob.write { tx in
            let call = RecordID(UUID())
            try tx.set("title", to: "Call the school", record: call, in: "todos")
            try tx.set("done", to: false, record: call, in: "todos")
        }

        let changes = await bob.changes(in: "todos")

        try await sync(alice, bob)
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
