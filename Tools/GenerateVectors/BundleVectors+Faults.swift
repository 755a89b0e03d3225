// Cases of Specs/vectors/bundles.jsonl added so that every deviation of the mutation
// harness (Tools/reference/mutants.py) fails at least one vector: bundles with two faults,
// whose expected error is the one the earlier check of Specs/wire-format.md section 7.7
// gives (the order of checks), rules that another check used to hide, and import
// situations (held bundles of several authors, releases of several held bundles, a
// quarantined bundle that takes its place back). Appended after the earlier cases.
import Concord
import ConcordCore
import ConcordCrypto

extension BundleVectors {
    mutating func addFaultCases() throws {
        let first = "plaintext_first_bundle"
        let aliceKey = alice.device
        let aliceChain = alice.certificates!.bytes
        let aliceOps = try ops(by: aliceKey)
        let batch = OperationCodec.encode(aliceOps)
        let mallory = F.identity(F.malloryDevice)
        let malloryOps = try ops(by: mallory)

        // Structure (step 2): rules another check hid, and the order inside the step.
        add("sequence_zero_with_previous", "sequence 0 with a non-zero previous id (so only the sequence rule is broken), re-signed",
            resigned { $0.sequence = [0]; $0.previous = Array(a1.id.bytes) }, .error(.malformedBundle), from: first)
        var swapped = BundleDraft(a2)
        (swapped.hlcMin, swapped.hlcMax) = (swapped.hlcMax, swapped.hlcMin)
        add("hlc_min_after_max_of_a_fork", "bundle 2 again with hlc min and max swapped, re-signed, after bundles 1 and 2: the structure is checked before the chain position, so it is malformedBundle, not a fork",
            swapped.signed(by: aliceKey), .error(.malformedBundle), before: [first, "plaintext_second_bundle_chained"])
        add("wrong_magic_and_unknown_version", "magic CNCX and version 03: the magic is checked before the version",
            resigned { $0.magic = Array("CNCX".utf8); $0.version = 3 }, .error(.malformedBundle), from: first)
        add("unknown_version_and_reserved_flag", "version 03 and a reserved flag bit: nothing after an unknown version is interpreted",
            resigned { $0.version = 3; $0.flags = 0x02 }, .error(.unsupportedVersion), from: first)
        add("over_size_limit_and_wrong_magic", "one byte over max_bundle_bytes and a wrong magic: the size is checked before any byte is read",
            resigned { $0.magic = Array("XXXX".utf8) }, .error(.bundleTooLarge), limits: BundleLimits(maxBundleBytes: a1.bytes.count - 1), from: first)
        let aliceElsewhere = try F.writer(F.aliceDevice, of: F.other)
        add("wrong_space_and_trailing_byte", "a bundle of another space followed by one 00 byte: the structure is checked before the space",
            try aliceElsewhere.seal(aliceOps, previous: nil).bytes + [0], .error(.malformedBundle))
        add("certificate_names_another_space_signed_by_this_space", "the space key signed a writer certificate whose space id field names another space; the bundle re-signed",
            resigned { $0.chain = Forge.chain(Forge.certificate(space: F.other.id, subject: aliceKey.publicKey, role: 1, issuedAt: F.issuedAt, issuer: F.plain.key)) },
            .error(.invalidCertificate), from: first)

        // Certificates, role, author and drift (steps 5-8), two faults each.
        add("forged_reader_certificate", "a device certifies itself as a reader: the chain is checked before the role, so invalidCertificate, not notAWriter",
            forged(by: mallory, chain: Forge.chain(Forge.certificate(space: F.plain.id, subject: mallory.publicKey, role: 2, issuedAt: F.issuedAt, issuer: mallory)), ops: malloryOps),
            .error(.invalidCertificate))
        let readerDevice = F.identity(F.readerDevice)
        add("reader_certificate_of_another_device", "a device signs with the reader certificate of another device: the role is checked before the author, so notAWriter, not authorMismatch",
            forged(by: mallory, chain: Forge.chain(Forge.certificate(space: F.plain.id, subject: readerDevice.publicKey, role: 2, issuedAt: F.issuedAt, issuer: F.plain.key)), ops: malloryOps),
            .error(.notAWriter))
        add("other_writers_certificate_and_far_future_clock", "a device signs with another writer's certificate, its newest reading one day ahead: the author is checked before the clock, so authorMismatch",
            forged(by: mallory, chain: aliceChain, ops: try ops(by: mallory, at: F.now + 86_400_000)), .error(.authorMismatch))

        // The drift check of step 8 is the one that guards held bundles (applying checks
        // the clock again, holding does not).
        let driftWriter = try F.writer(F.driftWriterDevice, of: F.plain)
        let driftFirst = try driftWriter.seal(ops(by: driftWriter.device), previous: nil)
        let driftTime = ManualClock(milliseconds: F.now)
        var driftReplica = LocalReplica(id: ReplicaID(bytes: driftWriter.device.publicKey.bytes)!, clock: HybridLogicalClock(physicalClock: driftTime))
        let onTime = try driftReplica.set("title", to: "on time", record: Self.todo2, in: "todos")
        driftTime.set(milliseconds: F.now + F.maxDrift + 1)
        let tooEarly = try driftReplica.set("note", to: "one millisecond too early", record: Self.todo2, in: "todos")
        add("clock_past_drift_limit_of_a_held_bundle", "bundle 2 of a writer whose bundle 1 is missing (it would be held): hlc min is now_ms, hlc max max_drift_ms + 1 ms ahead; the drift of hlc max is checked before the bundle is held",
            try driftWriter.seal([onTime, tooEarly], previous: driftFirst).bytes, .error(.clockDriftExceeded))
        driftTime.set(milliseconds: F.now + F.maxDrift)
        var atLimit = LocalReplica(id: ReplicaID(bytes: driftWriter.device.publicKey.bytes)!, clock: HybridLogicalClock(physicalClock: driftTime))
        let limitOps = [try atLimit.set("title", to: "at the limit", record: Self.todo2, in: "todos"),
                        try atLimit.set("note", to: "counter 1", record: Self.todo2, in: "todos")]
        add("clock_at_drift_limit_with_counter", "two ops in the millisecond exactly max_drift_ms ahead of now_ms (counters 0 and 1): only milliseconds are compared, so it is accepted",
            try driftWriter.seal(limitOps, previous: nil).bytes, .applied)

        // Duplicate, chain position, payload, held limit (steps 9-12), two faults each.
        add("duplicate_of_quarantined_fork", "the fork of fork_second_bundle imported again: a quarantined bundle is a duplicate, not a new fork",
            a2Fork.bytes, .duplicate, before: [first, "plaintext_second_bundle_chained", "fork_second_bundle"])
        add("fork_with_malformed_payload", "another bundle 1 of the same author, re-signed, whose batch is truncated: the chain position is checked before the payload, so it is a fork",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0] + Array(batch.dropLast())), .fork, before: [first])
        var badFourth = BundleDraft(a4)
        badFourth.payload = [0] + Array(OperationCodec.encode(try ops(by: aliceKey)).dropLast())
        add("held_limit_and_malformed_payload", "bundle 4 with a truncated batch, re-signed, while bundle 3 waits and max_held_bundles is 1: the payload is checked before the held limit",
            badFourth.signed(by: aliceKey), .error(.malformedBundle), before: [first, "gap_third_bundle_held"], limits: BundleLimits(maxHeldBundles: 1))
        add("too_many_held_bundles_across_authors", "Bob's bundle 2 (his bundle 1 missing) while Alice's bundle 3 waits and max_held_bundles is 1: the limit counts the held bundles of all authors",
            b2.bytes, .error(.tooManyHeldBundles), before: [first, "gap_third_bundle_held"], limits: BundleLimits(maxHeldBundles: 1))

        // Payload (step 11), two faults each.
        add("encrypted_flag_in_plaintext_space_undecryptable", "the encrypted flag in a plaintext space with 40 zero bytes as payload: the flag is compared with the space before anything is decrypted",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps) { $0.flags = 1; $0.payload = [UInt8](repeating: 0, count: 40) }, .error(.encryptionMismatch))
        add("op_by_another_replica_and_hlc_range_mismatch", "an op stamped by Bob and hlc max one more than its reading: the authors of the ops are checked before the clock range",
            forged(by: aliceKey, chain: aliceChain, ops: try ops(by: bob.device)) { $0.hlcMax += 1 }, .error(.authorMismatch))
        let others = [F.identity(F.bobDevice).publicKey, F.identity(F.driftWriterDevice).publicKey].sorted()
        add("context_unsorted_and_batch_unknown_format", "a causal context in descending order followed by a batch of format 02: the context is decoded first",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps,
                   plaintext: Self.context([(others[1].bytes, [1]), (others[0].bytes, [1])]) + [2] + Array(batch.dropFirst())),
            .error(.malformedBundle))
        add("hlc_min_mismatch", "hlc min one less than the op's reading (hlc max right)",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps) { $0.hlcMin -= 1 }, .error(.malformedBundle))
        let most = (0..<VersionVector.maxContextAuthors).map { ([UInt8](repeating: 0, count: 30) + [UInt8($0 >> 8), UInt8($0 & 0xFF)], [UInt8(1)]) }
        add("context_4096_authors", "a causal context of exactly 4096 distinct authors (the most allowed), each at sequence 1",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: Self.context(most) + batch), .applied)

        // Chain monotonicity (step 11, last): a data bundle starts after the greatest
        // hlc max of its author's earlier data bundles (the chain mark), else it is void.
        // Bundle 1 (`first`) holds one op read at issuedAt, counter 0.
        let lateTime = ManualClock(milliseconds: F.issuedAt)
        var late = alice.makeReplica(clock: HybridLogicalClock(physicalClock: lateTime))
        let sameReading = try late.set("note", to: "read at bundle 1's reading", record: Self.todo2, in: "todos")
        let nextReading = try late.set("note", to: "one counter after bundle 1's reading", record: Self.todo2, in: "todos")
        add("hlc_min_not_after_predecessor", "bundle 2 linked to bundle 1, its only op read at bundle 1's hlc max exactly (same millisecond and counter): it does not start after the chain mark, so it enters its chain void",
            try alice.seal([sameReading], previous: a1).bytes, .error(.chainNotMonotone), before: [first])
        add("hlc_min_one_after_predecessor", "bundle 2 linked to bundle 1, its only op read one counter after bundle 1's hlc max: monotone, applied",
            try alice.seal([nextReading], previous: a1).bytes, .applied, before: [first])
        lateTime.set(milliseconds: F.issuedAt - 5_000)
        var earlier = alice.makeReplica(clock: HybridLogicalClock(physicalClock: lateTime))
        let voidSecond = try alice.seal([try earlier.set("note", to: "five seconds before bundle 1", record: Self.todo2, in: "todos")], previous: a1)
        add("hlc_min_before_predecessor", "bundle 2 linked to bundle 1, read five seconds before it: void",
            voidSecond.bytes, .error(.chainNotMonotone), before: [first])
        lateTime.set(milliseconds: F.issuedAt - 1_000)
        add("hlc_min_after_void_predecessor_not_after_mark", "bundle 3 after the void bundle 2 of hlc_min_before_predecessor, read one second before bundle 1: after bundle 2's hlc max but not after the chain mark (bundle 1's), so void too",
            try alice.seal([try earlier.set("note", to: "after bundle 2, before bundle 1", record: Self.todo2, in: "todos")], previous: voidSecond).bytes,
            .error(.chainNotMonotone), before: [first, "hlc_min_before_predecessor"])

        // Releasing held bundles (step 13).
        add("gap_fourth_bundle_held", "bundle 4 while bundle 3 waits for bundle 2: held too",
            a4.bytes, .held, before: [first, "gap_third_bundle_held"])
        add("gap_filled_releases_two_held", "bundle 2 fills the gap below the held bundles 3 and 4: all three are applied, in order",
            a2.bytes, .applied, before: [first, "gap_third_bundle_held", "gap_fourth_bundle_held"])
        add("held_fork_gives_place_to_quarantined", "bundle 3 (linked to bundle 2) is held and its fork (linked to the fork of bundle 2) quarantined; the fork of bundle 2 then arrives and extends the chain: the held bundle 3 no longer links and is quarantined, and the quarantined one that does link is applied instead",
            a2Fork.bytes, .applied, before: [first, "gap_third_bundle_held", "fork_against_held_bundle"])
    }
}
