import ConcordCore
import ConcordCrypto

/// Where a replica keeps everything that must survive a restart: the bundle log (every
/// author's hash chain), held and quarantined bundles, the materialized state of every
/// record, local changes not yet sealed, and small metadata such as the local clock.
///
/// Two implementations pass one conformance suite (`Tests/ConcordStoreTests`):
/// ``SQLiteStore`` (a database file, WAL, migrations; `Specs/storage-schema.md`) and
/// ``MemoryStore`` (for tests and previews). A store is a transactional container with
/// no CRDT logic of its own: `Concord.Replica` decides what to write.
///
/// Every change happens inside ``write(_:)``: all of it commits, or (when the body
/// throws) none of it does.
///
/// ```swift
/// let store = try SQLiteStore(path: "/tmp/notes/replica.sqlite")
/// try store.write { tx in
///     try tx.setMetadata(Array("hello".utf8), for: "greeting")
/// }
/// let greeting = try store.read { try $0.metadata("greeting") }
/// ```
public protocol Store: AnyObject, Sendable {
    /// Runs `body` with a consistent read-only view.
    /// - Throws: ``StoreError`` or what `body` throws.
    func read<T>(_ body: (any StoreReader) throws -> T) throws -> T

    /// Runs `body` in one transaction: committed (durably, for ``SQLiteStore``) when it
    /// returns, rolled back entirely when it throws.
    /// - Throws: ``StoreError`` or what `body` throws.
    func write<T>(_ body: (any StoreWriter) throws -> T) throws -> T
}

/// Read access to a store, inside ``Store/read(_:)`` or ``Store/write(_:)``.
public protocol StoreReader {
    /// A metadata value; `nil` when unset.
    func metadata(_ key: String) throws -> [UInt8]?

    /// The stored state of one record (visible or not); `nil` if never written.
    func record(_ id: RecordID, in collection: String) throws -> StoredRecord?

    /// The visible records matching `query`, in the query's order.
    /// - Complexity: answered from indexes: O(log n) per matching row plus sorting.
    func records(matching query: RecordQuery) throws -> [StoredRecordRow]

    /// How many visible records match `query` (ignoring its limit and offset).
    func count(matching query: RecordQuery) throws -> Int

    /// Names of collections with at least one record (visible or not), sorted.
    func collections() throws -> [String]

    /// Every author's chain head.
    func chainHeads() throws -> [PublicKey: ChainHead]

    /// One author's chain head; `nil` when none of its bundles is held.
    func chainHead(of author: PublicKey) throws -> ChainHead?

    /// `author`'s floor link (`Specs/storage-schema.md` §3.5): the head a snapshot load set
    /// under its empty chain, whose bundles the store does not hold; `nil` when its chain
    /// was not loaded from a snapshot.
    func chainFloor(of author: PublicKey) throws -> ChainHead?

    /// Whether a bundle with this id is in a chain, held or quarantined.
    func containsBundle(_ id: Digest32) throws -> Bool

    /// Bundle `sequence` of `author`'s chain.
    func bundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle?

    /// Chain bundles in append order, after position `after` (0 for the start), at most `limit`.
    func bundles(after position: Int64, limit: Int) throws -> [StoredBundle]

    /// How many bundles the chains hold.
    func bundleCount() throws -> Int

    /// The chain bundle at log position `position`; `nil` when there is none.
    func bundle(at position: Int64) throws -> StoredBundle?

    /// The log positions of the bundles the history index lists for a record, ascending
    /// (``StoreWriter/indexBundle(at:touching:)``; `Specs/storage-schema.md` §3.10).
    func indexedBundlePositions(touching id: RecordID, in collection: String) throws -> [Int64]

    /// The permission denials stored (`Specs/storage-schema.md` §3.11): all of them, or
    /// those of one bundle, ordered by author, sequence, section and index.
    /// - Parameters:
    ///   - bundle: Only this bundle's denials, when given.
    func permissionDenials(ofBundle bundle: Digest32?) throws -> [StoredDenial]

