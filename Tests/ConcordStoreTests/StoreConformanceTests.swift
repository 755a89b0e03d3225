import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// The behaviour every ``Store`` must have, checked on ``MemoryStore`` and ``SQLiteStore``
/// alike: metadata, records and their field index, pending operations. The bundle log:
/// `BundleLogConformanceTests`; transactions: `TransactionConformanceTests`; queries:
/// `QueryConformanceTests` and `QueryPropertyTests`; SQLite only: `SQLiteStoreTests`.
@Suite("Store conformance")
struct StoreConformanceTests {
    // MARK: Metadata

    @Test(arguments: StoreKind.allCases)
    func metadataIsSetReadReplacedAndRemoved(kind: StoreKind) throws {
        let store = try kind.make().store
        #expect(try store.read { try $0.metadata("clock.last") } == nil)

        try store.write { tx throws in
            try tx.setMetadata([0, 0, 1, 2, 3, 4, 5, 6], for: "clock.last")
            try tx.setMetadata([], for: "empty")
            try tx.setMetadata(Array("ü".utf8), for: "späce.id")
        }
        try store.read { tx throws in
            #expect(try tx.metadata("clock.last") == [0, 0, 1, 2, 3, 4, 5, 6])
            #expect(try tx.metadata("empty") == [], "an empty value is a value, not a missing key")
            #expect(try tx.metadata("späce.id") == Array("ü".utf8))
            #expect(try tx.metadata("clock") == nil)
        }

        try store.write { tx throws in
            try tx.setMetadata([9], for: "clock.last")
            try tx.setMetadata(nil, for: "empty")
            try tx.setMetadata(nil, for: "never.set")
        }
        try store.read { tx throws in
            #expect(try tx.metadata("clock.last") == [9])
            #expect(try tx.metadata("empty") == nil)
            #expect(try tx.metadata("never.set") == nil)
        }
    }

    // MARK: Permission denials

    @Test(arguments: StoreKind.allCases)
    func permissionDenialsAreReplacedPerBundleAndListedInOrder(kind: StoreKind) throws {
        let store = try kind.make().store
        let a = try Digest32(bytes: [UInt8](repeating: 1, count: 32))
        let b = try Digest32(bytes: [UInt8](repeating: 2, count: 32))
        let early = try PublicKey(bytes: [UInt8](repeating: 3, count: 32))
        let late = try PublicKey(bytes: [UInt8](repeating: 4, count: 32))
        func row(_ bundle: Digest32, _ author: PublicKey, _ sequence: UInt64, _ index: Int) -> StoredDenial {
            StoredDenial(bundleID: bundle, section: 0, index: index, author: author, sequence: sequence, detail: [UInt8(index), 7])
        }
        try store.write { tx throws in
            try tx.replacePermissionDenials(ofBundle: a, with: [row(a, late, 2, 1), row(a, late, 2, 0)])
            try tx.replacePermissionDenials(ofBundle: b, with: [row(b, early, 5, 3)])
        }
        try store.read { tx throws in
            #expect(try tx.permissionDenials(ofBundle: nil) == [row(b, early, 5, 3), row(a, late, 2, 0), row(a, late, 2, 1)])
            #expect(try tx.permissionDenials(ofBundle: a) == [row(a, late, 2, 0), row(a, late, 2, 1)])
        }
        try store.write { tx throws in
            try tx.replacePermissionDenials(ofBundle: a, with: [row(a, late, 2, 2)])
            try tx.replacePermissionDenials(ofBundle: b, with: [])
        }
        #expect(try store.read { try $0.permissionDenials(ofBundle: nil) } == [row(a, late, 2, 2)])
    }

    // MARK: Records

