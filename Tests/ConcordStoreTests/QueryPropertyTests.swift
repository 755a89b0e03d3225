import ConcordCore
import ConcordTesting
import Foundation
import Testing

@testable import ConcordStore

/// Random records written to both stores, random queries: both stores and a brute-force
/// evaluation of the documented semantics (``QueryOracle``) return the same rows in the
/// same order. Reproduce a failure with `CONCORD_SEED=<seed>`.
@Suite("Query property")
struct QueryPropertyTests {
    static let collections = ["items", "items2"]
    static let fields = ["a", "b", "c"]

    @Test func bothStoresAndTheOracleAgreeOnRandomQueries() throws {
        try PropertyRunner.check("store queries", cases: 6, baseSeed: 0x5702_E000) { rng in
            print("seed: \(rng.seed)")
            let memory = MemoryStore()
            let sqliteFixture = try StoreKind.sqlite.make()
            let sqlite = sqliteFixture.store
            let truth = try Self.writeRandomRecords(into: [memory, sqlite], using: &rng)
            try Self.expectStored(truth, in: memory, sqlite)

            var checked = 0
            for _ in 0..<400 {
                let query = Self.randomQuery(over: truth, using: &rng)
                let expected = QueryOracle.evaluate(query, truth)
                let (memoryRows, memoryCount) = try memory.read { (try $0.records(matching: query), try $0.count(matching: query)) }
                let (sqliteRows, sqliteCount) = try sqlite.read { (try $0.records(matching: query), try $0.count(matching: query)) }
                let context = "seed \(rng.seed), query \(query)"
                guard memoryRows.map(\.id) == expected.ids, sqliteRows.map(\.id) == expected.ids else {
                    throw QueryMismatch(
                        description: "\(context)\n  oracle: \(Self.describe(expected.ids, query, truth))\n  memory: \(Self.describe(memoryRows.map(\.id), query, truth))\n  sqlite: \(Self.describe(sqliteRows.map(\.id), query, truth))")
                }
                guard memoryCount == expected.total, sqliteCount == expected.total else {
                    throw QueryMismatch(description: "\(context): count oracle \(expected.total), memory \(memoryCount), sqlite \(sqliteCount)")
                }
                guard memoryRows == sqliteRows, memoryRows.allSatisfy({ truth[query.collection]?[$0.id] == $0.record.state }) else {
                    throw QueryMismatch(description: "\(context): the stores return different record states")
                }
                if expected.total > 0 { checked += 1 }
            }
            // The generator must produce queries that select something most of the time.
            #expect(checked > 150, "only \(checked) of 400 queries matched a record (seed \(rng.seed))")
        }
    }

    struct QueryMismatch: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Random records

    /// About 60 records over two collections, built by random sets, adds and deletes (some
    /// stamped in the past), written to every store after each step, in a few transactions.
    /// - Returns: The expected state of every record.
    static func writeRandomRecords(into stores: [any Store], using rng: inout SeededGenerator) throws -> [String: [RecordID: RecordState]] {
        var truth: [String: [RecordID: RecordState]] = [:]
        let ids = (0..<50).map { _ in RecordID.random(using: &rng) } + (0..<10).map { RecordID(high: 0, low: UInt64($0)) }
        var time: UInt64 = 1_000
        var sets: [(collection: String, id: RecordID, field: String, stamp: Stamp)] = []
        for _ in 0..<8 {
            var batch: [(String, RecordID, RecordState, UInt64?)] = []
            for _ in 0..<60 {
                var collection = rng.chance(0.85) ? collections[0] : collections[1]
                var id = ids.randomElement(using: &rng)!
                time += UInt64.random(in: 1...3, using: &rng)
                let action: RecordOperation.Action
                let at: Stamp
                if rng.chance(0.08), let earlier = sets.randomElement(using: &rng) {
                    // A second write under an exact earlier stamp (the register keeps the
                    // greater value: the value changes, the stamp does not).
                    (collection, id, at) = (earlier.collection, earlier.id, earlier.stamp)
                    action = .set(field: earlier.field, value: randomValue(using: &rng))
                } else {
                    // Mostly new writes; some stamped in the past (concurrent or late arrivals).
                    at = rng.chance(0.1)
                        ? stamp(time - UInt64.random(in: 0...200, using: &rng), UInt8.random(in: 1...3, using: &rng))
                        : stamp(time, UInt8.random(in: 1...3, using: &rng))
                    switch Int.random(in: 0..<20, using: &rng) {
                    case 0: action = .delete
                    case 1, 2: action = .add(field: "tags", value: randomValue(using: &rng))
                    default:
                        let field = fields.randomElement(using: &rng)!
                        action = .set(field: field, value: randomValue(using: &rng))
                        sets.append((collection, id, field, at))
                    }
                }
                var record = truth[collection]?[id] ?? RecordState()
                record.apply(RecordOperation(stamp: at, collection: collection, record: id, action: action))
                truth[collection, default: [:]][id] = record
                let sequence: UInt64? = [nil, StoredRecord.unsealed, 3][Int.random(in: 0..<3, using: &rng)]
                batch.append((collection, id, record, sequence))
            }
            for store in stores {
                try store.write { tx throws in
                    for (collection, id, record, sequence) in batch {
                        try put(record, id, in: collection, localSequence: sequence, into: tx)
                    }
                }
            }
        }
        return truth
    }

