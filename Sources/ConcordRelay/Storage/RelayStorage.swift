import ConcordCore
import ConcordProtocol
import ConcordCrypto

/// A bundle as the relay stores it (`Specs/relay-api.md` §7).
public struct StoredBundle: Sendable, Hashable {
    /// Storage order; increases with every stored bundle of the database.
    public var position: Int64
    /// The space.
    public var spaceID: SpaceID
    /// The signing device.
    public var author: PublicKey
    /// The author's sequence number (≥ 1).
    public var sequence: UInt64
    /// BLAKE2b-256 of the bundle.
    public var id: BundleID
    /// The id of the author's previous bundle (zero for sequence 1).
    public var previous: BundleID
    /// The bundle as pushed.
    public var bytes: [UInt8]

    /// Creates a value.
    public init(position: Int64, spaceID: SpaceID, author: PublicKey, sequence: UInt64, id: BundleID, previous: BundleID, bytes: [UInt8]) {
        self.position = position
        self.spaceID = spaceID
        self.author = author
        self.sequence = sequence
        self.id = id
        self.previous = previous
        self.bytes = bytes
    }
}

/// What one all-or-nothing append did.
public struct AppendSummary: Sendable, Hashable {
    /// The positions of the bundles newly stored, in order.
    public var storedPositions: [Int64] = []
    /// Bundles that were already stored with the same id.
    public var duplicates = 0
    /// Bundles newly stored.
    public var stored: Int { storedPositions.count }
    /// Creates an empty summary.
    public init() {}
}

/// Announced after commit for every stored bundle, whichever relay process stored it.
public struct BundleNotice: Sendable, Hashable {
    /// The space of the bundle.
    public var spaceID: SpaceID
    /// Its storage position (read it with ``RelayStorage/bundle(at:)``).
    public var position: Int64
    /// Creates a notice.
    public init(spaceID: SpaceID, position: Int64) {
        self.spaceID = spaceID
        self.position = position
    }
}

/// Where a relay keeps bundles: ``SQLiteRelayStorage`` (one process, the default) or
/// ``PostgresRelayStorage`` (several relay processes sharing one database).
///
/// Both pass the same conformance tests. An append checks every author's hash chain
/// against the stored bundles and the earlier bundles of the same call, inside one
/// transaction: it stores all of them or none (`Specs/relay-api.md` §4).
public protocol RelayStorage: Sendable {
    /// `"sqlite"` or `"postgres"`, for `/healthz` and logs.
    var backendName: String { get }

    /// Checks chains and stores `bundles` (already verified by `BundleVerifier`) in one
    /// transaction.
    /// - Parameters:
    ///   - bundles: Verified bundles of `spaceID`, in push order.
    ///   - spaceID: The space.
    ///   - quotaBytes: The most bundle bytes the space may hold after the append.
    /// - Returns: What was stored and what was already there.
    /// - Throws: ``RelayRefusal`` (`fork`, `missing-predecessor`, `quota-exceeded`), and
    ///   nothing is stored; or a storage error.
    func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, quotaBytes: Int64) async throws -> AppendSummary

    /// The highest sequence stored per author of the space (contiguous by construction).
    func vector(of spaceID: SpaceID) async throws -> VersionVector

    /// One page of a pull: bundles of the space above `since`, with position above
    /// `afterPosition`, in position order.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - since: What the client holds.
    ///   - afterPosition: The last position of the previous page (0 for the first).
    ///   - limit: At most this many bundles.
    func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [StoredBundle]

    /// The bundle stored at `position`, if any.
    func bundle(at position: Int64) async throws -> StoredBundle?

    /// Total bundle bytes the space holds.
    func usage(of spaceID: SpaceID) async throws -> Int64

    /// A notice for every bundle stored after the call, by this process or (PostgreSQL)
    /// by any relay sharing the database. Each call returns a new sequence.
    func notices() async throws -> AsyncStream<BundleNotice>

    /// Throws if the storage does not answer.
    func healthCheck() async throws

    /// Releases connections.
    func close() async
}

/// A refusal the relay answers with an HTTP status and `{"error", "message"}`
/// (`Specs/relay-api.md` §6).
public struct RelayRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status.
    public var status: Int
    /// The stable `error` code, for example `fork`.
    public var code: String
    /// What happened and what to do.
    public var message: String
    /// For `missing-predecessor`: the author (hex) and the sequence the relay needs next.
    public var expected: (author: String, sequence: UInt64)? {
        get { expectedAuthor.map { ($0, expectedSequence) } }
        set {
            expectedAuthor = newValue?.author
            expectedSequence = newValue?.sequence ?? 0
        }
    }
    private var expectedAuthor: String?
    private var expectedSequence: UInt64 = 0

    /// For `fork`: the author, its sequence, the stored bundle's id and the pushed one's,
    /// so the relay can log both ids in full.
    public var forkedBundle: (author: PublicKey, sequence: UInt64, stored: BundleID, pushed: BundleID)? {
        forkDetail.map { ($0.author, $0.sequence, $0.stored, $0.pushed) }
    }
    private var forkDetail: ForkDetail?

    private struct ForkDetail: Hashable, Sendable {
        var author: PublicKey
        var sequence: UInt64
        var stored: BundleID
        var pushed: BundleID
    }

    /// Creates a refusal.
    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// `409 fork`.
    public static func fork(author: PublicKey, sequence: UInt64, stored: BundleID, pushed: BundleID) -> RelayRefusal {
        var refusal = RelayRefusal(status: 409, code: "fork", message: "device \(author.hex.prefix(8)) already has bundle \(sequence) \(stored.shortDescription) here; the pushed \(pushed.shortDescription) forks its history and is refused. The device's key may be in use on two machines")
        refusal.forkDetail = ForkDetail(author: author, sequence: sequence, stored: stored, pushed: pushed)
        return refusal
    }

    /// `409 missing-predecessor`.
    public static func missingPredecessor(author: PublicKey, needed: UInt64, got: UInt64) -> RelayRefusal {
        var refusal = RelayRefusal(status: 409, code: "missing-predecessor", message: "the relay holds device \(author.hex.prefix(8))'s bundles up to \(needed - 1); bundle \(got) cannot follow. Push from \(needed) on")
        refusal.expected = (author.hex, needed)
        return refusal
    }

    /// `507 quota-exceeded`.
    public static func quotaExceeded(spaceID: SpaceID, used: Int64, adding: Int64, quota: Int64) -> RelayRefusal {
        RelayRefusal(status: 507, code: "quota-exceeded", message: "space \(spaceID.shortDescription) holds \(used) bytes; \(adding) more would pass its \(quota)-byte quota. Ask the relay operator to raise it")
    }

    /// `409 fork: …`.
    public var description: String { "\(status) \(code): \(message)" }

    /// Equality on every field.
    public static func == (lhs: RelayRefusal, rhs: RelayRefusal) -> Bool {
        lhs.status == rhs.status && lhs.code == rhs.code && lhs.message == rhs.message
            && lhs.expectedAuthor == rhs.expectedAuthor && lhs.expectedSequence == rhs.expectedSequence
            && lhs.forkDetail == rhs.forkDetail
    }

    /// Hashes every field.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(expectedAuthor)
        hasher.combine(expectedSequence)
        hasher.combine(forkDetail)
    }
}
