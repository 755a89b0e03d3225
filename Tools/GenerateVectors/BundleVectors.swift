// The cases of Specs/vectors/bundles.jsonl: real bundles sealed with `Membership.seal`
// and the import situations built from them (chain, duplicate, gap, fork, limits).
// The invalid encodings are in BundleVectors+Invalid.swift.
import Concord
import ConcordCore
import ConcordCrypto

/// Builds every bundle case. Inputs are fixed: seeds, certificate issue times, clock
/// readings (`ManualClock`) and the encryption nonces, so the output never changes.
struct BundleVectors {
    typealias F = BundleFixtures

    static let todo1 = try! RecordID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")
    static let todo2 = try! RecordID(uuidString: "0F8FAD5B-D9CB-469F-A165-70867728950E")
    static let todo3 = try! RecordID(uuidString: "7C9E6679-7425-40DE-944B-E07FC1F90AE7")

    var collected = BundleVectorSet()

    let alice: Membership
    /// Alice's chain in the plaintext space: bundles 1 to 4.
    let a1, a2, a3, a4: ChangeBundle
    /// Alice's alternative bundles 1, 2 and 3 (forks), and a bundle 2 that follows the fork.
    let a1Fork, a2Fork, a3Fork, a2AfterFork: ChangeBundle
    let bob: Membership
    /// Bob's chain, sealed after he imported Alice's bundles 1 and 2.
    let b1, b2, b3: ChangeBundle
    let encryptedWriter: Membership
    let e1, e2, e3: ChangeBundle

    /// The context Bob passes for `b3`: Alice at 4, device `0e × 32` at 300 (a two-byte
    /// varint) and Bob himself at 2, an entry sealing drops.
    static func severalAuthors(bob: PublicKey, alice: PublicKey) -> VersionVector {
        VersionVector([alice: 4, F.identity(F.driftWriterDevice).publicKey: 300, bob: 2])
    }

    /// The context of `e3`: device `08 × 32` at 2, encrypted with the operations.
    static let encryptedContext = VersionVector([F.identity(F.bobDevice).publicKey: 2])

    /// Runs every case.
    static func generate() throws -> BundleVectorSet {
        var vectors = try BundleVectors()
        vectors.addValidCases()
        try vectors.addInvalidCases()
        try vectors.addFaultCases()
        return vectors.collected
    }

