import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// A bundle as a store keeps it: the exact bytes received or sealed, and the header
/// fields the log is indexed by. The store does not verify anything; `Concord` does.
public struct StoredBundle: Hashable, Sendable {
    /// BLAKE2b-256 of the bundle's signed bytes.
    public var id: Digest32
    /// The author's device key.
    public var author: PublicKey
    /// Position in the author's chain, from 1.
    public var sequence: UInt64
    /// Id of the author's previous bundle (all zero for sequence 1).
    public var previous: Digest32
    /// The bundle exactly as signed.
    public var bytes: [UInt8]
    /// Append order in the log (set by the store for chain bundles; 0 otherwise).
    public var position: Int64
    /// For a chain bundle, the chain mark through it (set by the store from the header
    /// when it is appended): the greatest `hlc max` of its author's data bundles up to it,
    /// `nil` when there is none (`Specs/crdt-semantics.md` §11.2, `Specs/storage-schema.md`
    /// §3.4). `nil` for held and quarantined bundles.
    public var mark: HLCTimestamp?

    /// Creates a stored bundle.
    public init(
        id: Digest32, author: PublicKey, sequence: UInt64, previous: Digest32, bytes: [UInt8], position: Int64 = 0,
        mark: HLCTimestamp? = nil
    ) {
        self.id = id
        self.author = author
        self.sequence = sequence
        self.previous = previous
        self.bytes = bytes
        self.position = position
        self.mark = mark
    }

    /// The chain mark through this bundle when the mark before it is `before`
    /// (``ChainRule/mark(_:isControl:hlcMax:)`` on its header; bytes that do not start
    /// like a bundle count as a control bundle: they raise nothing).
    package func mark(after before: HLCTimestamp?) -> HLCTimestamp? {
        guard let header = ChangeBundle.headerClock(bytes) else { return before }
        return ChainRule.mark(before, isControl: header.isControl, hlcMax: header.range.upperBound)
    }
}

/// The newest bundle of an author's contiguous chain.
public struct ChainHead: Hashable, Sendable {
    /// Its sequence number.
    public var sequence: UInt64
    /// Its id.
    public var id: Digest32
    /// The chain mark through it: the greatest `hlc max` of the chain's data bundles, `nil`
    /// when it has none. The author's held frontier (`Specs/crdt-semantics.md` §11.2).
    public var mark: HLCTimestamp?

    /// Creates a chain head.
    public init(sequence: UInt64, id: Digest32, mark: HLCTimestamp? = nil) {
        self.sequence = sequence
        self.id = id
        self.mark = mark
    }
}

extension ChainHead {
    /// The head as a link of its chain, for ``ChainRule``.
    package var link: ChainRule.Link { ChainRule.Link(sequence: sequence, id: BundleID(digest: id)) }
}

/// One record's full CRDT state and this device's sync bookkeeping for it.
public struct StoredRecord: Hashable, Sendable {
    /// The CRDT state (including deleted records' tombstones).
    public var state: RecordState
    /// This device's latest write to the record: `nil` never written here; ``unsealed``
    /// written but not sealed yet; otherwise the sequence of the own bundle that carries it.
    public var localSequence: UInt64?

    /// Marker for ``localSequence``: written locally, not sealed yet.
    public static let unsealed: UInt64 = 0

    /// Creates a stored record.
    public init(state: RecordState, localSequence: UInt64? = nil) {
        self.state = state
        self.localSequence = localSequence
    }
}

/// A query result: a visible record's id and state.
public struct StoredRecordRow: Hashable, Sendable {
    /// The record id.
    public var id: RecordID
    /// The stored record.
    public var record: StoredRecord

    /// Creates a row.
    public init(id: RecordID, record: StoredRecord) {
        self.id = id
        self.record = record
    }
}

/// A record's place in a store: its collection and id.
public struct StoredRecordKey: Hashable, Sendable {
    /// The collection's name.
    public var collection: String
    /// The record's id.
    public var id: RecordID

    /// Creates a key.
    /// - Parameters:
    ///   - collection: The collection's name.
    ///   - id: The record's id.
    public init(collection: String, id: RecordID) {
        self.collection = collection
        self.id = id
    }
}

/// One row of `permission_denials` (`Specs/storage-schema.md` §3.11): a record op of a
/// chain data bundle that the permission decision denied. The store keeps the place and
/// author in columns and the rest as bytes `Concord.Replica` writes and reads; it decides
/// nothing.
public struct StoredDenial: Hashable, Sendable {
    /// The id of the data bundle carrying the op.
    public var bundleID: Digest32
    /// The section of the bundle (0: general).
    public var section: Int
    /// The op's index in its section.
    public var index: Int
    /// The bundle's author.
    public var author: PublicKey
    /// The bundle's position in its author's chain.
    public var sequence: UInt64
    /// Everything else (stamp, record, kind, reason, message, policy), encoded by the replica.
    public var detail: [UInt8]

    /// A row.
    /// - Parameters:
    ///   - bundleID: The bundle's id.
    ///   - section: The section (0: general).
    ///   - index: The op's index in its section.
    ///   - author: The bundle's author.
    ///   - sequence: The bundle's position.
    ///   - detail: The encoded rest.
    public init(bundleID: Digest32, section: Int, index: Int, author: PublicKey, sequence: UInt64, detail: [UInt8]) {
        self.bundleID = bundleID
        self.section = section
        self.index = index
        self.author = author
        self.sequence = sequence
        self.detail = detail
    }
}

/// A record's state at the **base** of a compacted or snapshot-loaded store
/// (`Specs/storage-schema.md` §3.12): where a rebuild starts, since the log below the floor
/// is not held.
public struct BaseRecord: Hashable, Sendable {
    /// The collection's name.
    public var collection: String
    /// The record's id.
    public var id: RecordID
    /// Its state at the base's vector.
    public var state: RecordState

    /// Creates a base record.
    /// - Parameters:
    ///   - collection: The collection's name.
    ///   - id: The record's id.
    ///   - state: Its state at the base.
    public init(collection: String, id: RecordID, state: RecordState) {
        self.collection = collection
        self.id = id
        self.state = state
    }
}

/// What ``StoreWriter/dropChainBundles(of:through:)`` took out of a chain.
public struct DroppedBundles: Hashable, Sendable {
    /// How many bundles left the chain.
    public var count: Int
    /// Their bytes, as signed.
    public var bytes: Int

    /// Creates a summary.
    public init(count: Int = 0, bytes: Int = 0) {
        self.count = count
        self.bytes = bytes
    }
}
