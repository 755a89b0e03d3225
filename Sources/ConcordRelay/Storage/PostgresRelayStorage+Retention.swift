import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import Logging
import PostgresNIO

/// Retention on PostgreSQL (`Specs/snapshots.md` §5.2, `Specs/relay-api.md` §7, schema
/// version 5): data bundles below the latest snapshot lose their bytes, their rows stay.
extension PostgresRelayStorage {
    /// See ``RelayStorage/dropBundleBytes(in:through:hlcBelow:)``: one transaction holding the
    /// space's advisory lock (the one appends take), so usage and floors move with the pushes.
    /// `concord_append` leaves `kind` and `hlc_max` NULL: the pass reads each new row once.
    public func dropBundleBytes(in spaceID: SpaceID, through bound: VersionVector, hlcBelow: UInt64) async throws -> RetentionSummary {
        let logger = self.logger
        let space = ByteBuffer(bytes: spaceID.bytes)
        let below = RetentionRule.column(hlcBelow)
        return try await client.withConnection { connection in
            try await Self.inTransaction(connection, logger: logger) { connection in
                try await Self.run("SELECT pg_advisory_xact_lock(\(Self.lockKey(spaceID)))", on: connection, logger: logger)
                let floors = try await Self.floor(of: space, on: connection, logger: logger)
                var summary = RetentionSummary()
                for (author, limit) in bound.entries.sorted(by: { $0.key < $1.key }) where limit > floors[author] {
                    let key = ByteBuffer(bytes: author.bytes)
                    let low = Int64(clamping: floors[author])
                    let high = Int64(clamping: limit)
                    var positions: [Int64] = []
                    var kinds: [Int64] = []
                    var marks: [Int64] = []
                    for try await (position, bytes) in try await connection.query(
                        """
                        SELECT position, bytes FROM bundles
                        WHERE space = \(space) AND author = \(key) AND seq > \(low) AND seq <= \(high) AND kind IS NULL
                        """, logger: logger
                    ).decode((Int64, ByteBuffer).self) {
                        let (kind, hlcMax) = RetentionRule.classify(Array(bytes.readableBytesView))
                        positions.append(position)
                        kinds.append(kind)
                        marks.append(hlcMax)
                    }
                    if !positions.isEmpty {
                        try await Self.run(
                            """
                            UPDATE bundles SET kind = c.kind, hlc_max = c.hlc_max
                            FROM unnest(\(positions)::int8[], \(kinds)::int8[], \(marks)::int8[]) AS c(position, kind, hlc_max)
                            WHERE bundles.position = c.position
                            """, on: connection, logger: logger)
                        summary.classified += positions.count
                    }
                    var found: (count: Int64, size: Int64, top: Int64?) = (0, 0, nil)
                    for try await row in try await connection.query(
                        """
                        SELECT COUNT(*)::int8, COALESCE(SUM(octet_length(bytes)), 0)::int8, MAX(seq) FROM bundles
                        WHERE space = \(space) AND author = \(key) AND seq > \(low) AND seq <= \(high)
                            AND kind = 0 AND NOT dropped AND hlc_max < \(below)
                        """, logger: logger
                    ).decode((Int64, Int64, Int64?).self) {
                        found = row
                    }
                    guard let top = found.top else { continue }
                    try await Self.run(
                        """
                        UPDATE bundles SET bytes = ''::bytea, dropped = TRUE
                        WHERE space = \(space) AND author = \(key) AND seq > \(low) AND seq <= \(high)
                            AND kind = 0 AND NOT dropped AND hlc_max < \(below)
                        """, on: connection, logger: logger)
                    try await Self.run(
                        """
                        INSERT INTO bundle_floors (space, author, seq) VALUES (\(space), \(key), \(top))
                        ON CONFLICT (space, author) DO UPDATE SET seq = GREATEST(bundle_floors.seq, EXCLUDED.seq)
                        """, on: connection, logger: logger)
                    summary.dropped += Int(found.count)
                    summary.bytes += found.size
                }
                if summary.bytes > 0 {
                    try await Self.run(
                        "UPDATE space_usage SET bytes = bytes - \(summary.bytes) WHERE space = \(space)", on: connection, logger: logger)
                }
                return summary
            }
        }
    }

    /// See ``RelayStorage/floor(of:)``.
    public func floor(of spaceID: SpaceID) async throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for try await (author, seq) in try await readClient.query(
            "SELECT author, seq FROM bundle_floors WHERE space = \(ByteBuffer(bytes: spaceID.bytes))", logger: logger
        ).decode((ByteBuffer, Int64).self) {
            entries[try PublicKey(bytes: author.readableBytesView)] = UInt64(seq)
        }
        return VersionVector(entries)
    }

    /// The floors of `space`, read on `connection` (inside a pass's transaction).
    private static func floor(of space: ByteBuffer, on connection: PostgresConnection, logger: Logger) async throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for try await (author, seq) in try await connection.query(
            "SELECT author, seq FROM bundle_floors WHERE space = \(space)", logger: logger
        ).decode((ByteBuffer, Int64).self) {
            entries[try PublicKey(bytes: author.readableBytesView)] = UInt64(seq)
        }
        return VersionVector(entries)
    }
}
