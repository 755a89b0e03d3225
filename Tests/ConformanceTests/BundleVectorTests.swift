import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// Runs `Specs/vectors/bundles.jsonl` (written by `swift run concord-vectors`) through the
/// public import API, as another implementation would: `Specs/wire-format.md`, sections 7
/// and 9.
///
/// For each case a fresh observer device joins the space of `space_seed_hex` with a writer
/// invite (written byte by byte from section 7.4), its replica's physical clock reads
/// `now_ms`, the bundles named by `import_before` are imported, then the case. A valid case
/// must give its `outcome` and the stated ids, causal context, ops and state digest; an
/// invalid one must be rejected with the `expected` error code and leave the state as it was,
/// except that a bundle which verifies but whose payload fails to open (step 11 of section
/// 7.7) is void: it enters its chain, nothing is applied, and `expected` is the reason.
@Suite struct BundleVectorTests {
    /// Fewer cases than this means the file was emptied or truncated.
    static let minimumCases = 90
    /// The importing device: seed `0b × 32`, certified at 1,700,000,000,000 ms. Its key does
    /// not influence any outcome.
    static let observerSeed = [UInt8](repeating: 0x0B, count: 32)
    static let observerIssuedAt: UInt64 = 1_700_000_000_000

    @Test func everyBundleVectorConforms() throws {
        let cases = try VectorConformanceTests.load("bundles.jsonl")
        var earlier: [String: Vector] = [:]
        var passed = 0
        for vector in cases {
            do {
                try Self.check(vector, earlier: earlier)
                passed += 1
            } catch {
                Issue.record("bundle vector \(vector.name): \(error)")
            }
            earlier[vector.name] = vector
        }
        #expect(passed == cases.count)
        let valid = cases.filter { $0.expected == "valid" }.count
        print("bundle conformance: \(passed) vectors passed (\(valid) valid, \(cases.count - valid) rejected)")
    }

    @Test func bundleVectorFileIsComplete() throws {
        let cases = try VectorConformanceTests.load("bundles.jsonl")
        #expect(cases.count >= Self.minimumCases)
        let names = cases.map(\.name)
        #expect(Set(names).count == names.count, "case names must be unique")
        let codes: Set = [
            "bundleTooLarge", "malformedBundle", "unsupportedVersion", "wrongSpace", "invalidSignature", "invalidCertificate",
            "notAWriter", "authorMismatch", "clockDriftExceeded", "decryptionFailed", "encryptionMismatch", "emptyBundle",
            "tooManyHeldBundles", "chainNotMonotone",
        ]
        // Every step of the pipeline (section 7.7) is covered, and nothing else appears.
        #expect(Set(cases.map(\.expected)) == codes.union(["valid"]))
        #expect(Set(cases.compactMap { $0.json["outcome"] as? String }) == ["applied", "duplicate", "held", "fork"])
        // A stable core that later regenerations must keep (add cases, never drop these).
        for name in [
            "plaintext_first_bundle", "plaintext_second_bundle_chained", "encrypted_first_bundle", "writer_joined_by_invite",
            "every_op_kind", "reader_invite_device_bundle", "reader_certificate", "duplicate_of_applied_bundle",
            "gap_third_bundle_held", "fork_second_bundle", "flipped_signature_bit", "flipped_payload_bit",
            "tampered_header_hlc_max", "wrong_magic", "unknown_version_1", "unknown_version_3", "wrong_space",
            "missing_certificate_chain", "forged_self_signed_certificate", "certificate_from_another_space",
            "far_future_clock", "oversized_payload_length", "bundle_over_size_limit", "trailing_byte",
            "context_several_authors", "encrypted_bundle_with_context", "context_authors_unsorted",
            "context_duplicate_author", "context_names_bundle_author", "context_sequence_zero",
            "context_count_too_large", "context_4096_authors", "over_size_limit_and_wrong_magic",
            "unknown_version_and_reserved_flag", "forged_reader_certificate", "reader_certificate_of_another_device",
            "other_writers_certificate_and_far_future_clock", "fork_with_malformed_payload",
            "held_limit_and_malformed_payload", "too_many_held_bundles_across_authors",
            "clock_past_drift_limit_of_a_held_bundle", "held_fork_gives_place_to_quarantined",
        ] {
            #expect(names.contains(name), "missing bundle vector \(name)")
        }
        #expect(cases.filter { $0.name.hasPrefix("truncated_at_") }.count >= 10)
        // Valid cases with a non-empty causal context, plaintext and encrypted.
        let withContext = cases.filter { ($0.json["context"] as? [Any])?.isEmpty == false }
        #expect(Set(withContext.compactMap { $0.json["encrypted"] as? Bool }) == [false, true])
        // The known answer of section 7.8.
        let example = try #require(cases.first { $0.name == "plaintext_first_bundle" })
        #expect(try example.string("bundle_id_hex") == "153a67efec84c160d3c9b6f20ae9bd5dc04c6018fd20ac5a8578388de595b3a5")
    }