    @Test(arguments: StoreKind.allCases)
    func recordsRoundTripWithTheirLocalSequence(kind: StoreKind) throws {
        let store = try kind.make().store
        let full = state([
            .set(field: "title", value: "Buy milk"), .set(field: "rank", value: .double(-1.5)),
            .add(field: "tags", value: "home"), .add(field: "tags", value: .int(3)),
            .set(field: "link", value: .reference(RecordReference(collection: "people", id: rid(9)))),
        ])
        let deleted = state([.set(field: "title", value: "gone"), .delete])
        try store.write { tx throws in
            try put(full, rid(1), in: "todos", into: tx)
            try put(full, rid(2), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(full, rid(3), in: "todos", localSequence: 42, into: tx)
            try put(deleted, rid(4), in: "todos", localSequence: UInt64(Int64.max), into: tx)
            try put(full, rid(1), in: "notes", localSequence: 1, into: tx)
        }
        try store.read { tx throws in
            #expect(try tx.record(rid(1), in: "todos") == StoredRecord(state: full, localSequence: nil))
            #expect(try tx.record(rid(2), in: "todos") == StoredRecord(state: full, localSequence: 0))
            #expect(try tx.record(rid(3), in: "todos") == StoredRecord(state: full, localSequence: 42))
            #expect(try tx.record(rid(4), in: "todos") == StoredRecord(state: deleted, localSequence: UInt64(Int64.max)))
            #expect(try tx.record(rid(1), in: "notes") == StoredRecord(state: full, localSequence: 1))
            #expect(try tx.record(rid(5), in: "todos") == nil)
            #expect(try tx.record(rid(2), in: "notes") == nil)
            #expect(try tx.record(rid(1), in: "other") == nil)
            // A deleted record is stored (its tombstone matters) but is not visible.
            #expect(try tx.records(matching: RecordQuery("todos")).map(\.id) == [rid(1), rid(2), rid(3)])
            #expect(try tx.count(matching: RecordQuery("todos")) == 3)
            #expect(try tx.records(matching: RecordQuery("todos")).map(\.record.localSequence) == [nil, 0, 42])
        }
    }

    /// A rewrite that keeps the local sequence (as every remote change does) changes the
    /// state and keeps the sequence, and an unsealed record stays found by
    /// `markPendingSealed`; a rewrite that changes the sequence stores the new one.
    @Test(arguments: StoreKind.allCases)
    func rewritingARecordKeepsOrChangesItsLocalSequence(kind: StoreKind) throws {
        let store = try kind.make().store
        let first = state([.set(field: "title", value: "a")])
        let second = first.applying(.set(field: "title", value: "b"), at: stamp(50))
        try store.write { tx throws in
            try put(first, rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(first, rid(2), in: "todos", localSequence: 42, into: tx)
            try put(first, rid(3), in: "todos", into: tx)
            try put(first, rid(4), in: "todos", localSequence: 7, into: tx)
        }
        try store.write { tx throws in
            try put(second, rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(second, rid(2), in: "todos", localSequence: 42, into: tx)
            try put(second, rid(3), in: "todos", into: tx)
            try put(second, rid(4), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
        }
        try store.read { tx throws in
            #expect(try tx.record(rid(1), in: "todos") == StoredRecord(state: second, localSequence: 0))
            #expect(try tx.record(rid(2), in: "todos") == StoredRecord(state: second, localSequence: 42))
            #expect(try tx.record(rid(3), in: "todos") == StoredRecord(state: second, localSequence: nil))
            #expect(try tx.record(rid(4), in: "todos") == StoredRecord(state: second, localSequence: 0))
            #expect(try tx.records(matching: RecordQuery("todos").where("title", .equals("b"))).count == 4)
        }
        try store.write { try $0.markPendingSealed(sequence: 9) }
        try store.read { tx throws in
            #expect(try tx.records(matching: RecordQuery("todos")).map(\.record.localSequence) == [9, 42, nil, 9])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func collectionsListsEveryCollectionWithARecordSortedByBytes(kind: StoreKind) throws {
        let store = try kind.make().store
        #expect(try store.read { try $0.collections() } == [])
        try store.write { tx throws in
            for name in ["zebra", "é", "Zoo", "apple", "apple pie"] {
                try put(state([.set(field: "a", value: 1)]), rid(1), in: name, into: tx)
            }
            // Only deleted records: still a collection of the store.
            try put(state([.set(field: "a", value: 1), .delete]), rid(2), in: "trash", into: tx)
            try put(state([.set(field: "a", value: 2)]), rid(2), in: "apple", into: tx)
        }
        #expect(try store.read { try $0.collections() } == ["Zoo", "apple", "apple pie", "trash", "zebra", "é"])
    }

    @Test(arguments: StoreKind.allCases)
    func updatesKeepTheFieldIndexInStep(kind: StoreKind) throws {
        let store = try kind.make().store
        let id = rid(1)
        var current = state([.set(field: "title", value: "a"), .set(field: "rank", value: 1), .add(field: "tags", value: "x")])
        try put(current, id, in: "todos", into: store)
        try put(state([.set(field: "title", value: "b"), .set(field: "rank", value: 2)]), rid(2), in: "todos", into: store)
        #expect(try ids(RecordQuery("todos").where("title", .equals("a")), in: store) == [id])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(1)), in: store) == [id])
        // Set fields are not indexed.
        #expect(try ids(RecordQuery("todos").where("tags", .equals("x")), in: store) == [])

        // A newer write replaces the indexed value.
        current = current.applying(.set(field: "title", value: "c"), at: stamp(10))
        try put(current, id, in: "todos", into: store)
        #expect(try ids(RecordQuery("todos").where("title", .equals("a")), in: store) == [])
        #expect(try ids(RecordQuery("todos").where("title", .equals("c")), in: store) == [id])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(1)), in: store) == [id], "an unchanged field stays indexed")
        #expect(try ids(RecordQuery("todos").order(by: "title"), in: store) == [rid(2), id])

        // A new field is indexed.
        current = current.applying(.set(field: "due", value: .double(3.5)), at: stamp(11))
        try put(current, id, in: "todos", into: store)
        #expect(try ids(RecordQuery("todos").where("due", .greaterThan(3)), in: store) == [id])

        // A delete removes every field: the record neither matches nor is visible.
        current = current.applying(.delete, at: stamp(12))
        try put(current, id, in: "todos", into: store)
        #expect(try ids(RecordQuery("todos"), in: store) == [rid(2)])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(1)), in: store) == [])
        #expect(try store.read { try $0.count(matching: RecordQuery("todos").where("title", .equals("c"))) } == 0)

        // Re-inserted after the delete: only the fields written since are there.
        current = current.applying(.set(field: "rank", value: 7), at: stamp(13))
        try put(current, id, in: "todos", into: store)
        #expect(try ids(RecordQuery("todos"), in: store) == [id, rid(2)])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(7)), in: store) == [id])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(1)), in: store) == [])
        #expect(try ids(RecordQuery("todos").where("title", .equals("c")), in: store) == [])
        #expect(try ids(RecordQuery("todos").where("due", .greaterThan(3)), in: store) == [])
        // Without its title it sorts after every record that has one.
        #expect(try ids(RecordQuery("todos").order(by: "title"), in: store) == [rid(2), id])
        #expect(try ids(RecordQuery("todos").order(by: "title", descending: true), in: store) == [rid(2), id])

        // A write older than the delete is dropped by the CRDT: nothing changes.
        let stale = current.applying(.set(field: "title", value: "old"), at: stamp(5))
        #expect(stale == current)
        try put(stale, id, in: "todos", into: store)
        #expect(try ids(RecordQuery("todos").where("title", .equals("old")), in: store) == [])
    }

    /// Two writes with the same stamp: the register keeps the greater value (see
    /// `LWWRegister`), so the value changes while the stamp does not.
    @Test(arguments: StoreKind.allCases)
    func aValueChangeUnderTheSameStampIsIndexed(kind: StoreKind) throws {
        let store = try kind.make().store
        let first = state([.set(field: "rank", value: 1)])
        try put(first, rid(1), in: "todos", into: store)
        let second = first.applying(.set(field: "rank", value: 2), at: stamp(1))
        #expect(second.register("rank")?.value == .int(2))
        #expect(second.register("rank")?.stamp == first.register("rank")?.stamp)
        try put(second, rid(1), in: "todos", into: store)
        #expect(try ids(RecordQuery("todos").where("rank", .equals(2)), in: store) == [rid(1)])
        #expect(try ids(RecordQuery("todos").where("rank", .equals(1)), in: store) == [])
    }

    /// A newer write of the same value moves only the stamp (which the field index does not
    /// hold): the stored state has the new stamp and the field still matches. Empty strings
    /// and bytes, NUL bytes and every value kind survive being indexed and read back.
    @Test(arguments: StoreKind.allCases)
    func aNewerWriteOfTheSameValueKeepsItsIndexRow(kind: StoreKind) throws {
        let store = try kind.make().store
        let values: [(String, Value)] = [
            ("empty", .string("")), ("nul", .string("a\0b")), ("bytes", .bytes([])), ("blob", .bytes([0, 1])),
            ("null", .null), ("flag", .bool(true)), ("n", .int(-7)), ("x", .double(2.5)),
            ("ref", .reference(RecordReference(collection: "people", id: rid(9)))),
        ]
        let first = state(values.map { .set(field: $0.0, value: $0.1) })
        try put(first, rid(1), in: "todos", into: store)
        var second = first
        for (i, (field, value)) in values.enumerated() {
            second = second.applying(.set(field: field, value: value), at: stamp(100 + UInt64(i)))
        }
        #expect(second != first)
        try put(second, rid(1), in: "todos", into: store)
        #expect(try store.read { try $0.record(rid(1), in: "todos") }?.state == second)
        for (field, value) in values where value != .null {
            #expect(try ids(RecordQuery("todos").where(field, .equals(value)), in: store) == [rid(1)], "\(field)")
        }
        #expect(try ids(RecordQuery("todos").where("null", .equals(.null)), in: store) == [rid(1)])
        #expect(try ids(RecordQuery("todos").where("empty", .equals(.null)), in: store) == [], "an empty string is not NULL")
        #expect(try ids(RecordQuery("todos").where("bytes", .equals(.null)), in: store) == [], "empty bytes are not NULL")
    }

    // MARK: Pending operations

    @Test(arguments: StoreKind.allCases)
    func pendingOperationsQueueInOrder(kind: StoreKind) throws {
        let store = try kind.make().store
        #expect(try store.read { try $0.pendingOperations() } == [])
        #expect(try store.read { try $0.pendingOperationCount() } == 0)
        let ops = sampleOperations()
        try store.write { tx throws in
            try tx.appendPendingOperations(Array(ops.prefix(2)))
            try tx.appendPendingOperations([])
        }
        try store.write { tx throws in
            try tx.appendPendingOperations(Array(ops.dropFirst(2)))
            #expect(try tx.pendingOperationCount() == ops.count, "a transaction reads its own writes")
        }
        try store.read { tx throws in
            #expect(try tx.pendingOperations() == ops)
            #expect(try tx.pendingOperationCount() == ops.count)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func markPendingSealedSealsOnlyUnsealedRecords(kind: StoreKind) throws {
        let store = try kind.make().store
        let s = state([.set(field: "title", value: "x")])
        try store.write { tx throws in
            try put(s, rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(s, rid(2), in: "notes", localSequence: StoredRecord.unsealed, into: tx)
            try put(s, rid(3), in: "todos", localSequence: nil, into: tx)
            try put(s, rid(4), in: "todos", localSequence: 3, into: tx)
            // Unsealed, then sealed directly by a later write: stays 5.
            try put(s, rid(5), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(s, rid(5), in: "todos", localSequence: 5, into: tx)
            // Unsealed, then overwritten by a remote change (not written here any more).
            try put(s, rid(6), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try put(s, rid(6), in: "todos", localSequence: nil, into: tx)
            // A deleted record written locally is sealed too.
            try put(state([.set(field: "a", value: 1), .delete]), rid(7), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try tx.appendPendingOperations(sampleOperations())
        }
        try store.write { try $0.markPendingSealed(sequence: 7) }
        func sequences() throws -> [UInt64?] {
            try store.read { tx throws in
                try [(1, "todos"), (2, "notes"), (3, "todos"), (4, "todos"), (5, "todos"), (6, "todos"), (7, "todos")]
                    .map { try tx.record(rid($0.0), in: $0.1)?.localSequence }
            }
        }
        #expect(try sequences() == [7, 7, nil, 3, 5, nil, 7])
        #expect(try store.read { try $0.pendingOperations() } == [])
        #expect(try store.read { try $0.pendingOperationCount() } == 0)
        // The records themselves are unchanged.
        #expect(try store.read { try $0.record(rid(1), in: "todos")?.state } == s)

        try store.write { tx throws in
            try put(
                s.applying(.set(field: "title", value: "y"), at: stamp(9)), rid(1), in: "todos", localSequence: StoredRecord.unsealed,
                into: tx)
            try tx.appendPendingOperations(Array(sampleOperations().prefix(1)))
        }
        #expect(try sequences() == [0, 7, nil, 3, 5, nil, 7])
        try store.write { try $0.markPendingSealed(sequence: 8) }
        #expect(try sequences() == [8, 7, nil, 3, 5, nil, 7])
        #expect(try store.read { try $0.pendingOperationCount() } == 0)
    }
}
