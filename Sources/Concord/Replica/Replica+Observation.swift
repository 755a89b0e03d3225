import ConcordCore
import ConcordStore
import Foundation

extension Replica {
    /// What an observer listens to.
    enum ObserverFilter: Sendable {
        case collection(String)
        case record(String, RecordID)
        case query(RecordQuery)
    }

    /// One registered observer.
    struct Observer: Sendable {
        let filter: ObserverFilter
        let changes: AsyncStream<[RecordChange]>.Continuation?
        let results: AsyncStream<QueryUpdate>.Continuation?
    }

    /// Changes to the records of a collection, one element per local write or imported
    /// batch that changed something there (local and remote alike).
    ///
    /// ```swift
    /// Task {
    ///     for await changes in await replica.changes(in: "todos") {
    ///         for change in changes { print(change) }   // "updated todos/…: title (remote 3f2a9c01)"
    ///     }
    /// }
    /// ```
    /// The stream ends when the task iterating it is cancelled.
    public func changes(in collection: String) -> AsyncStream<[RecordChange]> {
        changeStream(.collection(collection))
    }

    /// Changes to one record.
    public func changes(of id: RecordID, in collection: String) -> AsyncStream<[RecordChange]> {
        changeStream(.record(collection, id))
    }

    /// The results of a query: the current results first, then new results (with the
    /// changes that caused them) after every write or import that touched the query's
    /// collection and changed its results.
    ///
    /// ```swift
    /// for await update in await replica.observe(RecordQuery("todos").where("done", .equals(false))) {
    ///     render(update.records)
    /// }
    /// ```
    public func observe(_ query: RecordQuery) -> AsyncStream<QueryUpdate> {
        let (stream, continuation) = AsyncStream<QueryUpdate>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let id = UUID()
        observers[id] = Observer(filter: .query(query), changes: nil, results: continuation)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(id) }
        }
        if let records = try? records(matching: query) {
            continuation.yield(QueryUpdate(records: records, changes: []))
        }
        return stream
    }

    /// A signal after every committed local ``write(_:)`` that wrote something: the
    /// number of operations it added. Cheap: it does not turn on change tracking, and a
    /// slow listener sees one element for several writes (the latest count). A sync
    /// engine listens here to push local writes at once instead of polling.
    ///
    /// ```swift
    /// for await _ in await replica.localWrites() { scheduleBackup() }
    /// ```
    /// Writes through another `Replica` instance of the same store (another process)
    /// are not signalled here. The stream ends when the task iterating it is cancelled.
    public func localWrites() -> AsyncStream<Int> {
        let (stream, continuation) = AsyncStream<Int>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        localWriteListeners[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeLocalWriteListener(id) }
        }
        return stream
    }

    func removeLocalWriteListener(_ id: UUID) {
        localWriteListeners[id] = nil
    }

    private func changeStream(_ filter: ObserverFilter) -> AsyncStream<[RecordChange]> {
        let (stream, continuation) = AsyncStream<[RecordChange]>.makeStream(bufferingPolicy: .unbounded)
        let id = UUID()
        observers[id] = Observer(filter: filter, changes: continuation, results: nil)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(id) }
        }
        return stream
    }

    func removeObserver(_ id: UUID) {
        observers[id] = nil
    }

    /// Delivers changes to every observer they concern.
    func notify(_ changes: [RecordChange]) {
        guard !changes.isEmpty, !observers.isEmpty else { return }
        for observer in observers.values {
            switch observer.filter {
            case .collection(let name):
                let mine = changes.filter { ByteString($0.collection) == ByteString(name) }
                if !mine.isEmpty { observer.changes?.yield(mine) }
            case let .record(name, id):
                let mine = changes.filter { $0.id == id && ByteString($0.collection) == ByteString(name) }
                if !mine.isEmpty { observer.changes?.yield(mine) }
            case .query(let query):
                let mine = changes.filter { ByteString($0.collection) == ByteString(query.collection) }
                guard !mine.isEmpty, let records = try? records(matching: query) else { continue }
                observer.results?.yield(QueryUpdate(records: records, changes: mine))
            }
        }
    }
}

/// The results of an observed query after a change.
public struct QueryUpdate: Hashable, Sendable {
    /// The query's current results.
    public var records: [RecordView]
    /// The changes in the query's collection that led to them (empty for the first update).
    public var changes: [RecordChange]
}
