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

extension ChainFloorTests {
    /// The first bundle above a floor is checked for chain monotonicity against the floor's
    /// mark, by the importer (the chain head) and by every rebuild (`chainMark(before:of:)`),
    /// so both void the same bundles.
    @Test(arguments: StoreKind.allCases)
    func theMarkBeforeTheFirstBundleAboveAFloorIsTheFloors(kind: StoreKind) throws {
        let fixture = try kind.make()
        let a = author(0x0A)
        let b = author(0x0B)
        let floor = ChainHead(sequence: 4, id: bundle(a, 4).id, mark: HLCTimestamp(rawValue: 77))
        try fixture.store.write { tx throws in
            try tx.setChainFloor(floor, of: a)
            try tx.appendBundle(bundle(a, 5))
            try tx.appendBundle(bundle(b, 1))
        }
        try fixture.store.read { tx throws in
            #expect(try tx.chainFloor(of: a) == floor)
            #expect(try tx.chainFloor(of: b) == nil)
            #expect(try tx.chainMark(before: 5, of: a) == HLCTimestamp(rawValue: 77))
            #expect(try tx.chainMark(before: 6, of: a) == tx.bundle(of: a, sequence: 5)?.mark)
            #expect(try tx.chainMark(before: 4, of: a) == nil)
            #expect(try tx.chainMark(before: 1, of: b) == nil)
            #expect(try tx.chainMark(before: 2, of: b) == tx.bundle(of: b, sequence: 1)?.mark)
        }
    }
}
