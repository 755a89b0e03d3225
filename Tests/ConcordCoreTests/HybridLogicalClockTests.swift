import Testing

@testable import ConcordCore

@Suite struct HybridLogicalClockTests {
    let t0: UInt64 = 1_700_000_000_000

    @Test func packsMillisecondsAndCounter() {
        let t = HLCTimestamp(milliseconds: t0, counter: 7)
        #expect(t.milliseconds == t0)
        #expect(t.counter == 7)
        #expect(t.rawValue == t0 << 16 | 7)
        #expect(HLCTimestamp(milliseconds: t0, counter: 65535) < HLCTimestamp(milliseconds: t0 + 1, counter: 0))
    }

    @Test func sendFollowsPhysicalTimeAndCountsWithinAMillisecond() throws {
        var clock = HybridLogicalClock()
        #expect(try clock.now(physical: t0) == HLCTimestamp(milliseconds: t0, counter: 0))
        #expect(try clock.now(physical: t0) == HLCTimestamp(milliseconds: t0, counter: 1))
        // Physical clock going backwards: logical time does not.
        #expect(try clock.now(physical: t0 - 50) == HLCTimestamp(milliseconds: t0, counter: 2))
        #expect(try clock.now(physical: t0 + 1) == HLCTimestamp(milliseconds: t0 + 1, counter: 0))
    }

