import ConcordCore
import ConcordCrypto

/// Acknowledgements and the stable cut of one replica (`Specs/crdt-semantics.md` §11.1).
///
/// Pure: feed it the acknowledgements the replica holds (``record(_:)``, one per bundle:
/// a data bundle's causal context or an `ack` op's held vector, with the author's own
/// entry set to the bundle's sequence; other control bundles acknowledge only their
/// author's own chain: record them with an empty context). It keeps, per member, the
/// pointwise maximum of what it recorded: for an honest device, whose held vector only
/// grows along its chain, that is its latest vector-carrying bundle with its own entry at
/// its latest bundle, as §11.1 states, whatever order the bundles are recorded in. The `ack` ops of
/// the membership state (``MembershipState/Member/lastAck``) count as well, so a tracker
/// that was fed no data bundle still sees them.
///
/// **Counted members** (``countedMembers(membership:held:)``): devices whose role at their
/// head is admin or writer (a policy role counts by its base), not cut, not retired, not
/// stale, and that acknowledged at least once. The **stable cut**
/// (``stableCut(membership:held:)``) is, for every author `A` held,
/// `S[A] = min(held[A], min over counted M of ack(M)[A])`; authors at 0 are left out, and
/// with no counted member nothing is stable (the empty vector). A bundle `(A, k)` is
/// stable when `k ≤ S[A]`.
///
/// ```swift
/// var tracker = StabilityTracker()
/// for bundle in log.bundles where !bundle.isControl {
///     tracker.record(.init(author: bundle.author, sequence: bundle.sequence, context: bundle.context))
/// }
/// let cut = tracker.stableCut(membership: state, held: log.versionVector)
/// print("stable through \(cut)")
/// ```
///
/// The result depends only on the set of acknowledgements recorded (not their order, nor
/// repeats), the membership state and the held vector.
public struct StabilityTracker: Hashable, Sendable {
    /// Each member's acknowledgement: the pointwise maximum of the vectors recorded for it,
    /// at the greatest sequence recorded.
    public private(set) var latest: [PublicKey: MembershipState.Acknowledgement] = [:]

    /// An empty tracker.
    public init() {}

    /// Records an acknowledgement, merging it into the member's (pointwise maximum).
    /// - Parameters:
    ///   - acknowledgement: What one bundle acknowledges.
    public mutating func record(_ acknowledgement: MembershipState.Acknowledgement) {
        latest[acknowledgement.author] = Self.later(latest[acknowledgement.author], acknowledgement)
    }

    /// `M`'s acknowledgement: what was recorded for it merged with its latest applied `ack`
    /// op.
    /// - Parameters:
    ///   - member: A device id.
    ///   - membership: The evaluated membership state.
    public func acknowledgement(of member: PublicKey, membership: MembershipState) -> MembershipState.Acknowledgement? {
        Self.later(latest[member], membership.member(member)?.lastAck)
    }

    /// The members counted for stability (`Specs/crdt-semantics.md` §11.1), sorted.
    /// - Parameters:
    ///   - membership: The evaluated membership state.
    ///   - held: The replica's held version vector (its head of each chain).
    /// - Returns: Admins and writers at their head, not cut, retired or stale, that
    ///   acknowledged at least once.
    public func countedMembers(membership: MembershipState, held: VersionVector) -> [PublicKey] {
        membership.members.compactMap { member in
            guard member.cut == nil, member.retired == nil, member.staleSince == nil,
                let ack = acknowledgement(of: member.device, membership: membership)
            else { return nil }
            let head = max(held[member.device], ack.sequence)
            guard case .member(let role) = member.standing(at: head), role.base != .reader else { return nil }
            return member.device
        }
    }

    /// The stable cut `S` (`Specs/crdt-semantics.md` §11.1).
    /// - Parameters:
    ///   - membership: The evaluated membership state.
    ///   - held: The replica's held version vector.
    /// - Returns: For every author held, the greatest sequence every counted member has
    ///   acknowledged (and the replica holds); empty when no member is counted.
    public func stableCut(membership: MembershipState, held: VersionVector) -> VersionVector {
        let acks = countedMembers(membership: membership, held: held).compactMap { acknowledgement(of: $0, membership: membership) }
        guard !acks.isEmpty else { return VersionVector() }
        var cut: [PublicKey: UInt64] = [:]
        for (author, head) in held.entries {
            cut[author] = acks.reduce(head) { min($0, $1.vector[author]) }
        }
        return VersionVector(cut)
    }

    /// Two acknowledgements of one member merged: the greater sequence, the pointwise
    /// maximum of the vectors.
    private static func later(
        _ a: MembershipState.Acknowledgement?, _ b: MembershipState.Acknowledgement?
    ) -> MembershipState.Acknowledgement? {
        guard let a else { return b }
        guard let b else { return a }
        guard a != b else { return a }
        let merged = a.vector.entries.merging(b.vector.entries, uniquingKeysWith: max)
        return MembershipState.Acknowledgement(author: a.author, sequence: max(a.sequence, b.sequence), vector: VersionVector(merged))
    }
}
