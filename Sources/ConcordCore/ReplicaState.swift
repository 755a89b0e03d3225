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
    var collections: [ByteString: [RecordID: RecordState]] = [:]

    /// An empty state.
    public init() {}

    /// Applies one operation.
    /// - Returns: `true` when the state changed (`false` for a duplicate or superseded op).
    /// - Complexity: O(1) expected for register writes; O(k) in the tags of the value for sets.
    @discardableResult
    public mutating func apply(_ op: RecordOperation) -> Bool {
        collections[ByteString(op.collection), default: [:]][op.record, default: RecordState()]
            .apply(op.action, stamp: op.stamp)
    }

    /// Applies operations in order.
    /// - Returns: how many of them changed the state.
    @discardableResult
    public mutating func apply(contentsOf ops: some Sequence<RecordOperation>) -> Int {
        var changed = 0
        for op in ops where apply(op) { changed += 1 }
        return changed
    }

    /// Merges another replica's state into this one.
    /// - Complexity: O(size of `other`).
    public mutating func merge(_ other: ReplicaState) {
        for (name, theirRecords) in other.collections {
            var records = collections.removeValue(forKey: name) ?? [:]
            for (id, theirs) in theirRecords {
                if records[id] != nil { records[id]!.merge(theirs) } else { records[id] = theirs }
            }
            collections[name] = records
        }
    }

    /// The full state of one record, including hidden (deleted) ones; `nil` if never seen.
    public func recordState(_ id: RecordID, in collection: String) -> RecordState? {
        collections[ByteString(collection)]?[id]
    }

    /// The live tags of `value` in the OR-set `field`: what a local remove must carry.
    public func tags(of value: Value, in field: String, of id: RecordID, in collection: String) -> [Stamp] {
        recordState(id, in: collection)?.set(field)?.tags(of: value) ?? []
    }

    /// Names of collections with at least one visible record, sorted by UTF-8 bytes.
    public var collectionNames: [String] {
        collections.filter { $0.value.values.contains { $0.isVisible } }.keys.sorted().map(\.string)
    }

    /// The number of records held (visible or not) across all collections.
    public var recordCount: Int { collections.values.reduce(0) { $0 + $1.count } }
}
