import ConcordCore
import ConcordCrypto
import ConcordProtocol
import Foundation
import GRDB
import GRDBSQLite

/// One transaction (or read) of a ``SQLiteStore``. Every statement is prepared once per
/// connection and cached.
///
/// Text (names, metadata keys, string values) is bound as its UTF-8 bytes and turned into
/// text in SQL with `CAST(? AS TEXT)`, and read back as bytes: GRDB passes a `String` to
/// SQLite as a C string, which would cut it at its first NUL ("a\0b" would become "a").
final class SQLiteTransaction: StoreWriter {
    let db: Database
    /// The database file, for error messages.
    let path: String

    init(_ db: Database, path: String) {
        self.db = db
        self.path = path
    }

    /// A string as a bind argument for `CAST(? AS TEXT)`: its UTF-8 bytes, NULs included.
    static func text(_ string: String) -> DatabaseValue { Data(string.utf8).databaseValue }

    /// A record id as a bind argument: its 16 bytes.
    static func idValue(_ id: RecordID) -> DatabaseValue { id.withUnsafeBytes { Data($0) }.databaseValue }

    // The statements of the import's inner loop, looked up in GRDB's statement cache once
    // per transaction instead of once per call (the lookup hashes the whole SQL text).
    private var readRecordStatement: Statement?
    private var updateRecordStatement: Statement?
    private var updateRecordStateStatement: Statement?
    private var insertRecordStatement: Statement?
    private var updateFieldStatement: Statement?
    private var insertFieldStatement: Statement?
    /// Whether `putRecord` copies a record's state into `base_records` before changing it
    /// (read once per transaction; `Specs/storage-schema.md` §3.12).
    var copiesBaseOnWrite: Bool?

    private func cached(_ slot: inout Statement?, _ sql: String) throws -> HotStatement {
        if let statement = slot { return HotStatement(statement: statement, db: db) }
        let statement = try db.cachedStatement(sql: sql)
        slot = statement
        return HotStatement(statement: statement, db: db)
    }

