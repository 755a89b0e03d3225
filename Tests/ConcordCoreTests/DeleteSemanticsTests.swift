import Testing
@testable import ConcordCore

/// The delete-versus-update rule of Specs/crdt-semantics.md, case by case.
@Suite struct DeleteSemanticsTests {
    @Test func deleteHidesEarlierWrites() {
        let s = state([op(.set(field: "a", value: 1), stamp(1)), op(.add(field: "t", value: "x"), stamp(2)), op(.delete, stamp(3))])
        #expect(s.record(recordA, in: "c") == nil)
        #expect(s.records(in: "c").isEmpty)
        #expect(s.recordState(recordA, in: "c")?.isVisible == false)
    }

    @Test func concurrentUpdateStampedAfterTheDeleteRevivesTheRecordWithOnlyLaterFields() {
        // Replica 2 deletes at t=5; replica 1, offline, had written a=1 at t=1 and writes b=2 at t=7.
        let ops = [op(.set(field: "a", value: 1), stamp(1, 0, 1)), op(.delete, stamp(5, 0, 2)), op(.set(field: "b", value: 2), stamp(7, 0, 1))]
        for order in [ops, ops.reversed(), [ops[2], ops[0], ops[1]]] {
            let view = state(order).record(recordA, in: "c")
            #expect(view == RecordView(id: recordA, fields: ["b": 2]))
        }
    }

    @Test func concurrentUpdateStampedBeforeTheDeleteIsLost() {
        let ops = [op(.set(field: "a", value: 1), stamp(4, 0, 1)), op(.delete, stamp(5, 0, 2))]
        #expect(state(ops).record(recordA, in: "c") == nil)
        #expect(state(ops.reversed()).record(recordA, in: "c") == nil)
        #expect(state(ops) == state(ops.reversed()))
    }

    @Test func deleteWinsAnExactTie() {
        let ops = [op(.set(field: "a", value: 1), stamp(5)), op(.delete, stamp(5))]
        #expect(state(ops).record(recordA, in: "c") == nil)
        #expect(state(ops) == state(ops.reversed()))
    }

    @Test func setAddAfterDeleteRevivesWithOnlyThatMember() {
        let ops = [op(.add(field: "t", value: "old"), stamp(1)), op(.delete, stamp(2)), op(.add(field: "t", value: "new"), stamp(3))]
        #expect(state(ops).record(recordA, in: "c")?.members(of: "t") == ["new"])
        #expect(state(ops) == state(ops.reversed()))
    }

    @Test func deletePrunesTombstones() {
        let s = state([op(.add(field: "t", value: "x"), stamp(1)), op(.remove(field: "t", value: "x", observed: [stamp(1)]), stamp(2)), op(.delete, stamp(3))])
        #expect(s.recordState(recordA, in: "c")?.set("t") == nil)
    }

    @Test func recordWithEmptiedSetStillExists() {
        let s = state([op(.add(field: "t", value: "x"), stamp(1)), op(.remove(field: "t", value: "x", observed: [stamp(1)]), stamp(2))])
        #expect(s.record(recordA, in: "c") == RecordView(id: recordA))
    }

    @Test func deleteOfUnknownRecordThenLateWritesFromBefore() {
        let ops = [op(.delete, stamp(10)), op(.set(field: "a", value: 1), stamp(3)), op(.add(field: "t", value: 1), stamp(4))]
        let s = state(ops)
        #expect(s.record(recordA, in: "c") == nil)
        #expect(s.recordState(recordA, in: "c")?.register("a") == nil)
        #expect(s == state(ops.reversed()))
    }
}
