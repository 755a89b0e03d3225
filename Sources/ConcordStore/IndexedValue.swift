import ConcordCore

/// How a ``Value`` is held in the query index, and the comparison rules both stores
/// share (they must agree with SQLite's: `NULL` < numbers < text < blobs, integers and
/// reals compared exactly, text and blobs by bytes).
///
/// A NaN double is held as SQLite holds it, as `NULL` (SQLite cannot store NaN): it is in
/// no range class, so no condition matches it, and it sorts with `null`.
package struct IndexedValue: Sendable {
    /// The value's kind (`Value` rank): 0 null, 1 bool, 2 int, 3 double, 4 string, 5 bytes, 6 reference.
    package let type: Int
    /// Comparison class for range conditions: 0 none (null, NaN), 1 bool, 2 number, 3 string,
    /// 4 bytes, 5 reference.
    package let rangeClass: Int
    /// SQLite storage class used for ordering: 0 NULL (null, NaN), 1 numeric, 2 text, 3 blob.
    package let storageClass: Int
    package let number: Double
    package let integer: Int64?
    package let blob: [UInt8]

    package init(_ value: Value) {
        switch value {
        case .null:
            (type, rangeClass, storageClass, number, integer, blob) = (0, 0, 0, 0, nil, [])
        case .bool(let b):
            (type, rangeClass, storageClass, number, integer, blob) = (1, 1, 1, b ? 1 : 0, b ? 1 : 0, [])
        case .int(let i):
            (type, rangeClass, storageClass, number, integer, blob) = (2, 2, 1, Double(i), i, [])
        case .double(let d) where d.isNaN:
            (type, rangeClass, storageClass, number, integer, blob) = (3, 0, 0, d, nil, [])
        case .double(let d):
            (type, rangeClass, storageClass, number, integer, blob) = (3, 2, 1, d, nil, [])
        case .string(let s):
            (type, rangeClass, storageClass, number, integer, blob) = (4, 3, 2, 0, nil, Array(s.utf8))
        case .bytes(let b):
            (type, rangeClass, storageClass, number, integer, blob) = (5, 4, 3, 0, nil, b)
        case .reference(let r):
            (type, rangeClass, storageClass, number, integer, blob) = (6, 5, 3, 0, nil, Self.referenceBlob(r))
        }
    }

    /// A reference as an index blob: the 16 id bytes, then the collection's UTF-8 bytes.
    package static func referenceBlob(_ reference: RecordReference) -> [UInt8] {
        reference.id.bytes + Array(reference.collection.utf8)
    }

    /// Orders two indexed values as SQLite orders the column (within and across classes).
    package static func compare(_ a: IndexedValue, _ b: IndexedValue) -> Int {
        if a.storageClass != b.storageClass { return a.storageClass < b.storageClass ? -1 : 1 }
        switch a.storageClass {
        case 0: return 0
        case 1:
            switch (a.integer, b.integer) {
            case let (x?, y?): return x == y ? 0 : (x < y ? -1 : 1)
            case let (x?, nil): return compare(x, b.number)
            case let (nil, y?): return -compare(y, a.number)
            case (nil, nil): return a.number == b.number ? 0 : (a.number < b.number ? -1 : 1)
            }
        default:
            return a.blob.lexicographicallyPrecedes(b.blob) ? -1 : (a.blob == b.blob ? 0 : 1)
        }
    }

    /// An integer against a double that is not NaN, exactly (as SQLite compares them): a
    /// `Double` cannot hold every `Int64`, so compare with the double's integer part first.
    static func compare(_ i: Int64, _ d: Double) -> Int {
        if d >= 0x1p63 { return -1 }
        if d < -0x1p63 { return 1 }
        let whole = d.rounded(.towardZero)
        let w = Int64(whole)
        if i != w { return i < w ? -1 : 1 }
        return d == whole ? 0 : (d > whole ? -1 : 1)
    }

    /// Whether a field holding `value` meets `condition` (see ``RecordQuery``).
    package static func matches(_ value: Value, _ condition: RecordQuery.Condition) -> Bool {
        if case .equals(let operand) = condition {
            // Doubles as IEEE numbers: -0.0 == 0.0, NaN equals nothing (as in SQLite).
            if case .double(let x) = value, case .double(let y) = operand { return x == y }
            return value == operand
        }
        let (a, b) = (IndexedValue(value), IndexedValue(condition.operand))
        guard a.rangeClass == b.rangeClass, a.rangeClass != 0 else { return false }
        let order = compare(a, b)
        switch condition {
        case .lessThan: return order < 0
        case .lessThanOrEqual: return order <= 0
        case .greaterThan: return order > 0
        case .greaterThanOrEqual: return order >= 0
        case .equals: return false
        }
    }
}

extension RecordQuery {
    /// Evaluates the query over records in memory, with exactly the semantics the SQL of
    /// ``SQLiteStore`` has (the conformance suite checks both agree).
    package func evaluate(_ candidates: some Sequence<StoredRecordRow>) -> (rows: [StoredRecordRow], total: Int) {
        let matching = candidates.filter { row in
            guard row.record.state.isVisible else { return false }
            return filters.allSatisfy { filter in
                guard let register = row.record.state.register(filter.field) else { return false }
                return IndexedValue.matches(register.value, filter.condition)
            } && meetsMemberFilters(row)
        }
        var sorted: [StoredRecordRow]
        if let orderField {
            let keyed = matching.map { ($0, $0.record.state.register(orderField).map { IndexedValue($0.value) }) }
            sorted = keyed.sorted { l, r in
                switch (l.1, r.1) {
                case (nil, nil): return l.0.id < r.0.id
                case (nil, _): return false
                case (_, nil): return true
                case let (a?, b?):
                    let order = IndexedValue.compare(a, b)
                    if order != 0 { return descending ? order > 0 : order < 0 }
                    return l.0.id < r.0.id
                }
            }.map(\.0)
        } else {
            sorted = matching.sorted { $0.id < $1.id }
        }
        let total = sorted.count
        sorted = Array(sorted.dropFirst(offsetCount))
        if let limitCount { sorted = Array(sorted.prefix(limitCount)) }
        return (sorted, total)
    }
}
