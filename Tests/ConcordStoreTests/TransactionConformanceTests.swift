import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// Transactions on both stores: all or nothing, reads of committed and own writes.
@Suite("Transaction conformance")
struct TransactionConformanceTests {
    /// Makes one of every kind of change, then throws: the store is exactly as before.
    @Test(arguments: StoreKind.allCases)
    func aThrowingWriteLeavesNothingBehind(kind: StoreKind) throws {
        let fixture = try kind.make()
        let store = fixture.store
        try seed(store)
        let before = try Snapshot(store)

        #expect(throws: Abort.self) {
            try store.write { tx throws in
                try changeEverything(tx)
                // The transaction saw its own changes before it threw.
                #expect(try tx.metadata("new") == [1])
                #expect(try tx.bundleCount() == 3)
                throw Abort()
            }
        }
        #expect(try Snapshot(store) == before)

        // Also when the store itself refuses a change, after the others were made.
        let error = storeError {
            try store.write { tx throws in
                try changeEverything(tx)
                try tx.appendBundle(bundle(author(0x0A), 9))
            }
        }
        #expect(error?.code == .constraint)
        #expect(try Snapshot(store) == before)

        if kind == .sqlite {
            try fixture.reopen()
            #expect(try Snapshot(fixture.store) == before)
        }

        // And the same changes commit when the body returns.
        try fixture.store.write { try changeEverything($0) }
        let after = try Snapshot(fixture.store)
        #expect(after != before)
        #expect(after.metadata["new"] == .some([1]))
        #expect(after.bundles.count == 3)
    }

    @Test(arguments: StoreKind.allCases)
    func aRefusedChangeInsideAWriteLeavesTheRestOfTheTransaction(kind: StoreKind) throws {
        let store = try kind.make().store
        let a = author(0x0A)
        try store.write { tx throws in
            try tx.holdBundle(bundle(a, 3))
            try tx.appendBundle(bundle(a, 1))
        }
        try store.write { tx throws in
            #expect(throws: StoreError.self) { try tx.holdBundle(bundle(a, 3, tag: "again")) }
            #expect(throws: StoreError.self) { try tx.appendBundle(bundle(a, 1)) }
            try tx.setMetadata([7], for: "after")
        }
        try store.read { tx throws in
            #expect(try tx.metadata("after") == [7])
            #expect(try tx.heldBundles() == [bundle(a, 3)])
            #expect(try tx.bundleCount() == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func readsSeeCommittedWritesAndWritesReturnTheirResult(kind: StoreKind) throws {
        let store = try kind.make().store
        let value = try store.write { tx -> Int in
            try tx.setMetadata([1], for: "k")
            try put(state([.set(field: "n", value: 1)]), rid(1), in: "c", into: tx)
            #expect(try tx.records(matching: RecordQuery("c").where("n", .equals(1))).map(\.id) == [rid(1)])
            return 42
        }
        #expect(value == 42)
        #expect(try store.read { try $0.metadata("k") } == [1])
        try store.write { try $0.setMetadata([2], for: "k") }
        #expect(try store.read { try $0.metadata("k") } == [2])
        #expect(try store.read { try $0.count(matching: RecordQuery("c")) } == 1)
    }
}
