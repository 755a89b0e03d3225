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

/// The limits an append enforces for one space (`Specs/relay-api.md` §6).
public struct SpaceLimits: Sendable, Hashable {
    /// The most bundle bytes the space may hold after the append.
    public var quotaBytes: Int64
    /// The most authors (device keys) the space may hold after the append; authors it
    /// already has keep pushing even when it holds more (the limit was lowered).
    public var maxAuthors: Int
    /// The most spaces the storage may hold when this append starts a new one; nil for no bound.
    public var maxSpaces: Int?

    /// Creates limits.
    /// - Parameters:
    ///   - quotaBytes: The byte quota of the space.
    ///   - maxAuthors: The most authors of the space.
    ///   - maxSpaces: The most spaces in the storage, or nil.
    public init(quotaBytes: Int64, maxAuthors: Int = .max, maxSpaces: Int? = nil) {
        self.quotaBytes = quotaBytes
        self.maxAuthors = maxAuthors
        self.maxSpaces = maxSpaces
    }
}

/// An author of a space and the highest sequence stored for it.
public struct AuthorHead: Sendable, Hashable {
    /// The device key.
    public var author: PublicKey
    /// Its highest stored sequence (contiguous from 1).
    public var sequence: UInt64

    /// Creates a value.
    /// - Parameters:
    ///   - author: The device key.
    ///   - sequence: Its highest stored sequence.
    public init(author: PublicKey, sequence: UInt64) {
        self.author = author
        self.sequence = sequence
    }
}

/// Where a relay keeps bundles: ``SQLiteRelayStorage`` (one process, the default) or
/// ``PostgresRelayStorage`` (several relay processes sharing one database).
///
/// Both pass the same conformance tests. An append checks every author's hash chain
/// against the stored bundles and the earlier bundles of the same call, inside one
/// transaction: it stores all of them or none (`Specs/relay-api.md` §4). Each space's
/// authors and heads are kept in a table of their own, so everything a sync asks about
/// authors costs time in the space's authors, never in its bundles or in what a client
/// sends.
public protocol RelayStorage: Sendable {
    /// `"sqlite"` or `"postgres"`, for `/healthz` and logs.
    var backendName: String { get }

    /// Checks chains and limits and stores `bundles` (already verified by
    /// `BundleVerifier`) in one transaction.
    /// - Parameters:
    ///   - bundles: Verified bundles of `spaceID`, in push order.
    ///   - spaceID: The space.
    ///   - limits: Quota, authors and (for a new space) spaces.
    /// - Returns: What was stored and what was already there.
    /// - Throws: ``RelayError`` ``RelayError/Code/fork``, ``RelayError/Code/missingPredecessor``,
    ///   ``RelayError/Code/quotaExceeded``, ``RelayError/Code/tooManyAuthors`` or
    ///   ``RelayError/Code/tooManySpaces``, and nothing is stored; or a storage error.
    func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, limits: SpaceLimits) async throws -> AppendSummary

    /// The highest sequence stored per author of the space (contiguous by construction).
    /// - Complexity: O(authors of the space).
    func vector(of spaceID: SpaceID) async throws -> VersionVector

    /// Part of the space's vector: the authors after `after` in ascending order of their
    /// bytes, at most `limit`.
    /// - Complexity: O(log authors + limit).
    func vectorPage(of spaceID: SpaceID, after: PublicKey?, limit: Int) async throws -> [AuthorHead]

    /// Where a pull above `since` starts: one below the lowest position of a bundle it
    /// sends, or nil when it sends nothing. Authors of `since` the space does not have are
    /// ignored.
    /// - Complexity: O(authors of the space), plus an index lookup per author the client
    ///   lacks bundles of; never more in the size of `since`.
    func pullStart(in spaceID: SpaceID, since: VersionVector) async throws -> Int64?

    /// One page of a pull: bundles of the space above `since`, with position above
    /// `afterPosition`, in position order.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - since: What the client holds.
    ///   - afterPosition: The last position of the previous page (for the first,
    ///     ``pullStart(in:since:)`` or 0).
    ///   - limit: At most this many bundles.
    /// - Complexity: O(1) per stored row looked at (a lookup in `since`); rows the client
    ///   holds are skipped without reading their bytes.
    func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [StoredBundle]

    /// The bundle stored at `position`, if any.
    func bundle(at position: Int64) async throws -> StoredBundle?

    /// Total bundle bytes the space holds.
    func usage(of spaceID: SpaceID) async throws -> Int64

    /// Stores `snapshot` and its chunks as the space's latest snapshot, in one
    /// transaction (`Specs/relay-api.md` §3.1, §7). The snapshot it replaces is kept as
    /// the previous one (a device mid-download finishes from it); the one before that is
    /// dropped. The snapshot's bytes count against the space's quota, with its bundles.
    /// The caller has checked the manifest (signature, signer, checkpoint, chunk ids).
    /// - Parameters:
    ///   - snapshot: The manifest and what the relay read from it.
    ///   - chunks: The chunk bytes, by index (`snapshot.chunkCount` of them).
    ///   - quotaBytes: The most bytes (bundles and snapshots) the space may hold after the put.
    /// - Returns: ``SnapshotPutOutcome/alreadyStored`` when the space holds this id already.
    /// - Throws: ``RelayError`` ``RelayError/Code/staleSnapshot`` when its vector does not
    ///   include the latest snapshot's, or equals it; ``RelayError/Code/quotaExceeded``;
    ///   nothing is stored then.
    func putSnapshot(_ snapshot: StoredSnapshot, chunks: [[UInt8]], quotaBytes: Int64) async throws -> SnapshotPutOutcome

    /// The space's latest snapshot, if any.
    func latestSnapshot(of spaceID: SpaceID) async throws -> StoredSnapshot?

    /// The snapshot `id` of the space if it is held (the latest or the previous one).
    func snapshot(_ id: Digest32, of spaceID: SpaceID) async throws -> StoredSnapshot?

    /// Chunk `index` of snapshot `id` of the space, if held.
    func snapshotChunk(_ id: Digest32, index: Int, of spaceID: SpaceID) async throws -> [UInt8]?

    /// Drops the bytes of the space's **data** bundles that a retention pass may drop
    /// (`Specs/snapshots.md` §5.2): for each author `A` of `bound`, those with sequence at
    /// most `bound[A]` and `hlc max` below `hlcBelow`. The caller computes `bound` as the
    /// pointwise minimum of the latest snapshot's `V` and the relay's stable cut, so nothing
    /// above any counted member's acknowledgement is dropped. Control bundles are never
    /// dropped. A dropped bundle keeps its row (author, sequence, id, previous) without
    /// bytes, so a later push of it is still a duplicate and a different one still a fork,
    /// and heads and vectors do not change; each author's highest dropped sequence becomes
    /// its **floor** (``floor(of:)``), and the bytes leave the space's usage. One transaction.
    /// - Parameters:
    ///   - spaceID: The space.
    ///   - bound: The highest sequence per author that may be dropped.
    ///   - hlcBelow: Only bundles whose `hlc max` is below this (raw HLC) are dropped;
    ///     `UInt64.max` for any age.
    /// - Returns: What was dropped.
    /// - Complexity: O(rows above each author's floor, up to `bound`): earlier rows were
    ///   decided by earlier passes.
    func dropBundleBytes(in spaceID: SpaceID, through bound: VersionVector, hlcBelow: UInt64) async throws -> RetentionSummary

    /// Each author's **floor**: the highest sequence whose bytes retention dropped. A pull
    /// whose `since` is below it for some author cannot be served from the log
    /// (`409 snapshot-required`). Empty for a space retention never touched.
    /// - Complexity: O(authors of the space with a floor).
    func floor(of spaceID: SpaceID) async throws -> VersionVector

    /// A notice for every bundle stored after the call, by this process or (PostgreSQL)
    /// by any relay sharing the database. Each call returns a new sequence.
    func notices() async throws -> AsyncStream<BundleNotice>

    /// Throws if the storage does not answer.
    func healthCheck() async throws

    /// Releases connections.
    func close() async
}

