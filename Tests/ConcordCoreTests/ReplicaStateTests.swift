import Testing
@testable import ConcordCore

@Suite struct ReplicaStateTests {
    @Test func applyIsIdempotentAndReportsChanges() {
        var s = ReplicaState()
        let write = op(.set(field: "a", value: 1), stamp(1))
        let results = [s.apply(write), s.apply(write), s.apply(op(.set(field: "a", value: 2), stamp(2))), s.apply(op(.set(field: "a", value: 0), stamp(1, 5)))]
        #expect(results == [true, false, true, false])
        #expect(s.record(recordA, in: "c")?["a"] == 2)
    }

    @Test func mergeEqualsApplyingTheUnion() {
        let ops1 = [op(.set(field: "a", value: 1), stamp(1, 0, 1)), op(.add(field: "t", value: "x"), stamp(2, 0, 1))]
        let ops2 = [op(.set(field: "a", value: 9), stamp(1, 0, 2)), op(.delete, stamp(1, 5, 2), record: recordB)]
        var merged = state(ops1)
        merged.merge(state(ops2))
        #expect(merged == state(ops1 + ops2))
        #expect(merged.record(recordA, in: "c")?["a"] == 9)
    }

    @Test func unicodeFormsAreDistinctFieldNames() {
        // Regression: Swift String equality would merge these two names into one key.
        let nfc = op(.set(field: "é", value: 1), stamp(1))
        let nfd = op(.set(field: "e\u{301}", value: 2), stamp(2))
        let one = state([nfc, nfd]), two = state([nfd, nfc])
        #expect(one == two)
        #expect(one.canonicalEncoding() == two.canonicalEncoding())
        #expect(one.record(recordA, in: "c")?.fields.count == 2)
        #expect(one.record(recordA, in: "c")?["e\u{301}"] == 2)
        #expect(one.recordState(recordA, in: "c")?.registers.count == 2)
    }

    @Test func localReplicaStampsAppliesAndReceives() throws {
        let time = ManualClock(milliseconds: 1_700_000_000_000)
        var alice = LocalReplica(id: rid(1), clock: HybridLogicalClock(physicalClock: time))
        var bob = LocalReplica(id: rid(2), clock: HybridLogicalClock(physicalClock: time))
        let a1 = try alice.set("title", to: "milk", record: recordA, in: "todos")
        let a2 = try alice.add("errand", to: "tags", record: recordA, in: "todos")
        #expect(a1.stamp < a2.stamp)
        let applied = try bob.receive([a2, a1])
        #expect(applied == 2)
        #expect(bob.state == alice.state)
        let b1 = try bob.remove("errand", from: "tags", record: recordA, in: "todos")
        guard case .remove(_, _, let observed) = b1.action else { Issue.record("not a remove"); return }
        #expect(observed == [a2.stamp])
        #expect(b1.stamp > a2.stamp)  // bob's clock observed alice's
    }

    @Test func receiveRejectsFarFutureBatchWithoutApplyingAnything() throws {
        let time = ManualClock(milliseconds: 1_700_000_000_000)
        var bob = LocalReplica(id: rid(2), clock: HybridLogicalClock(physicalClock: time))
        let good = op(.set(field: "a", value: 1), Stamp(hlc: HLCTimestamp(milliseconds: 1_700_000_000_000, counter: 0), replica: rid(1)))
        let future = op(.set(field: "b", value: 2), Stamp(hlc: HLCTimestamp(milliseconds: 1_700_000_000_000 + 3_600_000, counter: 0), replica: rid(1)))
        let before = bob
        let error = try #require(throws: ConcordCoreError.self) { try bob.receive([good, future]) }
        #expect(error.code == .clockDriftExceeded)
        #expect(bob.state == before.state && bob.clock.last == before.clock.last)
    }
}

@Suite struct StateMergeTests {
    @Test func localReplicaMergeAdvancesTheClockAndChecksDrift() throws {
        let time = ManualClock(milliseconds: 1_700_000_000_000)
        var alice = LocalReplica(id: rid(1), clock: HybridLogicalClock(physicalClock: time))
        var bob = LocalReplica(id: rid(2), clock: HybridLogicalClock(physicalClock: time))
        let a = try alice.set("x", to: 1, record: recordA, in: "c")
        try bob.merge(alice.state)
        #expect(bob.state == alice.state)
        #expect(try bob.set("x", to: 2, record: recordA, in: "c").stamp > a.stamp)

        var future = ReplicaState()
        future.apply(op(.set(field: "y", value: 1), Stamp(hlc: HLCTimestamp(milliseconds: 1_700_000_000_000 + 3_600_000, counter: 0), replica: rid(3))))
        let before = bob.state
        #expect(throws: ConcordCoreError.self) { try bob.merge(future) }
        #expect(bob.state == before)
        #expect(future.newestStamp?.replica == rid(3))
        #expect(ReplicaState().newestStamp == nil)
    }
}
