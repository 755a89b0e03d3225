/// A unique, totally ordered event identifier: a hybrid logical clock reading plus the
/// replica that made it.
///
/// Order is by `hlc`, then by `replica` bytes. Because a replica's clock never repeats a
/// reading, a stamp names exactly one operation; an OR-set add uses its stamp as its tag.
public struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The clock reading.
    public var hlc: HLCTimestamp
    /// The replica that made the event.
    public var replica: ReplicaID

    /// Creates a stamp.
    @inlinable
    public init(hlc: HLCTimestamp, replica: ReplicaID) {
        self.hlc = hlc
        self.replica = replica
    }

    @inlinable
    public static func < (lhs: Stamp, rhs: Stamp) -> Bool {
        lhs.hlc != rhs.hlc ? lhs.hlc < rhs.hlc : lhs.replica < rhs.replica
    }

    /// `"<hlc>@<first 8 hex digits of replica>"`.
    public var description: String { "\(hlc)@\(replica.shortDescription)" }
}
