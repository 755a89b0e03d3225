import ConcordCore
import ConcordTesting
import Testing

@testable import ConcordStore

/// ``RecordQuery`` semantics (`Specs/storage-schema.md`, "Queries") on both stores: worked
/// examples, then a seeded property test against an independent brute-force evaluation.
@Suite("Query conformance")
struct QueryConformanceTests {
    /// Writes one record per value, field `v`, ids 1, 2, 3, ... in order.
    func store(_ kind: StoreKind, values: [Value], collection: String = "c") throws -> StoreFixture {
        let fixture = try kind.make()
        try fixture.store.write { tx throws in
            for (i, value) in values.enumerated() {
                try put(state([.set(field: "v", value: value)]), rid(UInt64(i + 1)), in: collection, into: tx)
            }
        }
        return fixture
    }

    /// The 1-based indexes (into the values written) of the records `query` returns.
    func matches(_ fixture: StoreFixture, _ condition: RecordQuery.Condition) throws -> [UInt64] {
        try ids(RecordQuery("c").where("v", condition), in: fixture.store).map(\.n)
    }

    func ordered(_ fixture: StoreFixture, descending: Bool = false) throws -> [UInt64] {
        try ids(RecordQuery("c").order(by: "v", descending: descending), in: fixture.store).map(\.n)
    }

    @Test(arguments: StoreKind.allCases)
    func equalsIsExactTypeIncluded(kind: StoreKind) throws {
        let ref = RecordReference(collection: "people", id: rid(7))
        let f = try store(kind, values: [
            .int(1), .double(1), .bool(true), .string("1"), .bytes([1]), .null, .string(""), .bytes([]),
            .reference(ref), .string("é"), .string("e\u{301}"), .reference(RecordReference(collection: "peoplf", id: rid(7))),
        ])
        #expect(try matches(f, .equals(.int(1))) == [1])
        #expect(try matches(f, .equals(.double(1))) == [2])
        #expect(try matches(f, .equals(.bool(true))) == [3])
        #expect(try matches(f, .equals(.string("1"))) == [4])
        #expect(try matches(f, .equals(.bytes([1]))) == [5])
        #expect(try matches(f, .equals(.null)) == [6])
        #expect(try matches(f, .equals(.string(""))) == [7])
        #expect(try matches(f, .equals(.bytes([]))) == [8])
        #expect(try matches(f, .equals(.reference(ref))) == [9])
        // Strings by bytes: no Unicode normalization.
        #expect(try matches(f, .equals(.string("é"))) == [10])
        #expect(try matches(f, .equals(.string("e\u{301}"))) == [11])
        #expect(try matches(f, .equals(.bool(false))) == [])
        #expect(try matches(f, .equals(.int(2))) == [])
        // A record without the field never matches, not even `== null`.
        #expect(try ids(RecordQuery("c").where("missing", .equals(.null)), in: f.store) == [])
    }

    @Test(arguments: StoreKind.allCases)
    func rangesCompareWithinOneClass(kind: StoreKind) throws {
        let f = try store(kind, values: [
            .int(-3), .double(-2.5), .int(0), .double(0.5), .int(2), .double(2),  // 1...6: numbers
            .bool(false), .bool(true),  // 7, 8
            .string("Z"), .string("a"), .string("ab"), .string("é"),  // 9...12: strings by UTF-8 bytes
            .bytes([]), .bytes([0]), .bytes([1, 0]),  // 13...15
            .null,  // 16
            .reference(RecordReference(collection: "x", id: rid(1))),  // 17
        ])
        #expect(try matches(f, .lessThan(.int(0))) == [1, 2])
        #expect(try matches(f, .lessThanOrEqual(.int(0))) == [1, 2, 3])
        #expect(try matches(f, .greaterThan(.double(0.25))) == [4, 5, 6])
        #expect(try matches(f, .greaterThanOrEqual(.double(2))) == [5, 6], "ints and doubles compare by value")
        #expect(try matches(f, .lessThan(.double(-2.75))) == [1])
        #expect(try matches(f, .greaterThan(.bool(false))) == [8])
        #expect(try matches(f, .lessThanOrEqual(.bool(true))) == [7, 8], "bools are their own class")
        #expect(try matches(f, .greaterThan(.string("Z"))) == [10, 11, 12])
        #expect(try matches(f, .lessThan(.string("b"))) == [9, 10, 11])
        #expect(try matches(f, .greaterThanOrEqual(.string("a"))) == [10, 11, 12])
        #expect(try matches(f, .greaterThan(.string(""))) == [9, 10, 11, 12])
        #expect(try matches(f, .greaterThanOrEqual(.bytes([]))) == [13, 14, 15])
        #expect(try matches(f, .lessThan(.bytes([1]))) == [13, 14])
        #expect(try matches(f, .greaterThan(.reference(RecordReference(collection: "", id: rid(0))))) == [17])
        // `null` is not ordered against anything: no range matches it or uses it.
        #expect(try matches(f, .lessThanOrEqual(.null)) == [])
        #expect(try matches(f, .greaterThanOrEqual(.null)) == [])
        // Two conditions on one field: a range.
        let between = RecordQuery("c").where("v", .greaterThan(.int(-3))).where("v", .lessThan(.double(2)))
        #expect(try ids(between, in: f.store).map(\.n) == [2, 3, 4])
    }

