/// The one error type of `ConcordCore`.
///
/// Match on ``code`` to handle a specific case; ``message`` says what happened and what
/// to do about it.
///
/// ```swift
/// do {
///     try clock.receive(remoteTimestamp, physical: now)
/// } catch let error as ConcordCoreError where error.code == .clockDriftExceeded {
///     print("peer clock is too far ahead:", error.message)
/// }
/// ```
public struct ConcordCoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added in later versions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case clockDriftExceeded
            case clockCounterOverflow
            case physicalClockOutOfRange
            case malformedEncoding
            case unsupportedVersion
            case invalidIdentifier
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A remote timestamp is further ahead of local physical time than the allowed drift.
        public static let clockDriftExceeded = Code(.clockDriftExceeded)
        /// The 16-bit logical counter of the hybrid logical clock is exhausted.
        public static let clockCounterOverflow = Code(.clockCounterOverflow)
        /// The physical clock reads a time that does not fit in 48 bits of milliseconds.
        public static let physicalClockOutOfRange = Code(.physicalClockOutOfRange)
        /// Bytes that should hold an encoded value are truncated, oversized or inconsistent.
        public static let malformedEncoding = Code(.malformedEncoding)
        /// An encoding declares a version this build does not understand.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A textual identifier (UUID, hex replica id) could not be parsed.
        public static let invalidIdentifier = Code(.invalidIdentifier)

        public var description: String { kind.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// A human-readable explanation, including what the user can do.
    public let message: String

    /// Creates an error with a code and an actionable message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
