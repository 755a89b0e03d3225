import ConcordCore
import ConcordCrypto
import ConcordTesting
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

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

    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/regressions")

    /// The `.bin` fixtures whose name starts with `prefix`, sorted.
    static func fixtures(_ prefix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: regressions.path)
            .filter { $0.hasSuffix(".bin") && $0.hasPrefix(prefix) }.sorted()
    }

    /// Every file in Tests/Fixtures/regressions (inputs that once crashed a decoder, found
    /// by Fuzz/run.sh) must decode or fail with a typed error. The directory never shrinks.
    /// (`bundle-*.bin` files are replayed through the bundle pipeline below, `membership-*.bin`
    /// through the membership decoders in `MembershipRegressionTests`.)
    @Test func regressionFixturesDecodeOrFailWithATypedError() throws {
        let directory = Self.regressions
        let files = try Self.fixtures("").filter { !$0.hasPrefix("bundle-") && !$0.hasPrefix("membership-") }
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

extension MutationTests {
    /// Every `bundle-*.bin` in Tests/Fixtures/regressions goes through what
    /// Fuzz/BundleFuzzer.swift runs: decoded, verified and imported into an empty receiver
    /// of the fuzzer's plaintext space (seed `05 × 32`) and encrypted space (`06 × 32`), as
    /// received and re-signed by the device its author field names. Each import must be a
    /// typed rejection that changes nothing, or an outcome for bytes signed by a device of
    /// the space; nothing may crash.
    @Test func bundleRegressionFixturesAreRejectedOrLegitimate() throws {
        let files = try Self.fixtures("bundle-")
        #expect(!files.isEmpty, "Tests/Fixtures/regressions has no bundle-*.bin fixtures")
        let replay = BundleReplay()
        var outcomes: [String: Int] = [:]
        for name in files {
            let bytes = [UInt8](try Data(contentsOf: Self.regressions.appendingPathComponent(name)))
            for (label, problem) in replay.run(bytes) {
                outcomes[label, default: 0] += 1
                if let problem { Issue.record("\(name): \(problem)") }
            }
        }
        let counts = outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("regressions: \(files.count) bundle fixture files replayed: \(counts.joined(separator: ", "))")
    }

    /// The keys of Fuzz/BundleFuzzWorld.swift (and of Specs/vectors/bundles.jsonl).
    struct BundleReplay {
        static let issuedAt: UInt64 = 1_700_000_000_000
        let now = FixedClock(milliseconds: issuedAt + 3_600_000)
        let observers: [Membership]
        let devices: [PublicKey: Identity]

        static func identity(_ byte: UInt8) -> Identity { try! Identity(seed: [UInt8](repeating: byte, count: 32)) }

        init() {
            observers = [(UInt8(0x05), false), (0x06, true)].map { seed, encrypted in
                let space = try! Space(seed: SecretBytes([UInt8](repeating: seed, count: 32)), encrypted: encrypted)
                return Membership(writer: Self.identity(0x0B), of: space, issuedAt: Self.issuedAt)
            }
            devices = Dictionary(
                uniqueKeysWithValues: [UInt8(0x07), 0x08, 0x09, 0x0C].map { (Self.identity($0).publicKey, Self.identity($0)) })
        }

        /// One label (an error code or outcome) and, if illegitimate, a problem per import.
        func run(_ bytes: [UInt8]) -> [(String, String?)] {
            var inputs = [bytes]
            if bytes.count >= 70 + Signature.byteCount, let author = try? PublicKey(bytes: bytes[38..<70]), let device = devices[author] {
                let signed = Array(bytes.dropLast(Signature.byteCount))
                inputs.append(signed + device.sign(signed).bytes)
            }
            var results: [(String, String?)] = []
            for input in inputs {
                do {
                    _ = try ChangeBundle(bytes: input)
                } catch is ConcordError {
                } catch {
                    results.append(("untyped", "decoding threw \(error)"))
                }
                for observer in observers {
                    do {
                        _ = try BundleVerifier(spaceID: observer.spaceID, physicalClock: now).verify(input)
                    } catch is ConcordError {
                    } catch {
                        results.append(("untyped", "verifying threw \(error)"))
                    }
                    results.append(importOnce(input, into: observer))
                }
            }
            return results
        }

        private func importOnce(_ bytes: [UInt8], into observer: Membership) -> (String, String?) {
            let replica = observer.makeReplica(clock: HybridLogicalClock(physicalClock: now))
            var after = replica
            var log = BundleLog()
            let outcome = BundleImporter(membership: observer).importBundle(bytes, into: &after, log: &log)
            if case .rejected(let error) = outcome {
                if error.message.contains("unexpected failure") { return ("untyped", "untyped rejection: \(error)") }
                if after.state != replica.state || after.clock.last != replica.clock.last || log != BundleLog() {
                    return (error.code.description, "rejected with \(error.code), but the receiver changed")
                }
                return (error.code.description, nil)
            }
            let label = "\(outcome)".prefix { $0 != "(" }
            guard let bundle = try? ChangeBundle(bytes: bytes), devices[bundle.author] != nil,
                bundle.author.isValidSignature(bundle.signature, for: bundle.signedBytes)
            else { return (String(label), "\(outcome) for bytes that no device of the space signed") }
            return (String(label), nil)
        }
    }
}
