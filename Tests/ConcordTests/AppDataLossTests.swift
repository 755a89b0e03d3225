import ConcordCore
import ConcordStore
import Foundation
import Testing

@testable import Concord

/// Sends every bundle `from` has that `to` lacks.
func exchange(_ from: Replica, _ to: Replica) async throws {
    let bundles = try await collect(from.bundles(since: to.versionVector()))
    _ = try await to.import(bundles.map(\.bytes))
}

/// Syncs two replicas both ways.
func sync(_ a: Replica, _ b: Replica) async throws {
    try await exchange(a, b)
    try await exchange(b, a)
}

/// Version 1 of an app's model.
struct TodoV1: Codable, Identifiable, Equatable {
    var id: UUID
    var title: String
    var done = false
}

/// Version 2 of the same model: new fields, with defaults.
struct TodoV2: Codable, Identifiable, Equatable {
    var id: UUID
    var title: String
    var done = false
    var priority = 0
    var labels: Set<String> = []
    var notes: String?
    var steps: [String] = []
}

/// Regressions of issue 17, item 1: ordinary app use must not lose data. Each test failed
/// on the code before the fix (checked by reverting it).
@Suite("App data loss (issue 17)")
struct AppDataLossTests {
    @Test("an older app version's save keeps the fields a newer version added, both ways")
    func olderVersionKeepsNewerFields() async throws {
        let dir = temporaryDirectory()
        let newer = try Replica.createWithoutMembers(at: dir + "/newer")
        let older = try Replica.join(try await newer.invite(), at: dir + "/older")
        let id = UUID()
        try await newer.save(
            TodoV2(id: id, title: "Buy milk", priority: 3, labels: ["errand", "home"], notes: "oat", steps: ["walk", "pay", "walk"]),
            in: "todos")
        try await sync(newer, older)

        // The older app reads the record, edits the title and saves its own model.
        var seen = try #require(try await older.fetch(TodoV1.self, id: id, in: "todos"))
        seen.title = "Buy oat milk"
        try await older.save(seen, in: "todos")
        // Meanwhile the newer app edits a field the older one does not know.
        var mine = try #require(try await newer.fetch(TodoV2.self, id: id, in: "todos"))
        mine.labels.insert("dairy")
        try await newer.save(mine, in: "todos")
        try await sync(older, newer)

        for replica in [newer, older] {
            let merged = try #require(try await replica.fetch(TodoV2.self, id: id, in: "todos"))
            #expect(merged.title == "Buy oat milk")
            #expect(merged.priority == 3, "an older version's save must not null a field it does not know")
            #expect(merged.labels == ["errand", "home", "dairy"])
            #expect(merged.notes == "oat")
            #expect(merged.steps == ["walk", "pay", "walk"])
        }
        #expect(try await newer.state().digestHex == older.state().digestHex)
    }

    @Test("a field added with a default does not make old records undecodable")
    func newFieldWithDefaultReadsOldRecords() async throws {
        let replica = try Replica.createWithoutMembers(at: temporaryDirectory() + "/a")
        let id = UUID()
        try await replica.save(TodoV1(id: id, title: "Old"), in: "todos")
        let read = try #require(try await replica.fetch(TodoV2.self, id: id, in: "todos"))
        #expect(read == TodoV2(id: id, title: "Old"))

        // A RecordModel's declared defaults win over zero values.
        let model = try #require(try await replica.fetch(DefaultedTodo.self, id: id, in: "todos"))
        #expect(model.priority == 3 && model.title == "Old" && model.state == .open)
    }

    struct DefaultedTodo: RecordModel, Identifiable {
        enum State: String, Codable { case open, closed }
        static let collection = "todos"
        static let recordDefaults = DefaultedTodo(id: UUID(), title: "", priority: 3, state: .open)
        var id: UUID
        var title: String
        var priority: Int
        var state: State
    }

    /// Version 1 of a model whose next version renames a property and widens two types.
    struct TaskV1: Codable, Identifiable, Equatable {
        var id: UUID
        var title: String
        var due: Int32
        var estimate: Int
    }

    /// Version 2: `due` renamed `dueDay` (the stored name kept with a coding key), `Int32`
    /// widened to `Int`, `Int` to `Double`, and a new list.
    struct TaskV2: Codable, Identifiable, Equatable {
        var id: UUID
        var title: String
        var dueDay: Int
        var estimate: Double
        var steps: [String] = []

        enum CodingKeys: String, CodingKey {
            case id, title, estimate, steps
            case dueDay = "due"
        }
    }