    /// Every record state is stored as written, in both stores.
    static func expectStored(_ truth: [String: [RecordID: RecordState]], in stores: any Store...) throws {
        for store in stores {
            try store.read { tx throws in
                #expect(try tx.collections() == truth.keys.sorted())
                for (collection, records) in truth {
                    for (id, state) in records {
                        #expect(try tx.record(id, in: collection)?.state == state)
                    }
                }
            }
        }
    }

    /// A value of any kind from a pool built so that equal values, equal numbers of
    /// different kinds, shared prefixes and the awkward doubles recur.
    static func randomValue(using rng: inout SeededGenerator) -> Value {
        switch Int.random(in: 0..<16, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2, 3: return .int(Int64.random(in: -4...4, using: &rng))
        case 4:
            let big: [Int64] = [.min, .max, 1 << 53, (1 << 53) + 1, -(1 << 53) - 1, 1 << 40, 1_000_000]
            return .int(big.randomElement(using: &rng)!)
        case 5, 6:
            let doubles: [Double] = [0, -0.0, 0.5, -0.5, 1, 1.5, -2.25, 3, -4, 2.000_000_1, 1e300, -1e-300]
            return .double(doubles.randomElement(using: &rng)!)
        case 7:
            let special: [Double] = [.infinity, -.infinity, .nan, 9_007_199_254_740_992, 9_223_372_036_854_775_808, -9_223_372_036_854_775_808]
            return .double(special.randomElement(using: &rng)!)
        case 8, 9, 10:
            let strings = ["", "a", "ab", "abc", "b", "B", "Z", "a b", "é", "e\u{301}", "日本", "日", "😀", "a\u{0}", "ß", " "]
            return .string(strings.randomElement(using: &rng)!)
        case 11, 12:
            let bytes: [[UInt8]] = [[], [0], [0, 0], [1], [0, 1], [1, 0], [255], [1, 2, 3], [0x10, 0, 0, 0]]
            return .bytes(bytes.randomElement(using: &rng)!)
        default:
            let collection = ["notes", "n", "", "notes2"].randomElement(using: &rng)!
            let id = RecordID(high: [0, 0x1000].randomElement(using: &rng)!, low: UInt64.random(in: 0...2, using: &rng))
            return .reference(RecordReference(collection: collection, id: id))
        }
    }

    // MARK: Random queries

    /// A random query; operands are often values the records hold, so that conditions
    /// meet ties and boundaries.
    static func randomQuery(over truth: [String: [RecordID: RecordState]], using rng: inout SeededGenerator) -> RecordQuery {
        let collection = [collections[0], collections[0], collections[0], collections[0], collections[1], "none"].randomElement(using: &rng)!
        var query = RecordQuery(collection)
        let queryFields = fields + ["tags", "missing"]
        for _ in 0..<[0, 1, 1, 1, 1, 2, 2, 3].randomElement(using: &rng)! {
            let field = rng.chance(0.9) ? fields.randomElement(using: &rng)! : queryFields.randomElement(using: &rng)!
            // Sorted by id: dictionary order changes from run to run, the seed must not.
            let held = (truth[collection] ?? [:]).sorted { $0.key < $1.key }.compactMap { $0.value.register(field)?.value }
            let operand = rng.chance(0.6) ? held.randomElement(using: &rng) ?? randomValue(using: &rng) : randomValue(using: &rng)
            let condition: RecordQuery.Condition
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: condition = .equals(operand)
            case 1: condition = .lessThan(operand)
            case 2: condition = .lessThanOrEqual(operand)
            case 3: condition = .greaterThan(operand)
            default: condition = .greaterThanOrEqual(operand)
            }
            query = query.where(field, condition)
        }
        if rng.chance(0.7) {
            let field = rng.chance(0.9) ? fields.randomElement(using: &rng)! : queryFields.randomElement(using: &rng)!
            query = query.order(by: field, descending: rng.chance(0.5))
        }
        if rng.chance(0.4) {
            query = query.limit(Int.random(in: 0...20, using: &rng), offset: rng.chance(0.5) ? Int.random(in: 0...30, using: &rng) : 0)
        } else if rng.chance(0.1) {
            query.offsetCount = Int.random(in: 1...10, using: &rng)
        }
        return query
    }

    static func describe(_ ids: [RecordID], _ query: RecordQuery, _ truth: [String: [RecordID: RecordState]]) -> String {
        let field = query.orderField ?? query.filters.first?.field ?? "a"
        return "[" + ids.map { id in "\(id.uuidString.prefix(8)):\(truth[query.collection]?[id]?.register(field).map { "\($0.value)" } ?? "-")" }.joined(separator: ", ") + "]"
    }
}