    /// Runs `body`, forgetting the statements above when it fails (they are looked up
    /// again, as after a failure GRDB may have dropped one from its cache).
    private func usingHotStatements<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            (readRecordStatement, updateRecordStatement, updateRecordStateStatement, insertRecordStatement) = (nil, nil, nil, nil)
            (updateFieldStatement, insertFieldStatement) = (nil, nil)
            throw error
        }
    }

    /// A text column read as `CAST(column AS BLOB)`.
    static func string(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    /// Runs one store operation, mapping SQLite errors to ``StoreError`` so none leak into
    /// a transaction body that catches errors.
    func mapping<T>(_ body: () throws -> T) throws -> T {
        try SQLiteStore.mapping(path, body)
    }

    // MARK: Metadata

    func metadata(_ key: String) throws -> [UInt8]? {
        try mapping {
            try Data.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = CAST(? AS TEXT)"), arguments: [Self.text(key)])
                .map { Array($0) }
        }
    }

    func setMetadata(_ value: [UInt8]?, for key: String) throws {
        try mapping {
            if let value {
                try db.cachedStatement(
                    sql: "INSERT INTO meta (key, value) VALUES (CAST(? AS TEXT), ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                )
                .execute(arguments: [Self.text(key), Data(value)])
            } else {
                try db.cachedStatement(sql: "DELETE FROM meta WHERE key = CAST(? AS TEXT)").execute(arguments: [Self.text(key)])
            }
        }
    }

    // MARK: Records

    func record(_ id: RecordID, in collection: String) throws -> StoredRecord? {
        try mapping {
            try usingHotStatements {
                let statement = try cached(
                    &readRecordStatement, "SELECT state, local_seq FROM records WHERE collection = CAST(? AS TEXT) AND id = ?")
                statement.bind(text: collection, at: 1)
                statement.bind(id: id, at: 2)
                return try statement.fetchOne { row in
                    guard sqlite3_column_type(row, 0) != SQLITE_NULL else { throw StoreError(.decoding, "a record row has no state") }
                    let count = Int(sqlite3_column_bytes(row, 0))
                    let state = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(row, 0), count: count))
                    let sequence = sqlite3_column_type(row, 1) == SQLITE_NULL ? nil : UInt64(bitPattern: sqlite3_column_int64(row, 1))
                    return StoredRecord(state: try Self.recordState(state), localSequence: sequence)
                }
            }
        }
    }

    static func recordState(_ bytes: [UInt8]) throws -> RecordState {
        do {
            return try RecordState(storageEncoding: bytes)
        } catch {
            throw StoreError(.decoding, "a stored record state cannot be decoded (\(error)); the store is damaged: re-sync from a peer")
        }
    }

    static func storedRecord(_ row: Row, stateIndex: Int, sequenceIndex: Int) throws -> StoredRecord {
        let state = try row.withUnsafeData(atIndex: stateIndex) { data -> RecordState in
            guard let data else { throw StoreError(.decoding, "a record row has no state") }
            return try recordState(Array(data))
        }
        let sequence: Int64? = row[sequenceIndex]
        return StoredRecord(state: state, localSequence: sequence.map { UInt64(bitPattern: $0) })
    }

    func putRecord(_ record: StoredRecord, id: RecordID, in collection: String, previous: StoredRecord?) throws {
        try copyBaseOnWrite(id: id, in: collection, previous: previous)
        try mapping {
            try usingHotStatements {
                // `previous` says whether the row exists: a plain UPDATE or INSERT is one b-tree
                // search, an upsert of an existing row two. An UPDATE that leaves `local_seq`
                // as it is (every remote change) does not name it, so SQLite skips the partial
                // index `records_unsealed` (a cursor opened and closed per row). Same
                // parameter numbers in all three.
                let keepsSequence = previous != nil && previous?.localSequence == record.localSequence
                let statement =
                    if keepsSequence {
                        try cached(
                            &updateRecordStateStatement,
                            "UPDATE records SET state = ?3, visible = ?4 WHERE collection = CAST(?1 AS TEXT) AND id = ?2")
                    } else if previous != nil {
                        try cached(
                            &updateRecordStatement,
                            "UPDATE records SET state = ?3, visible = ?4, local_seq = ?5 WHERE collection = CAST(?1 AS TEXT) AND id = ?2")
                    } else {
                        try cached(
                            &insertRecordStatement,
                            "INSERT INTO records (collection, id, state, visible, local_seq) VALUES (CAST(?1 AS TEXT), ?2, ?3, ?4, ?5)")
                    }
                statement.bind(text: collection, at: 1)
                statement.bind(id: id, at: 2)
                record.state.storageEncoding().withUnsafeBytes { statement.bind(bytes: $0, at: 3) }
                statement.bind(record.state.isVisible ? 1 : 0, at: 4)
                if !keepsSequence { statement.bind(record.localSequence.map { Int64(bitPattern: $0) }, at: 5) }
                try statement.execute()

                // The field index holds the registers of the record (a deleted record has none).
                // A register's row is rewritten when its value changed (a write that only moved
                // the stamp leaves the same row). A register of `previous` has its row; a new
                // one has none.
                let (changed, removed) = record.state.registerChanges(since: previous?.state)
                for (name, register, existed) in changed {
                    let indexed = IndexedValue(register.value)
                    let statement =
                        existed
                        ? try cached(
                            &updateFieldStatement,
                            """
                            UPDATE fields SET type = ?1, value = CASE WHEN ?1 = 4 THEN CAST(?2 AS TEXT) ELSE ?2 END
                            WHERE collection = CAST(?3 AS TEXT) AND record_id = ?4 AND name = CAST(?5 AS TEXT)
                            """)
                        : try cached(
                            &insertFieldStatement,
                            """
                            INSERT INTO fields (collection, record_id, name, type, value)
                            VALUES (CAST(?3 AS TEXT), ?4, CAST(?5 AS TEXT), ?1, CASE WHEN ?1 = 4 THEN CAST(?2 AS TEXT) ELSE ?2 END)
                            """)
                    statement.bind(Int64(indexed.type), at: 1)
                    statement.bind(value: register.value, at: 2)
                    statement.bind(text: collection, at: 3)
                    statement.bind(id: id, at: 4)
                    statement.bind(text: name.string, at: 5)
                    try statement.execute()
                }
                if !removed.isEmpty {
                    let (collectionText, idData) = (Self.text(collection), Self.idValue(id))
                    let delete = try db.cachedStatement(
                        sql: "DELETE FROM fields WHERE collection = CAST(? AS TEXT) AND record_id = ? AND name = CAST(? AS TEXT)")
                    for name in removed { try delete.execute(arguments: [collectionText, idData, Self.text(name.string)]) }
                }
            }
        }
    }

    /// A value as bound for `fields.value` (see `Specs/storage-schema.md`). A string is
    /// bound as its UTF-8 bytes: its placeholder must be `CAST(? AS TEXT)`
    /// (``placeholder(for:)``).
    static func databaseValue(_ value: Value) -> DatabaseValue {
        switch value {
        case .null: .null
        case .bool(let b): (b ? 1 : 0 as Int64).databaseValue
        case .int(let i): i.databaseValue
        case .double(let d): d.isNaN ? .null : d.databaseValue
        case .string(let s): text(s)
        case .bytes(let b): Data(b).databaseValue
        case .reference(let r): Data(IndexedValue.referenceBlob(r)).databaseValue
        }
    }

    /// The SQL placeholder for ``databaseValue(_:)`` of `value`.
    static func placeholder(for value: Value) -> String {
        if case .string = value { "CAST(? AS TEXT)" } else { "?" }
    }

    func records(matching query: RecordQuery) throws -> [StoredRecordRow] {
        guard query.memberFilters.isEmpty else { return try membersFiltered(query) }
        return try mapping {
            let (sql, arguments) = Self.sql(for: query, counting: false)
            let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
            var result: [StoredRecordRow] = []
            while let row = try rows.next() {
                let idData: Data = row[0]
                guard let id = RecordID(bytes: idData) else {
                    throw StoreError(.decoding, "a stored record id is not 16 bytes; the store is damaged: re-sync from a peer")
                }
                result.append(StoredRecordRow(id: id, record: try Self.storedRecord(row, stateIndex: 1, sequenceIndex: 2)))
            }
            return result
        }
    }

    /// A query with membership conditions: the rows of the other conditions, in order,
    /// filtered by set membership, then limited (set members are not indexed).
    private func membersFiltered(_ query: RecordQuery) throws -> [StoredRecordRow] {
        var unlimited = query
        unlimited.memberFilters = []
        unlimited.limitCount = nil
        unlimited.offsetCount = 0
        let rows = try records(matching: unlimited).filter(query.meetsMemberFilters).dropFirst(query.offsetCount)
        return Array(query.limitCount.map { rows.prefix($0) } ?? rows)
    }

    func count(matching query: RecordQuery) throws -> Int {
        if !query.memberFilters.isEmpty {
            var unlimited = query
            unlimited.limitCount = nil
            unlimited.offsetCount = 0
            return try records(matching: unlimited).count
        }
        return try mapping {
            let (sql, arguments) = Self.sql(for: query, counting: true)
            return try Int.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) ?? 0
        }
    }

    /// The SQL of a query: one join on the field index per condition, a left join for the
    /// order field unless a condition already joins it. Semantics: ``RecordQuery``.
    static func sql(for query: RecordQuery, counting: Bool) -> (String, StatementArguments) {
        var joins: [String] = []
        var conditions = ["r.collection = CAST(? AS TEXT)", "r.visible = 1"]
        var joinArguments: [DatabaseValue] = []
        var whereArguments: [DatabaseValue] = [text(query.collection)]
        for (i, filter) in query.filters.enumerated() {
            let alias = "f\(i)"
            joins.append(
                "JOIN fields \(alias) ON \(alias).collection = r.collection AND \(alias).record_id = r.id AND \(alias).name = CAST(? AS TEXT)"
            )
            joinArguments.append(text(filter.field))
            let operand = filter.condition.operand
            let indexed = IndexedValue(operand)
            if case .equals = filter.condition {
                switch operand {
                case .null:
                    conditions.append("\(alias).type = 0")
                case .double(let d) where d.isNaN:
                    // NaN equals nothing (SQLite holds it as NULL).
                    conditions.append("0")
                default:
                    conditions.append("\(alias).type = ? AND \(alias).value = \(placeholder(for: operand))")
                    whereArguments.append(indexed.type.databaseValue)
                    whereArguments.append(databaseValue(operand))
                }
                continue
            }
            let types: String
            switch indexed.rangeClass {
            case 0: conditions.append("0"); continue
            case 2: types = "\(alias).type IN (2, 3)"
            default: types = "\(alias).type = \(indexed.type)"
            }
            conditions.append("\(types) AND \(alias).value \(filter.condition.symbol) \(placeholder(for: operand))")
            whereArguments.append(databaseValue(operand))
        }
        // Ties and unordered results go by record id. With a filter, its join's
        // `record_id` (equal to `r.id`) names it: SQLite can then read rows in that order
        // straight from the field index instead of sorting them.
        var order = query.filters.isEmpty ? "r.id" : "f0.record_id"
        if let field = query.orderField, !counting, let i = query.filters.firstIndex(where: { $0.field.utf8.elementsEqual(field.utf8) }) {
            // The order field is also filtered, so every result has it (inner join): order
            // by that join's value. `fields_by_value` then yields rows already in order and
            // a limit stops the scan early (a left join would force sorting every match).
            order = "f\(i).value\(query.descending ? " DESC" : ""), f\(i).record_id"
        } else if let field = query.orderField, !counting {
            joins.append("LEFT JOIN fields o ON o.collection = r.collection AND o.record_id = r.id AND o.name = CAST(? AS TEXT)")
            joinArguments.append(text(field))
            order = "(o.record_id IS NULL), o.value\(query.descending ? " DESC" : ""), r.id"
        }
        let select = counting ? "SELECT COUNT(*)" : "SELECT r.id, r.state, r.local_seq"
        var sql = "\(select) FROM records r \(joins.joined(separator: " ")) WHERE \(conditions.joined(separator: " AND "))"
        var arguments = joinArguments + whereArguments
        if !counting {
            sql += " ORDER BY \(order)"
            if query.limitCount != nil || query.offsetCount > 0 {
                sql += " LIMIT ? OFFSET ?"
                arguments.append((query.limitCount ?? -1).databaseValue)
                arguments.append(query.offsetCount.databaseValue)
            }
        }
        return (sql, StatementArguments(arguments))
    }

    func collections() throws -> [String] {
        try mapping {
            try Data.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT CAST(collection AS BLOB) AS name FROM records ORDER BY name")).map(
                Self.string)
        }
    }

    // MARK: Chains

    func chainHeads() throws -> [PublicKey: ChainHead] {
        try mapping {
            var heads: [PublicKey: ChainHead] = [:]
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT author, seq, id, mark FROM chain_heads"))
            while let row = try rows.next() {
                heads[try Self.key(row[0])] = ChainHead(
                    sequence: UInt64(bitPattern: row[1]), id: try Self.digest(row[2]), mark: Self.mark(row[3]))
            }
            return heads
        }
    }

    func chainHead(of author: PublicKey) throws -> ChainHead? {
        try mapping {
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT seq, id, mark FROM chain_heads WHERE author = ?"), arguments: [Data(author.bytes)])
            else { return nil }
            return ChainHead(sequence: UInt64(bitPattern: row[0]), id: try Self.digest(row[1]), mark: Self.mark(row[2]))
        }
    }

    func containsBundle(_ id: Digest32) throws -> Bool {
        try mapping {
            let sql = """
                SELECT EXISTS (SELECT 1 FROM bundles WHERE id = ?1) OR EXISTS (SELECT 1 FROM held_bundles WHERE id = ?1)
                    OR EXISTS (SELECT 1 FROM quarantined_bundles WHERE id = ?1)
                """
            return try Bool.fetchOne(db.cachedStatement(sql: sql), arguments: [Data(id.bytes)]) ?? false
        }
    }

    func bundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle? {
        try mapping {
            let statement = try db.cachedStatement(
                sql: "SELECT id, author, seq, previous, bytes, position, mark FROM bundles WHERE author = ? AND seq = ?")
            return try Row.fetchOne(statement, arguments: [Data(author.bytes), Int64(bitPattern: sequence)]).map(Self.bundle)
        }
    }

    func bundles(after position: Int64, limit: Int) throws -> [StoredBundle] {
        try mapping {
            let statement = try db.cachedStatement(
                sql: "SELECT id, author, seq, previous, bytes, position, mark FROM bundles WHERE position > ? ORDER BY position LIMIT ?")
            return try Row.fetchAll(statement, arguments: [position, max(0, limit)]).map(Self.bundle)
        }
    }

    func bundle(at position: Int64) throws -> StoredBundle? {
        try mapping {
            let statement = try db.cachedStatement(sql: "SELECT id, author, seq, previous, bytes, position, mark FROM bundles WHERE position = ?")
            return try Row.fetchOne(statement, arguments: [position]).map(Self.bundle)
        }
    }

    func indexedBundlePositions(touching id: RecordID, in collection: String) throws -> [Int64] {
        try mapping {
            let statement = try db.cachedStatement(
                sql: "SELECT position FROM record_bundles WHERE collection = CAST(? AS TEXT) AND record_id = ? ORDER BY position")
            return try Int64.fetchAll(statement, arguments: [Self.text(collection), Self.idValue(id)])
        }
    }

    func indexBundle(at position: Int64, touching records: [StoredRecordKey]) throws {
        try mapping {
            let statement = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO record_bundles (collection, record_id, position) VALUES (CAST(? AS TEXT), ?, ?)")
            for record in records {
                try statement.execute(arguments: [Self.text(record.collection), Self.idValue(record.id), position])
            }
        }
    }

    func permissionDenials(ofBundle bundle: Digest32?) throws -> [StoredDenial] {
        try mapping {
            let columns = "SELECT bundle_id, section, op_index, author, seq, detail FROM permission_denials"
            let rows: [Row]
            if let bundle {
                rows = try Row.fetchAll(
                    db.cachedStatement(sql: columns + " WHERE bundle_id = ? ORDER BY section, op_index"), arguments: [Data(bundle.bytes)])
            } else {
                rows = try Row.fetchAll(db.cachedStatement(sql: columns + " ORDER BY author, seq, section, op_index"))
            }
            return try rows.map { row in
                StoredDenial(
                    bundleID: try Digest32(bytes: [UInt8](row["bundle_id"] as Data)), section: row["section"], index: row["op_index"],
                    author: try PublicKey(bytes: [UInt8](row["author"] as Data)),
                    sequence: UInt64(bitPattern: row["seq"] as Int64), detail: [UInt8](row["detail"] as Data))
            }
        }
    }

    func replacePermissionDenials(ofBundle bundle: Digest32, with denials: [StoredDenial]) throws {
        try mapping {
            try db.cachedStatement(sql: "DELETE FROM permission_denials WHERE bundle_id = ?").execute(arguments: [Data(bundle.bytes)])
            let insert = try db.cachedStatement(
                sql:
                    "INSERT OR REPLACE INTO permission_denials (bundle_id, section, op_index, author, seq, detail) VALUES (?, ?, ?, ?, ?, ?)"
            )
            for denial in denials {
                try insert.execute(arguments: [
                    Data(bundle.bytes), denial.section, denial.index, Data(denial.author.bytes),
                    Int64(bitPattern: denial.sequence), Data(denial.detail),
                ])
            }
        }
    }

    func bundleCount() throws -> Int {
        try mapping { try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM bundles")) ?? 0 }
    }

    func appendBundle(_ bundle: StoredBundle) throws {
        try mapping {
            let head = try chainHead(of: bundle.author)
            guard ChainRule.extends(sequence: bundle.sequence, previous: BundleID(digest: bundle.previous), after: head.map(\.link)) else {
                throw StoreError(
                    .constraint,
                    "bundle \(bundle.sequence) of \(bundle.author.hex.prefix(8)) does not extend its chain (head \(head?.sequence ?? 0))")
            }
            let id = Data(bundle.id.bytes)
            guard
                try
                    !(Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM bundles WHERE id = ?)"), arguments: [id]) ?? false)
            else {
                throw StoreError(
                    .constraint, "bundle \(bundle.sequence) of \(bundle.author.hex.prefix(8)) has the id of a bundle already in a chain")
            }
            let author = Data(bundle.author.bytes)
            let sequence = Int64(bitPattern: bundle.sequence)
            let mark = Self.markValue(bundle.mark(after: head?.mark))
            try db.cachedStatement(sql: "INSERT INTO bundles (id, author, seq, previous, bytes, mark) VALUES (?, ?, ?, ?, ?, ?)")
                .execute(arguments: [id, author, sequence, Data(bundle.previous.bytes), Data(bundle.bytes), mark])
            try db.cachedStatement(
                sql: """
                    INSERT INTO chain_heads (author, seq, id, mark) VALUES (?, ?, ?, ?)
                    ON CONFLICT (author) DO UPDATE SET seq = excluded.seq, id = excluded.id, mark = excluded.mark
                    """
            )
            .execute(arguments: [author, sequence, id, mark])
        }
    }

    // MARK: Row decoding

    static func key(_ data: Data) throws -> PublicKey {
        do { return try PublicKey(bytes: data) } catch {
            throw StoreError(.decoding, "a stored author key is invalid; the store is damaged")
        }
    }

    static func digest(_ data: Data) throws -> Digest32 {
        do { return try Digest32(bytes: data) } catch { throw StoreError(.decoding, "a stored bundle id is invalid; the store is damaged") }
    }

    static func bundle(_ row: Row) throws -> StoredBundle {
        let bytes: Data = row[4]
        return StoredBundle(
            id: try digest(row[0]), author: try key(row[1]), sequence: UInt64(bitPattern: row[2]),
            previous: try digest(row[3]), bytes: Array(bytes), position: row[5], mark: mark(row[6]))
    }

    /// A stored chain mark (`NULL`: none).
    static func mark(_ value: Int64?) -> HLCTimestamp? {
        value.map { HLCTimestamp(rawValue: UInt64(bitPattern: $0)) }
    }

    /// A chain mark as stored.
    static func markValue(_ mark: HLCTimestamp?) -> Int64? {
        mark.map { Int64(bitPattern: $0.rawValue) }
    }
}

extension Digest32 {
    /// All zero: the `previous` link of a chain's first bundle.
    package static let zero = try! Digest32(bytes: [UInt8](repeating: 0, count: Digest32.byteCount))
}