    @Test("a renamed property (coding key) and widened types sync between two app versions both ways without losing a field")
    func renamedAndWidenedFieldsSyncBothWays() async throws {
        let dir = temporaryDirectory()
        let older = try Replica.createWithoutMembers(at: dir + "/older")
        let newer = try Replica.join(try await older.invite(), at: dir + "/newer")
        let id = UUID()
        try await older.save(TaskV1(id: id, title: "Plan", due: 20, estimate: 3), in: "tasks")
        try await sync(older, newer)
        var upgraded = try #require(try await newer.fetch(TaskV2.self, id: id, in: "tasks"))
        #expect(upgraded == TaskV2(id: id, title: "Plan", dueDay: 20, estimate: 3, steps: []))

        // The older version edits the fields the newer one renamed and widened; then the
        // newer one, not having seen that, edits only the title. Its save must not write
        // back the values it read (3 as a Double, 20 as an Int), which would overwrite the
        // older version's concurrent edit.
        var old = try #require(try await older.fetch(TaskV1.self, id: id, in: "tasks"))
        old.due = 22
        old.estimate = 5
        try await older.save(old, in: "tasks")
        try await Task.sleep(for: .milliseconds(5))
        upgraded.title = "Plan the trip"
        try await newer.save(upgraded, in: "tasks")
        try await sync(older, newer)
        for replica in [older, newer] {
            #expect(
                try await replica.fetch(TaskV2.self, id: id, in: "tasks") == TaskV2(id: id, title: "Plan the trip", dueDay: 22, estimate: 5)
            )
        }

        // The newer version writes a Double and a list the older one does not know; the
        // older one reads the whole number, and its title-only save (later, concurrent with
        // another newer edit) writes back neither.
        upgraded = try #require(try await newer.fetch(TaskV2.self, id: id, in: "tasks"))
        upgraded.estimate = 4
        upgraded.steps = ["book", "pack"]
        try await newer.save(upgraded, in: "tasks")
        try await sync(older, newer)
        old = try #require(try await older.fetch(TaskV1.self, id: id, in: "tasks"))
        #expect(old == TaskV1(id: id, title: "Plan the trip", due: 22, estimate: 4))
        upgraded.estimate = 6
        try await newer.save(upgraded, in: "tasks")
        try await Task.sleep(for: .milliseconds(5))
        old.title = "Plan the holiday"
        try await older.save(old, in: "tasks")
        try await sync(older, newer)

