import ConcordCore
import ConcordCrypto
import Foundation
import GRDB

/// A ``Store`` in one SQLite database file, through GRDB: WAL journal, `synchronous =
/// FULL` (a transaction that returned is on disk), explicit schema migrations, and
/// indexed tables for queries. The schema is normative: `Specs/storage-schema.md`.
///
/// One process should own a store at a time; a second process waits up to
/// `busyTimeout` for the lock (then ``StoreError/Code/busy``).
///
/// ```swift
/// let store = try SQLiteStore(path: "notes/replica.sqlite")
/// let report = try store.integrityCheck()   // [] when healthy
/// ```
public final class SQLiteStore: Store {
    /// The database file.
    public let path: String
    let queue: DatabaseQueue

    /// Opens (creating if needed) the store at `path` and migrates it to this build's schema.
    /// - Parameters:
    ///   - path: The database file; its directory must exist.
    ///   - busyTimeout: How long to wait for another connection's lock, in seconds.
    /// - Throws: ``StoreError`` `.cannotOpen`, `.corrupt` (not a Concord store),
    ///   `.newerSchema` (written by a newer Concord).
    public init(path: String, busyTimeout: Double = 10) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.label = "concord-store"
        // WAL is set here rather than with `config.journalMode = .wal`: GRDB would then set
        // `synchronous = NORMAL` after this block, and a committed transaction could be
        // lost on power failure. FULL syncs the WAL at every commit.
        config.prepareDatabase { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw StoreError(.cannotOpen, "\(path) cannot use write-ahead logging (journal mode \(mode ?? "unknown")); put the store on a local disk that allows it")
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // An 8 MiB page cache (SQLite's default is 2 MiB): an import reads and rewrites
            // records and index pages all over the file, and a small cache thrashes. Not
            // larger: the cache fills as the store grows, and import memory should not.
            try db.execute(sql: "PRAGMA cache_size = -8192")
            // Checkpoint when the WAL reaches 4000 pages (16 MiB at 4 KiB pages), not
            // SQLite's 1000: an import transaction of 10,000 operations writes more than
            // 1000 pages, so the default copied every transaction's pages back into the
            // database file (and synced it) after each commit; now a page rewritten by the
            // next few transactions is copied once. Durability is unchanged (the WAL is
            // synced at every commit); the WAL file may grow to about 16 MiB plus one
            // transaction.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 4000")
        }
        queue = try SQLiteStore.mapping("opening \(path)") {
            try DatabaseQueue(path: path, configuration: config)
        }
        try SQLiteStore.mapping("migrating \(path)") {
            let (superseded, applied) = try queue.read { db in
                (try SQLiteStore.migrator.hasBeenSuperseded(db), try SQLiteStore.appliedMigrations(db))
            }
            if superseded {
                throw StoreError(.newerSchema, "\(path) was written by a newer Concord (schema \(applied.last ?? "?")); upgrade Concord to open it")
            }
            try SQLiteStore.migrator.migrate(queue)
        }
    }

    public func read<T>(_ body: (any StoreReader) throws -> T) throws -> T {
        try SQLiteStore.mapping("reading \(path)") {
            try queue.read { db in try body(SQLiteTransaction(db, path: path)) }
        }
    }

    public func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T {
        try SQLiteStore.mapping("writing \(path)") {
            try queue.write { db in try body(SQLiteTransaction(db, path: path)) }
        }
    }

    /// Runs SQLite's integrity check and foreign-key check.
    /// - Returns: The problems found; empty when the file is healthy.
    public func integrityCheck() throws -> [String] {
        try SQLiteStore.mapping("checking \(path)") {
            try queue.read { db in
                let report = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                return report == ["ok"] ? [] : report
            }
        }
    }

    /// Rebuilds the database file without its free pages (SQLite `VACUUM`), then truncates
    /// the write-ahead log: what compaction (`Specs/snapshots.md` §5.1) runs after dropping
    /// bundles, so the file shrinks.
    ///
    /// ```swift
    /// try store.vacuum()
    /// ```
    /// - Complexity: O(file size): SQLite copies every live page.
    public func vacuum() throws {
        try SQLiteStore.mapping("vacuuming \(path)") {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM")
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        }
    }

    /// The schema migrations applied to this file, oldest first.
    public func appliedMigrations() throws -> [String] {
        try SQLiteStore.mapping("reading \(path)") { try queue.read { try SQLiteStore.appliedMigrations($0) } }
    }

    static func appliedMigrations(_ db: Database) throws -> [String] {
        try migrator.appliedMigrations(db)
    }

    /// Maps GRDB and SQLite errors to ``StoreError``; other errors pass through.
    static func mapping<T>(_ context: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw StoreError(error, context: context)
        }
    }
}

extension StoreError {
    /// Maps a SQLite error code, keeping SQLite's message for diagnosis.
    init(_ error: DatabaseError, context: String) {
        let detail = "\(context): \(error.message ?? "\(error.resultCode)")"
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            self.init(.corrupt, "\(detail); the file is damaged or is not a Concord store: restore it from a backup, or move it away and re-sync from a peer")
        case .SQLITE_FULL:
            self.init(.io, "\(detail); the disk is full: free some space and retry")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            self.init(.busy, "\(detail); another process is using the store: close it (only one process should open a store at a time) and retry")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            self.init(.cannotOpen, "\(detail); check that the directory exists and is writable")
        case .SQLITE_CONSTRAINT:
            self.init(.constraint, "\(detail); this is a bug in Concord, please report it")
        default:
            self.init(.io, "\(detail); check the disk and retry")
        }
    }
}
