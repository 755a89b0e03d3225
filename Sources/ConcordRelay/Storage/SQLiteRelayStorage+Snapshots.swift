import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import GRDB

extension SQLiteRelayStorage {
    /// Migration `relay-snapshots`: the latest snapshot of each space and the one it
    /// replaced, with their chunks (`Specs/relay-api.md` §7). Their bytes count in
    /// `space_usage.bytes`.
    static func createSnapshotTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE snapshots (
                    space BLOB NOT NULL,
                    id BLOB NOT NULL,
                    latest INTEGER NOT NULL,
                    vector BLOB NOT NULL,
                    made_at INTEGER NOT NULL,
                    manifest BLOB NOT NULL,
                    chunk_count INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    PRIMARY KEY (space, id)
                ) WITHOUT ROWID;
                CREATE TABLE snapshot_chunks (
                    space BLOB NOT NULL,
                    id BLOB NOT NULL,
                    idx INTEGER NOT NULL,
                    bytes BLOB NOT NULL,
                    PRIMARY KEY (space, id, idx)
                ) WITHOUT ROWID;
                """)
    }

    /// See ``RelayStorage/putSnapshot(_:chunks:quotaBytes:)``: one write transaction.
    public func putSnapshot(_ snapshot: StoredSnapshot, chunks: [[UInt8]], quotaBytes: Int64) async throws -> SnapshotPutOutcome {
        let space = Data(snapshot.spaceID.bytes)
        let id = Data(snapshot.id.bytes)
        return try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM snapshots WHERE space = ? AND id = ?", arguments: [space, id]) != nil {
                return .alreadyStored
            }
            let latest = try Row.fetchOne(db, sql: "\(Self.snapshotColumns) WHERE space = ? AND latest = 1", arguments: [space])
                .map(Self.storedSnapshot)
            try SnapshotReplaceRule.check(snapshot, replacing: latest)
            let dropping =
                try Int64.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM snapshots WHERE space = ? AND latest = 0", arguments: [space]) ?? 0
            let used = try Int64.fetchOne(db, sql: "SELECT bytes FROM space_usage WHERE space = ?", arguments: [space]) ?? 0
            try SnapshotReplaceRule.checkQuota(
                used: used, adding: snapshot.bytes, dropping: dropping, quota: quotaBytes, spaceID: snapshot.spaceID)
            try db.execute(
                sql: "DELETE FROM snapshot_chunks WHERE space = ? AND id IN (SELECT id FROM snapshots WHERE space = ? AND latest = 0)",
                arguments: [space, space])
            try db.execute(sql: "DELETE FROM snapshots WHERE space = ? AND latest = 0", arguments: [space])
            try db.execute(sql: "UPDATE snapshots SET latest = 0 WHERE space = ?", arguments: [space])
            try db.execute(
                sql:
                    "INSERT INTO snapshots (space, id, latest, vector, made_at, manifest, chunk_count, bytes) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
                arguments: [
                    space, id, Data(SnapshotReplaceRule.encode(snapshot.vector)), Int64(bitPattern: snapshot.madeAt),
                    Data(snapshot.manifest),
                    snapshot.chunkCount, snapshot.bytes,
                ])
            for (index, chunk) in chunks.enumerated() {
                try db.execute(
                    sql: "INSERT INTO snapshot_chunks (space, id, idx, bytes) VALUES (?, ?, ?, ?)",
                    arguments: [space, id, index, Data(chunk)])
            }
            try db.execute(
                sql: """
                    INSERT INTO space_usage (space, bytes, authors) VALUES (?, ?, 0)
                    ON CONFLICT (space) DO UPDATE SET bytes = bytes + excluded.bytes
                    """,
                arguments: [space, snapshot.bytes - dropping])
            return .stored
        }
    }

    /// See ``RelayStorage/latestSnapshot(of:)``.
    public func latestSnapshot(of spaceID: SpaceID) async throws -> StoredSnapshot? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "\(Self.snapshotColumns) WHERE space = ? AND latest = 1", arguments: [Data(spaceID.bytes)])
                .map(Self.storedSnapshot)
        }
    }

    /// See ``RelayStorage/snapshot(_:of:)``.
    public func snapshot(_ id: Digest32, of spaceID: SpaceID) async throws -> StoredSnapshot? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "\(Self.snapshotColumns) WHERE space = ? AND id = ?", arguments: [Data(spaceID.bytes), Data(id.bytes)]
            )
            .map(Self.storedSnapshot)
        }
    }

    /// See ``RelayStorage/snapshotChunk(_:index:of:)``.
    public func snapshotChunk(_ id: Digest32, index: Int, of spaceID: SpaceID) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(
                db, sql: "SELECT bytes FROM snapshot_chunks WHERE space = ? AND id = ? AND idx = ?",
                arguments: [Data(spaceID.bytes), Data(id.bytes), index]
            ).map { [UInt8]($0) }
        }
    }

    /// The columns ``storedSnapshot(_:)`` reads.
    static let snapshotColumns = "SELECT space, id, vector, made_at, manifest, chunk_count, bytes FROM snapshots"

    /// Decodes a `snapshots` row.
    static func storedSnapshot(_ row: Row) throws -> StoredSnapshot {
        StoredSnapshot(
            spaceID: try SpaceID(bytes: [UInt8](row["space"] as Data)),
            id: try Digest32(bytes: [UInt8](row["id"] as Data)),
            vector: try SnapshotReplaceRule.decodeVector(row["vector"] as Data),
            madeAt: UInt64(bitPattern: row["made_at"] as Int64),
            manifest: [UInt8](row["manifest"] as Data),
            chunkCount: row["chunk_count"],
            bytes: row["bytes"])
    }

}
