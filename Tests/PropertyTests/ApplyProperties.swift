import ConcordCore
import ConcordTesting
import Testing

/// RecordOperation application is insensitive to order and duplicates, and the encodings are
/// faithful.
@Suite struct ApplyProperties {
    @Test func applyIsOrderInsensitive() throws {
        try PropertyRunner.check("apply order-insensitive") { rng in
            let history = History.generate(replicas: Int.random(in: 1...4, using: &rng), steps: 40, using: &rng)
            var inOrder = ReplicaState(), shuffled = ReplicaState(), reversed = ReplicaState()
            inOrder.apply(contentsOf: history.operations)
            shuffled.apply(contentsOf: history.operations.shuffled(using: &rng))
            reversed.apply(contentsOf: history.operations.reversed())
            try expectConverged([inOrder, shuffled, reversed], seed: rng.seed)
        }
    }

    @Test func applyIsDuplicateInsensitive() throws {
        try PropertyRunner.check("apply duplicate-insensitive") { rng in
            let history = History.generate(replicas: 3, steps: 40, using: &rng)
            var once = ReplicaState()
            once.apply(contentsOf: history.operations)
            var noisy = history.operations
            for op in history.operations where rng.chance(0.3) { noisy.append(op) }
            var twice = ReplicaState()
            twice.apply(contentsOf: noisy.shuffled(using: &rng))
            try expectConverged([once, twice], seed: rng.seed)
        }
    }

    @Test func replicasThatSawEverythingAgreeWithTheUnion() throws {
        try PropertyRunner.check("final states joined == union") { rng in
            let history = History.generate(replicas: 4, steps: 40, using: &rng)
            var joined = ReplicaState()
            for state in history.finalStates.shuffled(using: &rng) { joined.merge(state) }
            var union = ReplicaState()
            union.apply(contentsOf: history.operations)
            try expectConverged([joined, union], seed: rng.seed)
        }
    }

    @Test func operationCodecRoundTripsAndCanonicalEncodingIsFaithful() throws {
        try PropertyRunner.check("codec round trip, canonical encoding") { rng in
            let history = History.generate(replicas: 3, steps: 30, using: &rng)
            let decoded = try OperationCodec.decode(OperationCodec.encode(history.operations))
            guard decoded == history.operations else { throw PropertyViolation("round-trip: decode(encode(ops)) != ops") }
            var a = ReplicaState(), b = ReplicaState()
            a.apply(contentsOf: history.operations)
            b.apply(contentsOf: decoded.shuffled(using: &rng))
            guard a.canonicalEncoding() == b.canonicalEncoding(), a.digest == b.digest else {
                throw PropertyViolation("canonical: equal states encode differently")
            }
        }
    }
}
