// Applying a batch of operations with a record's OR-set operations grouped by value.
//
// Why: applying operations one by one touches, per set operation, the value's index slot,
// its member and the member's tag array: three dependent loads that miss the cache once a
// set holds thousands of values (the set workload of `make bench` spends most of its
// import there). An exchange carries several operations per value (about nine on that
// workload), so a long run of operations on one record is applied in two passes: the
// first, in order, does what does not depend on a set (the record's last write, register
// writes, the delete and window checks) and queues the set operations; the second visits
// the queued operations grouped by value, in the order of their hash, so each value is
// found once and its member and tags stay in the cache for its group.
//
// Same result as applying in order: operations on different values of a set touch
// different members, and a value's own operations are applied in their original order,
// so every member ends with the same tags and every operation reports the same `changed`
// (`Specs/crdt-semantics.md` §4: per (value, tag) pair an add and a remove are joins, and
// nothing else in the record depends on a set's contents). A run never holds a delete,
// so the record's delete stamp is the same for all of it.
// `ORSetBatchProperties` checks this against one-by-one application in random orders.

extension ReplicaState {
    /// Runs shorter than this are applied one by one: grouping pays off only when values
    /// repeat.
    static let groupedRunMinimum = 64

    /// Applies `ops` in order (see ``apply(contentsOf:)``), grouping long runs on one record.
    /// - Returns: How many operations changed the state.
    mutating func applyGrouped(_ ops: UnsafeBufferPointer<RecordOperation>) -> Int {
        var changed = 0
        var i = 0
        while i < ops.count {
            var end = i + 1
            if !ops[i].isDelete {
                let (collection, record) = (ByteString(ops[i].collection), ops[i].record)
                while end < ops.count, ops[end].record == record, !ops[end].isDelete,
                    ByteString(ops[end].collection) == collection
                {
                    end += 1
                }
            }
            if end - i < Self.groupedRunMinimum {
                for k in i..<end where apply(ops[k]) { changed += 1 }
            } else {
                // The first operation creates the record if it is new (and then counts as a
                // change whatever it does, as `apply(_:)` reports).
                if apply(ops[i]) { changed += 1 }
                let key = RecordKey(collection: ByteString(ops[i].collection), id: ops[i].record)
                let index = records.index(forKey: key)!
                changed += records.values[index].applyRun(UnsafeBufferPointer(rebasing: ops[(i + 1)..<end]))
            }
            i = end
        }
        return changed
    }
}

extension RecordOperation {
    /// Whether the operation deletes its record.
    var isDelete: Bool {
        if case .delete = action { return true }
        return false
    }
}

extension RecordState {
    /// A set operation queued by ``applyRun(_:)``, self-contained so the grouped pass reads
    /// the queue in order instead of going back to the operations.
    private struct Queued {
        /// ``ValueKey/hashCode`` and ``ValueKey/words`` of the value.
        var hash: UInt64
        var kind: UInt64
        var head0: UInt64
        var head1: UInt64
        /// The tag an add adds (the operation's clock reading).
        var hlc: UInt64
        /// The operation's position in the run.
        var op: Int32
        /// For a remove, its observed tags inside its window, in ``RecordState/applyRun(_:)``'s
        /// flat list of observed tags.
        var observedStart: Int32
        var observedCount: Int32
        /// Index of the stamp's replica in the run's replica table.
        var replica: UInt16
        /// Index of the field in the run's list of set fields.
        var field: UInt8
        /// Bit 0: a remove; bit 1: the value is long (``ValueKey/isLong``).
        var flags: UInt8

        var isRemove: Bool { flags & 1 != 0 }
        var isLong: Bool { flags & 2 != 0 }

        /// Whether `self` and `other` name the same value, from the words alone.
        @inline(__always)
        func sameWords(_ other: Queued) -> Bool {
            hash == other.hash && kind == other.kind && head0 == other.head0 && head1 == other.head1
        }
    }

    /// The replica ids of a run's stamps, each once; a run usually has one author.
    private struct RunReplicas {
        var ids: [ReplicaID] = []
        var last = -1

        @inline(__always)
        mutating func index(of id: ReplicaID) -> Int {
            if last >= 0, ids[last] == id { return last }
            if let i = ids.firstIndex(of: id) {
                last = i
            } else {
                ids.append(id)
                last = ids.count - 1
            }
            return last
        }
    }

