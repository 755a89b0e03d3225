import ConcordCore
import ConcordCrypto
import Foundation
import GRDB

/// The base records and the dropped bundle ids of a compacted or snapshot-loaded store
/// (`Specs/storage-schema.md` §3.12–§3.13, migration `compaction`).
extension SQLiteTransaction {
    /// The metadata key that turns copy-on-write of base records on.
    static let baseCopyOnWriteKey = "base.copy-on-write"

    /// Before `putRecord` changes a record: its state at the base, when the base holds no
    /// row for it yet, is the stored one (`previous`), so it is copied first.
    func copyBaseOnWrite(id: RecordID, in collection: String, previous: StoredRecord?) throws {
        if copiesBaseOnWrite == nil { copiesBaseOnWrite = try metadata(Self.baseCopyOnWriteKey) != nil }
        guard copiesBaseOnWrite == true else { return }
        try mapping {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO base_records (collection, id, state) VALUES (CAST(? AS TEXT), ?, ?)")
                .execute(arguments: [Self.text(collection), Self.idValue(id), previous.map { Data($0.state.storageEncoding()) }])
        }
    }

    func hasBase() throws -> Bool { try metadata(Self.baseCopyOnWriteKey) != nil }

    func baseRecord(_ id: RecordID, in collection: String) throws -> RecordState? {
        guard try hasBase() else { return nil }
        let row = try mapping {
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT state FROM base_records WHERE collection = CAST(? AS TEXT) AND id = ?"),
                arguments: [Self.text(collection), Self.idValue(id)])
        }
        guard let row else { return try record(id, in: collection)?.state }
        let state: Data? = row[0]
        return try state.map { try Self.recordState(Array($0)) }
    }

    func baseRecords() throws -> [BaseRecord] {
        guard try hasBase() else { return [] }
        return try mapping {
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT CAST(r.collection AS BLOB), r.id, r.state FROM records r
                        WHERE NOT EXISTS (SELECT 1 FROM base_records b WHERE b.collection = r.collection AND b.id = r.id)
                        UNION ALL
                        SELECT CAST(collection AS BLOB), id, state FROM base_records WHERE state IS NOT NULL
                        """))
            var records: [BaseRecord] = []
            while let row = try rows.next() {
                let idData: Data = row[1]
                guard let id = RecordID(bytes: idData) else { throw StoreError(.decoding, "a base record has an id of \(idData.count) bytes") }
                let state: Data = row[2]
                records.append(BaseRecord(collection: Self.string(row[0]), id: id, state: try Self.recordState(Array(state))))
            }
            return records
        }
    }

    func replaceBase(with records: [BaseRecord]) throws {
        struct Key: Hashable {
            var collection: Data
            var id: Data
        }
        var wanted: [Key: Data] = [:]
        for record in records {
            wanted[Key(collection: Data(record.collection.utf8), id: record.id.withUnsafeBytes { Data($0) })] = Data(
                record.state.storageEncoding())
        }
        try mapping {
            try db.execute(sql: "DELETE FROM base_records")
            let insert = try db.cachedStatement(sql: "INSERT INTO base_records (collection, id, state) VALUES (CAST(? AS TEXT), ?, ?)")
            // A record whose stored state is its base state needs no row (copy-on-write
            // keeps it so); one the base does not have gets a row without a state.
            var absent: [Key] = []
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT CAST(collection AS BLOB), id, state FROM records"))
            while let row = try rows.next() {
                let key = Key(collection: row[0], id: row[1])
                if let base = wanted[key] {
                    if base == (row[2] as Data) { wanted[key] = nil }
                } else {
                    absent.append(key)
                }
            }
            for key in absent { try insert.execute(arguments: [key.collection, key.id, nil as Data?]) }
            for (key, state) in wanted { try insert.execute(arguments: [key.collection, key.id, state]) }
        }
        try setMetadata([1], for: Self.baseCopyOnWriteKey)
        copiesBaseOnWrite = true
    }

    func droppedBundleID(of author: PublicKey, sequence: UInt64) throws -> Digest32? {
        let row = try mapping {
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT first_seq, ids FROM chain_ids WHERE author = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1"),
                arguments: [Data(author.bytes), Int64(bitPattern: sequence)])
        }
        guard let row, sequence >= 1 else { return nil }
        let first = UInt64(bitPattern: row[0] as Int64)
        let ids: Data = row[1]
        let offset = Int(sequence - first) * 32
        guard offset + 32 <= ids.count else { return nil }
        return try Digest32(bytes: Array(ids[ids.startIndex + offset..<ids.startIndex + offset + 32]))
    }

    func dropChainBundles(of author: PublicKey, through sequence: UInt64) throws -> DroppedBundles {
        let below = try floor(of: author)?.sequence ?? 0
        guard sequence > below else { return DroppedBundles() }
        let key = Data(author.bytes)
        let bound = Int64(bitPattern: sequence)
        return try mapping {
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, id, mark, LENGTH(bytes) FROM bundles WHERE author = ? AND seq <= ? ORDER BY seq"),
                arguments: [key, bound])
            guard UInt64(rows.count) == sequence - below, let last = rows.last else {
                throw StoreError(
                    .constraint, "the chain of \(author.hex.prefix(8)) does not hold every bundle from \(below + 1) to \(sequence) to drop")
            }
            var ids = Data(capacity: rows.count * 32)
            var bytes = 0
            for row in rows {
                ids.append(row[1] as Data)
                bytes += row[3] as Int
            }
            try db.cachedStatement(sql: "INSERT INTO chain_ids (author, first_seq, ids) VALUES (?, ?, ?)").execute(arguments: [
                key, Int64(bitPattern: below + 1), ids,
            ])
            try db.cachedStatement(
                sql: "DELETE FROM record_bundles WHERE position IN (SELECT position FROM bundles WHERE author = ? AND seq <= ?)"
            ).execute(arguments: [key, bound])
            try db.cachedStatement(sql: "DELETE FROM bundles WHERE author = ? AND seq <= ?").execute(arguments: [key, bound])
            let mark: Int64? = last[2]
            let bigEndian = { (value: UInt64) in (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
            let lastID: Data = last[1]
            try setMetadata(
                bigEndian(sequence) + Array(lastID) + (mark.map { bigEndian(UInt64(bitPattern: $0)) } ?? []), for: Self.floorKey(author))
            return DroppedBundles(count: rows.count, bytes: bytes)
        }
    }
}