    @Test func receiveRulesOfKulkarni() throws {
        var clock = HybridLogicalClock(last: HLCTimestamp(milliseconds: t0, counter: 4))
        // l == l_m == max: counter = max(c, c_m) + 1
        #expect(
            try clock.receive(HLCTimestamp(milliseconds: t0, counter: 9), physical: t0 - 5) == HLCTimestamp(milliseconds: t0, counter: 10))
        // remote ahead of both: take remote's ms, counter c_m + 1
        #expect(
            try clock.receive(HLCTimestamp(milliseconds: t0 + 10, counter: 3), physical: t0)
                == HLCTimestamp(milliseconds: t0 + 10, counter: 4))
        // local ahead: counter + 1
        #expect(
            try clock.receive(HLCTimestamp(milliseconds: t0, counter: 99), physical: t0) == HLCTimestamp(milliseconds: t0 + 10, counter: 5))
        // physical ahead of both: counter resets
        #expect(
            try clock.receive(HLCTimestamp(milliseconds: t0, counter: 0), physical: t0 + 20)
                == HLCTimestamp(milliseconds: t0 + 20, counter: 0))
    }

    @Test func remoteTooFarAheadIsRejectedAndClockUnchanged() throws {
        var clock = HybridLogicalClock(physicalClock: FixedClock(milliseconds: t0), maxDrift: 60_000)
        _ = try clock.now()
        let before = clock.last
        let future = HLCTimestamp(milliseconds: t0 + 60_001, counter: 0)
        let error = try #require(throws: ConcordCoreError.self) { try clock.receive(future) }
        #expect(error.code == .clockDriftExceeded)
        // Dates, not raw numbers: what a person can check against a calendar.
        #expect(error.message.contains("is dated \(CalendarTime.text(t0 + 60_001))"), "\(error.message)")
        #expect(error.message.contains("this device's clock says \(CalendarTime.text(t0))"), "\(error.message)")
        #expect(throws: ConcordCoreError.self) { try clock.observe(future) }
        #expect(clock.last == before)
        // Exactly at the bound is accepted.
        try clock.observe(HLCTimestamp(milliseconds: t0 + 60_000, counter: 0))
        #expect(clock.last.milliseconds == t0 + 60_000)
    }

    @Test func defaultMaxDriftIsFiveMinutes() {
        #expect(HybridLogicalClock().maxDrift == 300_000)
    }

    @Test func counterExhaustionBorrowsTheNextMillisecondWithinDrift() throws {
        var clock = HybridLogicalClock(maxDrift: 1, last: HLCTimestamp(milliseconds: t0, counter: .max))
        #expect(try clock.now(physical: t0) == HLCTimestamp(milliseconds: t0 + 1, counter: 0))
        // Now exhaust the counter at t0 + 1, which is already at the drift bound.
        clock = HybridLogicalClock(maxDrift: 1, last: HLCTimestamp(milliseconds: t0 + 1, counter: .max))
        let before = clock.last
        let error = try #require(throws: ConcordCoreError.self) { try clock.now(physical: t0) }
        #expect(error.code == .clockCounterOverflow)
        #expect(clock.last == before)
    }

    @Test func physicalTimeBeyond48BitsIsATypedError() {
        var clock = HybridLogicalClock()
        #expect(throws: ConcordCoreError.self) { try clock.now(physical: 1 << 48) }
    }

    @Test func manualClockDrivesTheClock() throws {
        let time = ManualClock(milliseconds: t0)
        var clock = HybridLogicalClock(physicalClock: time)
        let a = try clock.now()
        time.advance(by: 5)
        let b = try clock.now()
        #expect(b.milliseconds == t0 + 5 && a < b)
    }

    @Test func calendarTextIsUTC() {
        #expect(CalendarTime.text(0) == "1970-01-01 00:00 UTC")
        #expect(CalendarTime.text(946_684_800_000, seconds: true) == "2000-01-01 00:00:00 UTC")
        #expect(CalendarTime.text(1_796_552_100_000) == "2026-12-06 10:15 UTC")
        #expect(CalendarTime.text(951_782_400_000) == "2000-02-29 00:00 UTC")  // leap day
        #expect(CalendarTime.text(4_102_444_799_000, seconds: true) == "2099-12-31 23:59:59 UTC")
        #expect(CalendarTime.date(1_796_552_100_000) == "2026-12-06")
        #expect(CalendarTime.duration(3 * 60_000) == "3 minutes")
        #expect(CalendarTime.duration(26 * 3_600_000) == "26 hours")
        #expect(CalendarTime.duration(400 * 86_400_000) == "400 days")
    }

    /// Issue 12.1: a clock that wrote a year ahead once, then was set right, said "wait a
    /// moment" when its counter ran out, although the wait was a year.
    @Test func exhaustionFarAheadOfPhysicalTimeSaysWhatHappenedInDates() throws {
        let year: UInt64 = 365 * 86_400_000
        var clock = HybridLogicalClock(last: HLCTimestamp(milliseconds: t0 + year, counter: .max))
        #expect(clock.runsAhead(ofPhysical: t0))
        let error = try #require(throws: ConcordCoreError.self) { try clock.now(physical: t0) }
        #expect(error.code == .clockCounterOverflow)
        #expect(!error.message.contains("wait a moment"), "\(error.message)")
        #expect(error.message.contains(CalendarTime.text(t0)) && error.message.contains(CalendarTime.text(t0 + year)), "\(error.message)")
        // Within the drift window the wait is real and short.
        var busy = HybridLogicalClock(maxDrift: 1, last: HLCTimestamp(milliseconds: t0 + 1, counter: .max))
        #expect(!busy.runsAhead(ofPhysical: t0))
        let short = try #require(throws: ConcordCoreError.self) { try busy.now(physical: t0) }
        #expect(short.message.contains("wait a moment"))
    }

    @Test func resumeRaisesToAPersistedReadingWithoutADriftCheck() {
        var clock = HybridLogicalClock(
            physicalClock: FixedClock(milliseconds: t0), maxDrift: 1, last: HLCTimestamp(milliseconds: t0, counter: 0))
        let persisted = HLCTimestamp(milliseconds: t0 + 10_000, counter: 2)
        clock.resume(from: persisted)
        #expect(clock.last == persisted)
        clock.resume(from: HLCTimestamp(milliseconds: t0, counter: 5))
        #expect(clock.last == persisted, "resume never lowers the clock")
    }
}
