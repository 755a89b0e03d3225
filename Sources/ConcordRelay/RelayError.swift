import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// The one error type of `ConcordRelay`: why the relay refused a request, why storage
/// refused a push, or why the relay or its storage could not be set up.
///
/// Nothing in it is HTTP: the storage backends and the request handlers throw these, and
/// only the HTTP edge (`Server/HTTPRefusal.swift`) turns each ``Code`` into a status and the
/// `error` string of `Specs/relay-api.md` §6.
///
/// ```swift
/// do {
///     _ = try await storage.append(bundles, to: space, limits: SpaceLimits(quotaBytes: 1 << 30))
/// } catch let error as RelayError where error.code == .missingPredecessor {
///     print(error.expected?.sequence ?? 0)   // where the author's chain continues
/// }
/// ```
public struct RelayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong; compare with the static members. A struct, so codes can be added
    /// without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Kind: String, Hashable, Sendable {
            case fork, missingPredecessor, quotaExceeded, tooManyAuthors, tooManySpaces
            case malformedRequest, tooLarge, unauthenticated, challengeRejected, badSignature, wrongRelay
            case notAMember, readOnly, spaceNotServed, invalidBundle, removed, inviteUnknown
            case rateLimited, tooManyConnections, busy, requestTimeout
            case notFound, methodNotAllowed, unavailable
            case noSnapshot, snapshotGone, staleSnapshot, invalidSnapshot, notAnAdmin, snapshotRequired
            case storage, configuration
        }

        fileprivate let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A pushed bundle has the same author and sequence as a stored one but another id.
        public static let fork = Code(.fork)
        /// A pushed bundle does not continue its author's stored chain (a gap, or another
        /// `previous`); ``RelayError/expected`` says where the chain continues.
        public static let missingPredecessor = Code(.missingPredecessor)
        /// The push would take the space past its byte quota.
        public static let quotaExceeded = Code(.quotaExceeded)
        /// The push would bring the space more authors (device keys) than the relay allows.
        public static let tooManyAuthors = Code(.tooManyAuthors)
        /// The push would start a new space on a relay that holds as many as it allows.
        public static let tooManySpaces = Code(.tooManySpaces)
        /// The request is malformed: JSON, framing, a space id, a vector, a query parameter.
        public static let malformedRequest = Code(.malformedRequest)
        /// The request body is larger than the relay accepts for that endpoint.
        public static let tooLarge = Code(.tooLarge)
        /// No valid session token for the space.
        public static let unauthenticated = Code(.unauthenticated)
        /// The challenge is unknown, expired, used, or was issued for another space.
        public static let challengeRejected = Code(.challengeRejected)
        /// The auth signature does not verify under the certified device key.
        public static let badSignature = Code(.badSignature)
        /// The auth message names another relay than this one.
        public static let wrongRelay = Code(.wrongRelay)
        /// The certificate chain does not make the device a member of the space.
        public static let notAMember = Code(.notAMember)
        /// `403 removed`: the device was removed from the space (format 3, `Specs/membership.md` §8).
        public static let removed = Code(.removed)
        /// `403 invite-unknown`: the device's join names an invite op this relay does not hold yet.
        public static let inviteUnknown = Code(.inviteUnknown)
        /// A reader's session tried to push.
        public static let readOnly = Code(.readOnly)
        /// The relay's operator does not serve this space.
        public static let spaceNotServed = Code(.spaceNotServed)
        /// A pushed bundle fails verification.
        public static let invalidBundle = Code(.invalidBundle)
        /// A session or a client made requests faster than the relay allows; see
        /// ``RelayError/retryAfter``.
        public static let rateLimited = Code(.rateLimited)
        /// A client holds as many connections as the relay allows.
        public static let tooManyConnections = Code(.tooManyConnections)
        /// The relay holds as many request bodies in memory as it allows; retry shortly.
        public static let busy = Code(.busy)
        /// A request's head or body did not arrive in time.
        public static let requestTimeout = Code(.requestTimeout)
        /// No such endpoint.
        public static let notFound = Code(.notFound)
        /// A known endpoint, another method.
        public static let methodNotAllowed = Code(.methodNotAllowed)
        /// The storage does not answer.
        public static let unavailable = Code(.unavailable)
        /// `404 no-snapshot`: the space has no snapshot at the relay (`Specs/relay-api.md` §3.1).
        public static let noSnapshot = Code(.noSnapshot)
        /// `410 gone`: the relay no longer holds (or never held) the snapshot a chunk or its
        /// control bundles were asked of; fetch the latest manifest again.
        public static let snapshotGone = Code(.snapshotGone)
        /// `409 stale-snapshot`: an uploaded snapshot is not newer than the stored one.
        public static let staleSnapshot = Code(.staleSnapshot)
        /// `409 snapshot-required`: a pull asks for bundles below the relay's retention floor;
        /// ``RelayError/requiredSnapshot`` names the snapshot to load first.
        public static let snapshotRequired = Code(.snapshotRequired)
        /// `403 not-an-admin`: the request needs an admin of the space (a snapshot upload).
        public static let notAnAdmin = Code(.notAnAdmin)
        /// `422 invalid-snapshot`: an uploaded snapshot fails the relay's checks (structure,
        /// signature, signer, checkpoint, sizes).
        public static let invalidSnapshot = Code(.invalidSnapshot)
        /// The storage failed, or holds something this relay cannot use (a newer schema).
        public static let storage = Code(.storage)
        /// A storage URL, an origin or another setting is malformed.
        public static let configuration = Code(.configuration)

        /// The code's name, for example `missingPredecessor`.
        public var description: String { kind.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do, for a person.
    public let message: String
    /// For ``Code/rateLimited`` and ``Code/busy``: seconds after which a retry may succeed.
    public var retryAfter: Int?
    /// For ``Code/methodNotAllowed``: the methods the endpoint takes (the `Allow` header).
    var allowedMethods: [String] = []

    private var expectedDetail: Expected?
    private var forkDetail: ForkDetail?

    /// For ``Code/snapshotRequired``: the snapshot to load before pulling.
    public private(set) var requiredSnapshot: Digest32?

    private struct Expected: Hashable, Sendable {
        var author: PublicKey
        var sequence: UInt64
    }

    private struct ForkDetail: Hashable, Sendable {
        var author: PublicKey
        var sequence: UInt64
        var stored: BundleID
        var pushed: BundleID
    }

    /// Creates an error.
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: What happened and what to do.
    ///   - retryAfter: Seconds after which a retry may succeed, if any.
    public init(_ code: Code, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// For ``Code/missingPredecessor``: the author and the sequence the relay needs next;
    /// for ``Code/fork``: the author and the sequence that forks.
    public var expected: (author: PublicKey, sequence: UInt64)? {
        expectedDetail.map { ($0.author, $0.sequence) }
    }

    /// For ``Code/fork``: the author, its sequence, the stored bundle's id and the pushed one's.
    public var forkedBundle: (author: PublicKey, sequence: UInt64, stored: BundleID, pushed: BundleID)? {
        forkDetail.map { ($0.author, $0.sequence, $0.stored, $0.pushed) }
    }

    /// A fork: `author` already has bundle `sequence` with id `stored`.
    /// - Parameters:
    ///   - author: The device whose chain forks.
    ///   - sequence: The sequence both bundles claim.
    ///   - stored: The id of the bundle the relay holds.
    ///   - pushed: The id of the bundle refused.
    public static func fork(author: PublicKey, sequence: UInt64, stored: BundleID, pushed: BundleID) -> RelayError {
        var error = RelayError(
            .fork,
            "device \(author.hex.prefix(8)) already has bundle \(sequence) \(stored.shortDescription) here; the pushed \(pushed.shortDescription) forks its history and is refused. The device's key may be in use on two machines"
        )
        error.forkDetail = ForkDetail(author: author, sequence: sequence, stored: stored, pushed: pushed)
        // The forked place travels in the body's `expected`, so the pushing device can
        // tell whether its own chain forked and where (`Specs/sync-protocol.md` §5).
        error.expectedDetail = Expected(author: author, sequence: sequence)
        return error
    }

    /// A gap or a wrong `previous`: the relay holds `author` up to `needed - 1`.
    /// - Parameters:
    ///   - author: The device.
    ///   - needed: The sequence the relay needs next.
    ///   - got: The sequence pushed.
    public static func missingPredecessor(author: PublicKey, needed: UInt64, got: UInt64) -> RelayError {
        var error = RelayError(
            .missingPredecessor,
            "the relay holds device \(author.hex.prefix(8))'s bundles up to \(needed - 1); bundle \(got) cannot follow. Push from \(needed) on"
        )
        error.expectedDetail = Expected(author: author, sequence: needed)
        return error
    }

    /// The space holds `used` bytes; `adding` more would pass `quota`.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - used: Bytes it holds.
    ///   - adding: Bytes the push would add.
    ///   - quota: Its quota.
    public static func quotaExceeded(spaceID: SpaceID, used: Int64, adding: Int64, quota: Int64) -> RelayError {
        RelayError(
            .quotaExceeded,
            "space \(spaceID.shortDescription) holds \(used) bytes; \(adding) more would pass its \(quota)-byte quota. Ask the relay operator to raise it"
        )
    }

    /// The space has `authors` device keys; `adding` new ones would pass `limit`.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - authors: Authors it holds.
    ///   - adding: New authors the push would bring.
    ///   - limit: The most allowed.
    public static func tooManyAuthors(spaceID: SpaceID, authors: Int, adding: Int, limit: Int) -> RelayError {
        RelayError(
            .tooManyAuthors,
            "space \(spaceID.shortDescription) has bundles of \(authors) devices; \(adding) new ones would pass the relay's limit of \(limit) devices per space. Devices that already wrote here keep syncing; ask the relay operator to raise the limit"
        )
    }

    /// The relay holds `limit` spaces; a push for a new one is refused.
    /// - Parameters:
    ///   - limit: The most spaces the relay holds.
    public static func tooManySpaces(limit: Int) -> RelayError {
        RelayError(
            .tooManySpaces,
            "this relay already holds \(limit) spaces and takes no new ones; ask its operator to add this space or to raise the limit")
    }

    /// A request body above `limit` bytes.
    /// - Parameters:
    ///   - limit: The largest body accepted.
    public static func tooLarge(limit: Int) -> RelayError {
        RelayError(.tooLarge, "the request body is above the relay's \(limit)-byte limit; push fewer bundles per request")
    }

    /// An uploaded snapshot is not newer than the stored one.
    /// - Parameters:
    ///   - stored: The id of the space's latest snapshot.
    ///   - storedVector: Its vector.
    ///   - pushedVector: The uploaded snapshot's vector.
    public static func staleSnapshot(stored: Digest32, storedVector: VersionVector, pushedVector: VersionVector) -> RelayError {
        RelayError(
            .staleSnapshot,
            "the relay holds snapshot \(stored.hex.prefix(8)) at \(storedVector); the uploaded one at \(pushedVector) is not newer, so it was not stored. Seal a snapshot after a later checkpoint"
        )
    }

    /// A pull below the retention floor: the relay dropped bundles `since` lacks.
    /// - Parameters:
    ///   - snapshot: The space's latest snapshot, which covers the floor.
    ///   - author: An author whose floor is above what the pull holds of it.
    ///   - holds: What the pull holds of `author`.
    ///   - floor: The author's floor.
    public static func snapshotRequired(snapshot: Digest32, author: PublicKey, holds: UInt64, floor: UInt64) -> RelayError {
        var error = RelayError(
            .snapshotRequired,
            "the relay no longer keeps device \(author.hex.prefix(8))'s bundles up to \(floor) (its retention dropped them; this pull holds \(holds)); load snapshot \(snapshot.hex.prefix(8)) first, then pull the bundles after it"
        )
        error.requiredSnapshot = snapshot
        return error
    }

    /// A storage failure with a message that says what to do.
    /// - Parameters:
    ///   - message: What happened and what to do.
    public static func storage(_ message: String) -> RelayError { RelayError(.storage, message) }

    /// A malformed setting (a storage URL, an origin).
    /// - Parameters:
    ///   - message: What is wrong and what to write instead.
    public static func configuration(_ message: String) -> RelayError { RelayError(.configuration, message) }

    /// `"<code>: <message>"`.
    public var description: String { "\(code): \(message)" }
}
