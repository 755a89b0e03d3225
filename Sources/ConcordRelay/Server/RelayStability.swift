import ConcordCore
import ConcordCrypto
import ConcordProtocol

/// The stable cut as a relay computes it (`Specs/snapshots.md` §5.2, §10; `Specs/crdt-semantics.md`
/// §11.1): the same `StabilityTracker` the replicas use, fed with what a relay can read.
///
/// A relay reads no payload (an encrypted space's data-bundle contexts are sealed), so it
/// knows each member's acknowledgement from its `ack` ops (the membership state's
/// `MembershipState.Member.lastAck`, evaluated from the control bundles it stores) and
/// from the chains it holds: any bundle acknowledges its author's own chain up to itself.
/// An author is recorded once it wrote a data bundle or an `ack` (as replicas record it), so
/// a member that wrote data but never acknowledged counts, and holds every other chain at 0.
/// The result never exceeds the cut of a device holding what the relay holds
/// (`StabilityTracker.relayCut`, the function `CheckpointProperties.relayCutIsConservative`
/// checks).
///
/// ```swift
/// let cut = RelayStability.stableCut(membership: state, held: relayVector, dataAuthors: authors)
/// let bound = RelayStability.minimum(snapshot.vector, cut)   // what retention may drop
/// ```
package enum RelayStability {
    /// The relay's stable cut.
    /// - Parameters:
    ///   - membership: The membership the relay evaluates from its control bundles.
    ///   - held: The relay's vector (each author's stored head).
    ///   - dataAuthors: Authors of at least one stored data bundle.
    /// - Returns: Per author held, the greatest sequence every counted member acknowledged.
    /// - Complexity: O(members × authors).
    package static func stableCut(membership: MembershipState, held: VersionVector, dataAuthors: Set<PublicKey>) -> VersionVector {
        StabilityTracker.relayCut(membership: membership, held: held, dataAuthors: dataAuthors)
    }

    /// The pointwise minimum of two vectors (authors missing from either are left out).
    /// - Parameters:
    ///   - a: A vector.
    ///   - b: Another.
    /// - Returns: `min(a[A], b[A])` for every author of both, where above 0.
    package static func minimum(_ a: VersionVector, _ b: VersionVector) -> VersionVector {
        var entries: [PublicKey: UInt64] = [:]
        for (author, sequence) in a.entries where min(sequence, b[author]) > 0 {
            entries[author] = min(sequence, b[author])
        }
        return VersionVector(entries)
    }
}
