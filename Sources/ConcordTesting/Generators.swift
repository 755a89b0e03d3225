import ConcordCore

/// Random generators of Concord values and operations, all driven by a seeded generator.
///
/// The ``Domain`` is deliberately small (a few collections, records, fields and values)
/// so random histories collide: concurrent writes to the same field, adds and removes of
/// the same member, deletes racing with updates.
public enum Generators {
    /// What random operations may touch.
    public struct Domain: Sendable {
        /// Collection names.
        public var collections: [String]
        /// Record ids shared by all replicas.
        public var records: [RecordID]
        /// LWW field names.
        public var registerFields: [String]
        /// OR-set field names.
        public var setFields: [String]
        /// Relative weights of set / add / remove / delete.
        public var weights: (set: Int, add: Int, remove: Int, delete: Int)

        /// A small domain drawn from `rng`: 2 collections, `recordCount` records, 3 register
        /// fields, 2 set fields, weights 45/25/20/10.
        public static func small(recordCount: Int = 4, using rng: inout SeededGenerator) -> Domain {
            Domain(
                collections: ["notes", "tasks"],
                records: (0..<recordCount).map { _ in RecordID.random(using: &rng) },
                registerFields: ["title", "done", "rank"],
                setFields: ["tags", "owners"],
                weights: (45, 25, 20, 10)
            )
        }

        public init(collections: [String], records: [RecordID], registerFields: [String], setFields: [String], weights: (set: Int, add: Int, remove: Int, delete: Int)) {
            self.collections = collections
            self.records = records
            self.registerFields = registerFields
            self.setFields = setFields
            self.weights = weights
        }
    }

    /// A random value of any kind, from a small pool so equal values recur. Includes the
    /// awkward cases: `-0.0`, NaN, empty and non-ASCII strings, both Unicode forms of "é".
    public static func value(using rng: inout SeededGenerator) -> Value {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2, 3: return .int(Int64.random(in: -3...3, using: &rng))
        case 4: return .int([Int64.min, Int64.max, 1 << 40][Int.random(in: 0..<3, using: &rng)])
        case 5: return .double([0.0, -0.0, 1.5, -2.25, .infinity, .nan][Int.random(in: 0..<6, using: &rng)])
        case 6, 7: return .string(["", "a", "b", "é", "e\u{301}", "日本", "a b"][Int.random(in: 0..<7, using: &rng)])
        case 8: return .bytes((0..<Int.random(in: 0...3, using: &rng)).map { _ in UInt8.random(in: 0...2, using: &rng) })
        default:
            return .reference(RecordReference(collection: "notes", id: RecordID(high: 0, low: UInt64.random(in: 0...2, using: &rng))))
        }
    }

    /// A random local action against `state`: removes carry the tags the state observed.
    public static func action(
        in domain: Domain, state: ReplicaState, using rng: inout SeededGenerator
    ) -> (collection: String, record: RecordID, action: RecordOperation.Action) {
        let collection = domain.collections.randomElement(using: &rng)!
        let record = domain.records.randomElement(using: &rng)!
        let w = domain.weights
        let roll = Int.random(in: 0..<(w.set + w.add + w.remove + w.delete), using: &rng)
        if roll < w.set {
            return (collection, record, .set(field: domain.registerFields.randomElement(using: &rng)!, value: value(using: &rng)))
        }
        let field = domain.setFields.randomElement(using: &rng)!
        if roll < w.set + w.add {
            return (collection, record, .add(field: field, value: value(using: &rng)))
        }
        if roll < w.set + w.add + w.remove {
            let present = state.recordState(record, in: collection)?.set(field)?.elements ?? []
            let target = present.randomElement(using: &rng) ?? value(using: &rng)
            let observed = state.tags(of: target, in: field, of: record, in: collection)
            return (collection, record, .remove(field: field, value: target, observed: observed))
        }
        return (collection, record, .delete)
    }
}