    /// The held bundle at `sequence` of `author`.
    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> StoredBundle?

    /// Every held bundle, by author then sequence.
    func heldBundles() throws -> [StoredBundle]

    /// Every quarantined bundle, in the order they were quarantined.
    func quarantinedBundles() throws -> [StoredBundle]

    /// Local operations not sealed into a bundle yet, in the order they were made.
    func pendingOperations() throws -> [RecordOperation]

    /// How many local operations are waiting to be sealed.
    func pendingOperationCount() throws -> Int

    /// Records, tombstones and log bundles, counted (reads every record state once).
    func counts() throws -> StoreCounts

    /// Whether the store keeps a **base** (`Specs/storage-schema.md` §3.12): the state at
    /// a snapshot's vector that rebuilds start from, set by ``StoreWriter/replaceBase(with:)``.
    func hasBase() throws -> Bool

    /// A record's state at the base; `nil` when it had none there (or there is no base).
    func baseRecord(_ id: RecordID, in collection: String) throws -> RecordState?

    /// Every record's state at the base (none without a base), in no particular order.
    /// - Complexity: O(records).
    func baseRecords() throws -> [BaseRecord]

    /// The id of bundle `sequence` of `author`'s chain when compaction dropped it
    /// (`chain_ids`, `Specs/storage-schema.md` §3.13); `nil` when it was not dropped here.
    func droppedBundleID(of author: PublicKey, sequence: UInt64) throws -> Digest32?
}

/// Write access to a store, inside ``Store/write(_:)``.
public protocol StoreWriter: StoreReader {
    /// Sets (or, with `nil`, removes) a metadata value.
    func setMetadata(_ value: [UInt8]?, for key: String) throws

    /// Stores a record's state and sync bookkeeping, and updates the query indexes.
    /// - Parameters:
    ///   - record: The new state.
    ///   - id: The record's id.
    ///   - collection: The record's collection.
    ///   - previous: The record currently stored (as read in this transaction), `nil` when
    ///     the record is new; the indexes are updated by difference from it.
    func putRecord(_ record: StoredRecord, id: RecordID, in collection: String, previous: StoredRecord?) throws

    /// Appends the next bundle of its author's chain.
    /// - Throws: ``StoreError`` `.constraint` when it does not extend the chain.
    func appendBundle(_ bundle: StoredBundle) throws

    /// Keeps a bundle until its predecessor arrives.
    func holdBundle(_ bundle: StoredBundle) throws

    /// Removes the held bundle at `sequence` of `author` (its id stays known only if it
    /// is appended or quarantined).
    func removeHeldBundle(of author: PublicKey, sequence: UInt64) throws

    /// Keeps a forked bundle as evidence.
    func quarantineBundle(_ bundle: StoredBundle) throws

    /// Removes a quarantined bundle.
    func removeQuarantinedBundle(_ id: Digest32) throws

    /// Adds to the history index: the bundle at log position `position` carries
    /// operations on these records. Adding an entry twice changes nothing.
    func indexBundle(at position: Int64, touching records: [StoredRecordKey]) throws

    /// Replaces the permission denials of one bundle (an empty list removes them).
    /// - Parameters:
    ///   - bundle: The bundle's id.
    ///   - denials: Its denials now, each with `bundleID == bundle`.
    func replacePermissionDenials(ofBundle bundle: Digest32, with denials: [StoredDenial]) throws

    /// Appends local operations to the unsealed queue.
    func appendPendingOperations(_ ops: [RecordOperation]) throws

    /// Empties the unsealed queue and marks every record written since the last seal as
    /// sealed into this device's bundle `sequence`.
    func markPendingSealed(sequence: UInt64) throws

    /// Takes `author`'s chain bundles above `sequence` out of the chain and returns them,
    /// in sequence order; the head becomes bundle `sequence` (no head for 0). Held and
    /// quarantined bundles are not touched. Only a recovery does this
    /// (`Specs/sync-protocol.md` §5): a chain otherwise only grows.
    func removeChainBundles(of author: PublicKey, after sequence: UInt64) throws -> [StoredBundle]

