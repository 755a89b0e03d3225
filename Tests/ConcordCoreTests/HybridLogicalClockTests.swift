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
        #expect(try clock.receive(HLCTimestamp(milliseconds: t0, counter: 9), physical: t0 - 5) == HLCTimestamp(milliseconds: t0, counter: 10))
        // remote ahead of both: take remote's ms, counter c_m + 1
        #expect(try clock.receive(HLCTimestamp(milliseconds: t0 + 10, counter: 3), physical: t0) == HLCTimestamp(milliseconds: t0 + 10, counter: 4))
        // local ahead: counter + 1
        #expect(try clock.receive(HLCTimestamp(milliseconds: t0, counter: 99), physical: t0) == HLCTimestamp(milliseconds: t0 + 10, counter: 5))
        // physical ahead of both: counter resets
        #expect(try clock.receive(HLCTimestamp(milliseconds: t0, counter: 0), physical: t0 + 20) == HLCTimestamp(milliseconds: t0 + 20, counter: 0))
    }

    @Test func remoteTooFarAheadIsRejectedAndClockUnchanged() throws {
        var clock = HybridLogicalClock(physicalClock: FixedClock(milliseconds: t0), maxDrift: 60_000)
        _ = try clock.now()
        let before = clock.last
        let future = HLCTimestamp(milliseconds: t0 + 60_001, counter: 0)
        let error = try #require(throws: ConcordCoreError.self) { try clock.receive(future) }
        #expect(error.code == .clockDriftExceeded)
        #expect(error.message.contains("ahead of this device's clock"))
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
}
