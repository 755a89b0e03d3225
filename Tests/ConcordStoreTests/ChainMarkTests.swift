import ConcordCore
import ConcordCrypto
import Foundation
import GRDB
import Testing

@testable import ConcordStore

/// Bytes that start like a bundle (`Specs/wire-format.md` §7.2, §7.11) with this clock
/// range: all a store reads of a bundle to keep its chain mark.
func headerBundle(
    _ author: PublicKey, _ sequence: UInt64, min: UInt64, max: UInt64, control: Bool = false, previous: Digest32? = nil
) -> StoredBundle {
    var bytes = Array("CNCB".utf8) + [control ? 3 : 2, control ? 2 : 0] + [UInt8](repeating: 0x55, count: 32) + author.bytes
    var rest = sequence
    repeat {
        bytes.append(UInt8(rest & 0x7F) | (rest >= 0x80 ? 0x80 : 0))
        rest >>= 7
    } while rest > 0
    bytes += [UInt8](repeating: 0, count: 32)
    for value in [min, max] { bytes += (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
    bytes += [0, 0, 0]
    let id = digest("h\(author.bytes[0])/\(sequence)")
    let link = previous ?? (sequence == 1 ? .zero : digest("h\(author.bytes[0])/\(sequence - 1)"))
    return StoredBundle(id: id, author: author, sequence: sequence, previous: link, bytes: bytes)
}

/// The chain marks of both stores (`Specs/storage-schema.md` §3.4–§3.5): the greatest `hlc
/// max` of each author's data bundles, through each chain bundle and at each head.
@Suite("Chain marks")
struct ChainMarkTests {
    static let a = author(0x0A)

    /// 1 data [10, 20], 2 control at 50, 3 data [15, 18] (not monotone: still counted), 4 data [30, 40].
    static let chain = [
        headerBundle(a, 1, min: 10, max: 20), headerBundle(a, 2, min: 50, max: 50, control: true), headerBundle(a, 3, min: 15, max: 18),
        headerBundle(a, 4, min: 30, max: 40),
    ]
    static let marks: [UInt64?] = [20, 20, 20, 40]

    @Test(arguments: StoreKind.allCases)
    func headsAndBundlesCarryTheMarkOfTheDataBundles(kind: StoreKind) throws {
        let store = try kind.make().store
        for (index, bundle) in Self.chain.enumerated() {
            try store.write { try $0.appendBundle(bundle) }
            let head = try store.read { try $0.chainHead(of: Self.a) }
            #expect(head?.mark?.rawValue == Self.marks[index], "after bundle \(index + 1)")
            #expect(try store.read { try $0.chainHeads()[Self.a]?.mark } == head?.mark)
        }
        try store.read { tx throws in
            for (index, bundle) in Self.chain.enumerated() {
                #expect(try tx.bundle(of: Self.a, sequence: bundle.sequence)?.mark?.rawValue == Self.marks[index])
            }
            #expect(try tx.bundles(after: 0, limit: 10).map { $0.mark?.rawValue } == Self.marks)
        }
        // A chain cut back (a recovery, a removal) has the mark of its new head.
        let removed = try store.write { try $0.removeChainBundles(of: Self.a, after: 3) }
        #expect(removed.map(\.sequence) == [4])
        #expect(try store.read { try $0.chainHead(of: Self.a)?.mark?.rawValue } == 20)
        _ = try store.write { try $0.removeChainBundles(of: Self.a, after: 0) }
        #expect(try store.read { try $0.chainHead(of: Self.a) } == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func aChainOfControlBundlesOrUnreadableBytesHasNoMark(kind: StoreKind) throws {
        let store = try kind.make().store
        let b = author(0x0B)
        try store.write { tx throws in
            try tx.appendBundle(headerBundle(b, 1, min: 7, max: 7, control: true))
            try tx.appendBundle(bundle(author(0x0C), 1))
        }
        #expect(try store.read { try $0.chainHead(of: b) }?.mark == nil)
        #expect(try store.read { try $0.chainHead(of: author(0x0C)) }?.mark == nil)
    }

    /// A file from before `chain-marks` migrates and gets the marks of the bundles it holds.
    @Test func aStoreBeforeChainMarksIsFilledFromItsBundles() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/replica.sqlite"
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "v3")
        let other = author(0x0B)
        try queue.write { db in
            for bundle in Self.chain + [headerBundle(other, 1, min: 5, max: 6, control: true)] {
                try db.execute(
                    sql: "INSERT INTO bundles (id, author, seq, previous, bytes) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        Data(bundle.id.bytes), Data(bundle.author.bytes), bundle.sequence, Data(bundle.previous.bytes), Data(bundle.bytes),
                    ])
                try db.execute(
                    sql: "INSERT OR REPLACE INTO chain_heads (author, seq, id) VALUES (?, ?, ?)",
                    arguments: [Data(bundle.author.bytes), bundle.sequence, Data(bundle.id.bytes)])
            }
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations().contains("chain-marks"))
        #expect(try store.read { try $0.chainHead(of: Self.a)?.mark?.rawValue } == 40)
        #expect(try store.read { try $0.chainHead(of: other) }.map { $0.mark == nil } == true)
        #expect(
            try store.read { try $0.bundles(after: 0, limit: 10).filter { $0.author == Self.a }.map { $0.mark?.rawValue } } == Self.marks)
        #expect(try store.integrityCheck() == [])
    }
}
