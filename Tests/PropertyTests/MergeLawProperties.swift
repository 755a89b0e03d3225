import ConcordCore
import ConcordTesting
import Testing

/// Join-semilattice laws of `ReplicaState.merge`, `LWWRegister.merge` and `ORSet.merge`
/// on states built from random overlapping subsets of one random multi-replica history.
@Suite struct MergeLawProperties {
    /// A state holding a random subset of `ops`.
    static func subsetState(_ ops: [RecordOperation], using rng: inout SeededGenerator) -> ReplicaState {
        var state = ReplicaState()
        state.apply(contentsOf: ops.filter { _ in rng.chance(0.6) })
        return state
    }

    @Test func replicaStateMergeIsCommutativeAssociativeIdempotent() throws {
        try PropertyRunner.check("ReplicaState merge laws") { rng in
            let history = History.generate(replicas: 3, steps: 30, using: &rng)
            let (a, b, c) = (Self.subsetState(history.operations, using: &rng), Self.subsetState(history.operations, using: &rng),
                             Self.subsetState(history.operations, using: &rng))
            try MergeLaws.check(a, b, c)
        }
    }

    @Test func mergeAgreesWithApplyingTheUnionOfOperations() throws {
        try PropertyRunner.check("merge == apply(union)") { rng in
            let history = History.generate(replicas: 3, steps: 30, using: &rng)
            let left = history.operations.filter { _ in rng.chance(0.5) }
            let right = history.operations.filter { _ in rng.chance(0.5) }
            var merged = ReplicaState()
            merged.apply(contentsOf: left)
            var other = ReplicaState()
            other.apply(contentsOf: right)
            merged.merge(other)
            var union = ReplicaState()
            union.apply(contentsOf: left + right)
            try expectConverged([merged, union], seed: rng.seed)
        }
    }

    @Test func registerAndSetMergeLaws() throws {
        try PropertyRunner.check("LWWRegister and ORSet merge laws") { rng in
            let replicas = (0..<3).map { _ in ReplicaID.random(using: &rng) }
            func stamp() -> Stamp {
                Stamp(hlc: HLCTimestamp(milliseconds: UInt64.random(in: 1...4, using: &rng), counter: UInt16.random(in: 0...1, using: &rng)),
                      replica: replicas.randomElement(using: &rng)!)
            }
            let registers = (0..<3).map { _ in LWWRegister(value: Generators.value(using: &rng), stamp: stamp()) }
            try MergeLaws.check(registers[0], registers[1], registers[2])
            var sets = [ORSet(), ORSet(), ORSet()]
            let pool = (0..<6).map { _ in (Generators.value(using: &rng), stamp()) }
            for i in 0..<3 {
                for (value, tag) in pool where rng.chance(0.5) {
                    if rng.chance(0.7) { sets[i].add(value, tag: tag) } else { sets[i].remove(value, observed: [tag]) }
                }
            }
            try MergeLaws.check(sets[0], sets[1], sets[2])
        }
    }
}
