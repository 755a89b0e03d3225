import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// Floor links (`Specs/snapshots.md` §4.5 step 3, `Specs/storage-schema.md` §8): a chain
/// loaded from a snapshot starts above its floor; the next bundle extends the floor link.
@Suite("Chain floors")
struct ChainFloorTests {
    @Test(arguments: StoreKind.allCases)
    func aFloorIsTheHeadTheNextBundleExtends(kind: StoreKind) throws {
        let fixture = try kind.make()
        let a = author(0x0A)
        let floor = ChainHead(sequence: 4, id: bundle(a, 4).id, mark: HLCTimestamp(rawValue: 77))
        try fixture.store.write { tx throws in try tx.setChainFloor(floor, of: a) }
        try fixture.store.read { tx throws in
            #expect(try tx.chainHead(of: a) == floor)
            #expect(try tx.chainHeads() == [a: floor])
            #expect(try tx.bundle(of: a, sequence: 4) == nil)
            #expect(try tx.bundleCount() == 0)
        }
        // Only bundle 5 with the floor's id as its previous link extends it.
        let error = storeError { try fixture.store.write { tx throws in try tx.appendBundle(bundle(a, 1)) } }
        #expect(error?.code == .constraint)
        try fixture.store.write { tx throws in
            try tx.appendBundle(bundle(a, 5))
            try tx.appendBundle(bundle(a, 6))
        }
        try fixture.reopen()
        try fixture.store.read { tx throws in
            #expect(try tx.chainHead(of: a)?.sequence == 6)
            #expect(try tx.bundle(of: a, sequence: 5)?.id == bundle(a, 5).id)
            #expect(try tx.bundle(of: a, sequence: 6)?.id == bundle(a, 6).id)
            #expect(try tx.bundle(of: a, sequence: 4) == nil)
        }
        // No floor under a chain that holds bundles.
        let second = storeError { try fixture.store.write { tx throws in try tx.setChainFloor(floor, of: a) } }
        #expect(second?.code == .constraint)
    }
}

extension ChainFloorTests {
    @Test(arguments: StoreKind.allCases)
    func cuttingBackToTheFloorKeepsItAndBelowIsRefused(kind: StoreKind) throws {
        let fixture = try kind.make()
        let a = author(0x0A)
        let floor = ChainHead(sequence: 4, id: bundle(a, 4).id, mark: HLCTimestamp(rawValue: 77))
        try fixture.store.write { tx throws in
            try tx.setChainFloor(floor, of: a)
            try tx.appendBundle(bundle(a, 5))
            try tx.appendBundle(bundle(a, 6))
        }
        let below = storeError { try fixture.store.write { tx throws in _ = try tx.removeChainBundles(of: a, after: 3) } }
        #expect(below?.code == .constraint)
        let removed = try fixture.store.write { tx throws in try tx.removeChainBundles(of: a, after: 4) }
        #expect(removed.map(\.sequence) == [5, 6])
        try fixture.store.read { tx throws in #expect(try tx.chainHead(of: a) == floor) }
        try fixture.store.write { tx throws in try tx.appendBundle(bundle(a, 5)) }
    }
}
