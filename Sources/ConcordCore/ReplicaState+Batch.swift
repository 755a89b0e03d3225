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
        /// An add's tag (the operation's clock reading), or a remove's only observed tag;
        /// for a remove observing more, where its tags start in the run's flat list.
        var hlc: UInt64
        /// The operation's position in the run.
        var op: Int32
        /// 0 for an add; for a remove, how many of its observed tags are inside its window.
        var observedCount: UInt16
        /// Index of the tag's replica in the run's replica table.
        var replica: UInt16
    }

    /// The values a run's set operations name, each once per field, numbered in the order
    /// of their first operation: an open-addressing index on ``ValueKey/hashCode`` that
    /// holds each value's key words, so finding one reads no operation unless two values
    /// share those words (``ValueKey/isLong``).
    private struct RunValues {
        struct Entry {
            var hash: UInt64
            var kind: UInt64
            var head0: UInt64
            var head1: UInt64
            var firstOp: Int32
            var field: UInt8
            var isLong: Bool
        }
        var values: [Entry] = []
        var slots = [Int32](repeating: 0, count: 1024)

        /// The number of `key` in `field`, first seen at operation `op` of `run`.
        @inline(__always)
        mutating func id(of key: ValueKey, field: UInt8, op: Int32, in run: UnsafeBufferPointer<RecordOperation>) -> Int {
            if (values.count + 1) * 2 > slots.count { grow() }
            let words = key.words
            let mask = slots.count - 1
            var i = Int(truncatingIfNeeded: key.hashCode) & mask
            while true {
                let entry = Int(slots[i])
                if entry == 0 { break }
                let known = values[entry - 1]
                if known.hash == key.hashCode, known.kind == words.kind, known.head0 == words.head0, known.head1 == words.head1,
                    known.field == field, !known.isLong || run[Int(known.firstOp)].value == key.value
                {
                    return entry - 1
                }
                i = (i + 1) & mask
            }
            values.append(
                Entry(
                    hash: key.hashCode, kind: words.kind, head0: words.head0, head1: words.head1, firstOp: op, field: field,
                    isLong: key.isLong))
            slots[i] = Int32(values.count)
            return values.count - 1
        }

        private mutating func grow() {
            slots = [Int32](repeating: 0, count: slots.count * 2)
            let mask = slots.count - 1
            for (n, value) in values.enumerated() {
                var i = Int(truncatingIfNeeded: value.hash) & mask
                while slots[i] != 0 { i = (i + 1) & mask }
                slots[i] = Int32(n + 1)
            }
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
        var values = RunValues()
        var queued: [Queued] = []
        queued.reserveCapacity(run.count)
        var groupOf: [Int32] = []
        groupOf.reserveCapacity(run.count)
        var observedTags: [(hlc: UInt64, replica: UInt16)] = []
        var tooMany = false

        // Pass 1, in order: the last write, registers, and the checks that decide whether a
        // set operation does anything; set operations are queued and their values numbered.
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
            var entry = Queued(hlc: stamp.hlc.rawValue, op: Int32(k), observedCount: 0, replica: 0)
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
                entry.replica = UInt16(truncatingIfNeeded: replicas.index(of: stamp.replica))
            case let .remove(name, removed, observed):
                let window = ORSet.TagWindow(before: stamp, after: deletedAt)
                var count = 0
                for tag in observed where window.contains(tag) {
                    let replica = UInt16(truncatingIfNeeded: replicas.index(of: tag.replica))
                    if count == 0 {
                        (entry.hlc, entry.replica) = (tag.hlc.rawValue, replica)
                    } else {
                        if count == 1 {
                            observedTags.append((entry.hlc, entry.replica))
                            entry.hlc = UInt64(observedTags.count - 1)
                        }
                        observedTags.append((tag.hlc.rawValue, replica))
                    }
                    count += 1
                }
                guard count > 0 else { continue }
                guard count <= Int(UInt16.max) else {
                    tooMany = true
                    continue
                }
                entry.observedCount = UInt16(count)
                (field, value) = (name, removed)
            case .delete:
                continue
            }
            let name = ByteString(field)
            var f = 0
            while f < fields.count, fields[f] != name { f += 1 }
            if f == fields.count { fields.append(name) }
            groupOf.append(Int32(values.id(of: ValueKey(value), field: UInt8(truncatingIfNeeded: f), op: Int32(k), in: run)))
            queued.append(entry)
        }
        // More replicas, fields or observed tags than a queue entry can name: apply the set
        // operations in order instead.
        guard !tooMany, replicas.ids.count <= Int(UInt16.max), fields.count <= Int(UInt8.max) else {
            return applyInOrder(run, changedOps: &changedOps)
        }
        guard !queued.isEmpty else { return changedOps.reduce(0) { $0 + ($1 ? 1 : 0) } }

        // Pass 2: the queued operations by value, values in the order of their first
        // operation, each value's operations in their original order (a stable counting
        // sort on the value's number). Each value is found in its set once.
        var starts = [Int](repeating: 0, count: values.values.count + 1)
        for g in groupOf { starts[Int(g) + 1] += 1 }
        for g in 1..<starts.count { starts[g] += starts[g - 1] }
        let sorted = [Queued](unsafeUninitializedCapacity: queued.count) { buffer, count in
            var next = starts
            for (n, entry) in queued.enumerated() {
                let g = Int(groupOf[n])
                (buffer.baseAddress! + next[g]).initialize(to: entry)
                next[g] += 1
            }
            count = queued.count
        }
        queued = []
        groupOf = []
        for (f, name) in fields.enumerated() {
            sets.modify(name) { set in
                // The run's replica indexes as the set's, interned when first used (a set's
                // table holds only replicas its tags name).
                var setReplica = [Int](repeating: -1, count: replicas.ids.count)
                for (g, value) in values.values.enumerated() where Int(value.field) == f {
                    let slot = set.slotInserting(ValueKey(run[Int(value.firstOp)].value!))
                    let group = sorted[starts[g]..<starts[g + 1]]
                    set.withMember(slot) { member, table in
                        @inline(__always)
                        func replica(_ r: UInt16) -> Int {
                            let i = Int(r)
                            if setReplica[i] < 0 { setReplica[i] = table.intern(replicas.ids[i]) }
                            return setReplica[i]
                        }
                        // Room for every tag the group may add, at once.
                        let most = group.reduce(0) { $0 + max(1, Int($1.observedCount)) }
                        if member.tags.capacity < member.tags.count + most { member.tags.reserveCapacity(member.tags.count + most) }
                        for entry in group {
                            var changed = false
                            switch entry.observedCount {
                            case 0:
                                changed = member.insert(ORSet.Tag(hlc: entry.hlc, replica: replica(entry.replica), removed: false), table)
                            case 1:
                                changed = member.insert(ORSet.Tag(hlc: entry.hlc, replica: replica(entry.replica), removed: true), table)
                            default:
                                for t in Int(entry.hlc)..<Int(entry.hlc) + Int(entry.observedCount) {
                                    let tag = observedTags[t]
                                    if member.insert(ORSet.Tag(hlc: tag.hlc, replica: replica(tag.replica), removed: true), table) {
                                        changed = true
                                    }
                                }
                            }
                            if changed { changedOps[Int(entry.op)] = true }
                        }
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
