import ConcordCore
import ConcordTesting
import Testing

/// The OR-set's storage layout (issue 18: values interned once behind a seeded open-addressing
/// index, tags holding an index into each set's table of replica ids, members ordered by
/// integer heads) against a plain model: a dictionary from value to its tags, each live or
/// removed, which is what the set stored before.
///
/// The general merge-law and convergence properties draw from a small pool of short values
/// and three replicas. These draw what the layout must get right beyond that: more replicas
/// than a set's table finds by scanning (8), replica ids that differ only in their last byte,
/// strings and bytes longer than the 16 bytes a key keeps as integers and differing only
/// after them, embedded NULs, and references with long collection names.
@Suite struct ORSetLayoutProperties {
    struct Mismatch: Error, CustomStringConvertible {
        let description: String
    }

    static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        if !condition { throw Mismatch(description: what()) }
    }

    /// What the set held before the layout change: every tag of every value.
    struct Model {
        var tags: [Value: [Stamp: Bool]] = [:]  // tag -> removed

        mutating func add(_ value: Value, _ tag: Stamp) {
            if tags[value]?[tag] == nil { tags[value, default: [:]][tag] = false }
        }

        mutating func remove(_ value: Value, _ observed: [Stamp]) {
            for tag in observed { tags[value, default: [:]][tag] = true }
        }

        mutating func prune(atOrBefore cutoff: Stamp) {
            for (value, held) in tags {
                let kept = held.filter { $0.key > cutoff }
                tags[value] = kept.isEmpty ? nil : kept
            }
        }

        var elements: [Value] { tags.filter { $0.value.values.contains(false) }.keys.sorted() }
        func live(_ value: Value) -> [Stamp] { (tags[value] ?? [:]).filter { !$0.value }.keys.sorted() }
        var tombstones: Int { tags.values.reduce(0) { $0 + $1.values.filter { $0 }.count } }
    }

    enum Step {
        case add(Value, Stamp)
        case remove(Value, [Stamp])
    }

    /// Replica ids: up to 12 (past the table's scan limit of 8), most sharing all but their
    /// last byte, some all but their first.
    static func replicas(using rng: inout SeededGenerator) -> [ReplicaID] {
        let base = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let count = Int.random(in: 1...12, using: &rng)
        var ids: [ReplicaID] = []
        while ids.count < count {
            var bytes = base
            bytes[rng.chance(0.7) ? 31 : 0] = UInt8.random(in: 0...255, using: &rng)
            let id = ReplicaID(bytes: bytes)!
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// Values whose layout keys are hard to tell apart: long strings and bytes that differ
    /// only after their first 16 bytes, lengths around 16, NULs, references with long
    /// collection names, and the small values of every other kind.
    static func values(using rng: inout SeededGenerator) -> [Value] {
        let prefix = String(repeating: "p", count: 16)
        var pool: [Value] = [
            .string(prefix), .string(prefix + "a"), .string(prefix + "b"), .string(prefix + "a\u{0}"),
            .string("a"), .string("a\u{0}"), .string(""), .string("é"), .string("e\u{301}"),
            .string(String(repeating: "x", count: 40) + "1"), .string(String(repeating: "x", count: 40) + "2"),
            .bytes([UInt8](repeating: 7, count: 16)), .bytes([UInt8](repeating: 7, count: 17)),
            .bytes([UInt8](repeating: 7, count: 16) + [0]), .bytes([]), .bytes([0]),
            .reference(RecordReference(collection: String(repeating: "c", count: 20) + "1", id: RecordID(high: 1, low: 1))),
            .reference(RecordReference(collection: String(repeating: "c", count: 20) + "2", id: RecordID(high: 1, low: 1))),
            .null, .bool(false), .bool(true), .int(-1), .int(0), .int(.max), .int(.min),
            .double(-0.0), .double(0.0), .double(.nan), .double(-1.5),
        ]
        // A random long string or two, so nothing depends on the fixed pool.
        for _ in 0..<2 {
            let length = Int.random(in: 0...40, using: &rng)
            pool.append(.string(String((0..<length).map { _ in "ab\u{0}é".randomElement(using: &rng)! })))
        }
        pool.shuffle(using: &rng)
        return Array(pool.prefix(Int.random(in: 3...pool.count, using: &rng)))
    }

    /// Random adds (fresh tags, clock readings that often tie across replicas) and removes
    /// naming random tags of the value: live, removed, not added yet, or another value's.
    static func steps(_ count: Int, values: [Value], replicas: [ReplicaID], using rng: inout SeededGenerator) -> [Step] {
        var used = Set<Stamp>()
        var added: [Value: [Stamp]] = [:]
        var all: [Stamp] = []
        var steps: [Step] = []
        // 400 clock readings per replica, at most 120 steps: a fresh stamp is always found.
        func fresh() -> Stamp {
            while true {
                let ms = UInt64.random(in: 1...200, using: &rng)
                let hlc = HLCTimestamp(milliseconds: ms, counter: UInt16.random(in: 0...1, using: &rng))
                let tag = Stamp(hlc: hlc, replica: replicas.randomElement(using: &rng)!)
                if used.insert(tag).inserted { return tag }
            }
        }
        for _ in 0..<count {
            let value = values.randomElement(using: &rng)!
            if rng.chance(0.6) {
                let tag = fresh()
                added[value, default: []].append(tag)
                all.append(tag)
                steps.append(.add(value, tag))
            } else {
                var observed = (added[value] ?? []).filter { _ in rng.chance(0.7) }
                if rng.chance(0.15) { observed.append(fresh()) }  // removed before its add arrives
                if rng.chance(0.1), let other = all.randomElement(using: &rng) { observed.append(other) }
                steps.append(.remove(value, observed))
            }
        }
        return steps
    }

    static func apply(_ steps: some Sequence<Step>, to set: inout ORSet) {
        for step in steps {
            switch step {
            case let .add(value, tag): set.add(value, tag: tag)
            case let .remove(value, observed): set.remove(value, observed: observed)
            }
        }
    }

    @Test func setMatchesTheModelInAnyArrivalOrder() throws {
        try PropertyRunner.check("ORSet layout == model, any order", cases: 500) { rng in
            let values = Self.values(using: &rng)
            let steps = Self.steps(Int.random(in: 1...120, using: &rng), values: values, replicas: Self.replicas(using: &rng), using: &rng)
            var model = Model()
            for step in steps {
                switch step {
                case let .add(value, tag): model.add(value, tag)
                case let .remove(value, observed): model.remove(value, observed)
                }
            }
            var inOrder = ORSet(), shuffled = ORSet()
            Self.apply(steps, to: &inOrder)
            Self.apply(steps.shuffled(using: &rng), to: &shuffled)

            try Self.require(inOrder.elements == model.elements, "elements \(inOrder.elements) != model \(model.elements)")
            try Self.require(inOrder.isEmpty == model.elements.isEmpty, "isEmpty \(inOrder.isEmpty)")
            try Self.require(
                inOrder.tombstoneCount == model.tombstones,
                "tombstones \(inOrder.tombstoneCount) != model \(model.tombstones)")
            for value in values {
                try Self.require(
                    inOrder.tags(of: value) == model.live(value),
                    "tags of \(value): \(inOrder.tags(of: value)) != model \(model.live(value))")
                try Self.require(inOrder.contains(value) == !model.live(value).isEmpty, "contains \(value)")
            }
            // Slot order and replica numbering follow arrival order; equality and hashing must not.
            try Self.require(inOrder == shuffled, "the same steps in another order give an unequal set")
            try Self.require(inOrder.hashValue == shuffled.hashValue, "equal sets hash differently")
            try Self.require(
                shuffled.elements == model.elements && shuffled.tombstoneCount == model.tombstones,
                "shuffled set differs from the model")

            // Merge of two halves, either way round, is the whole.
            let cut = Int.random(in: 0...steps.count, using: &rng)
            let order = steps.shuffled(using: &rng)
            var left = ORSet(), right = ORSet()
            Self.apply(order[..<cut], to: &left)
            Self.apply(order[cut...], to: &right)
            var leftRight = left, rightLeft = right
            leftRight.merge(right)
            rightLeft.merge(left)
            try Self.require(leftRight == inOrder && rightLeft == inOrder, "merging two halves differs from applying all steps")

            // Equality can fail: one more tag makes a different set.
            var more = inOrder
            let stranger = ReplicaID(bytes: [UInt8](repeating: 0xEE, count: 32))!
            more.add(values[0], tag: Stamp(hlc: HLCTimestamp(milliseconds: 5_000, counter: 0), replica: stranger))
            try Self.require(more != inOrder, "a set with one more tag compares equal")
        }
    }

    /// Through a record: the storage encoding (`Specs/storage-schema.md`) is the same bytes
    /// whatever the arrival order, decodes to an equal state and re-encodes to the same
    /// bytes; a delete prunes the set exactly as the model does, dropping the replicas only
    /// pruned tags used.
    @Test func recordStorageIsCanonicalAndPrunesLikeTheModel() throws {
        try PropertyRunner.check("record storage of OR-sets, any order, with deletes", cases: 300) { rng in
            let values = Self.values(using: &rng)
            let replicas = Self.replicas(using: &rng)
            let steps = Self.steps(Int.random(in: 1...80, using: &rng), values: values, replicas: replicas, using: &rng)
            let record = RecordID(high: 7, low: 7)
            // Removes are stamped after every tag they name, as a replica's clock is.
            var ops = steps.map { step -> RecordOperation in
                switch step {
                case let .add(value, tag):
                    return RecordOperation(stamp: tag, collection: "c", record: record, action: .add(field: "s", value: value))
                case let .remove(value, observed):
                    let after = HLCTimestamp(milliseconds: 1_000 + UInt64(observed.count), counter: UInt16.random(in: 0...9, using: &rng))
                    return RecordOperation(
                        stamp: Stamp(hlc: after, replica: replicas.randomElement(using: &rng)!), collection: "c",
                        record: record, action: .remove(field: "s", value: value, observed: observed))
                }
            }
            var cutoff: Stamp?
            if rng.chance(0.4) {
                let delete = Stamp(
                    hlc: HLCTimestamp(milliseconds: UInt64.random(in: 1...200, using: &rng), counter: 2),
                    replica: replicas.randomElement(using: &rng)!)
                cutoff = delete
                ops.insert(
                    RecordOperation(stamp: delete, collection: "c", record: record, action: .delete),
                    at: Int.random(in: 0...ops.count, using: &rng))
            }
            var model = Model()
            for step in steps {
                switch step {
                case let .add(value, tag): model.add(value, tag)
                case let .remove(value, observed): model.remove(value, observed)
                }
            }
            if let cutoff { model.prune(atOrBefore: cutoff) }

            var a = ReplicaState(), b = ReplicaState()
            a.apply(contentsOf: ops)
            b.apply(contentsOf: ops.shuffled(using: &rng))
            let (stateA, stateB) = (a.recordState(record, in: "c")!, b.recordState(record, in: "c")!)
            let set = stateA.set("s")
            try Self.require((set == nil) == model.tags.isEmpty, "set present: \(set != nil), model holds \(model.tags.count) values")
            try Self.require((set?.elements ?? []) == model.elements, "elements \(set?.elements ?? []) != model \(model.elements)")
            try Self.require(
                (set?.tombstoneCount ?? 0) == model.tombstones,
                "tombstones \(set?.tombstoneCount ?? 0) != model \(model.tombstones)")
            for value in values {
                try Self.require((set?.tags(of: value) ?? []) == model.live(value), "tags of \(value) differ from the model")
            }

            let bytes = stateA.storageEncoding()
            try Self.require(bytes == stateB.storageEncoding(), "storage encoding depends on arrival order")
            let decoded = try RecordState(storageEncoding: bytes)
            try Self.require(decoded == stateA, "decoded state differs")
            try Self.require(decoded.storageEncoding() == bytes, "re-encoding differs")
            try Self.require(a.canonicalEncoding() == b.canonicalEncoding(), "canonical encoding depends on arrival order")
            // A state loaded from the bytes (replicas numbered in table order) merged with one
            // built in another order (numbered by arrival) is the same state.
            var loaded = ReplicaState()
            loaded.insertRecord(decoded, id: record, in: "c")
            loaded.merge(b)
            try Self.require(loaded == a, "merging an equal state changed it")
        }
    }
}
