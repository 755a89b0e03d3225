/// A frontier of delivered stamps: for each author, the clock reading up to which its
/// operations have been delivered (`Specs/crdt-semantics.md` §11.2).
///
/// A replica's **held frontier** is, for every author, the chain mark of the author's
/// chain head as held: the greatest `hlc max` of its data bundles (chains are delivered in
/// order and each data bundle's clock range starts after that mark, else it is void, so
/// every op of the author stamped at or before it has been applied or never will be). A stamp `(h, R)` is *delivered* when `h ≤ F(R)`;
/// an author the frontier does not name has nothing delivered.
///
/// ```swift
/// let frontier = Frontier([alice: aliceHead.mark, bob: bobHead.mark])
/// let compact = state.pruned(frontier: frontier)
/// ```
public struct Frontier: Hashable, Sendable {
    /// The newest delivered clock reading of each author.
    public private(set) var heads: [ReplicaID: HLCTimestamp]

    /// A frontier with the given heads.
    public init(_ heads: [ReplicaID: HLCTimestamp] = [:]) { self.heads = heads }

    /// The newest delivered reading of `author`, if any.
    public func head(of author: ReplicaID) -> HLCTimestamp? { heads[author] }

    /// Whether `stamp` is delivered: its author's head is at or after its reading.
    public func delivers(_ stamp: Stamp) -> Bool { heads[stamp.replica].map { stamp.hlc <= $0 } ?? false }

    /// Moves `author`'s head to `reading` if that is newer.
    public mutating func advance(_ author: ReplicaID, to reading: HLCTimestamp) {
        if heads[author].map({ reading > $0 }) ?? true { heads[author] = reading }
    }

    /// The pointwise maximum of two frontiers (the frontier of a merged state).
    public func union(_ other: Frontier) -> Frontier {
        var result = self
        for (author, reading) in other.heads { result.advance(author, to: reading) }
        return result
    }

    /// Whether every head of `self` is at or before the same author's head in `other`.
    public func isAtOrBefore(_ other: Frontier) -> Bool {
        heads.allSatisfy { author, reading in other.heads[author].map { reading <= $0 } ?? false }
    }
}
