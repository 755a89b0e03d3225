import ConcordCore
import ConcordCrypto
import ConcordTesting
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Seeded mutations of valid signed change bundles (`Specs/wire-format.md`, 7.7 and 7.10).
///
/// Every mutated bundle is imported into a copy of a receiver that already holds the
/// bundles before it, so the unmutated bundle would apply. The outcome must be a typed
/// rejection that leaves replica (state and clock) and log exactly as they were, or a
/// legitimate result: `duplicate`, `held` or `fork` only for bytes that carry a valid
/// signature of a real member, `applied` only for signed bytes identical to an original
/// bundle's, with exactly the original's effect, and `void` (in the chain, nothing applied)
/// only for a member's signed bundle whose payload really cannot be used. Never a crash, a
/// hang or an accepted forgery. `CONCORD_SOAK=1` runs 20 times as many cases.
@Suite struct BundleMutationTests {
    static let soak = ProcessInfo.processInfo.environment["CONCORD_SOAK"] != nil

    /// Outsider mutations: the bytes as received, signature included, are mutated.
    @Test func mutatedBundlesAreRejectedOrLegitimate() throws {
        let world = try MutationWorld.shared
        let seed: UInt64 = 20_261_123
        let count = (Self.soak ? 20 : 1) * 100_000
        var tally = Tally()
        let started = ContinuousClock.now
        for n in 0..<count {
            var rng = SeededGenerator(seed: seed &+ UInt64(n))
            let target = world.targets.randomElement(using: &rng)!
            let donor = world.targets.randomElement(using: &rng)!.bundle.bytes
            let mutated = Self.mutate(target.bundle.bytes, donor: donor, using: &rng)
            tally.record(world.judge(mutated, for: target, resigned: false), case: n, bytes: mutated)
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let time = String(format: "%.1f", seconds)
        print("bundle mutation: \(count) mutated bundles (seed \(seed), \(world.targets.count) originals) in \(time) s: \(tally)")
        #expect(
            tally.problems.isEmpty,
            "\(tally.problemCount) illegitimate outcomes; first: \(tally.problems.prefix(3).joined(separator: "\n"))")
        #expect(tally.total == count)
        // Outsiders cannot sign: nothing they make may be applied, held or quarantined.
        #expect(tally.rejected == count, "\(tally)")
    }

    /// Insider mutations: the signed bytes are mutated, then signed again with the real
    /// author's device key, so everything behind the signature check (payload decoding,
    /// decryption, the op checks, the chain position) sees hostile but signed input.
    @Test func resignedMutationsAreCheckedBehindTheSignature() throws {
        let world = try MutationWorld.shared
        let seed: UInt64 = 20_261_124
        let count = (Self.soak ? 20 : 1) * 50_000
        var tally = Tally()
        let started = ContinuousClock.now
        for n in 0..<count {
            var rng = SeededGenerator(seed: seed &+ UInt64(n))
            let target = world.targets.randomElement(using: &rng)!
            let donor = world.targets.randomElement(using: &rng)!.bundle.signedBytes
            let signed = Self.mutate(Array(target.bundle.signedBytes), donor: Array(donor), using: &rng)
            let mutated = signed + target.signer.sign(signed).bytes
            tally.record(world.judge(mutated, for: target, resigned: true), case: n, bytes: mutated)
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print("bundle mutation: \(count) re-signed mutated bundles (seed \(seed)) in \(String(format: "%.1f", seconds)) s: \(tally)")
        #expect(
            tally.problems.isEmpty,
            "\(tally.problemCount) illegitimate outcomes; first: \(tally.problems.prefix(3).joined(separator: "\n"))")
        #expect(tally.total == count)
        #expect(tally.rejected > count / 2)
        // Signed payloads that do not open or decode are void, not rejected (issue 12.5).
        #expect(tally.counts["void", default: 0] > 0, "\(tally)")
    }