    // MARK: - One case

    static func check(_ v: Vector, earlier: [String: Vector]) throws {
        let space = try Space(seed: SecretBytes(v.bytes("space_seed_hex")), encrypted: v.flag("encrypted"))
        let observer = try Membership.join(
            InviteToken(writerInviteText(space: space)), device: Identity(seed: observerSeed), issuedAt: observerIssuedAt)
        let limits = BundleLimits(
            maxBundleBytes: Int(try v.uint64("max_bundle_bytes")), maxHeldBundles: Int(try v.uint64("max_held_bundles")))
        let now = try v.uint64("now_ms")
        let importer = BundleImporter(membership: observer, limits: limits)
        var replica = observer.makeReplica(
            clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: now), maxDrift: try v.uint64("max_drift_ms")))
        var log = BundleLog()
        for name in try v.strings("import_before") {
            guard let before = earlier[name] else { throw Mismatch(message: "import_before names \(name), not an earlier case") }
            if let error = importer.importBundle(try before.bytes("bundle_hex"), into: &replica, log: &log).error {
                throw Mismatch(message: "importing \(name) first was rejected: \(error)")
            }
        }
        let digestBefore = replica.state.digestHex
        let clockBefore = replica.clock.last
        let logBefore = log
        let bytes = try v.bytes("bundle_hex")
        let outcome = importer.importBundle(bytes, into: &replica, log: &log)
        try VectorConformanceTests.require(
            replica.state.digestHex == (try v.string("state_digest_hex")), v, "state digest \(replica.state.digestHex)")

        guard v.expected == "valid" else {
            if v.json["void"] as? Bool == true {
                // Step 11 of section 7.7: a verified bundle that extends its chain but whose
                // payload no member can use enters the chain void, with nothing applied;
                // `expected` is the reason.
                guard case .applied(let ids) = outcome, let void = log.voided.last, ids == [void.id],
                    void.reason.code.description == v.expected,
                    ids.map(\.hex) == (try v.strings("applied_ids_hex"))
                else { throw Mismatch(message: "\(v.name): imported as \(outcome), expected void with \(v.expected)") }
                try VectorConformanceTests.require(
                    replica.state.digestHex == digestBefore && replica.clock.last == clockBefore, v,
                    "a void bundle changed the state or the clock")
                try VectorConformanceTests.require(
                    log.bundles.count == logBefore.bundles.count + 1, v, "a void bundle did not enter its chain")
                return
            }
            guard let error = outcome.error else { throw Mismatch(message: "\(v.name): imported as \(outcome), expected \(v.expected)") }
            try VectorConformanceTests.require(error.code.description == v.expected, v, "rejected with \(error)")
            try VectorConformanceTests.require(
                replica.state.digestHex == digestBefore && log == logBefore, v, "a rejection changed the replica or the log")
            return
        }
        try checkOutcome(outcome, v)

        // Exactly what is signed, the signature, the id.
        let signed = try v.bytes("signed_bytes_hex")
        let signature = try Signature(bytes: v.bytes("signature_hex"))
        let author = try PublicKey(hex: v.string("author_public_key_hex"))
        try VectorConformanceTests.require(signed + signature.bytes == bytes, v, "signed_bytes_hex + signature_hex != bundle_hex")
        try VectorConformanceTests.require(author.isValidSignature(signature, for: signed), v, "the signature does not verify")
        try VectorConformanceTests.require(
            Blake2b.hash(signed).hex == (try v.string("bundle_id_hex")), v, "bundle id is not BLAKE2b-256 of the signed bytes")

        // A relay (no secret) accepts it, and the decoded fields and ops are the stated ones.
        let bundle = try BundleVerifier(
            spaceID: space.id, limits: limits, maxDrift: try v.uint64("max_drift_ms"),
            physicalClock: FixedClock(milliseconds: now)
        ).verify(bytes)
        try VectorConformanceTests.require(
            bundle.id.hex == (try v.string("bundle_id_hex")) && bundle.author == author
                && bundle.sequence == (try v.uint64("sequence")), v, "decoded header \(bundle)")
        guard v.json["plaintext_hex"] != nil else {
            // A fork or a duplicate is decided before the payload is opened (section 7.7,
            // steps 9-10); such a case may carry a payload that does not open.
            let outcome = try v.string("outcome")
            try VectorConformanceTests.require(outcome == "fork" || outcome == "duplicate", v, "a \(outcome) case without payload keys")
            try VectorConformanceTests.require(
                (try? observer.contents(of: bundle)) == nil, v, "the payload opens, but the case has no payload keys")
            return
        }
        let contents = try observer.contents(of: bundle)
        let ops = contents.operations
        let expectedOps = try v.array("ops").map(VectorConformanceTests.operation)
        try VectorConformanceTests.require(ops == expectedOps, v, "decoded ops \(ops)")
        try VectorConformanceTests.require(try observer.operations(in: bundle) == ops, v, "operations(in:) differs from contents(of:)")
        let batch = try v.bytes("batch_hex")
        try VectorConformanceTests.require(try OperationCodec.decode(batch) == ops, v, "batch_hex does not decode to ops")

        // The causal context (section 7.5): the stated entries, in ascending byte order of
        // their authors, written by hand here as count, then author and sequence varints.
        let entries = try v.array("context").map { entry -> (PublicKey, UInt64) in
            guard let author = entry["author"] as? String, let seq = (entry["seq"] as? NSNumber)?.uint64Value else {
                throw Mismatch(message: "\(v.name): malformed context entry \(entry)")
            }
            return (try PublicKey(hex: author), seq)
        }
        try VectorConformanceTests.require(
            contents.context == VersionVector(Dictionary(uniqueKeysWithValues: entries)) && contents.context[author] == 0, v,
            "causal context \(contents.context)")
        try VectorConformanceTests.require(entries.map(\.0) == entries.map(\.0).sorted(), v, "context entries are not in byte order")
        var plaintext = ByteWriter()
        plaintext.writeVarint(UInt64(entries.count))
        for (key, seq) in entries {
            plaintext.write(contentsOf: key.bytes)
            plaintext.writeVarint(seq)
        }
        plaintext.write(contentsOf: batch)
        try VectorConformanceTests.require(plaintext.bytes == (try v.bytes("plaintext_hex")), v, "plaintext_hex is not context + batch_hex")
        if !space.isEncrypted {
            try VectorConformanceTests.require(Array(bundle.payload) == plaintext.bytes, v, "payload != plaintext_hex")
        }
    }

    static func checkOutcome(_ outcome: ImportOutcome, _ v: Vector) throws {
        let id = try v.string("bundle_id_hex")
        let stated = try v.string("outcome")
        switch outcome {
        case .applied(let ids) where stated == "applied":
            let expected = (v.json["applied_ids_hex"] as? [String]) ?? []
            try VectorConformanceTests.require(ids.map(\.hex) == expected && expected.first == id, v, "applied \(ids)")
        case .duplicate(let duplicate) where stated == "duplicate":
            try VectorConformanceTests.require(duplicate.hex == id, v, "duplicate of \(duplicate)")
        case .held(let waitingFor) where stated == "held":
            try VectorConformanceTests.require(waitingFor == (try v.uint64("waiting_for")), v, "held waiting for \(waitingFor)")
        case .fork(let author, let sequence) where stated == "fork":
            try VectorConformanceTests.require(
                author.hex == (try v.string("author_public_key_hex")) && sequence == (try v.uint64("fork_sequence")),
                v, "fork of \(author) at \(sequence)")
        default:
            throw Mismatch(message: "\(v.name): imported as \(outcome), expected \(stated)")
        }
    }

    /// A writer invite for `space` (section 7.4): `01 01 space-id flags seed checksum`, base32.
    static func writerInviteText(space: Space) -> String {
        var bytes: [UInt8] = [1, 1] + space.id.bytes + [space.isEncrypted ? 1 : 0]
        space.seed.withUnsafeBytes { bytes += $0 }
        bytes += Blake2b.hash(bytes).bytes.prefix(4)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var text = "concord1-"
        var (buffer, bits): (UInt32, UInt32) = (0, 0)
        for byte in bytes {
            (buffer, bits) = (buffer << 8 | UInt32(byte), bits + 8)
            while bits >= 5 {
                bits -= 5
                text.append(alphabet[Int(buffer >> bits & 31)])
            }
        }
        if bits > 0 { text.append(alphabet[Int(buffer << (5 - bits) & 31)]) }
        return text
    }
}

extension Vector {
    /// A JSON number (the vectors keep them below 2^53).
    func uint64(_ key: String) throws -> UInt64 {
        guard let number = json[key] as? NSNumber, let value = UInt64(exactly: number.doubleValue) else {
            throw Mismatch(message: "\(name): missing number field \"\(key)\"")
        }
        return value
    }

    func flag(_ key: String) throws -> Bool {
        guard let value = json[key] as? Bool else { throw Mismatch(message: "\(name): missing bool field \"\(key)\"") }
        return value
    }

    func strings(_ key: String) throws -> [String] {
        guard let value = json[key] as? [String] else { throw Mismatch(message: "\(name): missing string array \"\(key)\"") }
        return value
    }
}
