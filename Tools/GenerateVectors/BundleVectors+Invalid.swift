// The invalid cases of Specs/vectors/bundles.jsonl, in the order the importer checks
// (Specs/wire-format.md, section 7.7): size, structure, space, signature, certificates,
// role, author, clock drift, then the payload.
import Concord
import ConcordCore
import ConcordCrypto

extension BundleVectors {
    /// Offsets in `a1` (a writer's bundle with seq < 128: section 7.2).
    private enum At {
        static let spaceID = 6, author = 38
        static let hlcMax = 111, payloadLength = 260, payload = 261
        /// The first issued-at byte of the certificate: chain blob at 119, its 2-byte
        /// length, the count byte, then offset 66 of the certificate.
        static let certificateIssuedAt = 119 + 2 + 1 + 66
    }

    /// One set by `author` at `milliseconds`, stamped through a `LocalReplica`.
    func ops(by author: Identity, at milliseconds: UInt64 = F.issuedAt + 5_000) throws -> [RecordOperation] {
        var replica = LocalReplica(id: ReplicaID(bytes: author.publicKey.bytes)!, clock: HybridLogicalClock(physicalClock: FixedClock(milliseconds: milliseconds)))
        return [try replica.set("title", to: "Not allowed", record: Self.todo2, in: "todos")]
    }

    /// The payload plaintext of section 7.5 for `ops`: an empty causal context (`00`), then
    /// the encoded batch.
    static func plaintext(_ ops: [RecordOperation]) -> [UInt8] { [0] + OperationCodec.encode(ops) }

    /// A seq-1 bundle of `ops` in `space` with `chain`, signed by `author`. `edit` changes
    /// the draft before signing; `key` encrypts `plaintext` (an empty causal context and the
    /// encoded ops by default) under the edited header.
    func forged(in space: SpaceFixture = F.plain, by author: Identity, chain: [UInt8], ops: [RecordOperation],
                plaintext: [UInt8]? = nil, key: SymmetricKey? = nil, edit: (inout BundleDraft) -> Void = { _ in }) -> [UInt8] {
        let readings = ops.map(\.stamp.hlc.rawValue)
        let plaintext = plaintext ?? Self.plaintext(ops)
        var draft = BundleDraft(
            flags: key == nil ? 0 : 1, spaceID: space.id.bytes, author: author.publicKey.bytes, sequence: [1],
            previous: BundleID.zero.bytes, hlcMin: readings.min() ?? 0, hlcMax: readings.max() ?? 0, chain: chain,
            payload: plaintext)
        edit(&draft)
        if let key { draft.encrypt(plaintext, key: key, nonce: Forge.nonce(9)) }
        return draft.signed(by: author)
    }

    /// `a1` with `edit` applied, re-signed by Alice.
    func resigned(_ edit: (inout BundleDraft) -> Void) -> [UInt8] {
        var draft = BundleDraft(a1)
        edit(&draft)
        return draft.signed(by: alice.device)
    }

