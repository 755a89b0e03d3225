import ConcordCore
import ConcordCrypto

/// What ``Replica/compact(historyHorizon:dryRun:)`` did, or (a dry run) would do
/// (`Specs/snapshots.md` §5.1; `concord compact --json` prints these figures).
///
/// ```swift
/// let report = try await replica.compact()
/// print("dropped \(report.bundlesDropped) bundles: \(report.bytesBefore) -> \(report.bytesAfter) bytes")
/// ```
public struct CompactionReport: Hashable, Sendable {
    /// The snapshot compacted to: the replica's base from now on (its **floor**).
    public var snapshot: Digest32
    /// The snapshot's `V`.
    public var vector: VersionVector
    /// When the snapshot was sealed (its signer's clock).
    public var madeAt: HLCTimestamp
    /// Whether the snapshot was sealed here or verified (always `true` today: compaction
    /// refuses a provisional one).
    public var verified: Bool
    /// Chain bundles dropped (their ids are kept, 32 bytes each).
    public var bundlesDropped: Int
    /// Bytes of the dropped bundles, as signed.
    public var bytesDropped: Int
    /// Chain bundles kept: above `V`, within the history horizon, this device's own not yet
    /// acknowledged, and each author's latest data bundle (its acknowledgement).
    public var bundlesKept: Int
    /// Control bundles kept in the membership ledger (never compacted).
    public var controlBundles: Int
    /// Set tombstones fewer than before (the records are already pruned as written, so
    /// this is usually 0).
    public var tombstonesPruned: Int
    /// Hidden records reduced to delete stubs (`Specs/crdt-semantics.md` §11.4), as kept.
    public var stubs: Int
    /// `replica.sqlite` and its `-wal`/`-shm` files before, in bytes (0 in memory).
    public var bytesBefore: Int
    /// The same after compaction and `VACUUM`; for a dry run, an estimate (before minus the
    /// dropped bundles' bytes).
    public var bytesAfter: Int
    /// Whether nothing was changed (``Replica/compact(historyHorizon:dryRun:)`` with
    /// `dryRun: true`).
    public var dryRun: Bool

    /// Creates a report.
    public init(
        snapshot: Digest32, vector: VersionVector, madeAt: HLCTimestamp = .zero, verified: Bool = true, bundlesDropped: Int = 0, bytesDropped: Int = 0,
        bundlesKept: Int = 0, controlBundles: Int = 0, tombstonesPruned: Int = 0, stubs: Int = 0, bytesBefore: Int = 0,
        bytesAfter: Int = 0, dryRun: Bool = false
    ) {
        self.snapshot = snapshot
        self.vector = vector
        self.madeAt = madeAt
        self.verified = verified
        self.bundlesDropped = bundlesDropped
        self.bytesDropped = bytesDropped
        self.bundlesKept = bundlesKept
        self.controlBundles = controlBundles
        self.tombstonesPruned = tombstonesPruned
        self.stubs = stubs
        self.bytesBefore = bytesBefore
        self.bytesAfter = bytesAfter
        self.dryRun = dryRun
    }
}