    init() throws {
        let t0 = F.issuedAt
        alice = try F.writer(F.aliceDevice, of: F.plain)
        let time = ManualClock(milliseconds: t0)
        var replica = alice.makeReplica(clock: HybridLogicalClock(physicalClock: time))
        // The example of Specs/wire-format.md, section 7.8.
        a1 = try alice.seal([replica.set("title", to: "Buy milk", record: Self.todo1, in: "todos")], previous: nil)
        let afterFirst = replica
        time.set(milliseconds: t0 + 60_000)
        a2 = try alice.seal([replica.add("errand", to: "tags", record: Self.todo1, in: "todos"),
                             replica.set("done", to: false, record: Self.todo1, in: "todos")], previous: a1)
        time.set(milliseconds: t0 + 120_000)
        a3 = try alice.seal([replica.set("title", to: "Buy oat milk", record: Self.todo1, in: "todos")], previous: a2)
        time.set(milliseconds: t0 + 180_000)
        a4 = try alice.seal([replica.set("done", to: true, record: Self.todo1, in: "todos")], previous: a3)

        // Forks: the same device (its key copied to a second machine, say) writes other
        // bundles for places its chain already has.
        var forked = afterFirst
        time.set(milliseconds: t0 + 90_000)
        a2Fork = try alice.seal([forked.set("title", to: "Buy bread", record: Self.todo1, in: "todos")], previous: a1)
        time.set(milliseconds: t0 + 150_000)
        a3Fork = try alice.seal([forked.set("title", to: "Buy rye bread", record: Self.todo1, in: "todos")], previous: a2Fork)
        var other = alice.makeReplica(clock: HybridLogicalClock(physicalClock: time))
        time.set(milliseconds: t0 + 30_000)
        a1Fork = try alice.seal([other.set("title", to: "Buy cheese", record: Self.todo1, in: "todos")], previous: nil)
        time.set(milliseconds: t0 + 45_000)
        a2AfterFork = try alice.seal([other.set("done", to: true, record: Self.todo1, in: "todos")], previous: a1Fork)

        // Bob joins with a writer invite a minute later and imports Alice's bundles 1 and 2
        // before writing; sealing through his log, each of his bundles carries the causal
        // context [Alice: 2]. His second bundle has every op kind; his third names a context
        // of several authors explicitly (his own entry in it is dropped).
        bob = try F.writer(F.bobDevice, of: F.plain, issuedAt: t0 + 60_000)
        let bobTime = ManualClock(milliseconds: t0 + 600_000)
        var bobReplica = bob.makeReplica(clock: HybridLogicalClock(physicalClock: bobTime))
        var bobLog = BundleLog()
        for bundle in [a1, a2] {
            let outcome = BundleImporter(membership: bob).importBundle(bundle.bytes, into: &bobReplica, log: &bobLog)
            guard outcome == .applied([bundle.id]) else { throw Failure("Bob importing \(bundle): \(outcome)") }
        }
        b1 = try bob.seal([bobReplica.set("title", to: "Walk the dog", record: Self.todo2, in: "todos"),
                           bobReplica.add("urgent", to: "tags", record: Self.todo2, in: "todos"),
                           bobReplica.set("title", to: "Call mum", record: Self.todo3, in: "todos")], appendingTo: &bobLog)
        bobTime.set(milliseconds: t0 + 660_000)
        b2 = try bob.seal([bobReplica.set("done", to: true, record: Self.todo2, in: "todos"),
                           bobReplica.add("home", to: "tags", record: Self.todo2, in: "todos"),
                           bobReplica.remove("urgent", from: "tags", record: Self.todo2, in: "todos"),
                           bobReplica.delete(record: Self.todo3, in: "todos")], appendingTo: &bobLog)
        bobTime.set(milliseconds: t0 + 720_000)
        b3 = try bob.seal([bobReplica.set("note", to: "after the others", record: Self.todo2, in: "todos")], previous: b2,
                          context: Self.severalAuthors(bob: bob.device.publicKey, alice: alice.device.publicKey))

        encryptedWriter = try F.writer(F.encryptedWriterDevice, of: F.sealed)
        let encryptedTime = ManualClock(milliseconds: t0 + 1_000)
        var encryptedReplica = encryptedWriter.makeReplica(clock: HybridLogicalClock(physicalClock: encryptedTime))
        e1 = try encryptedWriter.seal([encryptedReplica.set("title", to: "Surprise party", record: Self.todo1, in: "todos"),
                                       encryptedReplica.add(.bytes([0xCA, 0xFE]), to: "blobs", record: Self.todo1, in: "todos")],
                                      previous: nil, limits: .default, nonce: Forge.nonce(1))
        encryptedTime.set(milliseconds: t0 + 2_000)
        e2 = try encryptedWriter.seal([encryptedReplica.set("title", to: "Dinner", record: Self.todo1, in: "todos")],
                                      previous: e1, limits: .default, nonce: Forge.nonce(2))
        // Sealing records what the sealing device had seen, without itself.
        let aliceOnly = VersionVector([alice.device.publicKey: 2])
        guard try bob.contents(of: b1).context == aliceOnly, try bob.contents(of: b2).context == aliceOnly,
              try bob.contents(of: b3).context == Self.severalAuthors(bob: bob.device.publicKey, alice: alice.device.publicKey).removingEntry(of: bob.device.publicKey)
        else { throw Failure("Bob's bundles do not carry the causal context he sealed them with") }
        encryptedTime.set(milliseconds: t0 + 3_000)
        e3 = try encryptedWriter.seal([encryptedReplica.set("title", to: "Dinner at eight", record: Self.todo1, in: "todos")],
                                      previous: e2, context: Self.encryptedContext, limits: .default, nonce: Forge.nonce(3))
    }

    /// Adds a case in the plaintext space unless another is given.
    mutating func add(_ name: String, _ description: String, _ bytes: [UInt8], _ expect: BundleExpectation,
                      space: SpaceFixture = F.plain, before: [String] = [], now: UInt64 = F.now,
                      limits: BundleLimits = .default, from original: String? = nil) {
        collected.add(BundleCase(name: name, description: description, space: space, bytes: bytes, expect: expect,
                           importBefore: before, now: now, limits: limits, derivedFrom: original))
    }