    mutating func addInvalidCases() throws {
        let first = "plaintext_first_bundle"
        let aliceKey = alice.device
        let aliceChain = alice.certificates!.bytes
        let aliceOps = try ops(by: aliceKey)

        // 1. Size.
        add("bundle_over_size_limit", "a \(a1.bytes.count)-byte bundle with max_bundle_bytes \(a1.bytes.count - 1): rejected before any byte is read",
            a1.bytes, .error(.bundleTooLarge), limits: BundleLimits(maxBundleBytes: a1.bytes.count - 1))

        // 2. Structure: magic, version, flags, header fields, lengths, truncation, trailing bytes.
        add("wrong_magic", "\"CNCX\" instead of \"CNCB\"", Array("CNCX".utf8) + a1.bytes.dropFirst(4), .error(.malformedBundle), from: first)
        add("empty_input", "zero bytes", [], .error(.malformedBundle))
        for version: UInt8 in [0, 1, 3, 0xFF] {
            let what = version == 1 ? "format byte 1 (the pre-release format, whose payload had no causal context)" : "format byte \(version)"
            add("unknown_version_\(String(version, radix: 16))", "\(what): nothing after it is interpreted",
                resigned { $0.version = version }, .error(.unsupportedVersion), from: first)
        }
        add("reserved_flag_bit", "flags 02: a reserved bit is set", resigned { $0.flags = 0x02 }, .error(.malformedBundle), from: first)
        add("sequence_zero", "seq 0", resigned { $0.sequence = [0] }, .error(.malformedBundle), from: first)
        add("sequence_non_minimal_varint", "seq 1 written as 81 00", resigned { $0.sequence = [0x81, 0x00] }, .error(.malformedBundle), from: first)
        add("first_bundle_with_previous", "seq 1 with a non-zero previous id",
            resigned { $0.previous = a2.id.bytes }, .error(.malformedBundle), from: first)
        add("later_bundle_without_previous", "seq 2 with an all-zero previous id",
            resigned { $0.sequence = [2] }, .error(.malformedBundle), from: first)
        add("hlc_min_after_max", "hlc min greater than hlc max",
            resigned { $0.hlcMin = $0.hlcMax + 1 }, .error(.malformedBundle), from: first)
        add("missing_certificate_chain", "a certificate blob of length 0", resigned { $0.chain = [] }, .error(.malformedBundle), from: first)
        add("empty_certificate_chain", "a chain that declares 0 certificates", resigned { $0.chain = [0] }, .error(.malformedBundle), from: first)
        add("certificate_chain_of_three", "a chain of 3 certificates (at most 2)",
            resigned { $0.chain = [3] + Array($0.chain.dropFirst()) + Array($0.chain.dropFirst()) + Array($0.chain.dropFirst()) },
            .error(.malformedBundle), from: first)
        add("certificate_chain_truncated", "a chain of 1 whose certificate lacks its last byte",
            resigned { $0.chain.removeLast() }, .error(.malformedBundle), from: first)
        add("certificate_unknown_version", "a certificate with format byte 02",
            resigned { $0.chain[1] = 2 }, .error(.unsupportedVersion), from: first)
        add("certificate_unknown_role", "a certificate with role 04 (signed by the space key)",
            resigned { $0.chain = Forge.chain(Forge.certificate(space: F.plain.id, subject: aliceKey.publicKey, role: 4, issuedAt: F.issuedAt, issuer: F.plain.key)) },
            .error(.invalidCertificate), from: first)
        add("oversized_payload_length", "a payload length of 2^64 - 1 (a 10-byte varint)",
            resigned { $0.payloadLength = BundleDraft.varint(.max) }, .error(.malformedBundle), from: first)
        add("payload_length_past_signature", "a payload length one more than the payload: the signature no longer fits",
            resigned { $0.payloadLength = BundleDraft.varint(UInt64($0.payload.count + 1)) }, .error(.malformedBundle), from: first)
        add("payload_length_short", "a payload length one less than the payload: a byte is left over after the signature",
            resigned { $0.payloadLength = BundleDraft.varint(UInt64($0.payload.count - 1)) }, .error(.malformedBundle), from: first)
        add("oversized_certificate_length", "a certificate blob length of 2^63",
            resigned { $0.chainLength = BundleDraft.varint(1 << 63) }, .error(.malformedBundle), from: first)
        add("encrypted_payload_too_short", "the encrypted flag with a 39-byte payload (less than nonce and tag)",
            resigned { $0.flags = 1; $0.payload = [UInt8](repeating: 0, count: 39) }, .error(.malformedBundle), from: first)
        for length in [1, 3, 4, 5, 6, 37, 38, 70, 71, 102, 103, 118, 119, 120, 121, 200, 259, 260, 261, 262, 300, 350, 351, 380, 414] {
            add("truncated_at_\(length)_of_\(a1.bytes.count)", "the first \(length) bytes of plaintext_first_bundle",
                Array(a1.bytes.prefix(length)), .error(.malformedBundle), from: first)
        }
        add("trailing_byte", "one 00 byte after the signature", a1.bytes + [0], .error(.malformedBundle), from: first)
        add("trailing_bundle", "the bundle twice, back to back", a1.bytes + a1.bytes, .error(.malformedBundle), from: first)

        // 3. Space.
        let aliceElsewhere = try F.writer(F.aliceDevice, of: F.other)
        let elsewhere = try aliceElsewhere.seal(aliceOps, previous: nil)
        add("wrong_space", "a valid bundle of another space (seed 0f x 32) by the same device", elsewhere.bytes, .error(.wrongSpace))
        add("tampered_space_id", "bit 0 of the space id flipped, not re-signed: the space is checked before the signature",
            Forge.flip(a1.bytes, at: At.spaceID), .error(.wrongSpace), from: first)

        // 4. Signature.
        add("flipped_signature_bit", "bit 0 of the first signature byte flipped",
            Forge.flip(a1.bytes, at: a1.bytes.count - 64), .error(.invalidSignature), from: first)
        add("flipped_signature_last_bit", "bit 7 of the last signature byte flipped",
            Forge.flip(a1.bytes, at: a1.bytes.count - 1, bit: 7), .error(.invalidSignature), from: first)
        add("flipped_payload_bit", "bit 1 of a byte of the (plaintext) payload flipped: the batch still decodes, the signature fails",
            Forge.flip(a1.bytes, at: a1.bytes.count - 64 - 5, bit: 1), .error(.invalidSignature), from: first)
        add("flipped_encrypted_payload_bit", "bit 0 of a ciphertext byte flipped: the signature fails before any decryption",
            Forge.flip(e1.bytes, at: e1.bytes.count - 64 - 20), .error(.invalidSignature), space: F.sealed, from: "encrypted_first_bundle")
        add("tampered_header_hlc_max", "bit 0 of hlc max flipped (still a valid range), not re-signed",
            Forge.flip(a1.bytes, at: At.hlcMax), .error(.invalidSignature), from: first)
        add("tampered_header_author", "bit 0 of the author key flipped, not re-signed",
            Forge.flip(a1.bytes, at: At.author), .error(.invalidSignature), from: first)
        add("tampered_certificate_byte", "a byte of the certificate's issue time flipped, not re-signed: the bundle signature is checked before the certificate",
            Forge.flip(a1.bytes, at: At.certificateIssuedAt), .error(.invalidSignature), from: first)
        add("tampered_payload_length", "the payload length decreased by one and the last payload byte dropped, not re-signed",
            Array(a1.bytes[..<At.payloadLength]) + [a1.bytes[At.payloadLength] - 1] + a1.bytes[At.payload..<(a1.bytes.count - 65)] + a1.bytes.suffix(64),
            .error(.invalidSignature), from: first)

        // 5. Certificates.
        let mallory = F.identity(F.malloryDevice)
        let malloryOps = try ops(by: mallory)
        add("forged_self_signed_certificate", "a device certifies itself as a writer (the certificate is not signed by the space key)",
            forged(by: mallory, chain: Forge.chain(Forge.certificate(space: F.plain.id, subject: mallory.publicKey, role: 1, issuedAt: F.issuedAt, issuer: mallory)), ops: malloryOps),
            .error(.invalidCertificate))
        add("forged_certificate_signature_bit", "the writer's certificate with one signature bit flipped, the bundle re-signed",
            resigned { $0.chain = Forge.flip($0.chain, at: 1 + 74) }, .error(.invalidCertificate), from: first)
        add("certificate_from_another_space", "the author's writer certificate of another space (seed 0f x 32), the bundle re-signed",
            resigned { $0.chain = aliceElsewhere.certificates!.bytes }, .error(.invalidCertificate), from: first)
        let futureWriter = try F.writer(F.driftWriterDevice, of: F.plain, issuedAt: F.now + F.maxDrift + 1)
        add("certificate_issued_past_drift", "a writer certificate issued 1 ms more than max_drift_ms after now_ms",
            try futureWriter.seal(ops(by: futureWriter.device), previous: nil).bytes, .error(.invalidCertificate))
        let limitWriter = try F.writer(F.driftWriterDevice, of: F.plain, issuedAt: F.now + F.maxDrift)
        add("certificate_issued_at_drift_limit", "a writer certificate issued exactly max_drift_ms after now_ms is accepted",
            try limitWriter.seal(ops(by: limitWriter.device), previous: nil).bytes, .applied)
        let issuer = F.identity(F.readerIssuerSeed)
        let issuerCertificate = Forge.certificate(space: F.plain.id, subject: issuer.publicKey, role: 3, issuedAt: F.issuedAt, issuer: F.plain.key)
        add("reader_issuer_certifies_a_writer", "a chain of 2 whose reader issuer certified a writer",
            forged(by: mallory, chain: Forge.chain(issuerCertificate, Forge.certificate(space: F.plain.id, subject: mallory.publicKey, role: 1, issuedAt: F.issuedAt, issuer: issuer)), ops: malloryOps),
            .error(.invalidCertificate))

        // 6. Role.
        let reader = try F.reader(F.readerDevice, of: F.plain, issuerByte: F.readerIssuerSeed, issuedAt: F.issuedAt + 120_000)
        add("reader_invite_device_bundle", "a bundle by a device that joined with a read-only invite (chain of 2: reader issuer, reader)",
            forged(by: reader.device, chain: reader.certificates!.bytes, ops: try ops(by: reader.device)), .error(.notAWriter))
        add("reader_certificate", "a bundle by a device the space key certified as a reader (chain of 1)",
            forged(by: reader.device, chain: Forge.chain(Forge.certificate(space: F.plain.id, subject: reader.device.publicKey, role: 2, issuedAt: F.issuedAt, issuer: F.plain.key)), ops: try ops(by: reader.device)),
            .error(.notAWriter))
        add("reader_issuer_bundle", "a bundle signed by a reader-issuer key with its own certificate",
            forged(by: issuer, chain: Forge.chain(issuerCertificate), ops: try ops(by: issuer)), .error(.notAWriter))

        // 7. Author.
        add("author_not_certificate_subject", "a device signs with another writer's certificate",
            forged(by: mallory, chain: aliceChain, ops: malloryOps), .error(.authorMismatch))

        // 8. Clock drift (device 0e x 32, a writer).
        let driftWriter = try F.writer(F.driftWriterDevice, of: F.plain)
        add("clock_at_drift_limit", "the newest reading is exactly max_drift_ms ahead of now_ms: accepted",
            try driftWriter.seal(ops(by: driftWriter.device, at: F.now + F.maxDrift), previous: nil).bytes, .applied)
        add("clock_past_drift_limit", "the newest reading is max_drift_ms + 1 ms ahead of now_ms",
            try driftWriter.seal(ops(by: driftWriter.device, at: F.now + F.maxDrift + 1), previous: nil).bytes, .error(.clockDriftExceeded))
        add("far_future_clock", "the newest reading is one day ahead of now_ms",
            try driftWriter.seal(ops(by: driftWriter.device, at: F.now + 86_400_000), previous: nil).bytes, .error(.clockDriftExceeded))

        try addPayloadCases()
    }

