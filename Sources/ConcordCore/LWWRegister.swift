/// A last-writer-wins register: holds the value of the write with the greatest stamp.
///
/// Merge keeps the write with the greater ``Stamp`` (HLC, then replica id). Two writes
/// with the *same* stamp can only come from one replica issuing one reading twice, which
/// honest replicas never do; the rule still has to be deterministic, so the greater
/// ``Value`` in its total order wins.
///
/// - Complexity: merge is O(1) plus one value comparison on ties.
public struct LWWRegister: Hashable, Sendable {
    /// The winning write's stamp.
    public private(set) var stamp: Stamp
    /// The winning write's value.
    public private(set) var value: Value

    /// A register holding one write.
    public init(value: Value, stamp: Stamp) {
        self.value = value
        self.stamp = stamp
    }

    /// Whether a write `(value, stamp)` beats this register's current write.
    @inlinable
    public func isBeaten(by stamp: Stamp, value: Value) -> Bool {
        stamp > self.stamp || (stamp == self.stamp && self.value < value)
    }

    /// Applies a write; keeps whichever write wins.
    /// - Returns: `true` when the register changed.
    @discardableResult
    public mutating func write(_ value: Value, stamp: Stamp) -> Bool {
        guard isBeaten(by: stamp, value: value) else { return false }
        self.value = value
        self.stamp = stamp
        return true
    }

    /// Merges another register's state (commutative, associative, idempotent).
    public mutating func merge(_ other: LWWRegister) {
        write(other.value, stamp: other.stamp)
    }
}
