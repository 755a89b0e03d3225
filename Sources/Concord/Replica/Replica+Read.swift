import ConcordCore
import ConcordStore

extension Replica {
    /// A visible record; `nil` when absent or deleted.
    ///
    /// ```swift
    /// if let todo = try await replica.record(id, in: "todos") {
    ///     print(todo["title"] ?? .null, todo.members(of: "tags"))
    /// }
    /// ```
    public func record(_ id: RecordID, in collection: String) throws -> RecordView? {
        try ConcordError.storage { try store.read { try $0.record(id, in: collection)?.state.visibleView(id: id) } }
    }

    /// Every visible record of a collection, by id.
    public func records(in collection: String) throws -> [RecordView] {
        try records(matching: RecordQuery(collection))
    }

    /// The visible records matching a query, answered from the store's indexes.
    ///
    /// ```swift
    /// let open = try await replica.records(matching: RecordQuery("todos")
    ///     .where("done", .equals(false))
    ///     .order(by: "priority", descending: true)
    ///     .limit(20))
    /// ```
    public func records(matching query: RecordQuery) throws -> [RecordView] {
        try ConcordError.storage {
            try store.read { tx in try tx.records(matching: query).compactMap { $0.record.state.visibleView(id: $0.id) } }
        }
    }

    /// How many visible records match a query (ignoring its limit).
    public func count(matching query: RecordQuery) throws -> Int {
        try ConcordError.storage { try store.read { try $0.count(matching: query) } }
    }

    /// Names of the collections that hold records, sorted.
    public func collections() throws -> [String] {
        try ConcordError.storage { try store.read { try $0.collections() } }
    }

    /// The whole CRDT state, loaded into memory: for tests and for comparing replicas
    /// (`state().digestHex` is equal on replicas that saw the same bundles).
    /// - Complexity: O(n) time and memory in the store's records.
    public func state() throws -> ReplicaState {
        try ConcordError.storage {
            try store.read { tx in
                var state = ReplicaState()
                for collection in try tx.collections() {
                    var position = 0
                    while true {
                        let page = try tx.records(matching: RecordQuery(collection).limit(1_000, offset: position))
                        for row in page { state.insertRecord(row.record.state, id: row.id, in: collection) }
                        if page.count < 1_000 { break }
                        position += page.count
                    }
                }
                return state
            }
        }
    }
}
