import ConcordCore
import Foundation
import GRDB
import Testing

@testable import ConcordStore

/// What only ``SQLiteStore`` does: the file, its settings and schema (`Specs/storage-schema.md`),
/// durability across reopening, and the errors of opening.
@Suite("SQLiteStore")
struct SQLiteStoreTests {
    func open() throws -> (SQLiteStore, TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        return (try SQLiteStore(path: directory.path + "/replica.sqlite"), directory)
    }

    @Test func usesWALFullSynchronousAndABusyTimeout() throws {
        let (store, directory) = try open()
        try store.queue.read { db throws in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2, "FULL")
            #expect(try Int.fetchOne(db, sql: "PRAGMA busy_timeout") == 10_000)
            #expect(try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") == 4000)
        }
        try store.write { try $0.setMetadata([1], for: "k") }
        #expect(FileManager.default.fileExists(atPath: directory.path + "/replica.sqlite-wal"))
    }

    @Test func aHealthyStorePassesItsIntegrityCheckAtSchemaV3() throws {
        let (store, _) = try open()
        try seed(store)
        try store.write { try changeEverything($0) }
        #expect(try store.integrityCheck() == [])
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "chain-marks", "compaction"])
    }

    /// A file written by a build that knew only `v1` opens, migrates to `v3`, keeps its data.
    @Test func aV1StoreMigratesToV2() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/replica.sqlite"
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "v1")
        try queue.write { db in try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('k', x'01')") }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "chain-marks", "compaction"])
        #expect(try store.read { try $0.metadata("k") } == [1])
        try store.write { try $0.indexBundle(at: 1, touching: [StoredRecordKey(collection: "c", id: rid(1))]) }
        #expect(try store.read { try $0.indexedBundlePositions(touching: rid(1), in: "c") } == [1])
        #expect(try store.integrityCheck() == [])
    }

    /// A file at `v2` (before permission denials) migrates to `v3` and stores denials.
    @Test func aV2StoreMigratesToV3() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/replica.sqlite"
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "v2")
        try queue.write { db in try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('k', x'01')") }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations() == ["v1", "v2", "v3", "chain-marks", "compaction"])
        #expect(try store.read { try $0.metadata("k") } == [1])
        #expect(try store.read { try $0.permissionDenials(ofBundle: nil) } == [])
        #expect(try store.integrityCheck() == [])
    }

    /// The tables and indexes of `Specs/storage-schema.md`, no more, no less.
    @Test func theSchemaIsTheDocumentedOne() throws {
        let (store, _) = try open()
        let objects = try store.queue.read { db throws in
            try Row.fetchAll(db, sql: "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
                .map { "\($0["type"] as String) \($0["name"] as String)" }
        }
        #expect(objects == [
            "index fields_by_value", "index permission_denials_by_author", "index records_unsealed",
            "table base_records", "table bundles", "table chain_heads", "table chain_ids", "table fields", "table grdb_migrations", "table held_bundles", "table meta",
            "table pending_ops", "table permission_denials", "table quarantined_bundles", "table record_bundles", "table records",
        ])
    }

    /// `fields.type` and `fields.value` for each kind of value (`Specs/storage-schema.md`, "Field index").
    @Test func fieldsAreIndexedAsDocumented() throws {
        let (store, _) = try open()
        let reference = RecordReference(collection: "people", id: rid(7))
        let values: [(String, Value)] = [
            ("n", .null), ("f", .bool(false)), ("t", .bool(true)), ("i", .int(-7)), ("d", .double(2.5)), ("nan", .double(.nan)),
            ("s", .string("é")), ("b", .bytes([0, 1])), ("e", .bytes([])), ("r", .reference(reference)),
        ]
        let record = state(values.map { .set(field: $0.0, value: $0.1) } + [.add(field: "tags", value: "x")])
        try put(record, rid(1), in: "c", localSequence: nil, into: store)
        try put(state([.set(field: "x", value: 1), .delete]), rid(2), in: "c", localSequence: 4, into: store)
        try store.queue.read { db throws in
            let rows = try Row.fetchAll(db, sql: "SELECT name, type, typeof(value) AS storage, value FROM fields WHERE collection = 'c' ORDER BY name")
            let index = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as String, $0) })
            #expect(index.keys.sorted() == values.map(\.0).sorted(), "registers only: no set fields, no deleted record")
            func expect(_ name: String, type: Int, storage: String, _ check: (DatabaseValue) -> Bool = { _ in true }) {
                #expect(index[name]?["type"] == type, "\(name)")
                #expect(index[name]?["storage"] == storage, "\(name)")
                #expect(index[name].map { check($0["value"]) } == true, "\(name)")
            }
            expect("n", type: 0, storage: "null")
            expect("f", type: 1, storage: "integer") { $0 == 0.databaseValue }
            expect("t", type: 1, storage: "integer") { $0 == 1.databaseValue }
            expect("i", type: 2, storage: "integer") { $0 == (-7).databaseValue }
            expect("d", type: 3, storage: "real") { $0 == 2.5.databaseValue }
            expect("nan", type: 3, storage: "null")
            expect("s", type: 4, storage: "text") { $0 == "é".databaseValue }
            expect("b", type: 5, storage: "blob") { $0 == Data([0, 1]).databaseValue }
            expect("e", type: 5, storage: "blob") { $0 == Data().databaseValue }
            expect("r", type: 6, storage: "blob") { $0 == Data(rid(7).bytes + Array("people".utf8)).databaseValue }

            let records = try Row.fetchAll(db, sql: "SELECT id, state, visible, local_seq FROM records ORDER BY id")
            #expect(records.count == 2)
            #expect(records[0]["id"] == Data(rid(1).bytes))
            #expect(try RecordState(storageEncoding: Array(records[0]["state"] as Data)) == record)
            #expect(records[0]["visible"] == 1)
            #expect((records[0]["local_seq"] as Int64?) == nil)
            #expect(records[1]["visible"] == 0)
            #expect(records[1]["local_seq"] == 4)
        }
    }

    /// The worked example of `Specs/storage-schema.md`, "Record state".
    @Test func recordStateStorageEncodingMatchesTheSpecExample() throws {
        let alice = ReplicaID(bytes: Array(0...31))!
        let h = HLCTimestamp(milliseconds: 1_700_000_000_000, counter: 0)
        var record = RecordState()
        record.apply(RecordOperation(stamp: Stamp(hlc: h, replica: alice), collection: "todos", record: rid(1), action: .set(field: "title", value: "Buy milk")))
        record.apply(RecordOperation(stamp: Stamp(hlc: HLCTimestamp(rawValue: h.rawValue + 1), replica: alice), collection: "todos", record: rid(1), action: .add(field: "tags", value: "x")))
        let expected = """
            01 01 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 00 01 010000 68e5cf8b01 00
            01 05 7469746c65 000000 68e5cf8b01 00 04 08 427579206d696c6b
            01 04 74616773 01 04 01 78 01 010000 68e5cf8b01 00 00
            """
        let bytes = record.storageEncoding()
        #expect(hex(bytes) == expected.filter { !$0.isWhitespace })
        #expect(bytes.count == 92)
        #expect(try RecordState(storageEncoding: bytes) == record)
    }

    @Test func everythingSurvivesReopening() throws {
        let fixture = try StoreKind.sqlite.make()
        try seed(fixture.store)
        try fixture.store.write { try changeEverything($0) }
        let before = try Snapshot(fixture.store)
        try fixture.reopen()
        #expect(try Snapshot(fixture.store) == before)
        // And the reopened store goes on where it was.
        try fixture.store.write { tx throws in
            try tx.appendBundle(bundle(author(0x0A), 3))
            let one = try #require(try tx.record(rid(1), in: "todos"))
            #expect(one.localSequence == 2)
            try put(one.state.applying(.set(field: "rank", value: 9), at: stamp(60)), rid(1), in: "todos", localSequence: StoredRecord.unsealed, into: tx)
            try tx.markPendingSealed(sequence: 3)
        }
        try fixture.reopen()
        try fixture.store.read { tx throws in
            #expect(try tx.chainHead(of: author(0x0A))?.sequence == 3)
            #expect(try tx.bundles(after: 0, limit: 10).map(\.position) == [1, 2, 3, 4])
            #expect(try tx.record(rid(1), in: "todos")?.localSequence == 3)
            #expect(try tx.records(matching: RecordQuery("todos").where("rank", .equals(9))).map(\.id) == [rid(1)])
            #expect(try tx.pendingOperationCount() == 0)
        }
    }

    @Test func aFileThatIsNotADatabaseIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/replica.sqlite"
        var rng = SystemRandomNumberGenerator()
        let garbage = (0..<8192).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(garbage).write(to: URL(fileURLWithPath: path))
        let error = storeError { _ = try SQLiteStore(path: path) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("backup") == true, "says what to do: \(error?.message ?? "")")
    }

    @Test func aNewerSchemaIsRefused() throws {
        let fixture = try StoreKind.sqlite.make()
        let path = try #require(fixture.path)
        try fixture.store.write { try $0.setMetadata([1], for: "k") }
        try (fixture.store as! SQLiteStore).queue.write { db throws in
            // A migration this build does not know (v2, the history index, is this build's).
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99')")
        }
        let error = storeError {
            try fixture.reopen()
        }
        #expect(error?.code == .newerSchema)
        #expect(error?.message.contains("upgrade Concord") == true, "says what to do: \(error?.message ?? "")")
        #expect(error?.message.contains(path) == true)
    }

    @Test func aMissingDirectoryCannotBeOpened() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/missing/replica.sqlite"
        let error = storeError { _ = try SQLiteStore(path: path) }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains("directory exists") == true, "says what to do: \(error?.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/missing"))
    }

    @Test func aDamagedRecordIsADecodingError() throws {
        let (store, _) = try open()
        try put(state([.set(field: "a", value: 1)]), rid(1), in: "c", into: store)
        try store.queue.write { db in try db.execute(sql: "UPDATE records SET state = x'0102'") }
        let error = storeError { _ = try store.read { try $0.record(rid(1), in: "c") } }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("re-sync") == true, "says what to do: \(error?.message ?? "")")
        let queryError = storeError { _ = try store.read { try $0.records(matching: RecordQuery("c")) } }
        #expect(queryError?.code == .decoding)
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