    /// 11. Decrypt, decode, check the ops against the header (section 7.5). Every bundle is
    /// a correctly signed seq 1 by a writer, so only the payload is wrong.
    private mutating func addPayloadCases() throws {
        let aliceKey = alice.device
        let aliceChain = alice.certificates!.bytes
        let aliceOps = try ops(by: aliceKey)
        let batch = OperationCodec.encode(aliceOps)
        add("empty_batch", "a payload that is an empty causal context and a valid batch of 0 ops",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0, 1, 0, 0, 0, 0]), .error(.emptyBundle))
        add("op_by_another_replica", "Alice's bundle carrying an op stamped by Bob",
            forged(by: aliceKey, chain: aliceChain, ops: try ops(by: bob.device)), .error(.authorMismatch))
        add("hlc_range_mismatch", "hlc max one more than the newest op's reading",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps) { $0.hlcMax += 1 }, .error(.malformedBundle))
        add("batch_unknown_format", "a payload whose operation-batch format byte (after an empty causal context) is 02",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0, 2] + Array(batch.dropFirst())), .error(.unsupportedVersion))
        add("batch_truncated", "a payload that is an empty causal context and a batch without its last byte",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0] + Array(batch.dropLast())), .error(.malformedBundle))
        add("batch_trailing_byte", "a payload that is an empty causal context and a batch followed by one 00 byte",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0] + batch + [0]), .error(.malformedBundle))
        add("batch_missing", "a payload that is an empty causal context (00) and no operation batch",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [0]), .error(.malformedBundle))
        add("encrypted_bundle_in_plaintext_space", "the encrypted flag set and the batch encrypted with the seed's content key, in a plaintext space",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, key: F.plain.contentKey), .error(.encryptionMismatch))

        try addContextCases()

        let writer = encryptedWriter.device
        let writerChain = encryptedWriter.certificates!.bytes
        let writerOps = try ops(by: writer)
        add("plaintext_bundle_in_encrypted_space", "a plaintext bundle in an encrypted space",
            forged(in: F.sealed, by: writer, chain: writerChain, ops: writerOps), .error(.encryptionMismatch), space: F.sealed)
        add("encrypted_with_wrong_key", "a payload encrypted with the content key of another space",
            forged(in: F.sealed, by: writer, chain: writerChain, ops: writerOps, key: F.other.contentKey), .error(.decryptionFailed), space: F.sealed)
        var moved = BundleDraft(e1)
        moved.payload = Array(e2.payload)
        add("payload_moved_to_another_header", "the payload of encrypted bundle 2 under the header of bundle 1, re-signed: the header is the associated data",
            moved.signed(by: writer),
            .error(.decryptionFailed), space: F.sealed, from: "encrypted_first_bundle")
        add("encrypted_empty_batch", "an encrypted empty causal context and batch of 0 ops",
            forged(in: F.sealed, by: writer, chain: writerChain, ops: writerOps, plaintext: [0, 1, 0, 0, 0, 0], key: F.sealed.contentKey),
            .error(.emptyBundle), space: F.sealed)
        add("encrypted_context_names_bundle_author", "an encrypted payload whose causal context names the bundle's own author: checked after decryption",
            forged(in: F.sealed, by: writer, chain: writerChain, ops: writerOps,
                   plaintext: Self.context([(writer.publicKey.bytes, [1])]) + OperationCodec.encode(writerOps), key: F.sealed.contentKey),
            .error(.malformedBundle), space: F.sealed)
    }

    /// A causal context written by hand (section 7.5): `count` (the number of entries by
    /// default), then each author and its encoded sequence, in the order given.
    static func context(_ entries: [([UInt8], [UInt8])], count: [UInt8]? = nil) -> [UInt8] {
        (count ?? BundleDraft.varint(UInt64(entries.count))) + entries.flatMap { $0.0 + $0.1 }
    }

    /// Causal contexts that break a rule of section 7.5, each before a valid batch, in
    /// Alice's correctly signed seq-1 bundle: only the context is wrong.
    private mutating func addContextCases() throws {
        let aliceKey = alice.device
        let aliceChain = alice.certificates!.bytes
        let aliceOps = try ops(by: aliceKey)
        let batch = OperationCodec.encode(aliceOps)
        let others = [F.identity(F.bobDevice).publicKey, F.identity(F.driftWriterDevice).publicKey].sorted()
        let (low, high) = (others[0].bytes, others[1].bytes)
        func withContext(_ context: [UInt8]) -> [UInt8] {
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: context + batch)
        }
        add("context_authors_unsorted", "a causal context of two authors in descending byte order",
            withContext(Self.context([(high, [1]), (low, [1])])), .error(.malformedBundle))
        add("context_duplicate_author", "a causal context naming the same author twice (sequences 1 and 2)",
            withContext(Self.context([(low, [1]), (low, [2])])), .error(.malformedBundle))
        add("context_names_bundle_author", "a causal context naming the bundle's own author",
            withContext(Self.context([(aliceKey.publicKey.bytes, [1])])), .error(.malformedBundle))
        add("context_sequence_zero", "a causal context entry with sequence 0",
            withContext(Self.context([(low, [0])])), .error(.malformedBundle))
        add("context_sequence_non_minimal_varint", "a causal context entry whose sequence 1 is written as 81 00",
            withContext(Self.context([(low, [0x81, 0x00])])), .error(.malformedBundle))
        // 4,097 distinct authors 00..00 0000, 00..00 0001, ... in ascending order, sequence 1
        // each: only the count breaks a rule, and the entries are really there (a decoder
        // that only compares the count with the bytes left would accept it).
        let tooMany = (0..<(VersionVector.maxContextAuthors + 1)).map { ([UInt8](repeating: 0, count: 30) + [UInt8($0 >> 8), UInt8($0 & 0xFF)], [UInt8(1)]) }
        add("context_count_too_large", "a causal context of 4097 distinct authors in ascending order, each at sequence 1: at most 4096 are allowed",
            withContext(Self.context(tooMany)), .error(.malformedBundle))
        add("context_count_huge", "a causal context count of 2^63 (a 10-byte varint) before the batch: rejected without allocating",
            withContext(BundleDraft.varint(1 << 63)), .error(.malformedBundle))
        add("context_truncated", "a payload that ends inside the causal context: count 1, then 20 bytes of an author",
            forged(by: aliceKey, chain: aliceChain, ops: aliceOps, plaintext: [1] + Array(low.prefix(20))), .error(.malformedBundle))
    }
}
