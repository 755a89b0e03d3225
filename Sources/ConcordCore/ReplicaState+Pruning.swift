// The pruned form (`Specs/crdt-semantics.md` §11.2–§11.3): what a replica may drop once the
// authors' chains are delivered past it, without any visible difference now or after any
// later operation.

/// What one ``ReplicaState/prune(frontier:)`` dropped.
public struct PruneSummary: Hashable, Sendable {
    /// OR-set tombstones (removed tags) dropped because their tag is delivered.
    public var tombstones = 0
    /// Hidden records that dropped their last write stamp (`W`), leaving a delete stub.
    public var hiddenWrites = 0
    /// Records dropped whole: no delete, no write, nothing left in their sets.
    public var records = 0

    /// Nothing dropped.
    public init() {}

    /// Whether the prune dropped anything.
    public var isEmpty: Bool { tombstones == 0 && hiddenWrites == 0 && records == 0 }
}

extension RecordState {
    /// Prunes the record at `frontier` (`Specs/crdt-semantics.md` §11.3): drops removed tags
    /// the frontier delivers (then values and sets left empty), and the last write `W` of a
    /// hidden record, which leaves its delete stub (`D` and ``deleteBundle``) and any
    /// tombstone not delivered yet.
    /// - Returns: `false` when nothing at all is left (no `D`, no `W`, no register, no set):
    ///   the record itself can go.
    @discardableResult
    mutating func prune(frontier: Frontier, summary: inout PruneSummary) -> Bool {
        var dropped = 0
        sets.update { dropped += $0.pruneTombstones(deliveredBy: frontier) }
        summary.tombstones += dropped
        if lastWrite != nil, !isVisible {
            lastWrite = nil
            summary.hiddenWrites += 1
        }
        return !isEmpty
    }

    /// The record in pruned form at `frontier`, or `nil` when nothing of it is left.
    ///
    /// ```swift
    /// let stub = state.recordState(id, in: "todos")?.pruned(frontier: held)
    /// ```
    public func pruned(frontier: Frontier) -> RecordState? {
        var copy = self
        var summary = PruneSummary()
        return copy.prune(frontier: frontier, summary: &summary) ? copy : nil
    }

    /// Whether nothing is left: no `D`, no `W`, no register, no set.
    var isEmpty: Bool { deletedAt == nil && lastWrite == nil && registers.isEmpty && sets.isEmpty }

    /// A copy without the set tags `frontier` delivers and `held` does not hold
    /// (see ``ReplicaState/merge(_:prunedAt:ownFrontier:)``).
    func withoutTags(deliveredBy frontier: Frontier, missingFrom held: RecordState?) -> RecordState {
        var copy = self
        var filtered = FieldSets()
        for field in sets.fields {
            let set = field.set.withoutTags(deliveredBy: frontier, missingFrom: held?.sets[field.name])
            if !set.members.isEmpty { filtered.put(set, for: field.name) }
        }
        copy.sets = filtered
        return copy
    }
}

extension ReplicaState {
    /// Applies one operation carried by the bundle at `sequence` of its author's chain:
    /// as ``apply(_:)``, and a delete also records the bundle's position for its stub
    /// (``RecordState/deleteBundle``).
    /// - Returns: `true` when the state changed.
    @discardableResult
    public mutating func apply(_ op: RecordOperation, inBundle sequence: UInt64) -> Bool {
        apply(op, bundle: sequence)
    }

    /// Prunes every record at `frontier`, which must be at or before this replica's held
    /// frontier (`Specs/crdt-semantics.md` §11.2–§11.3). The visible state does not change,
    /// now or after any later operation; pruning twice, or at a smaller frontier after a
    /// larger one, changes nothing more.
    /// - Returns: What was dropped.
    /// - Complexity: O(n) in the size of the state.
    @discardableResult
    public mutating func prune(frontier: Frontier) -> PruneSummary {
        var summary = PruneSummary()
        var gone: [RecordKey] = []
        // Walk by index (changing values in place keeps indexes valid; iterating
        // `records.indices` would hold a second reference and copy the storage).
        var index = records.startIndex
        while index != records.endIndex {
            if !records.values[index].prune(frontier: frontier, summary: &summary) { gone.append(records.keys[index]) }
            records.formIndex(after: &index)
        }
        for key in gone { remove(key) }
        summary.records = gone.count
        return summary
    }

    /// The pruned form of this state at `frontier` (see ``prune(frontier:)``).
    ///
    /// ```swift
    /// let compact = state.pruned(frontier: Frontier([alice: aliceHead, bob: bobHead]))
    /// assert(compact.digest == state.digest)
    /// ```
    public func pruned(frontier: Frontier) -> ReplicaState {
        var copy = self
        copy.prune(frontier: frontier)
        return copy
    }

    /// Merges `other`, pruned at `otherFrontier`, into this state, pruned at `ownFrontier`
    /// (`Specs/crdt-semantics.md` §11.3, "Merge of pruned states"): a tag of one side that
    /// the other side's frontier delivers and the other side does not hold was applied and
    /// collected there, so it is dropped before the usual ``merge(_:)``. Without this an
    /// older unpruned state would bring removed values back. The result's frontier is
    /// `ownFrontier.union(otherFrontier)`; records left with nothing are dropped.
    ///
    /// ```swift
    /// a.merge(b, prunedAt: frontierB, ownFrontier: frontierA)
    /// ```
    public mutating func merge(_ other: ReplicaState, prunedAt otherFrontier: Frontier, ownFrontier: Frontier) {
        let mine = records
        var gone: [RecordKey] = []
        var index = records.startIndex
        while index != records.endIndex {
            let key = records.keys[index]
            let filtered = records.values[index].withoutTags(deliveredBy: otherFrontier, missingFrom: other.records[key])
            if filtered.isEmpty { gone.append(key) } else { records.values[index] = filtered }
            records.formIndex(after: &index)
        }
        for key in gone { remove(key) }
        for (key, record) in other.records {
            let filtered = record.withoutTags(deliveredBy: ownFrontier, missingFrom: mine[key])
            if let index = records.index(forKey: key) {
                records.values[index].merge(filtered)
            } else if !filtered.isEmpty {
                insert(filtered, at: key)
            }
        }
    }
}
