import Testing

@testable import ConcordCore

/// The pruned form (Specs/crdt-semantics.md §11.2–§11.3) and delete stubs, case by case;
/// `PruneProperties` checks the same rules over random histories.
@Suite struct PruningTests {
    let alice = rid(1), bob = rid(2)

    @Test func tombstoneGoesOnceItsTagIsDeliveredAndNotBefore() {
        let add = op(.add(field: "t", value: "x"), stamp(2, 0, 2))
        let remove = op(.remove(field: "t", value: "x", observed: [add.stamp]), stamp(3, 0, 1))
        // The remove arrived first: Bob's chain is held only up to ms 1.
        var s = state([op(.set(field: "a", value: 1), stamp(1, 0, 2)), remove])
        #expect(s.prune(frontier: Frontier([alice: remove.stamp.hlc, bob: stamp(1).hlc])).tombstones == 0)
        #expect(s.recordState(recordA, in: "c")?.setTombstoneCount == 1)
        // Bob's add arrives: still removed, and now the tombstone can go.
        s.apply(add)
        #expect(s.record(recordA, in: "c")?.members(of: "t") == [])
        let summary = s.prune(frontier: Frontier([alice: remove.stamp.hlc, bob: add.stamp.hlc]))
        #expect(summary.tombstones == 1)
        #expect(s.recordState(recordA, in: "c")?.set("t") == nil)
        // The same add again (a duplicate) cannot bring it back: the frontier says it was applied,
        // and the pruned state is what every later op meets.
        #expect(s.digest == state([add, remove, op(.set(field: "a", value: 1), stamp(1, 0, 2))]).digest)
    }

    @Test func hiddenRecordKeepsItsStubWithTheDeleteBundle() throws {
        var s = ReplicaState()
        s.apply(op(.set(field: "a", value: 1), stamp(1, 0, 2)), inBundle: 1)
        s.apply(op(.delete, stamp(5, 0, 1)), inBundle: 7)
        s.prune(frontier: Frontier([alice: stamp(5).hlc, bob: stamp(1).hlc]))
        let stub = try #require(s.recordState(recordA, in: "c"))
        #expect(stub.deletedAt == stamp(5, 0, 1))
        #expect(stub.deleteBundle == 7)
        #expect(stub.lastWrite == nil)
        let encoded = stub.storageEncoding()
        #expect(encoded.first == 2)
        #expect(try RecordState(storageEncoding: encoded) == stub)
        // A late write stamped after D revives it exactly as without pruning; one before stays dropped.
        var unpruned = ReplicaState()
        unpruned.apply(op(.set(field: "a", value: 1), stamp(1, 0, 2)), inBundle: 1)
        unpruned.apply(op(.delete, stamp(5, 0, 1)), inBundle: 7)
        for late in [op(.set(field: "b", value: 2), stamp(4, 0, 2)), op(.set(field: "c", value: 3), stamp(6, 0, 2))] {
            s.apply(late)
            unpruned.apply(late)
            #expect(s.digest == unpruned.digest)
        }
        #expect(s.record(recordA, in: "c") == RecordView(id: recordA, fields: ["c": 3]))
    }

    @Test func deleteBundleFollowsTheGreatestDelete() {
        var s = ReplicaState()
        s.apply(op(.delete, stamp(5, 0, 1)), inBundle: 3)
        s.apply(op(.delete, stamp(4, 0, 2)), inBundle: 9)
        #expect(s.recordState(recordA, in: "c")?.deleteBundle == 3)
        s.apply(op(.delete, stamp(6, 0, 2)))
        #expect(s.recordState(recordA, in: "c")?.deleteBundle == nil)
        // The same delete with its bundle fills the position in, and merges agree.
        s.apply(op(.delete, stamp(6, 0, 2)), inBundle: 4)
        #expect(s.recordState(recordA, in: "c")?.deleteBundle == 4)
        var other = state([op(.delete, stamp(6, 0, 2))])
        other.merge(s)
        #expect(other == s)
    }

    @Test func recordOfDeliveredTombstonesOnlyIsDropped() {
        // A remove naming Bob's op at ms 2, which never added anything here.
        var s = state([op(.remove(field: "t", value: "x", observed: [stamp(2, 0, 2)]), stamp(3, 0, 1), record: recordB)])
        #expect(s.recordCount == 1)
        #expect(s.prune(frontier: Frontier([bob: stamp(1).hlc])).isEmpty)
        #expect(s.prune(frontier: Frontier([bob: stamp(2).hlc])).records == 1)
        #expect(s.recordCount == 0)
        #expect(s.recordState(recordB, in: "c") == nil)
        #expect(s.collectionNames.isEmpty)
    }

    @Test func mergeOfPrunedStatesKeepsRemovedValuesRemoved() {
        let add = op(.add(field: "t", value: "x"), stamp(2, 0, 2))
        let remove = op(.remove(field: "t", value: "x", observed: [add.stamp]), stamp(3, 0, 1))
        let frontierA = Frontier([alice: remove.stamp.hlc, bob: add.stamp.hlc])
        let a = state([add, remove]).pruned(frontier: frontierA)
        let b = state([add])
        let frontierB = Frontier([bob: add.stamp.hlc])
        var naive = a
        naive.merge(b)
        #expect(naive.record(recordA, in: "c")?.members(of: "t") == ["x"])  // why the frontiers are needed
        var ab = a, ba = b
        ab.merge(b, prunedAt: frontierB, ownFrontier: frontierA)
        ba.merge(a, prunedAt: frontierA, ownFrontier: frontierB)
        #expect(ab.record(recordA, in: "c")?.members(of: "t") == [])
        #expect(ab == ba)
        #expect(ab.digest == state([add, remove]).digest)
    }

    @Test func version2RecordStatesAreChecked() {
        var s = ReplicaState()
        s.apply(op(.delete, stamp(5, 0, 1)), inBundle: 1)
        var bytes = s.recordState(recordA, in: "c")!.storageEncoding()
        #expect(bytes.first == 2)
        let seqAt = 1 + 1 + 32 + 1 + 8 + 1  // version, count, replica, flag, hlc, replica index
        bytes[seqAt] = 0
        #expect(throws: ConcordCoreError.self) { _ = try RecordState(storageEncoding: bytes) }
        // Version 2 without a delete is not a record state.
        let noDelete = [2, 0, 0, 0, 0, 0] as [UInt8]
        #expect(throws: ConcordCoreError.self) { _ = try RecordState(storageEncoding: noDelete) }
        // Version 1 bytes still read, and a record without a known delete bundle still writes them.
        let v1 = state([op(.delete, stamp(5, 0, 1))]).recordState(recordA, in: "c")!.storageEncoding()
        #expect(v1.first == 1)
        #expect((try? RecordState(storageEncoding: v1))?.deletedAt == stamp(5, 0, 1))
        #expect(throws: ConcordCoreError.self) { _ = try RecordState(storageEncoding: [3] + v1.dropFirst()) }
    }
}
