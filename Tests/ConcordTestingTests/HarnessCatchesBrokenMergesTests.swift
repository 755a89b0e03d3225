import ConcordCore
import ConcordTesting
import Testing

/// The harness must fail when a merge is wrong; these deliberately broken CRDTs prove
/// that the property tests can fail.
@Suite struct HarnessCatchesBrokenMergesTests {
    /// "Last merged wins" instead of last writer wins: not commutative.
    struct TakeTheirs: Mergeable {
        var value: Int
        mutating func merge(_ other: TakeTheirs) { value = other.value }
    }

    /// A sum counter: commutative and associative but not idempotent.
    struct Sum: Mergeable {
        var value: Int
        mutating func merge(_ other: Sum) { value += other.value }
    }

    @Test func nonCommutativeMergeIsCaught() {
        let error = #expect(throws: MergeLawViolation.self) { try MergeLaws.check(TakeTheirs(value: 1), TakeTheirs(value: 2), TakeTheirs(value: 3)) }
        #expect(error?.law == "commutative")
    }

    @Test func nonIdempotentMergeIsCaught() {
        let error = #expect(throws: MergeLawViolation.self) { try MergeLaws.check(Sum(value: 1), Sum(value: 2), Sum(value: 3)) }
        #expect(error?.law == "idempotent")
    }

    @Test func propertyRunnerReportsTheFailingSeed() {
        let error = #expect(throws: PropertyFailure.self) {
            try PropertyRunner.check("fails on odd seeds", cases: 10, baseSeed: 100) { rng in
                if rng.seed % 2 == 1 { throw MergeLawViolation(law: "test", detail: "odd") }
            }
        }
        #expect(error?.seed == 101)
        #expect(error?.description.contains("CONCORD_SEED=101") == true)
    }

    @Test func applyThatIgnoresEarlyRemovesIsCaught() throws {
        // A broken apply that drops removes whose add has not arrived yet (no tombstones)
        // converges in order but not when shuffled; the property must notice.
        func brokenApply(_ ops: [RecordOperation]) -> ReplicaState {
            var state = ReplicaState()
            for op in ops {
                if case let .remove(field, value, observed) = op.action {
                    let seen = Set(state.tags(of: value, in: field, of: op.record, in: op.collection))
                    let kept = observed.filter { seen.contains($0) }
                    state.apply(RecordOperation(stamp: op.stamp, collection: op.collection, record: op.record,
                                          action: .remove(field: field, value: value, observed: kept)))
                } else {
                    state.apply(op)
                }
            }
            return state
        }
        #expect(throws: PropertyFailure.self) {
            try PropertyRunner.check("broken apply", cases: 300) { rng in
                let history = History.generate(replicas: 3, steps: 40, using: &rng)
                try expectConverged([brokenApply(history.operations), brokenApply(history.operations.shuffled(using: &rng))], seed: rng.seed)
            }
        }
    }

    @Test func convergenceFailureShowsSeedAndMinimalDiff() throws {
        let id = RecordID(high: 1, low: 2)
        let r = ReplicaID(bytes: [UInt8](repeating: 1, count: 32))!
        var a = ReplicaState(), b = ReplicaState()
        a.apply(RecordOperation(stamp: Stamp(hlc: HLCTimestamp(rawValue: 1), replica: r), collection: "notes", record: id, action: .set(field: "title", value: "x")))
        b.apply(RecordOperation(stamp: Stamp(hlc: HLCTimestamp(rawValue: 2), replica: r), collection: "notes", record: id, action: .set(field: "title", value: "y")))
        let failure = try #require(throws: ConvergenceFailure.self) { try expectConverged([a, a, b], seed: 77) }
        #expect(failure.replicas == (0, 2))
        #expect(failure.differences == ["notes/00000000.title: \"x\" vs \"y\""])
        #expect(failure.description.contains("CONCORD_SEED=77"))
    }

    @Test func seededGeneratorIsRepeatable() {
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5), c = SeededGenerator(seed: 6)
        let (x, y, z) = ((0..<4).map { _ in a.next() }, (0..<4).map { _ in b.next() }, (0..<4).map { _ in c.next() })
        #expect(x == y && x != z)
    }
}
