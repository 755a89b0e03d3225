import ConcordCore
import ConcordTesting
import Foundation
import Testing

/// Seeded mutations of valid operation batches: every mutated input decodes to a
/// legitimate result (which round-trips) or fails with a typed error; nothing crashes.
@Suite struct MutationTests {
    static func validBatches() -> [[UInt8]] {
        var rng = SeededGenerator(seed: 0xBADC0DE)
        return (0..<20).map { _ in OperationCodec.encode(History.generate(replicas: 3, steps: 12, using: &rng).operations) }
    }

    @Test func hundredThousandMutatedBatchesNeverCrash() throws {
        let batches = Self.validBatches()
        var rng = SeededGenerator(seed: 20_261_122)
        var (typed, decoded) = (0, 0)
        let count = ProcessInfo.processInfo.environment["CONCORD_SOAK"] == nil ? 100_000 : 2_000_000
        for n in 0..<count {
            let original = batches[n % batches.count]
            let mutated = ByteMutator.mutate(original, donor: batches[(n + 7) % batches.count], using: &rng)
            do {
                let ops = try OperationCodec.decode(mutated)
                decoded += 1
                #expect(try OperationCodec.decode(OperationCodec.encode(ops)) == ops, "round trip failed for mutation \(n)")
            } catch is ConcordCoreError {
                typed += 1
            }
        }
        print("mutation: \(count) mutated operation batches (seed 20261122): \(typed) typed errors, \(decoded) decoded and round-tripped")
        #expect(typed + decoded == count)
        #expect(typed > count / 2)
    }

    /// Every file in Tests/Fixtures/regressions (inputs that once crashed a decoder, found
    /// by Fuzz/run.sh) must decode or fail with a typed error. The directory never shrinks.
    @Test func regressionFixturesDecodeOrFailWithATypedError() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/regressions")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".bin") }.sorted()
        #expect(!files.isEmpty, "Tests/Fixtures/regressions has no .bin fixtures")
        for name in files {
            let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            do {
                _ = try OperationCodec.decode(bytes)
            } catch is ConcordCoreError {
                // a typed error is the expected outcome for malformed input
            }
        }
        print("regressions: \(files.count) fixture files replayed")
    }
}
