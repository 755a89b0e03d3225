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

/// The system clock shifted by a fixed offset: what a device whose date and time are set
/// wrong reads. `concord` uses it for `CONCORD_CLOCK_OFFSET_MS` (tests of wrong clocks).
///
/// ```swift
/// let yearAhead = ShiftedClock(offset: 365 * 86_400_000)
/// let reset = ShiftedClock(offset: 946_684_800_000 - Int64(SystemClock().nowMilliseconds()))  // ~2000-01-01
/// ```
public struct ShiftedClock: PhysicalClock {
    /// Milliseconds added to the system clock (negative: behind).
    public var offset: Int64

    /// A clock `offset` milliseconds from the system clock.
    public init(offset: Int64) { self.offset = offset }

    public func nowMilliseconds() -> UInt64 {
        let (shifted, overflow) = Int64(clamping: SystemClock().nowMilliseconds()).addingReportingOverflow(offset)
        if overflow { return offset < 0 ? 0 : HLCTimestamp.maxMilliseconds }
        return UInt64(max(0, shifted))
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
