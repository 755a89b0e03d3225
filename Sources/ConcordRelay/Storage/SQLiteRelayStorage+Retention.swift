import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import GRDB

/// Retention on SQLite (`Specs/snapshots.md` §5.2, `Specs/relay-api.md` §7): data bundles
/// below the latest snapshot lose their bytes, their rows stay.
extension SQLiteRelayStorage {
    /// Migration `relay-retention`: `bundles.kind` (0 data, 1 control; NULL until a pass
    /// reads the row), `bundles.hlc_max`, `bundles.dropped`, and `bundle_floors`, each
    /// author's highest dropped sequence. Rows stored before it are classified by the first
    /// pass that reaches them.
    static func createRetentionColumns(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE bundles ADD COLUMN kind INTEGER;
                ALTER TABLE bundles ADD COLUMN hlc_max INTEGER;
                ALTER TABLE bundles ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE bundle_floors (
                    space BLOB NOT NULL,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (space, author)
                ) WITHOUT ROWID;
                """)
    }

    /// See ``RelayStorage/dropBundleBytes(in:through:hlcBelow:)``: one write transaction;
    /// per author, the rows above its floor up to the bound.
    public func dropBundleBytes(in spaceID: SpaceID, through bound: VersionVector, hlcBelow: UInt64) async throws -> RetentionSummary {
        let space = Data(spaceID.bytes)
        let below = RetentionRule.column(hlcBelow)
        return try await pool.write { db in
            var summary = RetentionSummary()
            let floors = try Self.floor(of: space, in: db)
            for (author, limit) in bound.entries.sorted(by: { $0.key < $1.key }) where limit > floors[author] {
                let key = Data(author.bytes)
                let range: StatementArguments = [space, key, Int64(clamping: floors[author]), Int64(clamping: limit)]
                let unread = try Row.fetchAll(
                    db, sql: "SELECT position, bytes FROM bundles WHERE space = ? AND author = ? AND seq > ? AND seq <= ? AND kind IS NULL",
                    arguments: range)
                for row in unread {
                    let (kind, hlcMax) = RetentionRule.classify([UInt8](row["bytes"] as Data))
                    try db.execute(
                        sql: "UPDATE bundles SET kind = ?, hlc_max = ? WHERE position = ?",
                        arguments: [kind, hlcMax, row["position"] as Int64])
                }
                summary.classified += unread.count
                let droppable = "space = ? AND author = ? AND seq > ? AND seq <= ? AND kind = 0 AND dropped = 0 AND hlc_max < ?"
                let arguments = range + [below]
                guard
                    let found = try Row.fetchOne(
                        db,
                        sql:
                            "SELECT COUNT(*) AS n, COALESCE(SUM(length(bytes)), 0) AS size, MAX(seq) AS top FROM bundles WHERE \(droppable)",
                        arguments: arguments),
                    let top = found["top"] as Int64?
                else { continue }
                try db.execute(sql: "UPDATE bundles SET bytes = X'', dropped = 1 WHERE \(droppable)", arguments: arguments)
                try db.execute(
                    sql: """
                        INSERT INTO bundle_floors (space, author, seq) VALUES (?, ?, ?)
                        ON CONFLICT (space, author) DO UPDATE SET seq = MAX(seq, excluded.seq)
                        """,
                    arguments: [space, key, top])
                summary.dropped += found["n"] as Int
                summary.bytes += found["size"] as Int64
            }
            if summary.bytes > 0 {
                try db.execute(sql: "UPDATE space_usage SET bytes = bytes - ? WHERE space = ?", arguments: [summary.bytes, space])
            }
            return summary
        }
    }

    /// See ``RelayStorage/floor(of:)``.
    public func floor(of spaceID: SpaceID) async throws -> VersionVector {
        try await pool.read { db in try Self.floor(of: Data(spaceID.bytes), in: db) }
    }

    /// The floors of `space` in `db`.
    static func floor(of space: Data, in db: Database) throws -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT author, seq FROM bundle_floors WHERE space = ?", arguments: [space]) {
            entries[try PublicKey(bytes: [UInt8](row["author"] as Data))] = UInt64(row["seq"] as Int64)
        }
        return VersionVector(entries)
    }
}
