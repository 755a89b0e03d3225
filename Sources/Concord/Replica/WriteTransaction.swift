import ConcordCore
import ConcordStore

/// The local writes of one ``Replica/write(_:)`` call: all of them are stored, durably,
/// when the call returns, or none of them (when the closure throws).
///
/// Reads inside the closure see the closure's own earlier writes.
///
/// ```swift
/// try await replica.write { tx in
///     try tx.set("title", to: "Plan the trip", record: id, in: "notes")
///     try tx.add("travel", to: "tags", record: id, in: "notes")
///     if try tx.record(other, in: "notes") != nil {
///         try tx.delete(record: other, in: "notes")
///     }
/// }
/// ```
public final class WriteTransaction {
    let reader: any StoreReader
    let replicaID: ReplicaID
    var clock: HybridLogicalClock
    /// The largest value a write may hold (``Replica/Options/maxValueBytes``).
    let maxValueBytes: Int
    var batch = RecordBatch()
    /// The operations made, in order.
    private(set) var operations: [RecordOperation] = []

    init(reader: any StoreReader, replicaID: ReplicaID, clock: HybridLogicalClock, maxValueBytes: Int = .max) {
        self.reader = reader
        self.replicaID = replicaID
        self.clock = clock
        self.maxValueBytes = maxValueBytes
    }

    /// Sets an LWW field.
    /// - Throws: `ConcordError` `.clockFailure` when the clock cannot advance.
    public func set(_ field: String, to value: Value, record: RecordID, in collection: String) throws {
        try perform(.set(field: field, value: value), record: record, in: collection)
    }

    /// Sets several LWW fields of one record.
    public func set(_ fields: [String: Value], record: RecordID, in collection: String) throws {
        for (field, value) in fields.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            try set(field, to: value, record: record, in: collection)
        }
    }

    /// Adds a member to an OR-set field (add wins over a concurrent remove).
    public func add(_ value: Value, to field: String, record: RecordID, in collection: String) throws {
        try perform(.add(field: field, value: value), record: record, in: collection)
    }

    /// Removes a member from an OR-set field: the adds this replica has seen are removed;
    /// a concurrent add elsewhere survives. Removing an absent member does nothing.
    public func remove(_ value: Value, from field: String, record: RecordID, in collection: String) throws {
        let tags = try batch.state(collection, record, from: reader).set(field)?.tags(of: value) ?? []
        guard !tags.isEmpty else { return }
        try perform(.remove(field: field, value: value, observed: tags), record: record, in: collection)
    }

    /// Deletes a record; a later write brings it back.
    public func delete(record: RecordID, in collection: String) throws {
        try perform(.delete, record: record, in: collection)
    }

    /// The record as this transaction sees it; `nil` when absent or deleted.
    public func record(_ id: RecordID, in collection: String) throws -> RecordView? {
        try ConcordError.storage { try batch.state(collection, id, from: reader).visibleView(id: id) }
    }

    private func perform(_ action: RecordOperation.Action, record: RecordID, in collection: String) throws {
        try checkSize(action, in: collection)
        let hlc = try ConcordError.mapping("writing \(collection)/\(record)") { try clock.now() }
        let op = RecordOperation(stamp: Stamp(hlc: hlc, replica: replicaID), collection: collection, record: record, action: action)
        try ConcordError.storage { try batch.apply(op, local: true, from: reader) }
        operations.append(op)
    }

    /// Refuses a value that would make the operation larger than the replica accepts: it
    /// could never be pushed, and every later push would fail behind it.
    private func checkSize(_ action: RecordOperation.Action, in collection: String) throws {
        let (field, value): (String, Value)
        switch action {
        case .set(let f, let v), .add(let f, let v): (field, value) = (f, v)
        case .remove, .delete: return
        }
        let size = Self.size(of: value) + field.utf8.count + collection.utf8.count
        guard size > maxValueBytes else { return }
        throw ConcordError(.valueTooLarge, "the value of field '\(field)' in \(collection) takes \(size) bytes, more than this replica accepts (\(maxValueBytes), Replica.Options.maxValueBytes); store large files outside the replica and keep their name or hash in the record")
    }

    /// Bytes a value takes, about as encoded.
    static func size(of value: Value) -> Int {
        switch value {
        case .null, .bool: 1
        case .int, .double: 9
        case .string(let s): s.utf8.count + 5
        case .bytes(let b): b.count + 5
        case .reference(let r): r.collection.utf8.count + 21
        }
    }
}
