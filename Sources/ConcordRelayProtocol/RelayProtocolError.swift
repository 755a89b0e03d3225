/// Why a relay-protocol value could not be read: a version vector whose keys are not
/// device ids, or a bundle stream or live-feed message that breaks the framing of
/// `Specs/relay-api.md` §2 and §5.
///
/// Both sides of the protocol see it: the relay answers a client's malformed request
/// with `400`, and the client (`ConcordSync`) reports a relay's malformed answer as its
/// own `ConcordSyncError`.
///
/// ```swift
/// do {
///     let vector = try RelayAPI.vector(json)
/// } catch let error as RelayProtocolError where error.code == .invalidVector {
///     print(error.message)
/// }
/// ```
public struct RelayProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Hashable, Sendable {
            case invalidVector
            case malformedStream
        }

        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A version vector's key is not a 64-hex device id.
        public static let invalidVector = Code(.invalidVector)
        /// A bundle stream or feed message breaks the framing (length, end marker, size).
        public static let malformedStream = Code(.malformedStream)

        /// The code's name, for example `malformedStream`.
        public var description: String { kind.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do, for a person.
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: What happened and what to do.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    public var description: String { "\(code): \(message)" }
}