    @Test(arguments: StoreKind.allCases)
    func orderIsNullThenNumbersThenStringsThenBlobsThenMissing(kind: StoreKind) throws {
        let f = try store(kind, values: [
            .string("b"), .bytes([0]), .int(2), .null, .bool(true), .double(1.5), .string("a"),
            .reference(RecordReference(collection: "x", id: RecordID(high: 0, low: 0))), .int(1), .bool(false), .double(-1),
            .int(1),  // 12: ties with 9 and with `true`
        ])
        try f.store.write { tx throws in
            try put(state([.set(field: "other", value: 1)]), rid(13), in: "c", into: tx)
            try put(state([.set(field: "other", value: 1)]), rid(14), in: "c", into: tx)
        }
        // null; -1; false (0); true (1), 1, 1 by id; 1.5; 2; "a"; "b"; [0] < the reference
        // (16 zero bytes, then "x"); missing, by id.
        #expect(try ordered(f) == [4, 11, 10, 5, 9, 12, 6, 3, 7, 1, 2, 8, 13, 14])
        // Descending reverses the values, not the tie-break by id, and missing stays last.
        #expect(try ordered(f, descending: true) == [8, 2, 1, 7, 3, 6, 5, 9, 12, 10, 11, 4, 13, 14])
        // Without an order: by id.
        #expect(try ids(RecordQuery("c"), in: f.store).map(\.n) == Array(1...14))
    }

    @Test(arguments: StoreKind.allCases)
    func limitOffsetAndCount(kind: StoreKind) throws {
        let f = try store(kind, values: (0..<10).map { .int(Int64(9 - $0)) })
        let query = RecordQuery("c").where("v", .greaterThanOrEqual(.int(2))).order(by: "v")
        #expect(try ids(query, in: f.store).map(\.n) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(try ids(query.limit(3), in: f.store).map(\.n) == [8, 7, 6])
        #expect(try ids(query.limit(3, offset: 6), in: f.store).map(\.n) == [2, 1])
        #expect(try ids(query.limit(3, offset: 8), in: f.store).map(\.n) == [])
        #expect(try ids(query.limit(0), in: f.store).map(\.n) == [])
        var offsetOnly = query
        offsetOnly.offsetCount = 5
        #expect(try ids(offsetOnly, in: f.store).map(\.n) == [3, 2, 1])
        try f.store.read { tx throws in
            #expect(try tx.count(matching: query) == 8)
            #expect(try tx.count(matching: query.limit(3, offset: 6)) == 8, "count ignores limit and offset")
            #expect(try tx.count(matching: RecordQuery("c")) == 10)
            #expect(try tx.count(matching: RecordQuery("elsewhere")) == 0)
        }
    }

    /// Queries see only their collection, also when ids and field names are shared.
    @Test(arguments: StoreKind.allCases)
    func queriesStayInTheirCollection(kind: StoreKind) throws {
        let f = try store(kind, values: [.int(1), .int(2)])
        try f.store.write { tx throws in
            try put(state([.set(field: "v", value: 1)]), rid(1), in: "d", into: tx)
            try put(state([.set(field: "v", value: 1)]), rid(3), in: "c2", into: tx)
        }
        #expect(try matches(f, .equals(.int(1))) == [1])
        #expect(try ids(RecordQuery("d").where("v", .greaterThan(0)), in: f.store) == [rid(1)])
        #expect(try ids(RecordQuery("c2"), in: f.store) == [rid(3)])
    }

