import ConcordCore
import ConcordCrypto

extension StabilityTracker {
    /// The stable cut as a relay computes it (`Specs/snapshots.md` §5.2, §10): this tracker's
    /// rule fed with what a relay can read. A relay reads no payload (an encrypted space's
    /// data-bundle contexts are sealed), so it knows each member's acknowledgement from its
    /// `ack` ops (``MembershipState/Member/lastAck``) and from the chains it holds: any bundle
    /// acknowledges its author's own chain up to itself. An author is recorded once it wrote
    /// a data bundle or an `ack`, as replicas record it, so a member that wrote data but never
    /// acknowledged counts, and holds every other chain at 0. The result never exceeds the
    /// cut of a device holding what the relay holds (`CheckpointProperties.relayCutIsConservative`).
    ///
    /// ```swift
    /// let cut = StabilityTracker.relayCut(membership: state, held: relayVector, dataAuthors: authors)
    /// ```
    /// - Parameters:
    ///   - membership: The membership evaluated from the control bundles the relay holds.
    ///   - held: The relay's vector (each author's stored head).
    ///   - dataAuthors: Authors of at least one data bundle the relay holds (or held).
    /// - Returns: Per author held, the greatest sequence every counted member acknowledged.
    /// - Complexity: O(members × authors).
    public static func relayCut(membership: MembershipState, held: VersionVector, dataAuthors: Set<PublicKey>) -> VersionVector {
        var tracker = StabilityTracker()
        for (author, head) in held.entries where dataAuthors.contains(author) || membership.member(author)?.lastAck != nil {
            tracker.record(MembershipState.Acknowledgement(author: author, sequence: head, context: VersionVector()))
        }
        return tracker.stableCut(membership: membership, held: held)
    }
}
