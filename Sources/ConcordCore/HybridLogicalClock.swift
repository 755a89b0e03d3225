/// A hybrid logical clock (HLC) for one replica.
///
/// Implements the send and receive rules of Kulkarni et al. 2014: every reading is
/// greater than every earlier reading of this clock and every remote reading it has
/// received, and stays close to physical time. Remote readings more than ``maxDrift``
/// milliseconds ahead of local physical time are rejected and leave the clock unchanged,
/// so one device with a bad clock cannot win every future write.
///
/// The clock is a value type; the `physical:` variants take the physical time explicitly
/// (pure and deterministic), the others read the injected ``PhysicalClock``.
///
/// ```swift
/// var clock = HybridLogicalClock()
/// let t1 = try clock.now()                 // local or send event
/// try clock.observe(remoteStamp.hlc)       // merge a remote reading before applying its op
/// let t2 = try clock.now()                 // t2 > t1 and t2 > remoteStamp.hlc
/// ```
public struct HybridLogicalClock: Sendable {
    /// The default maximum drift: 5 minutes.
    public static let defaultMaxDrift: UInt64 = 5 * 60 * 1000

    /// The last reading issued or observed.
    public private(set) var last: HLCTimestamp
    /// How far ahead of local physical time (in milliseconds) a remote reading may be.
    public let maxDrift: UInt64
    /// The physical time source used by ``now()``, ``receive(_:)`` and ``observe(_:)``.
    public let physicalClock: any PhysicalClock

    /// Creates a clock.
    /// - Parameters:
    ///   - physicalClock: the wall-clock source; ``SystemClock`` by default.
    ///   - maxDrift: milliseconds a remote reading may be ahead; 5 minutes by default.
    ///   - last: a previously persisted reading to resume from.
    public init(physicalClock: any PhysicalClock = SystemClock(), maxDrift: UInt64 = defaultMaxDrift, last: HLCTimestamp = .zero) {
        self.physicalClock = physicalClock
        self.maxDrift = maxDrift
        self.last = last
    }

    /// A reading for a local or send event, using the injected physical clock.
    /// - Throws: ``ConcordCoreError/Code/clockCounterOverflow``, ``ConcordCoreError/Code/physicalClockOutOfRange``.
    public mutating func now() throws -> HLCTimestamp {
        try now(physical: physicalClock.nowMilliseconds())
    }

    /// A reading for a local or send event at physical time `physical` (milliseconds).
    ///
    /// `l = max(l, pt)`; the counter increments when `l` did not move, else resets to 0.
    /// When the counter is exhausted the logical milliseconds advance by one instead, as
    /// long as that stays within ``maxDrift`` of physical time (see `Specs/hlc.md`);
    /// beyond that the call throws and the clock is unchanged.
    /// - Throws: ``ConcordCoreError/Code/clockCounterOverflow``, ``ConcordCoreError/Code/physicalClockOutOfRange``.
    public mutating func now(physical: UInt64) throws -> HLCTimestamp {
        try checkPhysical(physical)
        let next: HLCTimestamp
        if physical > last.milliseconds {
            next = HLCTimestamp(milliseconds: physical, counter: 0)
        } else {
            next = try increment(last, physical: physical)
        }
        last = next
        return next
    }

    /// The receive rule: a reading for the event of receiving `remote`.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded`` when `remote` is more than
    ///   ``maxDrift`` ahead of physical time (the clock is unchanged), and the errors of ``now(physical:)``.
    public mutating func receive(_ remote: HLCTimestamp) throws -> HLCTimestamp {
        try receive(remote, physical: physicalClock.nowMilliseconds())
    }

    /// The receive rule at physical time `physical`.
    public mutating func receive(_ remote: HLCTimestamp, physical: UInt64) throws -> HLCTimestamp {
        try checkPhysical(physical)
        try checkDrift(remote, physical: physical)
        let l = max(last.milliseconds, remote.milliseconds, physical)
        let next: HLCTimestamp
        if l == last.milliseconds && l == remote.milliseconds {
            next = try increment(max(last, remote), physical: physical)
        } else if l == last.milliseconds {
            next = try increment(last, physical: physical)
        } else if l == remote.milliseconds {
            next = try increment(remote, physical: physical)
        } else {
            next = HLCTimestamp(milliseconds: l, counter: 0)
        }
        last = next
        return next
    }