/// ``RecordQuery`` evaluated by brute force straight from its documented semantics
/// (`Specs/storage-schema.md`, "Queries"), sharing no code with the stores.
enum QueryOracle {
    /// The ids of the visible records of `query.collection` that match, in order, after
    /// offset and limit; and how many match in all.
    static func evaluate(_ query: RecordQuery, _ records: [String: [RecordID: RecordState]]) -> (ids: [RecordID], total: Int) {
        let candidates = (records[query.collection] ?? [:]).filter { $0.value.isVisible }
        let matching = candidates.filter { _, state in
            query.filters.allSatisfy { filter in
                guard let value = state.register(filter.field)?.value else { return false }
                return matches(value, filter.condition)
            }
        }
        let sorted = matching.sorted { l, r in
            if let field = query.orderField {
                let (a, b) = (l.value.register(field)?.value, r.value.register(field)?.value)
                switch (a, b) {
                case (nil, nil): break
                case (nil, _): return false
                case (_, nil): return true
                case let (a?, b?):
                    let order = orderCompare(a, b)
                    if order != 0 { return query.descending ? order > 0 : order < 0 }
                }
            }
            return l.key.bytes.lexicographicallyPrecedes(r.key.bytes)
        }.map(\.key)
        var page = Array(sorted.dropFirst(query.offsetCount))
        if let limit = query.limitCount { page = Array(page.prefix(limit)) }
        return (page, sorted.count)
    }

    /// A number exactly as written.
    enum Number {
        case integer(Int64)
        case real(Double)
    }

    /// The range class: `nil` for values no range condition matches (null, NaN).
    static func rangeClass(_ value: Value) -> String? {
        switch value {
        case .null: nil
        case .bool: "bool"
        case .int: "number"
        case .double(let d): d.isNaN ? nil : "number"
        case .string: "string"
        case .bytes: "bytes"
        case .reference: "reference"
        }
    }

    static func matches(_ value: Value, _ condition: RecordQuery.Condition) -> Bool {
        if case .equals(let operand) = condition {
            // Exact value and type; doubles as IEEE numbers (-0.0 == 0.0, NaN == nothing).
            if case .double(let a) = value, case .double(let b) = operand { return a == b }
            return value == operand
        }
        guard let lhs = rangeClass(value), lhs == rangeClass(condition.operand) else { return false }
        let order = orderCompare(value, condition.operand)
        switch condition {
        case .lessThan: return order < 0
        case .lessThanOrEqual: return order <= 0
        case .greaterThan: return order > 0
        case .greaterThanOrEqual: return order >= 0
        case .equals: return false
        }
    }

    /// Sort groups: null (and NaN) < bool and numbers < strings < bytes and references.
    static func group(_ value: Value) -> Int {
        switch value {
        case .null: 0
        case .double(let d) where d.isNaN: 0
        case .bool, .int, .double: 1
        case .string: 2
        case .bytes, .reference: 3
        }
    }

    static func number(_ value: Value) -> Number {
        switch value {
        case .bool(let b): .integer(b ? 1 : 0)
        case .int(let i): .integer(i)
        case .double(let d): .real(d)
        default: fatalError("not a number: \(value)")
        }
    }

    /// The bytes a blob-like value sorts by: a reference is its 16 id bytes, then its collection.
    static func blob(_ value: Value) -> [UInt8] {
        switch value {
        case .string(let s): Array(s.utf8)
        case .bytes(let b): b
        case .reference(let r): r.id.bytes + Array(r.collection.utf8)
        default: fatalError("not a blob: \(value)")
        }
    }

    static func orderCompare(_ a: Value, _ b: Value) -> Int {
        let (ga, gb) = (group(a), group(b))
        if ga != gb { return ga < gb ? -1 : 1 }
        switch ga {
        case 0: return 0
        case 1: return compare(number(a), number(b))
        default:
            let (x, y) = (blob(a), blob(b))
            return x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
        }
    }

    static func compare(_ a: Number, _ b: Number) -> Int {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x == y ? 0 : (x < y ? -1 : 1)
        case let (.real(x), .real(y)): return x == y ? 0 : (x < y ? -1 : 1)
        case let (.integer(x), .real(y)): return compare(x, y)
        case let (.real(x), .integer(y)): return -compare(y, x)
        }
    }

    /// An integer against a (non-NaN) double, exactly: through the double's integer part.
    static func compare(_ i: Int64, _ d: Double) -> Int {
        if d >= 0x1p63 { return -1 }
        if d < -0x1p63 { return 1 }
        let whole = d.rounded(.down)  // now in [-2^63, 2^63): exact as an Int64
        let w = Int64(whole)
        if i != w { return i < w ? -1 : 1 }
        return d > whole ? -1 : 0
    }
}