    /// Sets `author`'s chain head to a **floor link** (`Specs/snapshots.md` §4.5 step 3,
    /// `Specs/storage-schema.md` §8): the chain holds no bundle at or below
    /// `head.sequence`, and the next bundle appended must extend `head` (its id and mark).
    /// Only a snapshot load does this, on an author whose chain is empty.
    func setChainFloor(_ head: ChainHead, of author: PublicKey) throws

    /// Makes `records` the store's base (`Specs/storage-schema.md` §3.12): the complete state
    /// at a snapshot's vector. The store keeps only what differs from the current records
    /// and from then on copies a record's state into the base before its first change
    /// (copy-on-write), so ``StoreReader/baseRecord(_:in:)`` keeps answering the state at
    /// the base.
    /// - Complexity: O(records).
    func replaceBase(with records: [BaseRecord]) throws

    /// Compaction (`Specs/snapshots.md` §5.1): takes `author`'s chain bundles at or below
    /// `sequence` out of the chain, keeps their ids (``StoreReader/droppedBundleID(of:sequence:)``),
    /// removes their history index rows, and makes bundle `sequence` the chain's floor link
    /// (``StoreReader/chainFloor(of:)``). Nothing happens when `sequence` is at or below the
    /// floor.
    /// - Throws: ``StoreError`` `.constraint` when the chain does not hold every bundle
    ///   between its floor and `sequence`.
    func dropChainBundles(of author: PublicKey, through sequence: UInt64) throws -> DroppedBundles

    /// Replaces the unsealed queue with `ops` (in order; empty clears it). Records keep
    /// their sync bookkeeping.
    func replacePendingOperations(_ ops: [RecordOperation]) throws

    /// Re-bases every record's own-bundle sequence after this device continued under a
    /// new identity: sequences `1...acknowledged` become `nil` (synced), later ones become
    /// ``StoredRecord/unsealed``; `nil` and `unsealed` stay.
    func rebaseLocalSequences(acknowledged: UInt64) throws
}

extension StoreReader {
    /// The chain mark of the bundle before bundle `sequence` of `author`'s chain: the
    /// stored bundle's, or the floor link's when `sequence` is the first above a
    /// snapshot's floor; `nil` when there is none (`sequence` 1, or a gap).
    ///
    /// ```swift
    /// let mark = try tx.chainMark(before: bundle.sequence, of: bundle.author)
    /// ```
    /// - Parameters:
    ///   - sequence: The bundle's sequence in its chain.
    ///   - author: The chain's author.
    /// - Returns: The mark its chain-monotonicity check compares with.
    public func chainMark(before sequence: UInt64, of author: PublicKey) throws -> HLCTimestamp? {
        guard sequence > 1 else { return nil }
        if let previous = try bundle(of: author, sequence: sequence - 1) { return previous.mark }
        if let floor = try chainFloor(of: author), floor.sequence + 1 == sequence { return floor.mark }
        return nil
    }

    /// The id of the bundle at `sequence` of `author`'s chain as this store knows it: a
    /// chain bundle's, the floor link's, or a dropped bundle's (`chain_ids`); `nil` when it
    /// knows none (above the head, or below a snapshot's floor without ids).
    ///
    /// ```swift
    /// let known = try tx.chainBundleID(of: bundle.author, sequence: bundle.sequence)
    /// ```
    /// - Parameters:
    ///   - author: The chain's author.
    ///   - sequence: The place in the chain.
    /// - Returns: The id the chain rule compares with (`Specs/sync-protocol.md` §7).
    public func chainBundleID(of author: PublicKey, sequence: UInt64) throws -> Digest32? {
        if let stored = try bundle(of: author, sequence: sequence) { return stored.id }
        if let floor = try chainFloor(of: author), floor.sequence == sequence { return floor.id }
        return try droppedBundleID(of: author, sequence: sequence)
    }
}
