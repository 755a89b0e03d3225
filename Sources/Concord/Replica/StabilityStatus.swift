import ConcordCore
import ConcordCrypto

/// What a replica knows about causal stability (`Specs/crdt-semantics.md` §11.1): its
/// stable cut, who is counted for it and who is not because an admin marked them stale
/// (`Specs/snapshots.md` §3). ``Replica/stability()`` returns it.
///
/// ```swift
/// let stability = try await replica.stability()
/// print("stable through \(stability.stableCut)")
/// for stale in stability.staleMembers {
///     print("\(stale.name) is not counted since \(stale.since) (\(stale.reason))")
/// }
/// ```
///
/// The stable cut is local knowledge: it only grows as acknowledgements arrive, and differs
/// between replicas. Decisions every replica takes alike use checkpoints instead
/// (``latestCheckpoint``).
public struct StabilityStatus: Hashable, Sendable {
    /// A member an applied `stale` op marked stale (`Specs/snapshots.md` §3): it is not
    /// counted for stability until it acknowledges again.
    public struct StaleMember: Hashable, Sendable {
        /// The device id.
        public let device: PublicKey
        /// Its name as members see it.
        public let name: String
        /// When it was marked stale: the `stale` op's HLC reading, in milliseconds since the
        /// Unix epoch.
        public let since: UInt64
        /// The head of its chain the marking admin held.
        public let lastSeen: UInt64
        /// Why: an admin's decision (`concord member stale`) or the `staleAfter` policy.
        public let reason: MembershipOp.StaleReason
        /// The admin device whose op marked it.
        public let markedBy: PublicKey
    }

    /// `S` of `Specs/crdt-semantics.md` §11.1: for every author, the greatest sequence every
    /// counted member acknowledged and this replica holds; empty when no member is counted
    /// (and in a space without members).
    public let stableCut: VersionVector
    /// The chain heads this replica holds.
    public let held: VersionVector
    /// The members counted for stability (admins and writers, not removed, retired or
    /// stale, that acknowledged at least once), sorted by device id.
    public let countedMembers: [PublicKey]
    /// The members marked stale, sorted by device id.
    public let staleMembers: [StaleMember]
    /// The applied checkpoint with the greatest stamp, if any (`Specs/snapshots.md` §2).
    public let latestCheckpoint: MembershipState.AppliedCheckpoint?

    /// A status.
    /// - Parameters:
    ///   - stableCut: The stable cut.
    ///   - held: The held vector.
    ///   - countedMembers: The counted members.
    ///   - staleMembers: The stale members.
    ///   - latestCheckpoint: The latest applied checkpoint.
    public init(
        stableCut: VersionVector, held: VersionVector, countedMembers: [PublicKey], staleMembers: [StaleMember],
        latestCheckpoint: MembershipState.AppliedCheckpoint?
    ) {
        self.stableCut = stableCut
        self.held = held
        self.countedMembers = countedMembers
        self.staleMembers = staleMembers
        self.latestCheckpoint = latestCheckpoint
    }

    /// Whether bundle `sequence` of `author` is stable here (`sequence ≤ S[author]`).
    /// - Parameters:
    ///   - author: The bundle's author.
    ///   - sequence: Its sequence.
    public func isStable(author: PublicKey, sequence: UInt64) -> Bool { sequence <= stableCut[author] }
}

/// What ``Replica/performStabilityDuties()`` sealed in one call: the automatic control ops
/// of `Specs/snapshots.md` §2-§3.
public struct StabilityDuties: Hashable, Sendable {
    /// Devices this admin device marked stale under the `staleAfter` policy (reason `02`).
    public var markedStale: [PublicKey] = []
    /// Whether this admin device sealed a `checkpoint`.
    public var checkpointed = false
    /// Whether this device sealed an `ack`.
    public var acknowledged = false
    /// The snapshot this admin device sealed after a checkpoint (``Replica/Options/snapshotMinBundles``).
    public var snapshot: Digest32?

    /// Nothing sealed.
    public init() {}

    /// Whether anything was sealed.
    public var isEmpty: Bool { markedStale.isEmpty && !checkpointed && !acknowledged && snapshot == nil }
}
