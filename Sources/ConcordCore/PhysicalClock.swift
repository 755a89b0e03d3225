import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Inject a custom clock into ``HybridLogicalClock`` to make tests deterministic.
public protocol PhysicalClock: Sendable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    func nowMilliseconds() -> UInt64
}

/// The system's real-time clock (`CLOCK_REALTIME`).
public struct SystemClock: PhysicalClock {
    public init() {}

    public func nowMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(0, ts.tv_sec)) * 1000 + UInt64(max(0, ts.tv_nsec)) / 1_000_000
    }
}

/// A clock that always reads the same fixed time; for tests and examples.
public struct FixedClock: PhysicalClock {
    /// The reading.
    public var milliseconds: UInt64
    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }
    public func nowMilliseconds() -> UInt64 { milliseconds }
}

/// A clock that reads whatever the test sets; safe to share between tasks.
///
/// ```swift
/// let time = ManualClock(milliseconds: 1_700_000_000_000)
/// var clock = HybridLogicalClock(physicalClock: time)
/// time.advance(by: 250)
/// ```
public final class ManualClock: PhysicalClock {
    private let reading: Mutex<UInt64>

    /// A clock reading `milliseconds`.
    public init(milliseconds: UInt64) { reading = Mutex(milliseconds) }

    public func nowMilliseconds() -> UInt64 { reading.withLock { $0 } }

    /// Sets the reading (it may go backwards, as real clocks sometimes do).
    public func set(milliseconds: UInt64) { reading.withLock { $0 = milliseconds } }

    /// Moves the reading forward.
    public func advance(by milliseconds: UInt64) { reading.withLock { $0 += milliseconds } }
}
