import ConcordCore
import ConcordProtocol
import Foundation
import GRDB

extension SQLiteStore {
    /// The schema, one migration per released change. Never edit a migration after it
    /// ships: add the next one (and document it in `Specs/storage-schema.md`).
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE records (
                    collection TEXT NOT NULL,
                    id BLOB NOT NULL,
                    state BLOB NOT NULL,
                    visible INTEGER NOT NULL,
                    local_seq INTEGER,
                    PRIMARY KEY (collection, id)
                ) WITHOUT ROWID;
                CREATE INDEX records_unsealed ON records (collection, id) WHERE local_seq = 0;

                CREATE TABLE fields (
                    collection TEXT NOT NULL,
                    record_id BLOB NOT NULL,
                    name TEXT NOT NULL,
                    type INTEGER NOT NULL,
                    value,
                    PRIMARY KEY (collection, record_id, name)
                ) WITHOUT ROWID;
                CREATE INDEX fields_by_value ON fields (collection, name, value);

                CREATE TABLE bundles (
                    position INTEGER PRIMARY KEY,
                    id BLOB NOT NULL UNIQUE,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    previous BLOB NOT NULL,
                    bytes BLOB NOT NULL,
                    UNIQUE (author, seq)
                );

                CREATE TABLE chain_heads (
                    author BLOB PRIMARY KEY NOT NULL,
                    seq INTEGER NOT NULL,
                    id BLOB NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE held_bundles (
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    id BLOB NOT NULL UNIQUE,
                    previous BLOB NOT NULL,
                    bytes BLOB NOT NULL,
                    PRIMARY KEY (author, seq)
                ) WITHOUT ROWID;

                CREATE TABLE quarantined_bundles (
                    position INTEGER PRIMARY KEY,
                    id BLOB NOT NULL UNIQUE,
                    author BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    previous BLOB NOT NULL,
                    bytes BLOB NOT NULL
                );

                CREATE TABLE pending_ops (
                    position INTEGER PRIMARY KEY,
                    op_count INTEGER NOT NULL,
                    batch BLOB NOT NULL
                );
                """)
        }
        // v2: the history index (`Specs/storage-schema.md` §3.10): which bundles of the
        // log touch which record, so a record's history and conflicts read those bundles
        // only. Filled by `Concord.Replica` as the log is read, never by the store itself
        // (bundle payloads may be encrypted).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE record_bundles (
                    collection TEXT NOT NULL,
                    record_id BLOB NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (collection, record_id, position)
                ) WITHOUT ROWID;
                """)
        }
        // v3: permission denials (`Specs/storage-schema.md` §3.11, `Specs/permissions.md`
        // §6.3): derived data, written and recomputed by `Concord.Replica` with the records.
        migrator.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    CREATE TABLE permission_denials (
                        bundle_id BLOB NOT NULL,
                        section INTEGER NOT NULL,
                        op_index INTEGER NOT NULL,
                        author BLOB NOT NULL,
                        seq INTEGER NOT NULL,
                        detail BLOB NOT NULL,
                        PRIMARY KEY (bundle_id, section, op_index)
                    ) WITHOUT ROWID;
                    CREATE INDEX permission_denials_by_author ON permission_denials (author, seq);
                    """)
        }
        // chain-marks (issue 16 stage 1, `Specs/storage-schema.md` §3.4–§3.5): each chain
        // bundle's chain mark (the greatest `hlc max` of its author's data bundles up to it,
        // NULL: none) and each head's, for chain monotonicity and the held frontier. Filled
        // from the bundles held, read from their headers in chain order.
        migrator.registerMigration("chain-marks") { db in
            try db.execute(sql: "ALTER TABLE bundles ADD COLUMN mark INTEGER; ALTER TABLE chain_heads ADD COLUMN mark INTEGER;")
            var marks: [Data: Int64?] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT position, author, bytes FROM bundles ORDER BY author, seq")
            var updates: [(Int64, Int64?)] = []
            while let row = try rows.next() {
                let author: Data = row[1]
                let before = marks[author].flatMap { $0 }.map { HLCTimestamp(rawValue: UInt64(bitPattern: $0)) }
                let bytes: Data = row[2]
                var mark = before
                if let header = ChangeBundle.headerClock(Array(bytes)) {
                    mark = ChainRule.mark(before, isControl: header.isControl, hlcMax: header.range.upperBound)
                }
                let value = mark.map { Int64(bitPattern: $0.rawValue) }
                marks[author] = .some(value)
                updates.append((row[0], value))
            }
            let statement = try db.makeStatement(sql: "UPDATE bundles SET mark = ? WHERE position = ?")
            for (position, value) in updates { try statement.execute(arguments: [value, position]) }
            try db.execute(sql: "UPDATE chain_heads SET mark = (SELECT b.mark FROM bundles b WHERE b.id = chain_heads.id)")
        }
        // compaction (issue 16 stage 5, `Specs/storage-schema.md` §3.12–§3.13): the base
        // records a compacted or snapshot-loaded store rebuilds from, copy-on-write, and the
        // ids of bundles compaction dropped. A store loaded from a snapshot before this kept
        // its base as one metadata blob (`snapshot.base.records`): it becomes rows here.
        migrator.registerMigration("compaction") { db in
            try db.execute(sql: """
                CREATE TABLE base_records (
                    collection TEXT NOT NULL,
                    id BLOB NOT NULL,
                    state BLOB,
                    PRIMARY KEY (collection, id)
                ) WITHOUT ROWID;
                CREATE TABLE chain_ids (
                    author BLOB NOT NULL,
                    first_seq INTEGER NOT NULL,
                    ids BLOB NOT NULL,
                    PRIMARY KEY (author, first_seq)
                ) WITHOUT ROWID;
                """)
            guard let blob = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'snapshot.base.records'") else { return }
            let records: [SnapshotRecord]
            do {
                records = try SnapshotRecord.decode(Array(blob))
            } catch {
                throw StoreError(.decoding, "the base records of the snapshot this replica was loaded from do not decode: \(error)")
            }
            try SQLiteTransaction(db, path: "").replaceBase(
                with: records.map { BaseRecord(collection: $0.collection, id: $0.id, state: $0.state) })
            try db.execute(sql: "DELETE FROM meta WHERE key = 'snapshot.base.records'")
        }
        return migrator
    }()
}
