import ConcordCore
import ConcordStore
import Dispatch
import Foundation
import Observation
import Synchronization
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Issue 17, items 4 and 7: Observation, typed observation, saving in transactions and
/// batches, bounded observer buffers, the replica's own executor.
/// Result counts received, from any thread.
final class Received: Sendable {
    private let stored = Mutex<[Int]>([])
    func append(_ count: Int) { stored.withLock { $0.append(count) } }
    var counts: [Int] { stored.withLock { $0 } }
}

/// A flag set from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

@Suite("Observation and app integration")
struct ObservationTests {
    struct Note: Codable, Identifiable, Equatable, Sendable {
        var id = UUID()
        var title: String
        var done = false
    }

    /// Waits (at most 10 s) until `condition` holds.
    @MainActor
    static func eventually(_ condition: @MainActor () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("observe(query) sends nothing when a write leaves its results unchanged")
    func observeSkipsUnchangedResults() async throws {
        let replica = try Replica(store: MemoryStore(), membership: Membership.createSpace())
        try await replica.save(Note(title: "open"), in: "notes")
        let updates = await replica.observe(RecordQuery("notes").where("done", .equals(false)))
        let received = Received()
        let reader = Task {
            for await update in updates { received.append(update.records.count) }
        }
        defer { reader.cancel() }
        try await Self.waitFor { received.counts == [1] }

        try await replica.save(Note(title: "already done", done: true), in: "notes")  // not in the results
        try await Task.sleep(for: .milliseconds(300))
        #expect(received.counts == [1], "a write that leaves the results unchanged sends nothing")
        try await replica.save(Note(title: "second open"), in: "notes")
        try await Self.waitFor { received.counts.count == 2 }
        #expect(received.counts == [1, 2])
    }

    /// Waits (at most 10 s) until `condition` holds.
    static func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    @MainActor
    @Test("LiveQuery and LiveModels update only when their results change, and stop when released")
    func liveQueries() async throws {
        let replica = try Replica(store: MemoryStore(), membership: Membership.createSpace())
        let query = RecordQuery("notes").where("done", .equals(false)).order(by: "title")
        let live = LiveQuery(query, in: replica)
        let models = LiveModels(Note.self, matching: query, in: replica)
        try await Self.eventually { live.isLoaded && models.isLoaded }
        #expect(live.records.isEmpty && models.models.isEmpty && live.updateCount == 1)

        // Observation tracking fires for a change of the results.
        let changed = Flag()
        withObservationTracking {
            _ = models.models
        } onChange: {
            changed.set()
        }
        try await replica.save(Note(title: "b"), in: "notes")
        try await Self.eventually { models.models.count == 1 }
        #expect(models.models.map(\.title) == ["b"] && changed.isSet)

        // A write outside the results changes nothing observable.
        let count = live.updateCount
        try await replica.save(Note(title: "z", done: true), in: "notes")
        try await replica.save(Note(title: "a"), in: "notes")
        try await Self.eventually { live.records.count == 2 }
        #expect(live.updateCount == count + 1)
        #expect(models.models.map(\.title) == ["a", "b"])

        // Released: the replica forgets the observer.
        weak var released: LiveModels<Note>?
        do {
            let temporary = LiveModels(Note.self, matching: query, in: replica)
            released = temporary
            try await Self.eventually { temporary.isLoaded }
        }
        #expect(released == nil)
        let deadline = ContinuousClock.now + .seconds(10)
        while await replica.observers.count > 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(await replica.observers.count == 2, "only the two live objects still held observe")
    }

    @Test("typed observation reports undecodable records beside the models")
    func typedObservation() async throws {
        let replica = try Replica(store: MemoryStore(), membership: Membership.createSpace())
        var results = await replica.observe(Note.self, matching: RecordQuery("notes")).makeAsyncIterator()
        #expect(await results.next()?.models.isEmpty == true)
        try await replica.save(Note(title: "fine"), in: "notes")
        try await replica.write { try $0.set("title", to: 42, record: .random(), in: "notes") }
        var last = try #require(await results.next())
        while last.models.count + last.undecodable.count < 2 { last = try #require(await results.next()) }
        #expect(last.models.map(\.title) == ["fine"])
        #expect(last.undecodable.count == 1 && last.undecodable[0].message.contains("title"))
    }

    @Test("models save inside write {} and in batches, atomically")
    func savesInTransactions() async throws {
        let replica = try Replica(store: MemoryStore(), membership: Membership.createSpace())
        let notes = (0..<5).map { Note(title: "n\($0)") }
        try await replica.save(notes, in: "notes")
        #expect(try await replica.count(matching: RecordQuery("notes")) == 5)

        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            try await replica.write { tx in
                try tx.save(Note(title: "never"), in: "notes")
                throw Stop()
            }
        }
        try await replica.write { tx in
            try tx.save(Note(title: "kept"), in: "notes")
            try tx.delete(notes[0], in: "notes")
        }
        #expect(try await replica.all(Note.self, in: "notes").map(\.title).sorted() == ["kept", "n1", "n2", "n3", "n4"])
        #expect(try await replica.syncStatus(of: notes[1], in: "notes") == .unsealed)
    }

    @Test("an observer that stops reading is bounded: it keeps the newest batches only")
    func observerBuffersAreBounded() async throws {
        let replica = try Replica(
            store: MemoryStore(), membership: Membership.createSpace(), options: Replica.Options(observerBufferLimit: 8))
        let changes = await replica.changes(in: "notes")
        for index in 0..<200 {
            try await replica.write { try $0.set("n", to: .int(Int64(index)), record: .random(), in: "notes") }
        }
        var received = 0
        var iterator = changes.makeAsyncIterator()
        let drained = Task {
            while await iterator.next() != nil { received += 1 }
            return received
        }
        try await Task.sleep(for: .milliseconds(300))
        drained.cancel()
        #expect(await drained.value <= 8)
    }

    @Test("the replica's work runs on its own serial queue, off the cooperative thread pool")
    func replicaRunsOnItsOwnQueue() async throws {
        let replica = try Replica(store: MemoryStore(), membership: Membership.createSpace())
        let onQueue = try await replica.write { _ in DispatchQueue.getSpecific(key: ReplicaExecutor.marker) != nil }
        #expect(onQueue)
        #expect(DispatchQueue.getSpecific(key: ReplicaExecutor.marker) == nil)
    }
}
