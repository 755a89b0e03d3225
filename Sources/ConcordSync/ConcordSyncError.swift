import Concord
import ConcordCrypto

/// The one error type of the `ConcordSync` module: bundle files, folder sync, the
/// relay client (``RelayClient``, ``SyncEngine``) and peers (``PeerNode``, discovery).
///
/// Match on ``code``; ``message`` says what happened and what the user can do about it.
/// Errors of the replica itself (storage, membership) stay `ConcordError`s.
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
            case relayRefused
            case unreachable
            case cutShort
            case unauthenticated
            case peerRefused
            case peerProtocol
            case discoveryFailed
            case needsAttention
            case snapshotRequired
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
        /// The relay refused a request with an HTTP status and an `error` code
        /// (``ConcordSyncError/httpStatus``, ``ConcordSyncError/relayCode``), for example
        /// `403 read-only` or `409 fork` (`Specs/relay-api.md` §6).
        public static let relayRefused = Code(.relayRefused)
        /// The relay could not be reached, or the connection broke (refused, reset, timed out).
        public static let unreachable = Code(.unreachable)
        /// A bundle stream from the relay ended without its end marker: the whole bundles
        /// received were kept, the rest comes with the next pull.
        public static let cutShort = Code(.cutShort)
        /// The relay did not accept this device's session even after authenticating again.
        public static let unauthenticated = Code(.unauthenticated)
        /// A peer refused this device, or this device refused the peer: not a member of
        /// the space (the ``PeerAuthorizer`` said no), or the peer is this device itself.
        public static let peerRefused = Code(.peerRefused)
        /// A peer connection broke the peer protocol: not a Concord peer, another space, a
        /// message that fails authentication (tampered, replayed, reordered) or does not
        /// parse. The connection was dropped; nothing of the broken message was applied.
        public static let peerProtocol = Code(.peerProtocol)
        /// LAN discovery could not start (no usable network interface, mDNS port refused).
        public static let discoveryFailed = Code(.discoveryFailed)
        /// This device needs its owner: its clock is wrong or its history forked
        /// (``ConcordSyncError/problem`` says which and what to do; `Specs/sync-protocol.md`
        /// §5). Sync resumes once it is put right.
        public static let needsAttention = Code(.needsAttention)
        /// The relay no longer keeps bundles this device lacks (`409 snapshot-required`:
        /// its retention dropped them, `Specs/snapshots.md` §5.2); ``ConcordSyncError/snapshotID``
        /// names the snapshot that covers them. An empty store loads it and syncs on; a
        /// store that holds a log is left unchanged and the error says what to do.
        public static let snapshotRequired = Code(.snapshotRequired)

        /// The code's name, for example `checksumMismatch`.
        public var description: String { kind.rawValue }
    }

    /// The kind of failure; compare against the static members of ``Code``.
    public let code: Code
    /// What went wrong and what the user can do about it.
    public let message: String
    /// For ``Code/relayRefused`` and ``Code/unauthenticated``: the relay's HTTP status.
    public var httpStatus: Int?
    /// For ``Code/relayRefused``: the relay's stable `error` code, for example `read-only`.
    public var relayCode: String?
    /// For `429` and `503` refusals: the relay's `Retry-After`, in seconds.
    public var retryAfter: Double?
    /// For `409 missing-predecessor` and `409 fork`: the author (hex) and the sequence the
    /// relay names (where to resume, or the place that forks).
    public var expectedAuthor: String?
    /// See ``expectedAuthor``.
    public var expectedSequence: UInt64?
    /// For ``Code/needsAttention``: what is wrong with this device.
    public var problem: ReplicaProblem?
    /// For ``Code/snapshotRequired``: the relay's snapshot that covers what it dropped.
    public var snapshotID: Digest32?

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: An explanation that ends with what the user should do.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Creates a relay refusal.
    /// - Parameters:
    ///   - status: The HTTP status.
    ///   - relayCode: The relay's `error` code.
    ///   - message: What happened and what to do.
    ///   - retryAfter: The relay's `Retry-After`, in seconds.
    public static func relayRefused(status: Int, relayCode: String, message: String, retryAfter: Double? = nil) -> ConcordSyncError {
        var error = ConcordSyncError(.relayRefused, message)
        error.httpStatus = status
        error.relayCode = relayCode
        error.retryAfter = retryAfter
        return error
    }

    /// Whether repeating the same request later can succeed: the relay was unreachable,
    /// a stream was cut, a request timed out (`408`), the relay was busy (`429`, `5xx`) or
    /// a session lapsed. `401 wrong-relay`, `403`, `409 fork`, `413`, `422` and `507` are
    /// not: repeating them cannot succeed.
    public var isTransient: Bool {
        switch code {
        case .unreachable, .cutShort, .unauthenticated, .peerProtocol: return true
        case .relayRefused:
            guard let status = httpStatus else { return false }
            return status == 408 || status == 429 || (status >= 500 && status != 507) || relayCode == "missing-predecessor"
        default: return false
        }
    }

    /// `checksumMismatch: <message>`.
    public var description: String { "\(code): \(message)" }

    /// A problem of this device as an error.
    /// - Parameters:
    ///   - problem: What is wrong.
    public static func needsAttention(_ problem: ReplicaProblem) -> ConcordSyncError {
        var error = ConcordSyncError(.needsAttention, problem.message)
        error.problem = problem
        return error
    }
}

extension ConcordSyncError {
    /// A relay-protocol error as this module reports it: an invalid version vector is
    /// `.invalidVector`, a broken bundle stream or feed message `.malformedFile`.
    /// - Parameters:
    ///   - error: The protocol module's error.
    public init(_ error: RelayProtocolError) {
        switch error.code {
        case .invalidVector: self.init(.invalidVector, error.message)
        default: self.init(.malformedFile, error.message)
        }
    }

    /// Runs protocol decoding, reporting a ``RelayProtocolError`` as a `ConcordSyncError`.
    static func relayProtocol<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as RelayProtocolError {
            throw ConcordSyncError(error)
        }
    }
}