    /// Names and strings are byte strings: a NUL inside one is part of it.
    @Test(arguments: StoreKind.allCases)
    func namesAndStringsWithNULAreKeptWhole(kind: StoreKind) throws {
        let f = try store(kind, values: [.string("a"), .string("a\u{0}b"), .string("a\u{0}")])
        #expect(try matches(f, .equals(.string("a\u{0}b"))) == [2])
        #expect(try matches(f, .equals(.string("a"))) == [1])
        #expect(try matches(f, .greaterThan(.string("a"))) == [2, 3])
        #expect(try ordered(f) == [1, 3, 2])
        try f.store.write { tx throws in
            try put(state([.set(field: "f", value: 1)]), rid(1), in: "c\u{0}x", into: tx)
            try put(state([.set(field: "f\u{0}x", value: 2)]), rid(9), in: "c", into: tx)
            try tx.setMetadata([1], for: "k\u{0}x")
            // Canonically equivalent names are still different names.
            try put(state([.set(field: "é", value: 3)]), rid(1), in: "é", into: tx)
            try put(state([.set(field: "e\u{301}", value: 4)]), rid(1), in: "e\u{301}", into: tx)
            try tx.setMetadata([3], for: "é")
            try tx.setMetadata([4], for: "e\u{301}")
        }
        try f.store.read { tx throws in
            #expect(try tx.collections() == ["c", "c\u{0}x", "e\u{301}", "é"])
            #expect(try tx.record(rid(1), in: "é")?.state.register("é")?.value == .int(3))
            #expect(try tx.record(rid(1), in: "e\u{301}")?.state.register("e\u{301}")?.value == .int(4))
            #expect(try tx.records(matching: RecordQuery("é").where("é", .greaterThan(0))).map(\.id) == [rid(1)])
            #expect(try tx.records(matching: RecordQuery("é").where("e\u{301}", .greaterThan(0))).map(\.id) == [])
            #expect(try tx.metadata("é") == [3])
            #expect(try tx.metadata("e\u{301}") == [4])
            #expect(try tx.record(rid(1), in: "c")?.state.register("v")?.value == .string("a"))
            #expect(try tx.record(rid(1), in: "c\u{0}x")?.state.register("f")?.value == .int(1))
            #expect(try tx.records(matching: RecordQuery("c").where("f", .equals(2))).map(\.id) == [])
            #expect(try tx.records(matching: RecordQuery("c").where("f\u{0}x", .equals(2))).map(\.id) == [rid(9)])
            #expect(try tx.metadata("k") == nil)
            #expect(try tx.metadata("k\u{0}x") == [1])
        }
    }

    /// Numbers compare exactly, also where a `Double` cannot hold an `Int64`.
    @Test(arguments: StoreKind.allCases)
    func bigIntegersCompareExactlyWithDoubles(kind: StoreKind) throws {
        let twoTo53 = Int64(1) << 53
        let f = try store(kind, values: [
            .int(twoTo53 + 1), .double(9_007_199_254_740_992), .int(Int64.max), .double(9_223_372_036_854_775_808), .int(Int64.min),
            .double(-9_223_372_036_854_775_808), .double(-.infinity),
        ])
        #expect(try matches(f, .greaterThan(.double(9_007_199_254_740_992))) == [1, 3, 4])
        #expect(try matches(f, .lessThan(.double(9_223_372_036_854_775_808))) == [1, 2, 3, 5, 6, 7])
        #expect(try matches(f, .greaterThanOrEqual(.int(Int64.min))) == [1, 2, 3, 4, 5, 6])
        #expect(try matches(f, .lessThanOrEqual(.int(Int64.min))) == [5, 6, 7])
        #expect(try ordered(f) == [7, 5, 6, 2, 1, 3, 4])
    }

    /// Decision (`Specs/storage-schema.md`, "Queries"): conditions compare doubles as IEEE
    /// numbers, so `-0.0` equals `0.0`, and NaN, which is not ordered, matches no condition
    /// (SQLite stores it as NULL). In an order, NaN sorts with `null`.
    @Test(arguments: StoreKind.allCases)
    func nanAndNegativeZero(kind: StoreKind) throws {
        let f = try store(kind, values: [.double(.nan), .double(-0.0), .double(0.0), .int(0), .null, .double(-1), .double(-.nan)])
        #expect(try matches(f, .equals(.double(.nan))) == [])
        #expect(try matches(f, .equals(.double(-.nan))) == [])
        #expect(try matches(f, .equals(.double(0))) == [2, 3])
        #expect(try matches(f, .equals(.double(-0.0))) == [2, 3])
        #expect(try matches(f, .equals(.int(0))) == [4])
        #expect(try matches(f, .lessThan(.double(.nan))) == [])
        #expect(try matches(f, .greaterThanOrEqual(.double(.nan))) == [])
        #expect(try matches(f, .greaterThan(.double(-.infinity))) == [2, 3, 4, 6])
        #expect(try matches(f, .lessThanOrEqual(.double(.infinity))) == [2, 3, 4, 6])
        #expect(try matches(f, .greaterThanOrEqual(.int(0))) == [2, 3, 4])
        // NaN ties with null (by id), below every number; -0.0, 0.0 and 0 tie.
        #expect(try ordered(f) == [1, 5, 7, 6, 2, 3, 4])
        #expect(try ordered(f, descending: true) == [2, 3, 4, 6, 1, 5, 7])
        // The record keeps its exact value.
        let stored = try f.store.read { try $0.record(rid(1), in: "c") }
        guard case .double(let d)? = stored?.state.register("v")?.value else {
            Issue.record("NaN not stored as a double")
            return
        }
        #expect(d.isNaN && d.bitPattern == Double.nan.bitPattern)
    }
}
