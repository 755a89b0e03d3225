/// The one error type of the `ConcordSync` module: bundle files and folder sync.
///
/// Match on ``code``; ``message`` says what happened and what the user can do about it.
/// Errors of the replica itself (storage, membership) stay ``ConcordError``s.
///
/// ```swift
/// do {
///     try await replica.importBundleFile(at: "from-office.concord")
/// } catch let error as ConcordSyncError where error.code == .checksumMismatch {
///     print(error.message)   // "... the file was damaged in transit; copy it again"
/// }
/// ```
public struct ConcordSyncError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. A struct rather than an enum, so new codes can be
    /// added in later versions without breaking callers that compare against them.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case notABundleFile
            case unsupportedVersion
            case truncatedFile
            case checksumMismatch
            case malformedFile
            case wrongSpace
            case fileSystem
            case invalidVector
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The file does not start with the bundle-file magic `"CNCF"`.
        public static let notABundleFile = Code(.notABundleFile)
        /// The file declares a bundle-file format this build does not read.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The file is shorter than its header and checksum: it was cut off while copying.
        public static let truncatedFile = Code(.truncatedFile)
        /// The trailing BLAKE2b-256 checksum does not match: the file was truncated,
        /// damaged or altered.
        public static let checksumMismatch = Code(.checksumMismatch)
        /// The checksum matches but the entries do not parse (a broken writer).
        public static let malformedFile = Code(.malformedFile)
        /// The file belongs to another space than the replica it is imported into.
        public static let wrongSpace = Code(.wrongSpace)
        /// Reading, writing, renaming or listing files failed.
        public static let fileSystem = Code(.fileSystem)
        /// A version vector given as JSON could not be read.
        public static let invalidVector = Code(.invalidVector)

        /// The code's name, for example `checksumMismatch`.
        public var description: String { kind.rawValue }
    }

    /// The kind of failure; compare against the static members of ``Code``.
    public let code: Code
    /// What went wrong and what the user can do about it.
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: An explanation that ends with what the user should do.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `checksumMismatch: <message>`.
    public var description: String { "\(code): \(message)" }
}