    /// Every single-bit flip of a small bundle is rejected, with the error of the first
    /// check in pipeline order that the flipped field fails.
    @Test(arguments: [false, true])
    func everySingleBitFlipIsRejected(encrypted: Bool) throws {
        let world = try MutationWorld.shared
        let target = world.targets.filter { $0.bundle.isEncrypted == encrypted && $0.bundle.certificates!.role == .writer }
            .min { $0.bundle.bytes.count < $1.bundle.bytes.count }!
        let original = target.bundle.bytes
        let signatureStart = original.count - Signature.byteCount
        var tally = Tally()
        for bit in 0..<original.count * 8 {
            var flipped = original
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            let verdict = world.judge(flipped, for: target, resigned: false)
            tally.record(verdict, case: bit, bytes: flipped)
            let expected: ConcordError.Code? =
                switch bit / 8 {
                case 0..<4: .malformedBundle
                case 4: .unsupportedVersion
                case 6..<38: .wrongSpace
                case 38..<70, signatureStart...: .invalidSignature
                default: nil
                }
            if let expected, verdict.label != expected.description {
                Issue.record("flipping bit \(bit % 8) of byte \(bit / 8) of \(target.name): expected \(expected), got \(verdict.label)")
            }
        }
        print("bundle mutation: every bit flip of \(target.name) (\(original.count) bytes): \(tally)")
        #expect(tally.problems.isEmpty, "\(tally.problems.prefix(3).joined(separator: "\n"))")
        #expect(tally.rejected == original.count * 8)
    }

    /// The classic Ed25519 malleation (`S + ℓ`) is another encoding of a valid signature
    /// over the same bytes. libsodium rejects non-canonical `S`; were it accepted, the
    /// bundle id (which does not hash the signature) would make it a duplicate of the
    /// original, never a second, different change.
    @Test func malleatedSignaturesAreRejected() throws {
        let world = try MutationWorld.shared
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let order: [UInt8] = [
            0xED, 0xD3, 0xF5, 0x5C, 0x1A, 0x63, 0x12, 0x58, 0xD6, 0x9C, 0xF7, 0xA2, 0xDE, 0xF9, 0xDE, 0x14,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ]
        for target in world.targets {
            var bytes = target.bundle.bytes
            var carry = 0
            for i in 0..<32 {
                let sum = Int(bytes[bytes.count - 32 + i]) + Int(order[i]) + carry
                bytes[bytes.count - 32 + i] = UInt8(sum & 0xFF)
                carry = sum >> 8
            }
            #expect(carry == 0)
            let before = world.judge(bytes, for: target, resigned: false)
            #expect(before.label == "invalidSignature" && before.problem == nil, "\(target.name): \(before)")
            // Into a receiver that already holds the original: still rejected, not a duplicate.
            var replica = target.after.replica
            var log = target.after.log
            let outcome = target.importer.importBundle(bytes, into: &replica, log: &log)
            #expect(outcome.error?.code == .invalidSignature, "\(target.name): \(outcome)")
        }
    }

    /// The judge itself: it accepts the originals, and it flags altered content that was
    /// applied unless a member signed it (what a broken signature check would let through).
    @Test func theJudgeTellsLegitimateOutcomesFromForgeries() throws {
        let world = try MutationWorld.shared
        for target in world.targets where target.bundle.certificates!.role == .writer {
            let verdict = world.judge(target.bundle.bytes, for: target, resigned: false)
            #expect(verdict.label == "applied" && verdict.problem == nil, "\(target.name): \(verdict)")
        }
        let target = world.targets.first { $0.name == "plaintext alice 1" }!
        var signed = Array(target.bundle.signedBytes)
        let milk = Array("milk".utf8)
        let at = (0...(signed.count - milk.count)).first { Array(signed[$0..<$0 + milk.count]) == milk }!
        signed[at] = UInt8(ascii: "s")
        let altered = signed + target.signer.sign(signed).bytes
        let insider = world.judge(altered, for: target, resigned: true)
        #expect(insider.label == "applied" && insider.problem == nil, "\(insider)")
        let outsider = world.judge(altered, for: target, resigned: false)
        #expect(outsider.problem?.contains("accepted forgery") == true, "\(outsider)")
    }

    /// One, or sometimes two or three stacked, random mutations; never the input itself
    /// (stacked mutations can undo each other: then one more is made).
    static func mutate(_ bytes: [UInt8], donor: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var out = bytes
        for _ in 0..<(rng.chance(0.2) ? Int.random(in: 2...3, using: &rng) : 1) {
            out = ByteMutator.mutate(out, donor: donor, using: &rng)
        }
        return out == bytes ? ByteMutator.mutate(bytes, donor: donor, using: &rng) : out
    }
}