        for replica in [older, newer] {
            #expect(
                try await replica.fetch(TaskV2.self, id: id, in: "tasks")
                    == TaskV2(id: id, title: "Plan the holiday", dueDay: 22, estimate: 6, steps: ["book", "pack"]))
            #expect(
                try await replica.fetch(TaskV1.self, id: id, in: "tasks") == TaskV1(id: id, title: "Plan the holiday", due: 22, estimate: 6)
            )
            #expect(try await replica.record(RecordID(id), in: "tasks")?["dueDay"] == nil, "the renamed property keeps its stored name")
        }
        #expect(try await newer.state().digestHex == older.state().digestHex)

        // A fraction cannot be read by the older version: that record is reported, the
        // list still reads.
        upgraded.estimate = 2.5
        try await newer.save(upgraded, in: "tasks")
        try await older.save(TaskV1(id: UUID(), title: "Other", due: 1, estimate: 1), in: "tasks")
        try await sync(older, newer)
        let read = try await older.models(TaskV1.self, matching: RecordQuery("tasks"))
        #expect(read.models.map(\.title) == ["Other"])
        #expect(read.undecodable.count == 1)
        #expect(read.undecodable.first?.message.contains("declare the property as Double") == true)
    }

    struct Dated: Codable, Identifiable {
        var id: UUID
        var title: String
        var due: Date
    }

    @Test("a delete concurrent with an edit revives a partial record that reads with defaults and never breaks the list")
    func deleteConcurrentWithEdit() async throws {
        let dir = temporaryDirectory()
        let a = try Replica.createWithoutMembers(at: dir + "/a")
        let b = try Replica.join(try await a.invite(), at: dir + "/b")
        let kept = Dated(id: UUID(), title: "Kept", due: Date(timeIntervalSince1970: 1_800_000_000))
        let contested = Dated(id: UUID(), title: "Contested", due: Date(timeIntervalSince1970: 1_800_000_000))
        try await a.save([kept, contested], in: "dated")
        try await sync(a, b)

        try await a.delete(contested, in: "dated")
        try await Task.sleep(for: .milliseconds(5))  // b's edit is stamped after the delete
        try await b.write { try $0.set("title", to: "Edited offline", record: RecordID(contested.id), in: "dated") }
        try await sync(a, b)

        for replica in [a, b] {
            // The revived record has only the edited field; `due` has no zero value.
            let result = try await replica.models(Dated.self, matching: RecordQuery("dated"))
            #expect(result.models.map(\.title) == ["Kept"])
            #expect(result.undecodable.map(\.record.id) == [RecordID(contested.id)])
            #expect(result.undecodable.first?.message.contains("due") == true)
            #expect(try await replica.all(Dated.self, in: "dated").map(\.title) == ["Kept"], "one record never breaks the list")

            // A model whose fields all have zero values reads the revived record.
            let titles = try await replica.all(TodoV1.self, in: "dated").map(\.title).sorted()
            #expect(titles == ["Edited offline", "Kept"])
        }
    }

    @Test("writes made through a second Replica instance on the same store are sealed and exported")
    func secondInstanceWritesAreSealed() async throws {
        let dir = temporaryDirectory()
        let app = try Replica.createWithoutMembers(at: dir + "/app")
        let peer = try Replica.join(try await app.invite(), at: dir + "/peer")
        let widget = try Replica.open(at: dir + "/app")  // an app extension on the same store
        let id = RecordID.random()
        try await widget.write { try $0.set("title", to: "from the widget", record: id, in: "notes") }

        let sealed = try await app.seal()
        #expect(sealed.count == 1, "the app instance must seal what the widget wrote")
        try await exchange(app, peer)
        #expect(try await peer.record(id, in: "notes")?["title"] == "from the widget")
        #expect(try await app.status().pendingOperations == 0)
        #expect(try await widget.syncStatus(of: id, in: "notes") == .unacknowledged(sequence: 1))
        try await exchange(peer, app)  // the peer's bundles acknowledge nothing yet (it wrote nothing)
        try await peer.write { try $0.set("seen", to: true, record: id, in: "notes") }
        try await exchange(peer, app)
        #expect(try await widget.syncStatus(of: id, in: "notes") == .synced, "status reads the store, not one instance's memory")
    }

    @Test("a second instance's clock resumes from the store: a later write is never stamped before an earlier one")
    func secondInstanceClockNeverGoesBack() async throws {
        let dir = temporaryDirectory()
        let fast = ManualClock(milliseconds: 1_900_000_000_000)
        let slow = ManualClock(milliseconds: 1_800_000_000_000)
        let app = try Replica.createWithoutMembers(at: dir + "/app", options: Replica.Options(physicalClock: fast))
        let widget = try Replica.open(at: dir + "/app", options: Replica.Options(physicalClock: slow))
        let id = RecordID.random()
        try await app.write { try $0.set("title", to: "first", record: id, in: "notes") }
        try await widget.write { try $0.set("title", to: "second", record: id, in: "notes") }
        #expect(try await app.record(id, in: "notes")?["title"] == "second")
        #expect(await widget.lastClockReading > app.lastClockReading)
    }

    @Test("a value larger than the limit is refused when written, with nothing stored; one at the limit seals and syncs")
    func oversizedValueRefusedAtWrite() async throws {
        let dir = temporaryDirectory()
        let a = try Replica.createWithoutMembers(at: dir + "/a")
        let b = try Replica.join(try await a.invite(), at: dir + "/b")
        let id = RecordID.random()
        let huge = Value.bytes([UInt8](repeating: 7, count: 20 << 20))
        let error = await #expect(throws: ConcordError.self) {
            try await a.write { tx in
                try tx.set("title", to: "kept?", record: id, in: "files")
                try tx.set("data", to: huge, record: id, in: "files")
            }
        }
        #expect(error?.code == .valueTooLarge)
        #expect(error?.message.contains("maxValueBytes") == true)
        #expect(try await a.status().pendingOperations == 0, "a refused write stores nothing")
        #expect(try await a.record(id, in: "files") == nil)

        // Just under the limit: accepted, sealed into bundles no larger than the sealing limit.
        let big = Value.bytes([UInt8](repeating: 1, count: Replica.Options.defaultMaxValueBytes - 64))
        for index in 0..<6 {
            try await a.write { try $0.set("part", to: big, record: RecordID(high: 1, low: UInt64(index)), in: "files") }
        }
        let bundles = try await a.seal()
        #expect(bundles.count >= 2)
        #expect(bundles.allSatisfy { $0.bytes.count <= Replica.Options.defaultMaxSealedBundleBytes })
        try await exchange(a, b)
        #expect(try await b.count(matching: RecordQuery("files")) == 6)
    }
}