extension RelayStorage {
    /// ``append(_:to:limits:)`` with only a byte quota.
    /// - Parameters:
    ///   - bundles: Verified bundles of `spaceID`, in push order.
    ///   - spaceID: The space.
    ///   - quotaBytes: The most bundle bytes the space may hold after the append.
    /// - Returns: What was stored and what was already there.
    /// - Throws: See ``append(_:to:limits:)``.
    public func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, quotaBytes: Int64) async throws -> AppendSummary {
        try await append(bundles, to: spaceID, limits: SpaceLimits(quotaBytes: quotaBytes))
    }
}

/// Checks the limits of an append against what the space holds, for both backends.
enum SpaceLimitCheck {
    /// - Parameters:
    ///   - accepted: The bundles the append would store.
    ///   - used: The space's bytes and authors now, nil for a space with nothing stored.
    ///   - spaceCount: How many spaces the storage holds; asked only for a new space when
    ///     `limits.maxSpaces` is set.
    /// - Returns: The bytes and new authors the append adds.
    /// - Throws: ``RelayError`` `.tooManySpaces`, `.tooManyAuthors` or `.quotaExceeded`.
    static func check(
        _ accepted: [ChangeBundle], of spaceID: SpaceID, used: (bytes: Int64, authors: Int)?, limits: SpaceLimits,
        spaceCount: () throws -> Int
    ) throws -> (bytes: Int64, newAuthors: Int) {
        if used == nil, let maxSpaces = limits.maxSpaces, try spaceCount() >= maxSpaces {
            throw RelayError.tooManySpaces(limit: maxSpaces)
        }
        let newAuthors = accepted.reduce(0) { $0 + ($1.sequence == 1 ? 1 : 0) }
        let authors = used?.authors ?? 0
        if newAuthors > 0 && authors + newAuthors > limits.maxAuthors {
            throw RelayError.tooManyAuthors(spaceID: spaceID, authors: authors, adding: newAuthors, limit: limits.maxAuthors)
        }
        let adding = accepted.reduce(Int64(0)) { $0 + Int64($1.bytes.count) }
        let bytes = used?.bytes ?? 0
        guard bytes + adding <= limits.quotaBytes else {
            throw RelayError.quotaExceeded(spaceID: spaceID, used: bytes, adding: adding, quota: limits.quotaBytes)
        }
        return (adding, newAuthors)
    }

    /// The last accepted bundle of each author: the new heads, in first-seen order.
    static func newHeads(_ accepted: [ChangeBundle]) -> [AuthorHead] {
        var order: [PublicKey] = []
        var heads: [PublicKey: UInt64] = [:]
        for bundle in accepted {
            if heads[bundle.author] == nil { order.append(bundle.author) }
            heads[bundle.author] = max(heads[bundle.author] ?? 0, bundle.sequence)
        }
        return order.map { AuthorHead(author: $0, sequence: heads[$0]!) }
    }
}