extension BundleMutationTests {
    /// Counts of outcomes, and a description of every outcome that is not legitimate.
    struct Tally: CustomStringConvertible {
        var counts: [String: Int] = [:]
        var problems: [String] = []
        var total = 0
        var rejected = 0
        var problemCount = 0

        mutating func record(_ verdict: MutationWorld.Verdict, case n: Int, bytes: [UInt8]) {
            total += 1
            counts[verdict.label, default: 0] += 1
            if verdict.isRejection { rejected += 1 }
            guard let problem = verdict.problem else { return }
            problemCount += 1
            if problems.count < 20 { problems.append("case \(n): \(problem); bytes \(hex(bytes))") }
        }

        var description: String {
            let codes = MutationWorld.importErrors.map(\.description)
            let rejections = counts.filter { codes.contains($0.key) }.sorted { $0.value > $1.value }
                .map { "\($0.key) \($0.value)" }
            let others = ["applied", "void", "duplicate", "held", "fork"].map { "\($0) \(counts[$0, default: 0])" }
            let rejectedPart = "rejected \(rejected) (\(rejections.joined(separator: ", ")))"
            return "\(rejectedPart), \(others.joined(separator: ", ")), illegitimate \(problemCount)"
        }
    }

    /// A fixed set of valid bundles (a plaintext and an encrypted space, two writers each,
    /// chained sequences 1...3 whose causal context names the other writer's progress, every
    /// op kind and value type, and a reader's bundle with a chain of two certificates) and,
    /// for each, a receiver holding every bundle before it.
    struct MutationWorld: Sendable {
        /// One original bundle and the receiver states around it.
        struct Target: Sendable {
            let name: String
            let bundle: ChangeBundle
            /// The author's device key, for re-signed mutations.
            let signer: Identity
            let importer: BundleImporter
            /// A receiver holding every bundle of the space sealed before this one.
            let before: Receiver
            /// `before` after importing the bundle (equal to `before` if it is rejected).
            let after: Receiver
        }

        struct Receiver: Sendable {
            var replica: LocalReplica
            var log: BundleLog
        }

        /// The outcome of one import: its label (an error code or an outcome name) and, if it
        /// is not legitimate, why.
        struct Verdict: CustomStringConvertible {
            var label: String
            var problem: String?
            var isRejection: Bool
            var description: String { label + (problem.map { " (\($0))" } ?? "") }
        }

        struct SetupFailure: Error, CustomStringConvertible {
            var description: String
        }

        /// The codes ``BundleImporter`` documents.
        static let importErrors: [ConcordError.Code] = [
            .bundleTooLarge, .malformedBundle, .unsupportedVersion, .wrongSpace, .invalidSignature, .invalidCertificate,
            .notAWriter, .authorMismatch, .clockDriftExceeded, .clockFailure, .decryptionFailed, .encryptionMismatch,
            .emptyBundle, .tooManyHeldBundles,
        ]

        private static let cached = Result { try MutationWorld() }
        /// Built once per test process (about 20 signatures).
        static var shared: MutationWorld { get throws { try cached.get() } }

        let targets: [Target]
        /// Every original by its signed bytes.
        let originals: [[UInt8]: Target]
        /// The device keys of every member that signed an original.
        let members: Set<PublicKey>

