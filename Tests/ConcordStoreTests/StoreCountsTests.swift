import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// ``StoreReader/counts()``: what `concord status --json` reports under `"storage"`,
/// counted alike by both stores.
@Suite("Store counts")
struct StoreCountsTests {
    @Test(arguments: StoreKind.allCases)
    func emptyStoreCountsNothing(kind: StoreKind) throws {
        let store = try kind.make().store
        #expect(try store.read { try $0.counts() } == StoreCounts())
    }

    @Test(arguments: StoreKind.allCases)
    func recordsTombstonesAndBundlesAreCounted(kind: StoreKind) throws {
        let store = try kind.make().store
        let live = state([.set(field: "title", value: "Buy milk"), .add(field: "tags", value: "home")])
        // Two removed tags: "a" (added once) and "b" (added twice, both tags observed).
        let tagged = state([
            .set(field: "title", value: "x"), .add(field: "tags", value: "a"), .add(field: "tags", value: "b"),
            .add(field: "tags", value: "b"),
        ])
        let removed =
            tagged
            .applying(.remove(field: "tags", value: "a", observed: [stamp(2)]), at: stamp(10))
            .applying(.remove(field: "tags", value: "b", observed: [stamp(3), stamp(4)]), at: stamp(11))
        #expect(removed.setTombstoneCount == 3, "three removed tags are kept as tombstones")
        let deleted = state([.set(field: "title", value: "gone"), .delete])
        let ann = author(1)
        let bob = author(2)
        try store.write { tx throws in
            try put(live, rid(1), in: "todos", into: tx)
            try put(removed, rid(2), in: "todos", into: tx)
            try put(deleted, rid(3), in: "todos", into: tx)
            try put(live, rid(1), in: "notes", into: tx)
            for bundle in chain(ann, 1...3) { try tx.appendBundle(bundle) }
            try tx.holdBundle(bundle(bob, 2))
            try tx.quarantineBundle(bundle(ann, 2, tag: "fork"))
        }
        let logBytes = chain(ann, 1...3).reduce(0) { $0 + $1.bytes.count }
        let counts = try store.read { try $0.counts() }
        #expect(
            counts
                == StoreCounts(
                    liveRecords: 3, deletedRecords: 1, setTombstones: 3, logBundles: 3, logBytes: logBytes, heldBundles: 1,
                    quarantinedBundles: 1, deleteStubs: 1))
    }
}
