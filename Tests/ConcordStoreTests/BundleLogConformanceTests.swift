import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordStore

/// The bundle log on both stores: chains, paging, held and quarantined bundles.
@Suite("Bundle log conformance")
struct BundleLogConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func appendedBundlesFormChainsInAppendOrder(kind: StoreKind) throws {
        let store = try kind.make().store
        let (a, b) = (author(0x0A), author(0x0B))
        try store.read { tx throws in
            #expect(try tx.chainHeads().isEmpty)
            #expect(try tx.chainHead(of: a) == nil)
            #expect(try tx.bundleCount() == 0)
            #expect(try tx.bundles(after: 0, limit: 10) == [])
            #expect(try tx.bundle(of: a, sequence: 1) == nil)
        }
        let appended = [bundle(a, 1), bundle(b, 1), bundle(a, 2), bundle(a, 3), bundle(b, 2)]
        try store.write { tx throws in
            for bundle in appended.prefix(3) { try tx.appendBundle(bundle) }
        }
        try store.write { tx throws in
            for bundle in appended.suffix(2) { try tx.appendBundle(bundle) }
        }

        try store.read { tx throws in
            #expect(try tx.chainHead(of: a) == ChainHead(sequence: 3, id: bundle(a, 3).id))
            #expect(try tx.chainHead(of: b) == ChainHead(sequence: 2, id: bundle(b, 2).id))
            #expect(try tx.chainHead(of: author(0x0C)) == nil)
            #expect(try tx.chainHeads() == [a: ChainHead(sequence: 3, id: bundle(a, 3).id), b: ChainHead(sequence: 2, id: bundle(b, 2).id)])
            #expect(try tx.bundleCount() == 5)

            // Paging with the positions the store hands out.
            let all = try tx.bundles(after: 0, limit: 100)
            #expect(unpositioned(all) == appended)
            let positions = all.map(\.position)
            #expect(positions.allSatisfy { $0 > 0 })
            #expect(positions == positions.sorted() && Set(positions).count == positions.count)
            var paged: [StoredBundle] = []
            var cursor: Int64 = 0
            while true {
                let page = try tx.bundles(after: cursor, limit: 2)
                #expect(page.count <= 2)
                guard let last = page.last else { break }
                paged += page
                cursor = last.position
            }
            #expect(paged == all)
            #expect(try tx.bundles(after: positions[1], limit: 2) == Array(all[2...3]))
            #expect(try tx.bundles(after: positions[4], limit: 10) == [])
            #expect(try tx.bundles(after: 0, limit: 0) == [])
            #expect(try tx.bundles(after: 0, limit: -1) == [], "a negative limit is no bundle")
            #expect(try tx.bundles(after: -5, limit: 1) == Array(all.prefix(1)))

            for bundle in all {
                #expect(try tx.bundle(of: bundle.author, sequence: bundle.sequence) == bundle)
            }
            #expect(try tx.bundle(of: a, sequence: 4) == nil)
            #expect(try tx.bundle(of: b, sequence: 0) == nil)
            #expect(try tx.bundle(of: author(0x0C), sequence: 1) == nil)
            #expect(try tx.containsBundle(bundle(a, 2).id))
            #expect(try !tx.containsBundle(bundle(a, 4).id))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func appendRejectsABundleThatDoesNotExtendItsChain(kind: StoreKind) throws {
        let store = try kind.make().store
        let (a, b) = (author(0x0A), author(0x0B))
        try store.write { tx throws in
            for bundle in chain(a, 1...3) { try tx.appendBundle(bundle) }
        }
        var badID = bundle(b, 1)
        badID = StoredBundle(id: bundle(a, 1).id, author: b, sequence: 1, previous: .zero, bytes: badID.bytes)
        let rejected: [(String, StoredBundle)] = [
            ("a gap", bundle(a, 5, previous: bundle(a, 4).id)),
            ("the same sequence again", bundle(a, 3, tag: "fork")),
            ("an old sequence", bundle(a, 1)),
            ("a wrong previous link", bundle(a, 4, previous: digest("somewhere else"))),
            ("a first bundle that is not sequence 1", bundle(b, 2, previous: .zero)),
            ("a first bundle with a previous link", bundle(b, 1, previous: digest("x"))),
            ("sequence 0", bundle(b, 0, previous: .zero)),
            ("an id already in a chain", badID),
        ]
        for (what, rejected) in rejected {
            let error = storeError {
                try store.write { tx throws in
                    try tx.setMetadata([1], for: "touched")
                    try tx.appendBundle(rejected)
                }
            }
            #expect(error?.code == .constraint, "\(what)")
            #expect(error?.message.contains("chain") == true, "\(what): \(error?.message ?? "")")
        }
        try store.read { tx throws in
            #expect(try tx.bundleCount() == 3)
            #expect(try tx.chainHeads() == [a: ChainHead(sequence: 3, id: bundle(a, 3).id)])
            #expect(try tx.metadata("touched") == nil)
        }
        // The chain still extends normally.
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 4))
            try tx.appendBundle(bundle(b, 1))
        }
        #expect(try store.read { try $0.bundleCount() } == 5)
    }

    @Test(arguments: StoreKind.allCases)
    func heldBundlesAreKeptByAuthorAndSequence(kind: StoreKind) throws {
        let store = try kind.make().store
        let (a, b) = (author(0x02), author(0x10))
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 1))
            var positioned = bundle(b, 3)
            positioned.position = 99
            for held in [positioned, bundle(a, 5), bundle(a, 3), bundle(b, 2)] { try tx.holdBundle(held) }
        }
        try store.read { tx throws in
            #expect(try tx.heldBundles() == [bundle(a, 3), bundle(a, 5), bundle(b, 2), bundle(b, 3)])
            #expect(try tx.heldBundle(of: a, sequence: 5) == bundle(a, 5))
            #expect(try tx.heldBundle(of: b, sequence: 3)?.position == 0, "held bundles have no log position")
            #expect(try tx.heldBundle(of: a, sequence: 4) == nil)
            #expect(try tx.heldBundle(of: a, sequence: 1) == nil, "a chain bundle is not held")
            #expect(try tx.containsBundle(bundle(a, 5).id))
            #expect(try tx.bundleCount() == 1, "held bundles are not in the chains")
            #expect(try tx.chainHead(of: b) == nil)
        }

        // One bundle per place.
        let error = storeError { try store.write { try $0.holdBundle(bundle(a, 5, tag: "other")) } }
        #expect(error?.code == .constraint)
        #expect(try store.read { try $0.heldBundle(of: a, sequence: 5) } == bundle(a, 5))

        try store.write { tx throws in
            try tx.removeHeldBundle(of: a, sequence: 5)
            try tx.removeHeldBundle(of: a, sequence: 9)  // absent: nothing to do
        }
        try store.read { tx throws in
            #expect(try tx.heldBundles() == [bundle(a, 3), bundle(b, 2), bundle(b, 3)])
            #expect(try !tx.containsBundle(bundle(a, 5).id))
        }
    }

    /// How an import releases a held bundle: it is appended to its chain, and removed from
    /// the held bundles, in either order, in one transaction.
    @Test(arguments: StoreKind.allCases)
    func aHeldBundleMovesIntoItsChain(kind: StoreKind) throws {
        let store = try kind.make().store
        let a = author(0x0A)
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 1))
            try tx.holdBundle(bundle(a, 2))
            try tx.holdBundle(bundle(a, 3))
        }
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 2))
            try tx.removeHeldBundle(of: a, sequence: 2)
            try tx.removeHeldBundle(of: a, sequence: 3)
            try tx.appendBundle(bundle(a, 3))
        }
        try store.read { tx throws in
            #expect(try tx.heldBundles() == [])
            #expect(try tx.chainHead(of: a) == ChainHead(sequence: 3, id: bundle(a, 3).id))
            for sequence in 1...3 as ClosedRange<UInt64> { #expect(try tx.containsBundle(bundle(a, sequence).id)) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func quarantinedBundlesAreKeptInArrivalOrder(kind: StoreKind) throws {
        let store = try kind.make().store
        let (a, b) = (author(0x0A), author(0x0B))
        let forkB = bundle(b, 1, tag: "fork")
        let forkA = bundle(a, 2, tag: "fork")
        let forkA3 = bundle(a, 3, tag: "fork")
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 1))
            try tx.quarantineBundle(forkB)
            try tx.quarantineBundle(forkA)
            try tx.quarantineBundle(forkA3)
            try tx.quarantineBundle(forkB)  // already there: kept once, in its first place
        }
        try store.read { tx throws in
            #expect(try tx.quarantinedBundles() == [forkB, forkA, forkA3])
            #expect(try tx.quarantinedBundles().allSatisfy { $0.position == 0 })
            #expect(try tx.containsBundle(forkA.id))
            #expect(try tx.bundleCount() == 1)
            #expect(try tx.heldBundles() == [])
        }
        try store.write { tx throws in
            try tx.removeQuarantinedBundle(forkA.id)
            try tx.removeQuarantinedBundle(digest("never quarantined"))
        }
        try store.read { tx throws in
            #expect(try tx.quarantinedBundles() == [forkB, forkA3])
            #expect(try !tx.containsBundle(forkA.id))
            #expect(try tx.containsBundle(forkB.id))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func containsBundleCoversChainsHeldAndQuarantined(kind: StoreKind) throws {
        let store = try kind.make().store
        let a = author(0x0A)
        let both = bundle(a, 4)
        try store.write { tx throws in
            try tx.appendBundle(bundle(a, 1))
            try tx.holdBundle(bundle(a, 3))
            try tx.quarantineBundle(bundle(a, 2, tag: "fork"))
            // The same bundle held and quarantined.
            try tx.holdBundle(both)
            try tx.quarantineBundle(both)
        }
        try store.read { tx throws in
            #expect(try tx.containsBundle(bundle(a, 1).id))
            #expect(try tx.containsBundle(bundle(a, 3).id))
            #expect(try tx.containsBundle(bundle(a, 2, tag: "fork").id))
            #expect(try tx.containsBundle(both.id))
            #expect(try !tx.containsBundle(bundle(a, 2).id))
            #expect(try !tx.containsBundle(.zero))
        }
        try store.write { tx throws in
            try tx.removeHeldBundle(of: a, sequence: 4)
            try tx.removeHeldBundle(of: a, sequence: 3)
        }
        try store.read { tx throws in
            #expect(try tx.containsBundle(both.id), "still quarantined")
            #expect(try !tx.containsBundle(bundle(a, 3).id))
        }
        try store.write { tx throws in
            try tx.holdBundle(both)
            try tx.removeQuarantinedBundle(both.id)
        }
        #expect(try store.read { try $0.containsBundle(both.id) }, "still held")
        try store.write { try $0.removeHeldBundle(of: a, sequence: 4) }
        #expect(try store.read { try $0.containsBundle(both.id) } == false)
    }

    @Test("the history index: bundles by position, record to positions, idempotent, rolled back with its transaction", arguments: StoreKind.allCases)
    func historyIndex(kind: StoreKind) throws {
        let store = try kind.make().store
        let a = author(0x0A)
        try store.write { tx throws in for sequence in UInt64(1)...3 { try tx.appendBundle(bundle(a, sequence)) } }
        let all = try store.read { try $0.bundles(after: 0, limit: 10) }
        let (one, two) = (StoredRecordKey(collection: "c", id: RecordID(high: 1, low: 1)), StoredRecordKey(collection: "c", id: RecordID(high: 2, low: 2)))
        try store.write { tx throws in
            try tx.indexBundle(at: all[2].position, touching: [one])
            try tx.indexBundle(at: all[0].position, touching: [one, two])
            try tx.indexBundle(at: all[0].position, touching: [one])  // again: no change
        }
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try store.write { tx throws in
                try tx.indexBundle(at: all[1].position, touching: [two])
                throw Stop()
            }
        }
        try store.read { tx throws in
            #expect(try tx.indexedBundlePositions(touching: one.id, in: "c") == [all[0].position, all[2].position])
            #expect(try tx.indexedBundlePositions(touching: two.id, in: "c") == [all[0].position])
            #expect(try tx.indexedBundlePositions(touching: two.id, in: "other") == [])
            for stored in all { #expect(try tx.bundle(at: stored.position) == stored) }
            #expect(try tx.bundle(at: 0) == nil && tx.bundle(at: all[2].position + 1) == nil)
        }
    }
}
