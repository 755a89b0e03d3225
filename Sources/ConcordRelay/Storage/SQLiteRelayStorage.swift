import ConcordCore
import ConcordProtocol
import ConcordCrypto
import Foundation
import GRDB

/// A ``RelayStorage`` in one SQLite file, through GRDB: the default backend of a relay
/// that runs as one process (`Specs/relay-api.md` §7).
///
/// The file is opened as a `DatabasePool` (WAL: pulls read while a push writes) with
/// `synchronous = FULL`, so a push that was answered `200` is on disk even after a power
/// failure. The schema is created by an explicit migration (`v1`). Notices
/// (``notices()``) are broadcast inside this process after each commit.
///
/// ```swift
/// let storage = try SQLiteRelayStorage(path: "/var/lib/concord/relay.sqlite")
/// let server = RelayServer(configuration: RelayConfiguration(), storage: storage)
/// try await server.run()
/// ```
public final class SQLiteRelayStorage: RelayStorage {
    /// The database file.
    public let path: String
    /// Always `"sqlite"`.
    public var backendName: String { "sqlite" }

    let pool: DatabasePool
    let broadcaster = NoticeBroadcaster()

    /// Opens (creating if needed) the relay database at `path` and migrates it.
    /// - Parameters:
    ///   - path: The database file; its directory must exist.
    ///   - busyTimeout: How long to wait for another connection's lock, in seconds.
    /// - Throws: A GRDB `DatabaseError` when the file cannot be opened, is not a relay
    ///   database, or cannot use write-ahead logging.
    public init(path: String, busyTimeout: Double = 10) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.label = "concord-relay"
        pool = try DatabasePool(path: path, configuration: config)
        // DatabasePool switches the writer to WAL with `synchronous = NORMAL`; NORMAL
        // may lose the last commits on power failure. The writer is one long-lived
        // connection, so setting FULL here holds for every later push.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try Self.migrator.migrate(pool)
    }

    /// The schema: `bundles` as in `Specs/relay-api.md` §7, plus `space_usage`, a running
    /// total of bundle bytes per space so the quota check does not scan the log.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE bundles (
                    position INTEGER PRIMARY KEY,
                    space BLOB NOT NULL,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL CHECK (seq >= 1),
                    id BLOB NOT NULL,
                    previous BLOB NOT NULL,
                    bytes BLOB NOT NULL,
                    UNIQUE (space, author, seq)
                );
                CREATE INDEX bundles_by_space_position ON bundles (space, position);
                CREATE TABLE space_usage (
                    space BLOB PRIMARY KEY,
                    bytes INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }()

    /// Checks chains and stores `bundles` in one write transaction (§4).
    /// - Parameters:
    ///   - bundles: Verified bundles of `spaceID`, in push order.
    ///   - spaceID: The space.
    ///   - quotaBytes: The most bundle bytes the space may hold after the append.
    /// - Returns: The positions stored and the duplicates counted.
    /// - Throws: ``RelayRefusal`` `fork`, `missing-predecessor` or `quota-exceeded` (and
    ///   nothing is stored), or a database error.
    /// - Complexity: O(n log m) for n bundles in a space of m.
    public func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, quotaBytes: Int64) async throws -> AppendSummary {
        guard !bundles.isEmpty else { return AppendSummary() }
        let summary = try await pool.write { db in
            try Self.append(bundles, to: spaceID, quotaBytes: quotaBytes, in: db)
        }
        for position in summary.storedPositions {
            broadcaster.send(BundleNotice(spaceID: spaceID, position: position))
        }
        return summary
    }

    /// The chain check and insert of ``append(_:to:quotaBytes:)``, inside the transaction.
    static func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, quotaBytes: Int64, in db: Database) throws -> AppendSummary {
        var check = ChainCheck { author, sequence in
            try Row.fetchOne(
                db, sql: "SELECT seq, id FROM bundles WHERE space = ? AND author = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                arguments: [Data(spaceID.bytes), Data(author.bytes), Int64(clamping: sequence)]
            ).map { row in
                ChainCheck.Link(sequence: UInt64(row["seq"] as Int64), id: BundleID(digest: try Digest32(bytes: [UInt8](row["id"] as Data))))
            }
        }
        let accepted = try check.run(bundles)
        var summary = AppendSummary()
        summary.duplicates = check.duplicates
        guard !accepted.isEmpty else { return summary }
        let adding = accepted.reduce(Int64(0)) { $0 + Int64($1.bytes.count) }
        let used = try Int64.fetchOne(db, sql: "SELECT bytes FROM space_usage WHERE space = ?", arguments: [Data(spaceID.bytes)]) ?? 0
        guard used + adding <= quotaBytes else {
            throw RelayRefusal.quotaExceeded(spaceID: spaceID, used: used, adding: adding, quota: quotaBytes)
        }
        let space = Data(spaceID.bytes)
        for bundle in accepted {
            try db.execute(
                sql: "INSERT INTO bundles (space, author, seq, id, previous, bytes) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [space, Data(bundle.author.bytes), Int64(clamping: bundle.sequence), Data(bundle.id.bytes), Data(bundle.previous.bytes), Data(bundle.bytes)])
            summary.storedPositions.append(db.lastInsertedRowID)
        }
        try db.execute(
            sql: "INSERT INTO space_usage (space, bytes) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET bytes = bytes + excluded.bytes",
            arguments: [space, adding])
        return summary
    }

    /// The highest sequence stored per author of the space.
    public func vector(of spaceID: SpaceID) async throws -> VersionVector {
        try await pool.read { db in
            var entries: [PublicKey: UInt64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT author, MAX(seq) AS seq FROM bundles WHERE space = ? GROUP BY author", arguments: [Data(spaceID.bytes)])
            while let row = try rows.next() {
                entries[try PublicKey(bytes: [UInt8](row["author"] as Data))] = UInt64(row["seq"] as Int64)
            }
            return VersionVector(entries)
        }
    }

    /// One page of a pull: bundles of the space with `seq > since[author]` and
    /// `position > afterPosition`, in position order, at most `limit`.
    /// - Complexity: Walks the `(space, position)` index from `afterPosition`; `since` is
    ///   passed as one JSON parameter, so any number of authors fits.
    public func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [StoredBundle] {
        let sinceJSON = Self.sinceJSON(since)
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT position, space, author, seq, id, previous, bytes FROM bundles
                    WHERE space = ? AND position > ?
                      AND seq > COALESCE(json_extract(?, '$."' || lower(hex(author)) || '"'), 0)
                    ORDER BY position LIMIT ?
                    """,
                arguments: [Data(spaceID.bytes), afterPosition, sinceJSON, max(0, limit)]
            ).map(Self.storedBundle)
        }
    }

    /// The bundle stored at `position`, if any.
    public func bundle(at position: Int64) async throws -> StoredBundle? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position = ?", arguments: [position])
                .map(Self.storedBundle)
        }
    }

    /// Total bundle bytes the space holds.
    public func usage(of spaceID: SpaceID) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT bytes FROM space_usage WHERE space = ?", arguments: [Data(spaceID.bytes)]) ?? 0
        }
    }

    /// A notice for every bundle this storage stores after the call.
    public func notices() async throws -> AsyncStream<BundleNotice> {
        broadcaster.subscribe()
    }

    /// Runs a trivial query.
    public func healthCheck() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// Ends every notice stream and closes the database connections.
    public func close() async {
        broadcaster.finishAll()
        try? pool.close()
    }

    /// `{"<author hex>": seq, …}` for the pull query.
    static func sinceJSON(_ since: VersionVector) -> String {
        "{" + since.entries.map { "\"\($0.key.hex)\":\($0.value)" }.joined(separator: ",") + "}"
    }

    /// Decodes a `bundles` row.
    static func storedBundle(_ row: Row) throws -> StoredBundle {
        StoredBundle(
            position: row["position"],
            spaceID: try SpaceID(bytes: [UInt8](row["space"] as Data)),
            author: try PublicKey(bytes: [UInt8](row["author"] as Data)),
            sequence: UInt64(row["seq"] as Int64),
            id: BundleID(digest: try Digest32(bytes: [UInt8](row["id"] as Data))),
            previous: BundleID(digest: try Digest32(bytes: [UInt8](row["previous"] as Data))),
            bytes: [UInt8](row["bytes"] as Data))
    }
}
