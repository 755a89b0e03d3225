/// The one error type of the `ConcordStore` module.
///
/// Match on ``code``; ``message`` says what happened and what to do. SQLite result codes
/// never leak: they are mapped to these codes, with the SQLite message kept in
/// ``message`` for diagnosis.
///
/// ```swift
/// do {
///     _ = try SQLiteStore(path: path)
/// } catch let error as StoreError where error.code == .corrupt {
///     print(error.message)   // "... restore it from a backup or re-sync from a peer"
/// }
/// ```
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is (a struct so codes can be added without breaking callers).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case cannotOpen, corrupt, newerSchema, constraint, io, busy, decoding
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The database file cannot be created or opened (missing directory, permissions).
        public static let cannotOpen = Code(.cannotOpen)
        /// The file is not a Concord store, or fails SQLite's integrity check.
        public static let corrupt = Code(.corrupt)
        /// The store was written by a newer Concord with a schema this build does not know.
        public static let newerSchema = Code(.newerSchema)
        /// A write broke a store invariant (for example a bundle that does not extend its chain).
        public static let constraint = Code(.constraint)
        /// The disk failed or is full.
        public static let io = Code(.io)
        /// Another process holds the database lock for too long.
        public static let busy = Code(.busy)
        /// A stored value cannot be decoded.
        public static let decoding = Code(.decoding)

        /// The code's name.
        public var description: String { kind.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What happened and what to do about it.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `io: the disk is full ...`.
    public var description: String { "\(code): \(message)" }
}
