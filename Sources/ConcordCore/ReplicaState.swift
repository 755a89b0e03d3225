/// The complete CRDT state of one replica: every collection, record and field.
///
/// A state-based and operation-based CRDT at once. ``apply(_:)`` is commutative and
/// idempotent for operations (any order, any duplicates, same result); ``merge(_:)`` is a
/// join (commutative, associative, idempotent) and agrees with applying the union of the
/// operations both states have seen. `Specs/crdt-semantics.md` states the rules;
/// `Specs/correctness.md` maps each law to its test.
///
/// ```swift
/// var a = ReplicaState(), b = ReplicaState()
/// a.apply(opFromA)
/// b.apply(opFromB)
/// a.merge(b)                 // or: a.apply(opFromB)
/// print(a.digestHex)         // equal on every replica that has seen the same operations
/// ```
public struct ReplicaState: Hashable, Sendable {
    /// Where a record lives: its collection and id, hashed together in one lookup.
    struct RecordKey: Hashable, Sendable {
        var collection: ByteString
        var id: RecordID
    }

    /// Every record ever named by an operation, visible or not.
    var records: [RecordKey: RecordState] = [:]
    /// Derived index: the record ids of each collection. Updated only when a record is
    /// first seen, so the hot path pays one hash lookup per operation.
    var collectionIndex: [ByteString: Set<RecordID>] = [:]
    /// The record the last operation applied went to, and its place in `records`: a run
    /// of operations on one record (the writes of one edit, a bundle's operations on one
    /// record) finds it without hashing. Cleared whenever `records` gains a key, which may
    /// move the others; changing a record in place moves nothing. Not part of the state.
    private var lastRecord: (key: RecordKey, index: Dictionary<RecordKey, RecordState>.Index)?

    /// An empty state.
    public init() {}

    public static func == (lhs: ReplicaState, rhs: ReplicaState) -> Bool { lhs.records == rhs.records }
    public func hash(into hasher: inout Hasher) { hasher.combine(records) }

    /// Applies one operation.
    /// - Returns: `true` when the state changed (`false` for a duplicate or superseded op).
    /// - Complexity: O(1) expected for register writes; O(k) in the tags of the value for sets.
    @discardableResult
    public mutating func apply(_ op: RecordOperation) -> Bool {
        apply(op, bundle: nil)
    }

    /// Applies one operation, with the sequence of its bundle when known (see
    /// ``apply(_:inBundle:)``).
    @discardableResult
    mutating func apply(_ op: RecordOperation, bundle: UInt64?) -> Bool {
        let key = RecordKey(collection: ByteString(op.collection), id: op.record)
        guard let index = index(of: key) else {
            var record = RecordState()
            record.apply(op.action, stamp: op.stamp, bundle: bundle)
            insert(record, at: key)
            return true
        }
        lastRecord = (key, index)
        return records.values[index].apply(op.action, stamp: op.stamp, bundle: bundle)
    }

    /// Where `key` is in `records`, asking the dictionary only when it is not the last record.
    @inline(__always)
    private func index(of key: RecordKey) -> Dictionary<RecordKey, RecordState>.Index? {
        if let lastRecord, lastRecord.key == key { return lastRecord.index }
        return records.index(forKey: key)
    }

    /// Applies operations: the same state and the same count as applying them in order.
    ///
    /// A long run of operations on one record has its OR-set operations applied grouped by
    /// value, each value found once for its group (`ReplicaState+Batch.swift`).
    /// - Returns: how many of them changed the state.
    /// - Complexity: O(n) expected, plus O(k) per set operation in the tags of its value.
    @discardableResult
    public mutating func apply(contentsOf ops: some Sequence<RecordOperation>) -> Int {
        if let changed = ops.withContiguousStorageIfAvailable({ applyGrouped($0) }) { return changed }
        return ContiguousArray(ops).withUnsafeBufferPointer { applyGrouped($0) }
    }

    /// Merges another replica's state into this one.
    ///
    /// For states pruned at a frontier (``prune(frontier:)``) use
    /// ``merge(_:prunedAt:ownFrontier:)``: this merge would bring back values whose
    /// tombstones one side has collected.
    /// - Complexity: O(size of `other`).
    public mutating func merge(_ other: ReplicaState) {
        for (key, theirs) in other.records {
            if let index = records.index(forKey: key) {
                records.values[index].merge(theirs)
            } else {
                insert(theirs, at: key)
            }
        }
    }

    mutating func insert(_ record: RecordState, at key: RecordKey) {
        lastRecord = nil
        records[key] = record
        collectionIndex[key.collection, default: []].insert(key.id)
    }

    /// Drops the record at `key` (pruning found nothing left of it).
    mutating func remove(_ key: RecordKey) {
        lastRecord = nil
        guard records.removeValue(forKey: key) != nil else { return }
        collectionIndex[key.collection]?.remove(key.id)
        if collectionIndex[key.collection]?.isEmpty == true { collectionIndex[key.collection] = nil }
    }

    /// The full state of one record, including hidden (deleted) ones; `nil` if never seen.
    public func recordState(_ id: RecordID, in collection: String) -> RecordState? {
        records[RecordKey(collection: ByteString(collection), id: id)]
    }

    /// The live tags of `value` in the OR-set `field`: what a local remove must carry.
    public func tags(of value: Value, in field: String, of id: RecordID, in collection: String) -> [Stamp] {
        guard let index = index(of: RecordKey(collection: ByteString(collection), id: id)) else { return [] }
        return records.values[index].tags(of: value, in: field)
    }

    /// Names of collections with at least one visible record, sorted by UTF-8 bytes.
    public var collectionNames: [String] {
        collectionIndex.keys.sorted().filter { name in
            collectionIndex[name]!.contains { records[RecordKey(collection: name, id: $0)]!.isVisible }
        }.map(\.string)
    }

    /// The greatest write or delete stamp held, or `nil` for an empty state. Every register
    /// and live set tag is at or below its record's last write, so this bounds them all.
    /// - Complexity: O(n) in the number of records.
    public var newestStamp: Stamp? {
        var newest: Stamp?
        func consider(_ stamp: Stamp?) {
            if let stamp, newest.map({ stamp > $0 }) ?? true { newest = stamp }
        }
        for record in records.values {
            consider(record.lastWrite)
            consider(record.deletedAt)
        }
        return newest
    }

    /// The number of records held (visible or not) across all collections.
    public var recordCount: Int { records.count }

    /// Ids of records held in `name`, visible or not, sorted.
    func sortedIDs(in name: ByteString) -> [RecordID] { collectionIndex[name].map { $0.sorted() } ?? [] }
}