    /// Applies operations on this record, none of them a delete, with the same result and
    /// the same count as applying them in order (see the top of this file).
    /// - Returns: How many of them changed the state.
    mutating func applyRun(_ run: UnsafeBufferPointer<RecordOperation>) -> Int {
        var changedOps = [Bool](repeating: false, count: run.count)
        var fields: [ByteString] = []
        var replicas = RunReplicas()
        var queued: [Queued] = []
        queued.reserveCapacity(run.count)
        var observedTags: [(hlc: UInt64, replica: UInt16)] = []

        // Pass 1, in order: the last write, registers, and the checks that decide whether a
        // set operation does anything; set operations are queued.
        for k in run.indices {
            let stamp = run[k].stamp
            switch run[k].action {
            case .set, .add:
                if lastWrite.map({ stamp > $0 }) ?? true {
                    lastWrite = stamp
                    changedOps[k] = true
                }
            case .remove, .delete:
                break
            }
            if let deletedAt, stamp <= deletedAt { continue }
            let field: String
            let value: Value
            var observedStart = 0
            var observedCount = 0
            switch run[k].action {
            case let .set(name, newValue):
                let key = ByteString(name)
                if let index = registers.index(forKey: key) {
                    if registers.values[index].write(newValue, stamp: stamp) { changedOps[k] = true }
                } else {
                    registers[key] = LWWRegister(value: newValue, stamp: stamp)
                    changedOps[k] = true
                }
                continue
            case let .add(name, added):
                (field, value) = (name, added)
            case let .remove(name, removed, observed):
                let window = ORSet.TagWindow(before: stamp, after: deletedAt)
                observedStart = observedTags.count
                for tag in observed where window.contains(tag) {
                    observedTags.append((tag.hlc.rawValue, UInt16(truncatingIfNeeded: replicas.index(of: tag.replica))))
                }
                observedCount = observedTags.count - observedStart
                guard observedCount > 0 else { continue }
                (field, value) = (name, removed)
            case .delete:
                continue
            }
            let name = ByteString(field)
            var f = 0
            while f < fields.count, fields[f] != name { f += 1 }
            if f == fields.count { fields.append(name) }
            let key = ValueKey(value)
            let words = key.words
            queued.append(
                Queued(
                    hash: key.hashCode, kind: words.kind, head0: words.head0, head1: words.head1, hlc: stamp.hlc.rawValue,
                    op: Int32(k), observedStart: Int32(observedStart), observedCount: Int32(observedCount),
                    replica: UInt16(truncatingIfNeeded: replicas.index(of: stamp.replica)), field: UInt8(truncatingIfNeeded: f),
                    flags: (observedCount > 0 ? 1 : 0) | (key.isLong ? 2 : 0)))
        }
        // More replicas or fields than a queue entry can name: apply in order instead.
        guard replicas.ids.count <= Int(UInt16.max), fields.count <= Int(UInt8.max) else {
            return applyInOrder(run, changedOps: &changedOps)
        }

        // Pass 2: the queued operations by value. A stable counting sort on the low bits of
        // the hash (the bits a set's index probes first) puts a value's operations together,
        // in their original order; values sharing a bucket may interleave, which only costs
        // a lookup that is already in the cache.
        if !queued.isEmpty {
            var bucketBits = 8
            while bucketBits < 16, 1 << bucketBits < queued.count { bucketBits += 1 }
            let mask = UInt64(1 << bucketBits - 1)
            var starts = [Int](repeating: 0, count: (1 << bucketBits) + 1)
            for entry in queued { starts[Int(entry.hash & mask) + 1] += 1 }
            for b in 1..<starts.count { starts[b] += starts[b - 1] }
            let sorted = [Queued](unsafeUninitializedCapacity: queued.count) { buffer, count in
                for entry in queued {
                    let b = Int(entry.hash & mask)
                    (buffer.baseAddress! + starts[b]).initialize(to: entry)
                    starts[b] += 1
                }
                count = queued.count
            }
            queued = []
            for (f, name) in fields.enumerated() {
                sets.modify(name) { set in
                    // The run's replica indexes as the set's, interned when first used.
                    var setReplica = [Int](repeating: -1, count: replicas.ids.count)
                    @inline(__always)
                    func replica(_ r: UInt16) -> Int {
                        let i = Int(r)
                        if setReplica[i] < 0 { setReplica[i] = set.replicas.intern(replicas.ids[i]) }
                        return setReplica[i]
                    }
                    var current: Queued?
                    var slot = 0
                    for entry in sorted where Int(entry.field) == f {
                        if let previous = current, previous.sameWords(entry),
                            !entry.isLong || run[Int(previous.op)].value == run[Int(entry.op)].value
                        {
                            // The same value as the previous entry: its slot.
                        } else {
                            slot = set.slotInserting(ValueKey(run[Int(entry.op)].value!))
                        }
                        current = entry
                        var changed = false
                        if entry.isRemove {
                            for t in Int(entry.observedStart)..<Int(entry.observedStart + entry.observedCount) {
                                let tag = observedTags[t]
                                if set.insert(ORSet.Tag(hlc: tag.hlc, replica: replica(tag.replica), removed: true), into: slot) { changed = true }
                            }
                        } else {
                            changed = set.insert(ORSet.Tag(hlc: entry.hlc, replica: replica(entry.replica), removed: false), into: slot)
                        }
                        if changed { changedOps[Int(entry.op)] = true }
                    }
                }
            }
        }
        return changedOps.reduce(0) { $0 + ($1 ? 1 : 0) }
    }

    /// Pass 2 without grouping, for a run whose queue could not name its replicas or fields.
    private mutating func applyInOrder(_ run: UnsafeBufferPointer<RecordOperation>, changedOps: inout [Bool]) -> Int {
        for k in run.indices {
            if let deletedAt, run[k].stamp <= deletedAt { continue }
            switch run[k].action {
            case let .add(field, value):
                if sets.modify(ByteString(field), { $0.add(value, tag: run[k].stamp) }) { changedOps[k] = true }
            case let .remove(field, value, observed):
                let window = ORSet.TagWindow(before: run[k].stamp, after: deletedAt)
                guard observed.contains(where: { window.contains($0) }) else { continue }
                if sets.modify(ByteString(field), { $0.remove(value, observed: observed, in: window) }) { changedOps[k] = true }
            case .set, .delete:
                continue
            }
        }
        return changedOps.reduce(0) { $0 + ($1 ? 1 : 0) }
    }
}

extension RecordOperation {
    /// The value a set, add or remove carries.
    var value: Value? {
        switch action {
        case .set(_, let value), .add(_, let value), .remove(_, let value, _): value
        case .delete: nil
        }
    }
}