        private init() throws {
            let now = FixedClock(milliseconds: t0 + 60_000)
            var targets: [Target] = []
            var plaintextFinal: Receiver?
            for (spaceByte, encrypted, aliceByte, bobByte, receiverByte) in [(5, false, 1, 2, 9), (6, true, 3, 4, 10)]
                as [(UInt8, Bool, UInt8, UInt8, UInt8)]
            {
                let s = space(spaceByte, encrypted: encrypted)
                let authors = [writer(aliceByte, of: s), writer(bobByte, of: s)]
                let time = ManualClock(milliseconds: t0)
                var replicas = authors.map { $0.makeReplica(clock: HybridLogicalClock(physicalClock: time)) }
                var previous: [ChangeBundle?] = [nil, nil]
                let receiver = writer(receiverByte, of: s)
                let importer = BundleImporter(membership: receiver)
                var state = Receiver(replica: receiver.makeReplica(clock: HybridLogicalClock(physicalClock: now)), log: BundleLog())
                for round in 0..<3 {
                    for who in 0..<2 {
                        time.advance(by: 7)
                        let ops = try Self.script(round: round, author: who, replica: &replicas[who])
                        let nonce = try XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: UInt8(16 * round + who + 1), count: 24))
                        // What the author has seen of the other: its bundles so far.
                        let seen = VersionVector([authors[1 - who].device.publicKey: previous[1 - who]?.sequence ?? 0])
                        let bundle = try authors[who].seal(ops, previous: previous[who], context: seen, limits: .default, nonce: nonce)
                        previous[who] = bundle
                        var after = state
                        let outcome = importer.importBundle(bundle.bytes, into: &after.replica, log: &after.log)
                        guard outcome == .applied([bundle.id]) else { throw SetupFailure(description: "original \(bundle): \(outcome)") }
                        let name = "\(encrypted ? "encrypted" : "plaintext") \(who == 0 ? "alice" : "bob") \(round + 1)"
                        targets.append(
                            Target(name: name, bundle: bundle, signer: authors[who].device, importer: importer, before: state, after: after)
                        )
                        state = after
                    }
                }
                if !encrypted { plaintextFinal = state }
            }

            // A reader's bundle: certificate chain of two, rejected with notAWriter.
            let s = space(5, encrypted: false)
            let issuer = identity(0x31)
            let reader = identity(0x32)
            let chain = CertificateChain([
                s.certify(issuer.publicKey, as: .readerIssuer, issuedAt: t0),
                MembershipCertificate(subject: reader.publicKey, role: .reader, spaceID: s.id, issuedAt: t0, issuer: issuer),
            ])
            let ops = [op(.set(field: "title", value: "read-only"), by: ReplicaID(bytes: reader.publicKey.bytes)!, at: 50)]
            let bundle = try forge(ops: ops, signer: reader, certificates: chain, spaceID: s.id)
            let importer = BundleImporter(membership: writer(9, of: s))
            var check = plaintextFinal!
            let outcome = importer.importBundle(bundle.bytes, into: &check.replica, log: &check.log)
            guard outcome.error?.code == .notAWriter else { throw SetupFailure(description: "reader bundle: \(outcome)") }
            targets.append(
                Target(
                    name: "plaintext reader 1", bundle: bundle, signer: reader, importer: importer, before: plaintextFinal!,
                    after: plaintextFinal!))

