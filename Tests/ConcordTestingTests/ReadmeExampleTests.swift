import ConcordCore
import ConcordTesting
import Testing

/// The README's ConcordTesting example, verbatim, so it cannot drift from the API.
@Test func convergesUnderAHostileNetwork() throws {
    try PropertyRunner.check("my app converges", cases: 1000) { rng in
        let configuration = NetworkSimulator.Configuration(replicas: 4, dropRate: 0.3, duplicateRate: 0.2, partitions: 2)
        var simulator = NetworkSimulator(configuration: configuration, seed: rng.next())
        try expectConverged(try simulator.run().states, seed: rng.seed)
    }
}
