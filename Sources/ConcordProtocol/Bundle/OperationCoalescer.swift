import ConcordCore

/// Drops the operations of a batch that cannot change the result of applying it, so a
/// bundle carries only what matters (`Specs/wire-format.md`, section 7.6).
///
/// Rules, per record (collection and id compared byte for byte):
/// 1. Exact duplicates are dropped (apply is idempotent).
/// 2. `set`: only the write that wins the LWW register of its field is kept
///    (greatest stamp, then greatest value).
/// 3. `delete`: only the delete with the greatest stamp `D` is kept, and every other
///    operation of the record stamped at or before `D` is dropped (the delete prunes
///    them on every replica), except one: when no `set` or `add` of the record in the
///    batch is stamped after `D`, the `set`/`add` with the greatest stamp is kept,
///    because it carries the record's last-write stamp. Receivers then hold exactly
///    the state the author holds, hidden parts included.
/// 4. `add` and `remove` are otherwise kept as they are.
///
/// Kept operations stay in their original order. Applying the result to any state gives
/// the same state as applying the whole batch.
///
/// - Complexity: O(n) expected.
enum OperationCoalescer {
    private struct RecordKey: Hashable {
        var collection: ByteString
        var id: RecordID
    }

    private struct FieldKey: Hashable {
        var record: RecordKey
        var field: ByteString
    }

    static func coalesce(_ ops: [RecordOperation]) -> [RecordOperation] {
        let unique = withoutExactDuplicates(ops)
        let records = unique.map { RecordKey(collection: ByteString($0.collection), id: $0.record) }

        // Pass 1: the greatest delete per record, the LWW winner per register.
        var deletes: [RecordKey: Int] = [:]
        var winners: [FieldKey: Int] = [:]
        for (i, op) in unique.enumerated() {
            switch op.action {
            case .delete:
                if let j = deletes[records[i]], unique[j].stamp >= op.stamp { continue }
                deletes[records[i]] = i
            case let .set(field, value):
                let key = FieldKey(record: records[i], field: ByteString(field))
                if let j = winners[key], !LWWRegister(value: unique[j].setValue!, stamp: unique[j].stamp).isBeaten(by: op.stamp, value: value) {
                    continue
                }
                winners[key] = i
            case .add, .remove:
                break
            }
        }
        let winnerSet = Set(winners.values)

        // Pass 2: per deleted record, the newest constructive write, if none follows the delete.
        var newestWrite: [RecordKey: Int] = [:]
        for (i, op) in unique.enumerated() where deletes[records[i]] != nil && op.isConstructive {
            if case .set = op.action, !winnerSet.contains(i) { continue }
            if let j = newestWrite[records[i]], unique[j].stamp >= op.stamp { continue }
            newestWrite[records[i]] = i
        }

        return unique.indices.compactMap { i -> RecordOperation? in
            let op = unique[i]
            if case .set = op.action, !winnerSet.contains(i) { return nil }
            guard let d = deletes[records[i]] else { return op }
            if case .delete = op.action { return i == d ? op : nil }
            let deletedAt = unique[d].stamp
            if op.stamp > deletedAt { return op }
            // Stamped at or before the delete: pruned everywhere, unless it carries the
            // record's last-write stamp (no constructive write follows the delete).
            guard let newest = newestWrite[records[i]], newest == i, unique[newest].stamp <= deletedAt else { return nil }
            return op
        }
    }
}

extension OperationCoalescer {
    /// `ops` without exact duplicates, first occurrences kept in order. A device's stamps
    /// are unique, so only operations sharing a stamp need comparing in full.
    static func withoutExactDuplicates(_ ops: [RecordOperation]) -> [RecordOperation] {
        var stamps = Set<Stamp>(minimumCapacity: ops.count)
        var shared = false
        for op in ops where !stamps.insert(op.stamp).inserted { shared = true }
        guard shared else { return ops }
        var seen = Set<RecordOperation>()
        return ops.filter { seen.insert($0).inserted }
    }
}

extension RecordOperation {
    /// `set` and `add` make a record visible; `remove` and `delete` do not.
    fileprivate var isConstructive: Bool {
        switch action {
        case .set, .add: true
        case .remove, .delete: false
        }
    }

    /// The value of a `set`, else `nil`.
    fileprivate var setValue: Value? {
        if case .set(_, let value) = action { return value }
        return nil
    }
}
