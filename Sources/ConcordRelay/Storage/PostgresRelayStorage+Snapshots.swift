import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import Logging
import PostgresNIO

/// Snapshots on PostgreSQL (`Specs/relay-api.md` §3.1, `Specs/snapshots.md` §5.2): the latest
/// snapshot of each space and the one it replaced, with their chunks.
extension PostgresRelayStorage {
    /// See ``RelayStorage/putSnapshot(_:chunks:quotaBytes:)``: one transaction holding the
    /// space's advisory lock (the one appends take), so the quota sees every committed push.
    public func putSnapshot(_ snapshot: StoredSnapshot, chunks: [[UInt8]], quotaBytes: Int64) async throws -> SnapshotPutOutcome {
        let logger = self.logger
        let space = ByteBuffer(bytes: snapshot.spaceID.bytes)
        let id = ByteBuffer(bytes: snapshot.id.bytes)
        return try await client.withConnection { connection in
            try await Self.inTransaction(connection, logger: logger) { connection in
                try await Self.run("SELECT pg_advisory_xact_lock(\(Self.lockKey(snapshot.spaceID)))", on: connection, logger: logger)
                var held = false
                for try await _ in try await connection.query(
                    "SELECT 1 FROM snapshots WHERE space = \(space) AND id = \(id)", logger: logger
                ).decode(Int.self) {
                    held = true
                }
                if held { return .alreadyStored }
                let latest = try await Self.storedSnapshots(
                    try await connection.query(
                        "SELECT space, id, vector, made_at, manifest, chunk_count, bytes FROM snapshots WHERE space = \(space) AND latest",
                        logger: logger)
                ).first
                try SnapshotReplaceRule.check(snapshot, replacing: latest)
                var dropping: Int64 = 0
                for try await bytes in try await connection.query(
                    "SELECT COALESCE(SUM(bytes), 0)::int8 FROM snapshots WHERE space = \(space) AND NOT latest", logger: logger
                ).decode(Int64.self) {
                    dropping = bytes
                }
                var used: Int64 = 0
                for try await bytes in try await connection.query("SELECT bytes FROM space_usage WHERE space = \(space)", logger: logger)
                    .decode(Int64.self)
                {
                    used = bytes
                }
                try SnapshotReplaceRule.checkQuota(
                    used: used, adding: snapshot.bytes, dropping: dropping, quota: quotaBytes, spaceID: snapshot.spaceID)
                try await Self.run(
                    """
                    DELETE FROM snapshot_chunks WHERE space = \(space) AND id IN (SELECT id FROM snapshots WHERE space = \(space) AND NOT latest)
                    """, on: connection, logger: logger)
                try await Self.run("DELETE FROM snapshots WHERE space = \(space) AND NOT latest", on: connection, logger: logger)
                try await Self.run("UPDATE snapshots SET latest = FALSE WHERE space = \(space)", on: connection, logger: logger)
                try await Self.run(
                    """
                    INSERT INTO snapshots (space, id, latest, vector, made_at, manifest, chunk_count, bytes)
                    VALUES (\(space), \(id), TRUE, \(ByteBuffer(bytes: SnapshotReplaceRule.encode(snapshot.vector))),
                        \(Int64(bitPattern: snapshot.madeAt)), \(ByteBuffer(bytes: snapshot.manifest)), \(Int32(clamping: snapshot.chunkCount)),
                        \(snapshot.bytes))
                    """, on: connection, logger: logger)
                if !chunks.isEmpty {
                    try await Self.run(
                        """
                        INSERT INTO snapshot_chunks (space, id, idx, bytes)
                        SELECT \(space), \(id), c.idx - 1, c.bytes
                        FROM unnest(\(chunks.map { ByteBuffer(bytes: $0) })::bytea[]) WITH ORDINALITY AS c(bytes, idx)
                        """, on: connection, logger: logger)
                }
                try await Self.run(
                    """
                    INSERT INTO space_usage (space, bytes, authors) VALUES (\(space), \(snapshot.bytes - dropping), 0)
                    ON CONFLICT (space) DO UPDATE SET bytes = space_usage.bytes + EXCLUDED.bytes
                    """, on: connection, logger: logger)
                return SnapshotPutOutcome.stored
            }
        }
    }

    /// See ``RelayStorage/latestSnapshot(of:)``.
    public func latestSnapshot(of spaceID: SpaceID) async throws -> StoredSnapshot? {
        try await Self.storedSnapshots(
            try await readClient.query(
                """
                SELECT space, id, vector, made_at, manifest, chunk_count, bytes FROM snapshots
                WHERE space = \(ByteBuffer(bytes: spaceID.bytes)) AND latest
                """, logger: logger)
        ).first
    }

    /// See ``RelayStorage/snapshot(_:of:)``.
    public func snapshot(_ id: Digest32, of spaceID: SpaceID) async throws -> StoredSnapshot? {
        try await Self.storedSnapshots(
            try await readClient.query(
                """
                SELECT space, id, vector, made_at, manifest, chunk_count, bytes FROM snapshots
                WHERE space = \(ByteBuffer(bytes: spaceID.bytes)) AND id = \(ByteBuffer(bytes: id.bytes))
                """, logger: logger)
        ).first
    }

    /// See ``RelayStorage/snapshotChunk(_:index:of:)``.
    public func snapshotChunk(_ id: Digest32, index: Int, of spaceID: SpaceID) async throws -> [UInt8]? {
        var chunk: [UInt8]?
        for try await bytes in try await readClient.query(
            """
            SELECT bytes FROM snapshot_chunks
            WHERE space = \(ByteBuffer(bytes: spaceID.bytes)) AND id = \(ByteBuffer(bytes: id.bytes)) AND idx = \(Int32(clamping: index))
            """, logger: logger
        ).decode(ByteBuffer.self) {
            chunk = Array(bytes.readableBytesView)
        }
        return chunk
    }

    private static func storedSnapshots(_ rows: PostgresRowSequence) async throws -> [StoredSnapshot] {
        var result: [StoredSnapshot] = []
        for try await (space, id, vector, madeAt, manifest, chunkCount, bytes) in rows.decode(
            (ByteBuffer, ByteBuffer, ByteBuffer, Int64, ByteBuffer, Int32, Int64).self)
        {
            result.append(
                StoredSnapshot(
                    spaceID: try SpaceID(bytes: space.readableBytesView), id: try Digest32(bytes: id.readableBytesView),
                    vector: try SnapshotReplaceRule.decodeVector(vector.readableBytesView), madeAt: UInt64(bitPattern: madeAt),
                    manifest: Array(manifest.readableBytesView), chunkCount: Int(chunkCount), bytes: bytes))
        }
        return result
    }
}
