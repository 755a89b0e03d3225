import ConcordCore
import ConcordCrypto

/// Whose snapshots a replica loads (`Specs/snapshots.md` §4.6): a snapshot asserts other
/// authors' writes without their signatures, so it is trusted as far as its signer.
public enum SnapshotTrust: String, Hashable, Sendable {
    /// Snapshots signed by an admin (the default).
    case admins
    /// Snapshots signed by any admin or writer.
    case members
}

/// What a replica knows of its latest snapshot (`status`: `snapshot: {id, signer, state}`).
public struct SnapshotStatus: Hashable, Sendable {
    /// How far the snapshot is checked.
    public enum State: String, Hashable, Sendable {
        /// Loaded and checked against its manifest, not yet recomputed from a log.
        case provisional
        /// Recomputed from the log at or below its `V` (or sealed here): the same state.
        case verified
    }

    /// The snapshot id.
    public let id: Digest32
    /// The member that sealed it.
    public let signer: PublicKey
    /// How far it is checked.
    public let state: State
    /// Its `V`.
    public let vector: VersionVector
    /// Its records (live, hidden and stubs).
    public let records: UInt64
    /// When its sealer sealed it (the manifest's `made at`).
    public let madeAt: HLCTimestamp
}

/// What ``Replica/loadSnapshot(_:controlBundles:)`` put in place.
public struct SnapshotLoadSummary: Hashable, Sendable {
    /// The snapshot id.
    public let snapshot: Digest32
    /// Its signer.
    public let signer: PublicKey
    /// The version vector the replica now holds: the snapshot's `V`.
    public let vector: VersionVector
    /// Records written (live, hidden and stubs).
    public let records: Int
    /// Of them, visible.
    public let liveRecords: Int
    /// Control bundles put in the membership ledger.
    public let controlBundles: Int
    /// Seconds per step of the load, for `concord-bench --suite new-device`
    /// (`Specs/snapshots.md` §7): `controls` (control bundles, membership digest,
    /// checkpoint, trust), `chunk ids`, `decrypt`, `decode`, `state digest`, `visible
    /// digest`, `store records`, `store snapshot` (the snapshot kept as this device's
    /// latest), `store base` (the records kept as its base), `store other` (emptiness
    /// checks, membership ledger, floors, clock) and `commit`.
    @_spi(Benchmarks) public var phases: [String: Double] = [:]
}
