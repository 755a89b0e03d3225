/// A hybrid logical clock reading: 48 bits of physical milliseconds since the Unix epoch
/// and a 16-bit logical counter, packed into one `UInt64` so that integer order is
/// timestamp order.
///
/// See `Specs/hlc.md` and Kulkarni et al., "Logical Physical Clocks" (OPODIS 2014).
public struct HLCTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The packed form: `milliseconds << 16 | counter`.
    public let rawValue: UInt64

    /// The largest representable millisecond value (2^48 - 1, in the year 10889).
    public static let maxMilliseconds: UInt64 = (1 << 48) - 1
    /// The largest counter value.
    public static let maxCounter: UInt16 = .max
    /// The zero timestamp, before every real reading.
    public static let zero = HLCTimestamp(rawValue: 0)

    /// Wraps a packed value.
    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Packs milliseconds and a counter.
    /// - Precondition: `milliseconds <= maxMilliseconds`.
    @inlinable
    public init(milliseconds: UInt64, counter: UInt16) {
        precondition(milliseconds <= Self.maxMilliseconds, "HLC milliseconds exceed 48 bits")
        rawValue = milliseconds << 16 | UInt64(counter)
    }

    /// Physical part: milliseconds since 1970-01-01T00:00:00Z.
    @inlinable public var milliseconds: UInt64 { rawValue >> 16 }
    /// Logical part.
    @inlinable public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    @inlinable
    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `"<milliseconds>.<counter>"`, e.g. `1700000000000.3`.
    public var description: String { "\(milliseconds).\(counter)" }
}
