import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// The store operations a recovery needs (`Specs/sync-protocol.md` §5), on both stores:
/// cutting a chain back, replacing the unsealed queue, re-basing records' own sequences.
@Suite("Recovery store operations conformance")
struct RecoveryConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func removingChainBundlesCutsOneChainBackAndKeepsPaging(kind: StoreKind) throws {
        let store = try kind.make().store
        let (a, b) = (author(0x0A), author(0x0B))
        let appended = [bundle(a, 1), bundle(b, 1), bundle(a, 2), bundle(a, 3), bundle(b, 2)]
        try store.write { tx throws in
            for bundle in appended { try tx.appendBundle(bundle) }
            try tx.holdBundle(bundle(a, 5))
            try tx.quarantineBundle(bundle(a, 2, tag: "fork"))
        }
        let removed = try store.write { try $0.removeChainBundles(of: a, after: 1) }
        #expect(unpositioned(removed) == [bundle(a, 2), bundle(a, 3)])
        try store.read { tx throws in
            #expect(try tx.chainHead(of: a) == ChainHead(sequence: 1, id: bundle(a, 1).id))
            #expect(try tx.chainHead(of: b) == ChainHead(sequence: 2, id: bundle(b, 2).id))
            #expect(try tx.bundleCount() == 3)
            #expect(unpositioned(try tx.bundles(after: 0, limit: 10)) == [bundle(a, 1), bundle(b, 1), bundle(b, 2)])
            // Paging by position skips the removed ones.
            let first = try tx.bundles(after: 0, limit: 2)
            #expect(unpositioned(try tx.bundles(after: first.last!.position, limit: 10)) == [bundle(b, 2)])
            #expect(try tx.bundle(of: a, sequence: 2) == nil)
            #expect(try !tx.containsBundle(bundle(a, 3).id))
            // Held and quarantined bundles stay.
            #expect(try tx.heldBundle(of: a, sequence: 5) != nil)
            #expect(try tx.containsBundle(bundle(a, 2, tag: "fork").id))
        }
        // The chain grows again from its new head, with other bytes at the same places.
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 2, tag: "other"))
        }
        #expect(try store.read { try $0.chainHead(of: a) } == ChainHead(sequence: 2, id: bundle(a, 2, tag: "other").id))
        // Down to nothing: no head at all.
        #expect(try store.write { try $0.removeChainBundles(of: a, after: 0) }.count == 2)
        #expect(try store.read { try $0.chainHead(of: a) } == nil)
        #expect(try store.read { try $0.chainHeads().keys.sorted() } == [b])
        // Nothing above: nothing removed, nothing changed.
        #expect(try store.write { try $0.removeChainBundles(of: b, after: 2) } == [])
        #expect(try store.read { try $0.bundleCount() } == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func replacingPendingOperationsKeepsRecords(kind: StoreKind) throws {
        let store = try kind.make().store
        let ops = sampleOperations()
        let s = state([.set(field: "title", value: "x")])
        try store.write { tx throws in
            try put(s, rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try tx.appendPendingOperations(ops)
        }
        try store.write { try $0.replacePendingOperations(Array(ops.suffix(1))) }
        #expect(try store.read { try $0.pendingOperations() } == Array(ops.suffix(1)))
        #expect(try store.read { try $0.pendingOperationCount() } == 1)
        #expect(try store.read { try $0.record(rid(1), in: "todos")?.localSequence } == StoredRecord.unsealed)
        try store.write { try $0.replacePendingOperations([]) }
        #expect(try store.read { try $0.pendingOperationCount() } == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func rebasingLocalSequencesSyncsAcknowledgedAndUnsealsTheRest(kind: StoreKind) throws {
        let store = try kind.make().store
        let s = state([.set(field: "title", value: "x")])
        try store.write { tx throws in
            try put(s, rid(1), in: "todos", localSequence: 2, into: tx)
            try put(s, rid(2), in: "todos", localSequence: 3, into: tx)
            try put(s, rid(3), in: "todos", localSequence: 5, into: tx)
            try put(s, rid(4), in: "todos", localSequence: nil, into: tx)
            try put(s, rid(5), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
        }
        try store.write { try $0.rebaseLocalSequences(acknowledged: 3) }
        func sequences() throws -> [UInt64?] {
            try store.read { tx throws in try (1...5).map { try tx.record(rid($0), in: "todos")?.localSequence } }
        }
        #expect(try sequences() == [nil, nil, 0, nil, 0])
        // The re-based unsealed records are found by the next seal.
        try store.write { try $0.markPendingSealed(sequence: 1) }
        #expect(try sequences() == [nil, nil, 1, nil, 1])
    }
}
