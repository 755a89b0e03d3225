import Testing
@testable import ConcordCore

/// Bugs found in review; each test stays forever.
@Suite struct RegressionTests {
    /// A remove stamped before a delete but naming a tag stamped after it used to leave
    /// the replicas in different states depending on arrival order.
    @Test func malformedRemoveWithFutureTagsIsOrderIndependent() {
        let add = op(.add(field: "t", value: "x"), stamp(7))
        let delete = op(.delete, stamp(5))
        let remove = op(.remove(field: "t", value: "x", observed: [stamp(7)]), stamp(3))
        let orders = [[add, delete, remove], [remove, delete, add], [delete, remove, add], [add, remove, delete]]
        let states = orders.map(state)
        for s in states { #expect(s == states[0]) }
        #expect(states[0].record(recordA, in: "c")?.members(of: "t") == ["x"])
    }

    /// A remove never observes tags newer than itself; such tags are ignored.
    @Test func removeIgnoresTagsAtOrAfterItsOwnStamp() {
        let s = state([op(.add(field: "t", value: "x"), stamp(9)), op(.remove(field: "t", value: "x", observed: [stamp(9)]), stamp(4))])
        #expect(s.record(recordA, in: "c")?.members(of: "t") == ["x"])
    }

    /// A remove alone used to revive a deleted record as an empty one.
    @Test func removeAfterDeleteDoesNotReviveTheRecord() {
        let ops = [op(.add(field: "t", value: "x"), stamp(1)), op(.delete, stamp(2)), op(.remove(field: "t", value: "x", observed: [stamp(1)]), stamp(3))]
        #expect(state(ops).record(recordA, in: "c") == nil)
        #expect(state(ops) == state(ops.reversed()))
    }

    /// `physical + maxDrift` used to wrap (or trap) for a huge maxDrift.
    @Test func unlimitedDriftDoesNotOverflow() throws {
        var clock = HybridLogicalClock(maxDrift: .max)
        try clock.observe(HLCTimestamp(milliseconds: HLCTimestamp.maxMilliseconds, counter: 0), physical: 1_700_000_000_000)
        #expect(clock.last.milliseconds == HLCTimestamp.maxMilliseconds)
        var other = HybridLogicalClock(maxDrift: .max)
        _ = try other.receive(HLCTimestamp(milliseconds: 1_800_000_000_000, counter: 1), physical: .max >> 16)
    }

    /// A Foundation-style name clash: the operation type is `RecordOperation`.
    @Test func operationTypeNameDoesNotClashWithFoundation() {
        let o: RecordOperation = op(.delete, stamp(1))
        #expect(o.field == nil)
    }
}