    // MARK: - Valid bundles and import situations

    mutating func addValidCases() {
        add("plaintext_first_bundle", "the first bundle (seq 1) of a writer in a plaintext space: the example of Specs/wire-format.md section 7.8",
            a1.bytes, .applied)
        add("plaintext_second_bundle_chained", "bundle 2 of the same writer, linked to bundle 1; imported after it",
            a2.bytes, .applied, before: ["plaintext_first_bundle"])
        add("encrypted_first_bundle", "the first bundle of a writer in an encrypted space; its nonce is fixed (\(hex(Forge.nonce(1).bytes))) for reproducibility, real bundles use a random one",
            e1.bytes, .applied, space: F.sealed)
        add("encrypted_second_bundle_chained", "bundle 2 in the encrypted space, imported after bundle 1",
            e2.bytes, .applied, space: F.sealed, before: ["encrypted_first_bundle"])
        add("writer_joined_by_invite", "the first bundle of a device that joined with a writer invite (its certificate is issued at join time by the space key the invite carries); it had imported Alice's bundles 1 and 2, so its causal context is [Alice: 2]",
            b1.bytes, .applied)
        add("every_op_kind", "one bundle with a set, an add, a remove (observing an add of the author's previous bundle) and a delete; causal context [Alice: 2]",
            b2.bytes, .applied, before: ["writer_joined_by_invite"])
        add("context_several_authors", "a causal context of two authors in ascending byte order, one with sequence 300 (a two-byte varint); the sealing device passed its own entry too, which sealing dropped. The importer need not know the authors it names",
            b3.bytes, .applied, before: ["writer_joined_by_invite", "every_op_kind"])
        add("encrypted_bundle_with_context", "an encrypted bundle whose causal context [08 x 32: 2] is encrypted with its operations; nonce \(hex(Forge.nonce(3).bytes))",
            e3.bytes, .applied, space: F.sealed, before: ["encrypted_first_bundle", "encrypted_second_bundle_chained"])
        add("bundle_at_size_limit", "a bundle exactly as long as max_bundle_bytes",
            a1.bytes, .applied, limits: BundleLimits(maxBundleBytes: a1.bytes.count))

        add("duplicate_of_applied_bundle", "the same bundle imported twice: the second import changes nothing",
            a1.bytes, .duplicate, before: ["plaintext_first_bundle"])
        add("second_bundle_without_first", "bundle 2 before bundle 1: held until bundle 1 arrives",
            a2.bytes, .held)
        add("gap_third_bundle_held", "bundle 3 after bundle 1: held, waiting for bundle 2",
            a3.bytes, .held, before: ["plaintext_first_bundle"])
        add("duplicate_of_held_bundle", "a held bundle imported again",
            a3.bytes, .duplicate, before: ["plaintext_first_bundle", "gap_third_bundle_held"])
        add("gap_filled_releases_held", "bundle 2 fills the gap: it is applied, then the held bundle 3 (applied_ids_hex lists both)",
            a2.bytes, .applied, before: ["plaintext_first_bundle", "gap_third_bundle_held"])
        add("fork_second_bundle", "another bundle 2 of the same author after bundles 1 and 2: quarantined, never applied",
            a2Fork.bytes, .fork, before: ["plaintext_first_bundle", "plaintext_second_bundle_chained"])
        add("fork_first_bundle", "another bundle 1 of the same author after bundle 1",
            a1Fork.bytes, .fork, before: ["plaintext_first_bundle"])
        add("fork_broken_link", "bundle 2 whose previous id is not the id of the bundle 1 this device holds",
            a2AfterFork.bytes, .fork, before: ["plaintext_first_bundle"])
        add("fork_against_held_bundle", "another bundle 3 while a bundle 3 is already held",
            a3Fork.bytes, .fork, before: ["plaintext_first_bundle", "gap_third_bundle_held"])
        add("too_many_held_bundles", "bundle 4 while bundle 3 already waits and max_held_bundles is 1",
            a4.bytes, .error(.tooManyHeldBundles), before: ["plaintext_first_bundle", "gap_third_bundle_held"],
            limits: BundleLimits(maxHeldBundles: 1))
    }
}
