import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import GRDB
import Testing

@testable import ConcordStore

/// The store side of compaction (`Specs/storage-schema.md` §3.12–§3.13, migration
/// `compaction`): dropping a chain prefix keeps its ids and a floor link; base records are
/// copy-on-write; a store loaded from a snapshot before the migration gets rows for its blob.
@Suite("Compaction in the store")
struct CompactionStoreTests {
    @Test(arguments: StoreKind.allCases)
    func droppingAChainPrefixKeepsItsIdsAndAFloor(kind: StoreKind) throws {
        let fixture = try kind.make()
        let a = author(0x0A)
        let b = author(0x0B)
        try fixture.store.write { tx throws in
            for stored in chain(a, 1...5) + chain(b, 1...2) { try tx.appendBundle(stored) }
            try tx.indexBundle(at: 1, touching: [StoredRecordKey(collection: "c", id: rid(1))])
            try tx.indexBundle(at: 4, touching: [StoredRecordKey(collection: "c", id: rid(1))])
        }
        let dropped = try fixture.store.write { tx throws in try tx.dropChainBundles(of: a, through: 3) }
        #expect(dropped.count == 3)
        #expect(dropped.bytes == chain(a, 1...3).reduce(0) { $0 + $1.bytes.count })
        try fixture.reopen()
        try fixture.store.read { tx throws in
            #expect(try tx.bundleCount() == 4)
            #expect(try tx.bundle(of: a, sequence: 3) == nil)
            #expect(try tx.chainFloor(of: a)?.sequence == 3)
            #expect(try tx.chainFloor(of: a)?.id == bundle(a, 3).id)
            #expect(try tx.chainHead(of: a)?.sequence == 5)
            for sequence in UInt64(1)...5 { #expect(try tx.chainBundleID(of: a, sequence: sequence) == bundle(a, sequence).id) }
            #expect(try tx.droppedBundleID(of: a, sequence: 4) == nil, "4 is in the chain, not dropped")
            #expect(try tx.chainBundleID(of: a, sequence: 6) == nil)
            #expect(try tx.chainBundleID(of: b, sequence: 1) == bundle(b, 1).id)
            #expect(try tx.indexedBundlePositions(touching: rid(1), in: "c") == [4], "the dropped bundle's index row goes")
        }
        // Again, up to the head: the chain is empty above its floor, the next bundle extends it.
        let second = try fixture.store.write { tx throws in try tx.dropChainBundles(of: a, through: 5) }
        #expect(second.count == 2)
        try fixture.store.write { tx throws in try tx.appendBundle(bundle(a, 6)) }
        try fixture.store.read { tx throws in
            #expect(try tx.chainHead(of: a)?.sequence == 6)
            for sequence in UInt64(1)...6 { #expect(try tx.chainBundleID(of: a, sequence: sequence) == bundle(a, sequence).id) }
        }
        // Nothing at or below the floor; past the head is refused.
        #expect(try fixture.store.write { tx throws in try tx.dropChainBundles(of: a, through: 4) } == DroppedBundles())
        let error = storeError { _ = try fixture.store.write { tx throws in try tx.dropChainBundles(of: b, through: 3) } }
        #expect(error?.code == .constraint)
    }

    @Test(arguments: StoreKind.allCases)
    func baseRecordsAreCopiedOnWrite(kind: StoreKind) throws {
        let fixture = try kind.make()
        let one = state([.set(field: "t", value: "one")])
        let two = state([.set(field: "t", value: "two")])
        let changed = state([.set(field: "t", value: "changed")], from: 10)
        try fixture.store.write { tx throws in
            try put(one, rid(1), in: "c", into: tx)
            try put(changed, rid(2), in: "c", into: tx)  // differs from its base state
            try put(one, rid(3), in: "c", into: tx)  // not at the base
            #expect(try tx.hasBase() == false)
            #expect(try tx.baseRecords() == [])
            try tx.replaceBase(with: [
                BaseRecord(collection: "c", id: rid(1), state: one), BaseRecord(collection: "c", id: rid(2), state: two),
                BaseRecord(collection: "d", id: rid(4), state: two),
            ])
        }
        func expectBase(_ tx: any StoreReader) throws {
            #expect(try tx.hasBase())
            #expect(try tx.baseRecord(rid(1), in: "c") == one)
            #expect(try tx.baseRecord(rid(2), in: "c") == two)
            #expect(try tx.baseRecord(rid(3), in: "c") == nil)
            #expect(try tx.baseRecord(rid(4), in: "d") == two)
            #expect(try tx.baseRecord(rid(9), in: "c") == nil)
            let all = try tx.baseRecords().sorted { ($0.collection, $0.id) < ($1.collection, $1.id) }
            #expect(all.map(\.id) == [rid(1), rid(2), rid(4)])
        }
        try fixture.store.read(expectBase)
        // Writes after the base leave it as it was.
        try fixture.store.write { tx throws in
            try put(changed, rid(1), in: "c", into: tx)
            try put(changed, rid(5), in: "c", into: tx)
            try put(one, rid(2), in: "c", into: tx)
        }
        try fixture.reopen()
        try fixture.store.read(expectBase)
        try fixture.store.read { tx throws in #expect(try tx.record(rid(1), in: "c")?.state == changed) }
        if let sqlite = fixture.store as? SQLiteStore { #expect(try sqlite.integrityCheck() == []) }
    }

    /// A store loaded from a snapshot before `compaction` kept its base as one blob: the
    /// migration turns it into rows (only those that differ from `records`).
    @Test func aLoadedStoreBeforeCompactionGetsBaseRows() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/replica.sqlite"
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "chain-marks")
        let one = state([.set(field: "t", value: "one")])
        let two = state([.set(field: "t", value: "two")])
        var writer = SnapshotWriter(chunkLimit: .max)
        writer.append(SnapshotRecord(collection: "c", id: rid(1), state: one))
        writer.append(SnapshotRecord(collection: "c", id: rid(2), state: one))
        let blob = writer.finish().first ?? []
        try queue.write { db in
            let tx = SQLiteTransaction(db, path: path)
            try tx.setMetadata(blob, for: "snapshot.base.records")
            try put(one, rid(1), in: "c", into: tx)
            try put(two, rid(2), in: "c", into: tx)  // changed since the load
            try put(two, rid(3), in: "c", into: tx)  // new since the load
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations().last == "compaction")
        try store.read { tx throws in
            #expect(try tx.metadata("snapshot.base.records") == nil)
            #expect(try tx.baseRecord(rid(1), in: "c") == one)
            #expect(try tx.baseRecord(rid(2), in: "c") == one)
            #expect(try tx.baseRecord(rid(3), in: "c") == nil)
        }
        let rows = try store.queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM base_records") }
        #expect(rows == 2, "rows for the changed and the new record only")
        #expect(try store.integrityCheck() == [])
    }
}
