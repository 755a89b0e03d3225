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
        /// The results last sent to a query observer: unchanged results are not sent again.
        var lastRecords: [RecordView]? = nil
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
    /// changes that caused them) after every write or import that changed them. A write
    /// to the collection that leaves the results as they were sends nothing. A slow
    /// consumer sees only the latest results.
    ///
    /// ```swift
    /// for await update in await replica.observe(RecordQuery("todos").where("done", .equals(false))) {
    ///     render(update.records)
    /// }
    /// ```
    public func observe(_ query: RecordQuery) -> AsyncStream<QueryUpdate> {
        let (stream, continuation) = AsyncStream<QueryUpdate>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        var observer = Observer(filter: .query(query), changes: nil, results: continuation)
        if let records = try? records(matching: query) {
            continuation.yield(QueryUpdate(records: records, changes: []))
            observer.lastRecords = records
        }
        observers[id] = observer
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(id) }
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
    /// are not signalled here (a sync engine finds them by polling the store). The stream
    /// ends when the task iterating it is cancelled.
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
        // Bounded: a consumer that stops reading must not grow the replica's memory
        // without limit; one that falls this far behind loses the oldest batches.
        let (stream, continuation) = AsyncStream<[RecordChange]>.makeStream(bufferingPolicy: .bufferingNewest(max(1, options.observerBufferLimit)))
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
        for (id, observer) in observers {
            switch observer.filter {
            case .collection(let name):
                let mine = changes.filter { ByteString($0.collection) == ByteString(name) }
                if !mine.isEmpty { observer.changes?.yield(mine) }
            case let .record(name, id):
                let mine = changes.filter { $0.id == id && ByteString($0.collection) == ByteString(name) }
                if !mine.isEmpty { observer.changes?.yield(mine) }
            case .query(let query):
                let mine = changes.filter { ByteString($0.collection) == ByteString(query.collection) }
                guard !mine.isEmpty, let records = try? records(matching: query), records != observer.lastRecords else { continue }
                observers[id]?.lastRecords = records
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

extension Replica {
    /// The models of a query: the current ones first, then new ones whenever the query's
    /// results change. Records that do not decode are reported in
    /// ``ModelResults/undecodable``. A slow consumer sees only the latest results.
    ///
    /// ```swift
    /// for await todos in await replica.observe(Todo.self, matching: RecordQuery("todos")) {
    ///     render(todos.models)
    /// }
    /// ```
    /// - Parameters:
    ///   - type: The model type.
    ///   - query: The query.
    /// - Returns: A stream of results; it ends when the iterating task is cancelled.
    public func observe<T: Decodable & Sendable>(_ type: T.Type, matching query: RecordQuery) -> AsyncStream<ModelResults<T>> {
        let updates = observe(query)
        let collection = query.collection
        let (stream, continuation) = AsyncStream<ModelResults<T>>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let task = Task {
            for await update in updates {
                continuation.yield(ModelResults(decoding: update.records, as: type, in: collection))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