            self.targets = targets
            self.originals = Dictionary(uniqueKeysWithValues: targets.map { (Array($0.bundle.signedBytes), $0) })
            self.members = Set(targets.map(\.bundle.author))
        }

        /// Three rounds of ops per author: every op kind and value type, concurrent writes,
        /// a delete, a remove with observed tags, an op that coalescing drops.
        private static func script(round: Int, author: Int, replica: inout LocalReplica) throws -> [RecordOperation] {
            let third = RecordID(high: 3, low: 3)
            switch (round, author) {
            case (0, 0):
                return [
                    try replica.set("title", to: "Buy milk", record: todo, in: "todos"),
                    try replica.set("count", to: 3, record: todo, in: "todos"),
                    try replica.add("errand", to: "tags", record: todo, in: "todos"),
                ]
            case (0, _):
                return [
                    try replica.set("done", to: false, record: other, in: "todos"),
                    try replica.set("price", to: 2.5, record: other, in: "todos"),
                    try replica.set("blob", to: .bytes([0, 1, 0x7F, 0xFF]), record: other, in: "todos"),
                    try replica.add("home", to: "tags", record: other, in: "todos"),
                ]
            case (1, 0):
                return [
                    try replica.remove("errand", from: "tags", record: todo, in: "todos"),
                    try replica.set("see", to: .reference(RecordReference(collection: "todos", id: other)), record: todo, in: "todos"),
                    try replica.set("note", to: .null, record: todo, in: "todos"),
                ]
            case (1, _):
                return [
                    try replica.delete(record: other, in: "todos"),
                    try replica.set("title", to: "Buy bread", record: todo, in: "todos"),
                ]
            case (_, 0):
                return [
                    try replica.set("title", to: "Ünïcode ✓ 🥛", record: todo, in: "todos"),
                    try replica.add(42, to: "tags", record: todo, in: "todos"),
                    try replica.set("count", to: .int(.min), record: todo, in: "todos"),
                ]
            default:
                return [
                    try replica.add(true, to: "flags", record: third, in: "lists"),
                    try replica.set("title", to: "", record: third, in: "lists"),
                    try replica.set("title", to: "later", record: third, in: "lists"),
                ]
            }
        }

        /// Imports `bytes` into a copy of `target.before` and judges the outcome.
        /// - Parameters:
        ///   - resigned: Whether the bytes were signed again by the target's author after
        ///     mutating (an insider); otherwise no mutated content carries a member's signature.
        func judge(_ bytes: [UInt8], for target: Target, resigned: Bool) -> Verdict {
            let before = target.before
            var replica = before.replica
            var log = before.log
            let outcome = target.importer.importBundle(bytes, into: &replica, log: &log)
            let replicaUnchanged = replica.state == before.replica.state && replica.clock.last == before.replica.clock.last
            if case .rejected(let error) = outcome {
                var problem: String?
                if !Self.importErrors.contains(error.code) || error.message.contains("unexpected failure") {
                    problem = "untyped or undocumented rejection: \(error)"
                } else if !replicaUnchanged || log != before.log {
                    problem = "rejected with \(error.code), but the replica or the log changed"
                }
                return Verdict(label: error.code.description, problem: problem, isRejection: true)
            }

            // Anything but a rejection needs a decodable bundle signed by a real member.
            guard let bundle = try? ChangeBundle(bytes: bytes) else {
                return Verdict(label: "\(outcome)", problem: "\(outcome) for bytes that do not decode", isRejection: false)
            }
            let original = originals[Array(bundle.signedBytes)]
            var problem: String?
            if !members.contains(bundle.author) || !bundle.author.isValidSignature(bundle.signature, for: bundle.signedBytes) {
                problem = "accepted forgery: not signed by a member"
            } else if !resigned && original == nil {
                problem = "accepted forgery: content that no member signed"
            }
            let head = before.log.head(of: bundle.author)
            let next = (head?.sequence ?? 0) + 1
            let label: String
            switch outcome {
            case .duplicate(let id):
                label = "duplicate"
                if id != bundle.id || !before.log.contains(id) { problem = problem ?? "duplicate of a bundle the log does not hold" }
            case .held(let waitingFor):
                label = "held"
                if waitingFor != next || bundle.sequence <= next || log.heldCount != before.log.heldCount + 1 {
                    problem = problem ?? "held at \(bundle.sequence) waiting for \(waitingFor), head \(next - 1)"
                }
            case .fork(let author, let sequence):
                label = "fork"
                let breaks = sequence < next || (sequence == next && bundle.previous != head?.id ?? .zero)
                if author != bundle.author || sequence != bundle.sequence || !breaks {
                    problem = problem ?? "fork at \(sequence) that breaks nothing"
                }
            case .applied(let ids) where log.voided.count > before.log.voided.count:
                // Void (wire-format §7.7, step 11): signed by a member, in its chain, nothing
                // applied, and truly unusable.
                label = "void"
                problem = problem ?? checkVoid(bundle, ids: ids, replica: replica, log: log, target: target)
            case .applied(let ids):
                label = "applied"
                problem = problem ?? checkApplied(bundle, ids: ids, replica: replica, log: log, target: target, original: original)
            case .rejected:
                fatalError("handled above")
            }
            if label != "applied", problem == nil, !replicaUnchanged { problem = "\(label) changed the replica" }
            return Verdict(label: label, problem: problem, isRejection: false)
        }

        /// A void bundle entered its chain with no effect on the replica, for one of the
        /// documented reasons, and its payload really is unusable: it does not open under
        /// the content key, or its plaintext breaks the rules of section 7.5.
        private func checkVoid(_ bundle: ChangeBundle, ids: [BundleID], replica: LocalReplica, log: BundleLog, target: Target) -> String? {
            let before = target.before
            guard ids == [bundle.id], log.bundles.map(\.id) == before.log.bundles.map(\.id) + [bundle.id],
                log.voided.map(\.id) == before.log.voided.map(\.id) + [bundle.id]
            else { return "void \(ids) but the log holds \(log.bundles.map(\.id.shortDescription))" }
            guard replica.state == before.replica.state, replica.clock.last == before.replica.clock.last else {
                return "void, but the replica changed"
            }
            guard let reason = log.voided.last?.reason, Membership.voids(reason) else { return "void for an undocumented reason" }
            var plaintext = Array(bundle.payload)
            let key = target.importer.membership.contentKey
            if bundle.isEncrypted != (key != nil) { return nil }  // encryptionMismatch
            if let key {
                guard let box = try? XChaCha20Poly1305.SealedBox(combined: plaintext),
                    let opened = try? XChaCha20Poly1305.open(box, using: key, authenticating: bundle.header)
                else { return nil }  // does not open: rightly void
                plaintext = opened
            }
            let author = ReplicaID(bytes: bundle.author.bytes)!
            guard let ops = Self.operationsAfterValidContext(plaintext, author: bundle.author), let lowest = ops.map(\.stamp.hlc).min(),
                ops.allSatisfy({ $0.stamp.replica == author }), lowest...ops.map(\.stamp.hlc).max()! == bundle.hlcRange
            else { return nil }
            return "void, but its payload opens and keeps every rule of section 7.5"
        }

        /// An applied bundle has exactly the effect of the original with the same signed
        /// bytes, or (only for re-signed plaintext) exactly the effect of its decoded ops.
        private func checkApplied(
            _ bundle: ChangeBundle, ids: [BundleID], replica: LocalReplica, log: BundleLog, target: Target, original: Target?
        ) -> String? {
            let before = target.before
            guard ids == [bundle.id], log.bundles.map(\.id) == before.log.bundles.map(\.id) + [bundle.id] else {
                return "applied \(ids) but the log holds \(log.bundles.map(\.id.shortDescription))"
            }
            if let original {
                // Same signed bytes as an original (at most another signature encoding): same effect.
                var expected = before
                let outcome = target.importer.importBundle(original.bundle.bytes, into: &expected.replica, log: &expected.log)
                guard outcome == .applied(ids), expected.replica.state == replica.state, expected.replica.clock.last == replica.clock.last,
                    expected.log.versionVector == log.versionVector
                else { return "applied \(original.name) with another effect than the original" }
                return nil
            }
            guard !bundle.isEncrypted else {
                return "applied altered signed bytes in an encrypted space: the AEAD did not bind header and payload"
            }
            let author = ReplicaID(bytes: bundle.author.bytes)!
            guard let ops = Self.operationsAfterValidContext(Array(bundle.payload), author: bundle.author),
                let lowest = ops.map(\.stamp.hlc).min(),
                ops.allSatisfy({ $0.stamp.replica == author }), lowest...ops.map(\.stamp.hlc).max()! == bundle.hlcRange
            else { return "applied a payload that breaks the rules of section 7.5" }
            guard bundle.certificates!.subject == bundle.author, bundle.certificates!.role == .writer else {
                return "applied a bundle whose certificate does not make its author a writer"
            }
            var expected = before.replica.state
            expected.apply(contentsOf: ops)
            guard expected == replica.state, replica.clock.last >= bundle.hlcRange.upperBound else {
                return "applied, but the state is not the state plus the decoded ops"
            }
            return nil
        }

        /// The operations of a payload plaintext whose causal context keeps every rule of
        /// section 7.5, checked here independently of the decoder under test; `nil` otherwise.
        static func operationsAfterValidContext(_ plaintext: [UInt8], author: PublicKey) -> [RecordOperation]? {
            var reader = ByteReader(plaintext)
            guard let count = try? reader.readVarint(), count <= 4096 else { return nil }
            var previous: [UInt8] = []
            for _ in 0..<count {
                guard let raw = try? Array(reader.readBytes(32)), previous.lexicographicallyPrecedes(raw), raw != author.bytes,
                    let sequence = try? reader.readVarint(), sequence >= 1
                else { return nil }
                previous = raw
            }
            return try? OperationCodec.decode(Array(plaintext[reader.offset...]))
        }
    }
}
