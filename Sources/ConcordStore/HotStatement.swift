import ConcordCore
import Foundation
import GRDB
import GRDBSQLite

/// A statement of the import's inner loop (read a record, write a record, write a field
/// row), bound and stepped through SQLite's C API.
///
/// GRDB's `execute(arguments:)` builds a `StatementArguments` (an array of boxed values,
/// validated against the statement) and wraps each binding in a closure; for statements
/// run tens of thousands of times per transaction that overhead cost about as much as
/// SQLite's own work. Here arguments are bound directly (copied by SQLite,
/// `SQLITE_TRANSIENT`), with the same storage classes as ``SQLiteTransaction``'s GRDB
/// bindings: text as its UTF-8 bytes (a BLOB, turned into text by `CAST(? AS TEXT)` in the
/// SQL), ids and states as BLOBs, integers as INTEGER.
///
/// The statement is one of GRDB's cached statements of the transaction's connection. It
/// is always reset and its bindings cleared after use (also after a failure), so it is
/// left as GRDB expects it. A failure throws a GRDB `DatabaseError`, which
/// ``SQLiteStore/mapping(_:_:)`` turns into a ``StoreError`` like any other.
struct HotStatement {
    let statement: Statement
    let db: Database

    private var handle: SQLiteStatement { statement.sqliteStatement }

    /// Binds the UTF-8 bytes of `string` (NULs included) as a BLOB, for `CAST(? AS TEXT)`.
    func bind(text string: String, at index: CInt) {
        var string = string
        string.withUTF8 { bind(bytes: UnsafeRawBufferPointer($0), at: index) }
    }

    /// Binds bytes as a BLOB; empty bytes are an empty BLOB, never NULL.
    func bind(bytes: UnsafeRawBufferPointer, at index: CInt) {
        if bytes.isEmpty {
            sqlite3_bind_zeroblob(handle, index, 0)
        } else {
            sqlite3_bind_blob(handle, index, bytes.baseAddress, CInt(bytes.count), SQLITE_TRANSIENT)
        }
    }

    func bind(id: RecordID, at index: CInt) {
        id.withUnsafeBytes { bind(bytes: $0, at: index) }
    }

    func bind(_ value: Int64?, at index: CInt) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Binds a value as ``SQLiteTransaction/databaseValue(_:)`` does (a string as its
    /// bytes: its placeholder must be `CAST(? AS TEXT)`).
    func bind(value: Value, at index: CInt) {
        switch value {
        case .null: sqlite3_bind_null(handle, index)
        case .bool(let b): sqlite3_bind_int64(handle, index, b ? 1 : 0)
        case .int(let i): sqlite3_bind_int64(handle, index, i)
        case .double(let d): if d.isNaN { sqlite3_bind_null(handle, index) } else { sqlite3_bind_double(handle, index, d) }
        case .string(let s): bind(text: s, at: index)
        case .bytes(let b): b.withUnsafeBytes { bind(bytes: $0, at: index) }
        case .reference(let r): IndexedValue.referenceBlob(r).withUnsafeBytes { bind(bytes: $0, at: index) }
        }
    }

    /// Runs a statement that returns no rows.
    func execute() throws {
        defer { reset() }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    /// Runs a query for at most one row: `row` reads the columns of the first row, if any.
    func fetchOne<T>(_ row: (SQLiteStatement) throws -> T) throws -> T? {
        defer { reset() }
        switch sqlite3_step(handle) {
        case SQLITE_DONE: return nil
        case SQLITE_ROW: return try row(handle)
        case let code: throw failure(code)
        }
    }

    private func reset() {
        // After a failed step this returns the step's error again; the statement is reset
        // all the same.
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    private func failure(_ code: CInt) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
    }
}

/// SQLite copies the bound bytes before the binding call returns.
private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