    /// Merges a remote reading without creating an event: afterwards `last >= remote`, so
    /// the next ``now()`` is greater than `remote`.
    ///
    /// Use this when applying a batch of remote operations: observing the batch's largest
    /// timestamp once does not consume one counter value per operation.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded`` (clock unchanged).
    public mutating func observe(_ remote: HLCTimestamp) throws {
        try observe(remote, physical: physicalClock.nowMilliseconds())
    }

    /// ``observe(_:)`` at physical time `physical`.
    public mutating func observe(_ remote: HLCTimestamp, physical: UInt64) throws {
        try checkDrift(remote, physical: physical)
        if remote > last { last = remote }
    }

    /// Checks `remote` against the drift bound without changing the clock.
    /// - Throws: ``ConcordCoreError/Code/clockDriftExceeded``; the message gives both
    ///   readings as UTC dates.
    public func checkDrift(_ remote: HLCTimestamp, physical: UInt64) throws {
        if remote.milliseconds > Self.saturatingAdd(physical, maxDrift) {
            let ahead = remote.milliseconds - physical
            throw ConcordCoreError(
                .clockDriftExceeded,
                "a change is dated \(remote.calendarText) but this device's clock says \(CalendarTime.text(physical)): it is \(CalendarTime.duration(ahead)) ahead (at most \(CalendarTime.duration(maxDrift)) are allowed); if this device's date and time are wrong, set them; otherwise set the date and time of the device that made the change; then sync again"
            )
        }
    }

    /// Whether ``last`` is more than ``maxDrift`` ahead of physical time `physical`: the
    /// next reading would be refused by every peer whose clock agrees with this one
    /// (`Specs/hlc.md` §9). Either the physical clock is now behind (it was reset), or
    /// this clock issued or accepted readings while the physical clock was ahead.
    /// - Parameters:
    ///   - physical: Physical time in milliseconds.
    public func runsAhead(ofPhysical physical: UInt64) -> Bool {
        last.milliseconds > Self.saturatingAdd(physical, maxDrift)
    }

    /// Raises ``last`` to a reading this replica persisted itself (another process on the
    /// same store may have moved it on): afterwards `last >= persisted`. Unlike
    /// ``observe(_:)`` there is no drift check, because the reading is this replica's own.
    /// - Parameters:
    ///   - persisted: The stored reading.
    public mutating func resume(from persisted: HLCTimestamp) {
        if persisted > last { last = persisted }
    }

    /// `a + b`, or `UInt64.max` instead of overflowing (a `maxDrift` of `.max` means "no limit").
    package static func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    private func checkPhysical(_ physical: UInt64) throws {
        guard physical <= HLCTimestamp.maxMilliseconds else {
            throw ConcordCoreError(.physicalClockOutOfRange, "the physical clock reads \(physical) ms, beyond the 48-bit range of the hybrid logical clock; fix this device's date and time")
        }
    }

    /// `t` with its counter incremented; on exhaustion, the next millisecond with counter 0
    /// if that stays within the drift bound.
    private func increment(_ t: HLCTimestamp, physical: UInt64) throws -> HLCTimestamp {
        if t.counter < HLCTimestamp.maxCounter {
            return HLCTimestamp(rawValue: t.rawValue + 1)
        }
        let ms = t.milliseconds + 1
        guard ms <= Self.saturatingAdd(physical, maxDrift), ms <= HLCTimestamp.maxMilliseconds else {
            if t.milliseconds > Self.saturatingAdd(physical, maxDrift) {
                throw ConcordCoreError(
                    .clockCounterOverflow,
                    "this device's clock says \(CalendarTime.text(physical)) but the replica already holds changes dated \(t.calendarText), \(CalendarTime.duration(t.milliseconds - physical)) later, and no further reading fits before then; if the date and time are wrong, set them; if they are right, the device wrote with a wrong clock before and must continue under a new identity (Specs/hlc.md section 9)"
                )
            }
            throw ConcordCoreError(
                .clockCounterOverflow,
                "more than 65,536 changes were made within one millisecond at \(t.calendarText) and the clock may not run further ahead of physical time; wait a moment and retry"
            )
        }
        return HLCTimestamp(milliseconds: ms, counter: 0)
    }
}
