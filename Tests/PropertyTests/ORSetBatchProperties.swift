import ConcordCore
import ConcordTesting
import Testing

/// ``ReplicaState/apply(contentsOf:)`` applies a long run of operations on one record with
/// its OR-set operations grouped by value (`ReplicaState+Batch.swift`, issue 18.1). These
/// check that grouping is invisible: the same state, encodings and count of changing
/// operations as applying the operations one by one in order, and the same state as one by
/// one in random orders (the OR-set's laws, `Specs/crdt-semantics.md` §4).
///
/// Batches mix runs long enough to be grouped with short ones, several records, two set
/// fields and a register, deletes (which end a run), exact duplicates, removes observing
/// live, removed, not yet added, future and other values' tags, values that differ only
/// after the 16 bytes a key keeps as integers, and up to 12 replicas.
@Suite struct ORSetBatchProperties {
    struct Mismatch: Error, CustomStringConvertible {
        let description: String
    }

    static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        if !condition { throw Mismatch(description: what()) }
    }

    /// A batch of operations on `records`, in runs of 1 to 150 operations on one record.
    static func batch(records: [RecordID], using rng: inout SeededGenerator) -> [RecordOperation] {
        let values = ORSetLayoutProperties.values(using: &rng)
        let replicas = ORSetLayoutProperties.replicas(using: &rng)
        let collections = ["c", "d"]
        var added: [Value: [Stamp]] = [:]
        var ops: [RecordOperation] = []
        func stamp() -> Stamp {
            Stamp(
                hlc: HLCTimestamp(milliseconds: UInt64.random(in: 1...400, using: &rng), counter: UInt16.random(in: 0...3, using: &rng)),
                replica: replicas.randomElement(using: &rng)!)
        }
        let runs = Int.random(in: 1...4, using: &rng)
        for _ in 0..<runs {
            let record = records.randomElement(using: &rng)!
            let collection = rng.chance(0.8) ? collections[0] : collections[1]
            let length = rng.chance(0.6) ? Int.random(in: 64...150, using: &rng) : Int.random(in: 1...20, using: &rng)
            for _ in 0..<length {
                let roll = Double.random(in: 0..<1, using: &rng)
                let field = rng.chance(0.8) ? "s" : "t"
                let value = values.randomElement(using: &rng)!
                let action: RecordOperation.Action
                var opStamp = stamp()
                if roll < 0.5 {
                    action = .add(field: field, value: value)
                    added[value, default: []].append(opStamp)
                } else if roll < 0.85 {
                    var observed = (added[value] ?? []).filter { _ in rng.chance(0.7) }
                    if rng.chance(0.15) { observed.append(stamp()) }  // not added yet, or in the future
                    if rng.chance(0.1), let other = added.values.randomElement(using: &rng)?.randomElement(using: &rng) {
                        observed.append(other)  // another value's tag
                    }
                    // Usually stamped after what it observed, as an honest replica does.
                    if rng.chance(0.8), let newest = observed.max() {
                        opStamp = Stamp(
                            hlc: HLCTimestamp(rawValue: newest.hlc.rawValue + UInt64.random(in: 1...3, using: &rng)),
                            replica: opStamp.replica)
                    }
                    action = .remove(field: field, value: value, observed: observed)
                } else if roll < 0.95 {
                    action = .set(field: rng.chance(0.5) ? "r" : "s", value: value)
                } else if roll < 0.98, let previous = ops.randomElement(using: &rng) {
                    ops.append(previous)  // delivered twice
                    continue
                } else {
                    action = .delete
                }
                ops.append(RecordOperation(stamp: opStamp, collection: collection, record: record, action: action))
            }
        }
        return ops
    }

    static func oneByOne(_ ops: some Sequence<RecordOperation>, onto start: ReplicaState) -> (ReplicaState, Int) {
        var state = start
        var changed = 0
        for op in ops where state.apply(op) { changed += 1 }
        return (state, changed)
    }

    @Test func groupedApplyEqualsOneByOneInAnyOrder() throws {
        try PropertyRunner.check("grouped apply == one by one, any order", cases: 1000) { rng in
            let records = (0..<Int.random(in: 1...3, using: &rng)).map { RecordID(high: 9, low: UInt64($0)) }
            // A state that already holds some of the same values and tags, or none.
            var start = ReplicaState()
            if rng.chance(0.6) { start.apply(contentsOf: Self.batch(records: records, using: &rng)) }
            let ops = Self.batch(records: records, using: &rng)

            var grouped = start
            let groupedChanged = grouped.apply(contentsOf: ops)
            let (inOrder, inOrderChanged) = Self.oneByOne(ops, onto: start)
            try Self.require(grouped == inOrder, "grouped apply differs from one by one in order (\(ops.count) ops)")
            try Self.require(
                groupedChanged == inOrderChanged,
                "grouped apply reports \(groupedChanged) changing operations, one by one \(inOrderChanged)")
            try Self.require(grouped.canonicalEncoding() == inOrder.canonicalEncoding(), "canonical encodings differ")
            try Self.require(grouped.digest == inOrder.digest, "digests differ")
            for record in records {
                for collection in ["c", "d"] {
                    try Self.require(
                        grouped.recordState(record, in: collection)?.storageEncoding()
                            == inOrder.recordState(record, in: collection)?.storageEncoding(),
                        "storage encodings of \(collection)/\(record) differ")
                }
            }
            // Any order gives the same state (not the same count: which operation changes
            // the state first depends on the order).
            let (shuffled, _) = Self.oneByOne(ops.shuffled(using: &rng), onto: start)
            try Self.require(grouped == shuffled, "grouped apply differs from one by one in a random order")
            // Grouped again, in another order, and once more (idempotent: nothing changes).
            var regrouped = start
            regrouped.apply(contentsOf: ops.shuffled(using: &rng))
            try Self.require(regrouped == grouped, "grouped apply depends on the order of the batch")
            try Self.require(regrouped.apply(contentsOf: ops) == 0, "a batch applied twice changed the state again")
            try Self.require(regrouped == grouped, "a batch applied twice differs")
        }
    }
}
