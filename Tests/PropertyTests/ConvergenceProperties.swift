import ConcordCore
import ConcordTesting
import Testing

/// 2 to 8 replicas converge through a network that delays, reorders, drops (with
/// retransmission), duplicates and partitions their messages.
@Suite struct ConvergenceProperties {
    @Test func replicasConvergeUnderTheNetworkSimulator() throws {
        try PropertyRunner.check("2-8 replicas converge under the simulator") { rng in
            let replicas = Int.random(in: 2...8, using: &rng)
            let configuration = NetworkSimulator.Configuration(
                replicas: replicas, edits: Int.random(in: 5...30, using: &rng),
                dropRate: Double.random(in: 0...0.4, using: &rng), duplicateRate: Double.random(in: 0...0.3, using: &rng),
                partitions: Int.random(in: 0...2, using: &rng))
            var simulator = NetworkSimulator(configuration: configuration, seed: rng.next())
            let result = try simulator.run()
            try expectConverged(result.states, seed: rng.seed)
            var union = ReplicaState()
            union.apply(contentsOf: result.operations)
            try expectConverged([result.states[0], union], seed: rng.seed)
        }
    }

    @Test func simulatorIsDeterministic() throws {
        var first = NetworkSimulator(configuration: .init(replicas: 5), seed: 42)
        var second = NetworkSimulator(configuration: .init(replicas: 5), seed: 42)
        let (a, b) = (try first.run(), try second.run())
        #expect(a.operations == b.operations)
        #expect(a.states[0].digestHex == b.states[0].digestHex)
        #expect(a.statistics.description == b.statistics.description)
        print("simulator seed 42: \(a.statistics)")
    }

    @Test func simulatorExercisesEveryFault() throws {
        var simulator = NetworkSimulator(configuration: .init(replicas: 4, edits: 60, partitions: 2), seed: 7)
        let stats = try simulator.run().statistics
        #expect(stats.drops > 0 && stats.duplicates > 0 && stats.partitions > 0 && stats.heldByPartition > 0)
    }
}
