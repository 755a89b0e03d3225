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
/// failure. The schema is created by explicit migrations (`v1`, `v2`, `relay-snapshots`, `relay-retention`). Notices
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

    /// The schema: `bundles` as in `Specs/relay-api.md` §7; `space_usage`, a running total
    /// of bundle bytes and authors per space, so the quota and author checks do not scan
    /// the log; and (v2) `heads`, each author's highest sequence per space, so vectors and
    /// pulls cost time in the space's authors, not in its bundles.
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
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE heads (
                    space BLOB NOT NULL,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (space, author)
                ) WITHOUT ROWID;
                INSERT INTO heads (space, author, seq) SELECT space, author, MAX(seq) FROM bundles GROUP BY space, author;
                ALTER TABLE space_usage ADD COLUMN authors INTEGER NOT NULL DEFAULT 0;
                UPDATE space_usage SET authors = (SELECT COUNT(*) FROM heads WHERE heads.space = space_usage.space);
                """)
        }
        // The latest snapshot of each space and the one it replaced (`Specs/relay-api.md` §7).
        migrator.registerMigration("relay-snapshots", migrate: createSnapshotTables)
        // Retention (`Specs/snapshots.md` §5.2): each row's kind, `hlc max` and whether its
        // bytes were dropped, and each author's floor.
        migrator.registerMigration("relay-retention", migrate: createRetentionColumns)
        return migrator
    }()

    /// Checks chains and limits and stores `bundles` in one write transaction (§4).
    /// - Parameters:
    ///   - bundles: Verified bundles of `spaceID`, in push order.
    ///   - spaceID: The space.
    ///   - limits: Quota, authors and spaces.
    /// - Returns: The positions stored and the duplicates counted.
    /// - Throws: ``RelayError`` (`.fork`, `.missingPredecessor`, `.quotaExceeded`,
    ///   `.tooManyAuthors`, `.tooManySpaces`; nothing is stored), or a database error.
    /// - Complexity: O(n log m) for n bundles in a space of m.
    public func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits) async throws -> AppendSummary {
        guard !bundles.isEmpty else { return AppendSummary() }
        let summary = try await pool.write { db in
            try Self.append(bundles, to: spaceID, limits: limits, in: db)
        }
        for position in summary.storedPositions {
            broadcaster.send(BundleNotice(spaceID: spaceID, position: position))
        }
        return summary
    }

    /// The chain check and insert of ``append(_:to:limits:)``, inside the transaction.
    static func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits, in db: Database) throws -> AppendSummary {
        let space = Data(spaceID.bytes)
        var check = ChainCheck { author, sequence in
            try Row.fetchOne(
                db, sql: "SELECT seq, id FROM bundles WHERE space = ? AND author = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                arguments: [space, Data(author.bytes), Int64(clamping: sequence)]
            ).map { row in
                ChainCheck.Link(sequence: UInt64(row["seq"] as Int64), id: BundleID(digest: try Digest32(bytes: [UInt8](row["id"] as Data))))
            }
        }
        let accepted = try check.run(bundles)
        var summary = AppendSummary()
        summary.duplicates = check.duplicates
        guard !accepted.isEmpty else { return summary }
        let used = try Row.fetchOne(db, sql: "SELECT bytes, authors FROM space_usage WHERE space = ?", arguments: [space]).map {
            (bytes: $0["bytes"] as Int64, authors: $0["authors"] as Int)
        }
        let (adding, newAuthors) = try SpaceLimitCheck.check(accepted, of: spaceID, used: used, limits: limits) {
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM space_usage") ?? 0
        }
        for bundle in accepted {
            try db.execute(
                sql: "INSERT INTO bundles (space, author, seq, id, previous, bytes, kind, hlc_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    space, Data(bundle.author.bytes), Int64(clamping: bundle.sequence), Data(bundle.id.bytes), Data(bundle.previous.bytes),
                    Data(bundle.bytes), RetentionRule.classify(bundle).kind, RetentionRule.classify(bundle).hlcMax,
                ])
            summary.storedPositions.append(db.lastInsertedRowID)
        }
        for head in SpaceLimitCheck.newHeads(accepted) {
            try db.execute(
                sql: "INSERT INTO heads (space, author, seq) VALUES (?, ?, ?) ON CONFLICT (space, author) DO UPDATE SET seq = excluded.seq",
                arguments: [space, Data(head.author.bytes), Int64(clamping: head.sequence)])
        }
        try db.execute(
            sql: """
                INSERT INTO space_usage (space, bytes, authors) VALUES (?, ?, ?)
                ON CONFLICT (space) DO UPDATE SET bytes = bytes + excluded.bytes, authors = authors + excluded.authors
                """,
            arguments: [space, adding, newAuthors])
        return summary
    }

    /// The highest sequence stored per author of the space, from `heads`.
    public func vector(of spaceID: SpaceID) async throws -> VersionVector {
        try await pool.read { db in
            var entries: [PublicKey: UInt64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT author, seq FROM heads WHERE space = ?", arguments: [Data(spaceID.bytes)])
            while let row = try rows.next() {
                entries[try PublicKey(bytes: [UInt8](row["author"] as Data))] = UInt64(row["seq"] as Int64)
            }
            return VersionVector(entries)
        }
    }

    /// See ``RelayStorage/vectorPage(of:after:limit:)``.
    public func vectorPage(of spaceID: SpaceID, after: PublicKey?, limit: Int) async throws -> [AuthorHead] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT author, seq FROM heads WHERE space = ? AND author > ? ORDER BY author LIMIT ?",
                arguments: [Data(spaceID.bytes), Data(after?.bytes ?? []), max(0, limit)]
            ).map { AuthorHead(author: try PublicKey(bytes: [UInt8]($0["author"] as Data)), sequence: UInt64($0["seq"] as Int64)) }
        }
    }

    /// See ``RelayStorage/pullStart(in:since:)``: the heads of the space, then one lookup
    /// of bundle `since[author] + 1` for each author the client lacks bundles of.
    public func pullStart(in spaceID: SpaceID, since: VersionVector) async throws -> Int64? {
        let space = Data(spaceID.bytes)
        return try await pool.read { db in
            if since.entries.isEmpty {
                return try Int64.fetchOne(db, sql: "SELECT MIN(position) FROM bundles WHERE space = ?", arguments: [space]).map { $0 - 1 }
            }
            var start: Int64?
            let heads = try Row.fetchAll(db, sql: "SELECT author, seq FROM heads WHERE space = ?", arguments: [space])
            for row in heads {
                let author = try PublicKey(bytes: [UInt8](row["author"] as Data))
                let held = since[author]
                guard UInt64(row["seq"] as Int64) > held else { continue }
                let position = try Int64.fetchOne(
                    db, sql: "SELECT position FROM bundles WHERE space = ? AND author = ? AND seq = ?",
                    arguments: [space, Data(author.bytes), Int64(clamping: held + 1)])
                if let position { start = min(start ?? position, position) }
            }
            return start.map { $0 - 1 }
        }
    }

    /// One page of a pull: bundles of the space with `seq > since[author]` and
    /// `position > afterPosition`, in position order, at most `limit`.
    /// - Complexity: Walks the `(space, position)` index from `afterPosition`, reading only
    ///   author and sequence of each row and looking them up in `since`; the bytes of the
    ///   rows it returns are read afterwards.
    public func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [StoredBundle] {
        guard limit > 0 else { return [] }
        let space = Data(spaceID.bytes)
        return try await pool.read { db in
            var result: [StoredBundle] = []
            var after = afterPosition
            let chunk = 4 * max(limit, 64)
            while result.count < limit {
                let rows = try Row.fetchAll(
                    db, sql: "SELECT position, author, seq FROM bundles WHERE space = ? AND position > ? ORDER BY position LIMIT ?",
                    arguments: [space, after, chunk])
                var wanted: [Int64] = []
                for row in rows where result.count + wanted.count < limit {
                    let author = try PublicKey(bytes: [UInt8](row["author"] as Data))
                    if UInt64(row["seq"] as Int64) > since[author] { wanted.append(row["position"]) }
                }
                for part in stride(from: 0, to: wanted.count, by: 500) {
                    let positions = Array(wanted[part..<min(wanted.count, part + 500)])
                    result += try Row.fetchAll(
                        db,
                        sql: "SELECT position, space, author, seq, id, previous, bytes FROM bundles WHERE position IN (\(databaseQuestionMarks(count: positions.count))) ORDER BY position",
                        arguments: StatementArguments(positions)
                    ).map(Self.storedBundle)
                }
                guard rows.count == chunk, let last = rows.last else { break }
                after = last["position"]
            }
            return result
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
