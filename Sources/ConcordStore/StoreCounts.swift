/// What a store holds, counted: the figures `concord status --json` reports under
/// `"storage"` and that compaction (`Specs/crdt-semantics.md`) will shrink.
///
/// ```swift
/// let counts = try store.read { try $0.counts() }
/// print("\(counts.liveRecords) live records, \(counts.setTombstones) set tombstones")
/// ```
public struct StoreCounts: Hashable, Sendable {
    /// Records a reader sees (written after their last delete).
    public var liveRecords: Int
    /// Records a reader does not see: deleted and not written since (their rows stay as
    /// tombstones), or touched only by set removes.
    public var deletedRecords: Int
    /// Records deleted and not written since: the **delete stubs** of
    /// `Specs/crdt-semantics.md` §11.4 (a subset of ``deletedRecords``).
    public var deleteStubs: Int
    /// Removed OR-set tags kept as tombstones, over every record.
    public var setTombstones: Int
    /// Bundles in the authors' chains (the log).
    public var logBundles: Int
    /// Bytes of those bundles, as signed.
    public var logBytes: Int
    /// Bundles waiting for a missing predecessor.
    public var heldBundles: Int
    /// Bundles kept as fork evidence.
    public var quarantinedBundles: Int

    /// Creates counts.
    public init(
        liveRecords: Int = 0, deletedRecords: Int = 0, setTombstones: Int = 0, logBundles: Int = 0, logBytes: Int = 0, heldBundles: Int = 0,
        quarantinedBundles: Int = 0, deleteStubs: Int = 0
    ) {
        self.liveRecords = liveRecords
        self.deletedRecords = deletedRecords
        self.deleteStubs = deleteStubs
        self.setTombstones = setTombstones
        self.logBundles = logBundles
        self.logBytes = logBytes
        self.heldBundles = heldBundles
        self.quarantinedBundles = quarantinedBundles
    }
}
