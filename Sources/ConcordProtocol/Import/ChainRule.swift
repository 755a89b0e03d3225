/// The per-author hash-chain rule (`Specs/sync-protocol.md` §7, "The chain rule"): where
/// a bundle stands against what its author's chain already holds.
///
/// Every place that admits a bundle into a chain asks it: the importer (``BundleImporter``,
/// ``BundleLog/appendSealed(_:)``), the stores' `appendBundle` and both relay backends
/// (the PostgreSQL one states the same rule in SQL, and a property test compares its
/// decisions with this type's). A pure function: give it the bundle's place and links and
/// the author's link at or below that place; it answers with a ``Verdict``.
///
/// With the author's chain holding sequences 1 to 3 (ids `a1`, `a2`, `a3`):
///
/// ```swift
/// let head = ChainRule.Link(sequence: 3, id: a3)
/// ChainRule.verdict(sequence: 4, previous: a3, id: a4, against: head)   // .extends
/// ChainRule.verdict(sequence: 4, previous: x, id: b4, against: head)    // .fork(at: 3, existing: a3, claimed: x)
/// ChainRule.verdict(sequence: 6, previous: a5, id: a6, against: head)   // .gap(needed: 4)
/// let second = ChainRule.Link(sequence: 2, id: a2)
/// ChainRule.verdict(sequence: 2, previous: a1, id: a2, against: second) // .duplicate
/// ChainRule.verdict(sequence: 2, previous: a1, id: b2, against: second) // .fork(at: 2, existing: a2, claimed: b2)
/// ```
public enum ChainRule {
    /// A place in an author's chain: a sequence and the id of the bundle there.
    public struct Link: Hashable, Sendable {
        /// The sequence, from 1.
        public var sequence: UInt64
        /// The id of the bundle at that sequence.
        public var id: BundleID

        /// Creates a link.
        public init(sequence: UInt64, id: BundleID) {
            self.sequence = sequence
            self.id = id
        }

        /// The place `bundle` takes in its author's chain.
        public init(_ bundle: ChangeBundle) {
            self.init(sequence: bundle.sequence, id: bundle.id)
        }
    }

    /// Where a bundle stands against its author's chain.
    public enum Verdict: Hashable, Sendable {
        /// It is the next link: its sequence follows the head's and its `previous` is the
        /// head's id (``BundleID/zero`` and sequence 1 for an empty chain).
        case extends
        /// The chain already holds this very bundle (same place, same id).
        case duplicate
        /// The author's history forked at sequence `at`: the chain holds `existing` there,
        /// and the bundle claims `claimed` instead. Either the bundle takes a place already
        /// held (`at` is its own sequence and `claimed` its own id) or it is the next
        /// bundle but links after another bundle than the head (`at` is the head's
        /// sequence and `claimed` the bundle's `previous`). `at` is 0 (and `existing`
        /// ``BundleID/zero``) when an author's first bundle names a predecessor, which a
        /// decoded bundle never does.
        case fork(at: UInt64, existing: BundleID, claimed: BundleID)
        /// The bundle does not follow the head: the chain needs sequence `needed` first
        /// (the bundle is further on; a predecessor is missing).
        case gap(needed: UInt64)
    }

    /// The verdict for a bundle at `sequence`, linking to `previous`, with id `id`.
    ///
    /// - Parameters:
    ///   - sequence: The bundle's sequence.
    ///   - previous: The bundle's link to its predecessor.
    ///   - id: The bundle's id.
    ///   - link: The author's link at `sequence` if the chain holds one, otherwise the
    ///     author's head (by contiguity the highest link below `sequence`); `nil` when
    ///     the author has no bundle. A link above `sequence` is not a valid argument.
    /// - Returns: The verdict.
    /// - Precondition: `link` is not above `sequence` (a caller that knows only the head
    ///   looks up the link at a place the head has passed, or asks ``extends(sequence:previous:after:)``).
    /// - Complexity: O(1).
    public static func verdict(sequence: UInt64, previous: BundleID, id: BundleID, against link: Link?) -> Verdict {
        let head = link ?? Link(sequence: 0, id: .zero)
        precondition(head.sequence <= sequence, "ChainRule: the link given is above the bundle's place; pass the link at that place")
        if head.sequence == sequence && link != nil {
            return head.id == id ? .duplicate : .fork(at: sequence, existing: head.id, claimed: id)
        }
        guard sequence == head.sequence + 1 else { return .gap(needed: head.sequence + 1) }
        return previous == head.id ? .extends : .fork(at: head.sequence, existing: head.id, claimed: previous)
    }

    /// The verdict for `bundle`; see ``verdict(sequence:previous:id:against:)``.
    /// - Complexity: O(1).
    public static func verdict(for bundle: ChangeBundle, against link: Link?) -> Verdict {
        verdict(sequence: bundle.sequence, previous: bundle.previous, id: bundle.id, against: link)
    }

    /// Whether a bundle at `sequence` linking to `previous` extends a chain whose head is
    /// `head`: the question of a store that holds only heads. A place at or below the head
    /// is taken, so such a bundle never extends.
    ///
    /// ```swift
    /// guard ChainRule.extends(sequence: 4, previous: a3, after: head) else { throw … }
    /// ```
    /// - Complexity: O(1).
    public static func extends(sequence: UInt64, previous: BundleID, after head: Link?) -> Bool {
        guard sequence > head?.sequence ?? 0 else { return false }
        // The id only matters for a place the chain holds, which this one is not.
        return verdict(sequence: sequence, previous: previous, id: .zero, against: head) == .extends
    }
}
