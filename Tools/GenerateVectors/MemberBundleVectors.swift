// Specs/vectors/member_bundles.jsonl: bundles of format 3 (Specs/wire-format.md section
// 7.11): decoding and verification as a relay does it (structure, space, the space's
// format, signature, clock drift), and for valid ones every header field, the control op's
// kind or the decrypted payload. Each case is checked with the real ChangeBundle and
// BundleVerifier before anything is written. Hand-built cases start from a real bundle's
// fields (BundleDraft with the format-3 header: no chain, the key id in its place) and are
// re-signed, so they fail for the intended reason. TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

@MainActor var memberBundleLines: [String] = []

@MainActor func addMemberBundleVectors() {
    let now: UInt64 = 1_800_000_000_000
    let stamp = HLCTimestamp(milliseconds: now - 60_000, counter: 0)
    let admin = MembershipHistoryBuilder.key(0x61)
    let tablet = MembershipHistoryBuilder.key(0x62)
    let spaceKey = MembershipHistoryBuilder.key(0x60)
    let space = SpaceID(publicKey: spaceKey.publicKey)
    let epoch = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x63, count: 32)))
    let nonce = try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 0x64, count: 24))

    func add(_ name: String, _ description: String, _ bytes: [UInt8], format: UInt8 = 3, expected: String, extra: [(String, JSON)] = []) {
        var verifier = BundleVerifier(spaceID: space, physicalClock: FixedClock(milliseconds: now), format: format)
        verifier.maxDrift = HybridLogicalClock.defaultMaxDrift
        var got = "valid"
        do { _ = try verifier.verify(bytes) } catch let error as ConcordError { got = error.code.description } catch { got = "\(error)" }
        if got != expected { problems.append("member bundle \(name): expected \(expected), got \(got)") }
        var pairs: [(String, JSON)] = [
            ("name", .string(name)), ("description", .string(description)), ("expected", .string(expected)),
            ("space_id_hex", .string(hex(space.bytes))), ("space_format", .number(UInt64(format))), ("now_ms", .number(now)),
            ("max_drift_ms", .number(HybridLogicalClock.defaultMaxDrift)), ("bundle_hex", .string(hex(bytes))),
        ]
        pairs += extra
        memberBundleLines.append(line(pairs))
    }

    func fields(_ bundle: ChangeBundle) -> [(String, JSON)] {
        var pairs: [(String, JSON)] = [
            ("is_control", .bool(bundle.isControl)), ("is_encrypted", .bool(bundle.isEncrypted)),
            ("author_hex", .string(hex(bundle.author.bytes))), ("sequence", .number(bundle.sequence)),
            ("previous_hex", .string(hex(bundle.previous.bytes))),
            ("hlc_min", .string(String(bundle.hlcRange.lowerBound.rawValue))), ("hlc_max", .string(String(bundle.hlcRange.upperBound.rawValue))),
            ("bundle_id_hex", .string(hex(bundle.id.bytes))),
        ]
        if let keyID = bundle.keyID { pairs.append(("key_id_hex", .string(hex(keyID.bytes)))) }
        return pairs
    }

    // Valid: a genesis (control, plaintext space), an invite (control, bundle 2), a data
    // bundle in plaintext and one encrypted under an epoch key.
    let genesisOp = MembershipStatement.genesis(space: spaceKey, author: admin.publicKey, name: "admin", stamp: stamp.rawValue, epoch: nil)
    let genesis = try! ChangeBundle.sealControl(genesisOp, author: admin, spaceID: space, previous: nil, stamp: stamp)
    add("control_genesis", "the genesis of a plaintext space: control flag, hlc min = hlc max, the op in plaintext", genesis.bytes,
        expected: "valid", extra: fields(genesis) + [("op_kind", .string("genesis")), ("payload_hex", .string(hex(genesis.payload)))])
    let inviteStamp = HLCTimestamp(milliseconds: now - 50_000, counter: 0)
    let invite = try! ChangeBundle.sealControl(
        .invite(id: MembershipHistoryBuilder.key(0x65).publicKey, role: .writer, expires: now + 86_400_000, maxUses: 1),
        author: admin, spaceID: space, previous: genesis, stamp: inviteStamp)
    add("control_invite", "an invite as the admin's bundle 2, linked to the genesis", invite.bytes,
        expected: "valid", extra: fields(invite) + [("op_kind", .string("invite")), ("payload_hex", .string(hex(invite.payload)))])
    let op = RecordOperation(
        stamp: Stamp(hlc: HLCTimestamp(milliseconds: now - 40_000, counter: 0), replica: ReplicaID(bytes: tablet.publicKey.bytes)!),
        collection: "todos", record: RecordID(high: 1, low: 2), action: .set(field: "title", value: "Buy milk"))
    let plain = try! ChangeBundle.sealMember([op], author: tablet, spaceID: space, previous: nil, epoch: nil, nonce: nonce)
    add("data_plaintext", "a data bundle of a plaintext space: no key id, the format-2 payload (context and batch)", plain.bytes,
        expected: "valid", extra: fields(plain) + [("plaintext_hex", .string(hex(plain.payload)))])
    let sealed = try! ChangeBundle.sealMember([op], author: tablet, spaceID: space, previous: nil, epoch: epoch, nonce: nonce)
    let opened = try! ChangeBundle.openData(sealed, key: epoch.key)
    var batch = ByteWriter()
    opened.context.encodeContext(into: &batch)
    batch.write(contentsOf: OperationCodec.encode(opened.operations))
    add("data_encrypted", "a data bundle sealed under an epoch key (0x63 × 32, fixed nonce 0x64 × 24); the key id follows hlc max",
        sealed.bytes, expected: "valid",
        extra: fields(sealed) + [("epoch_key_hex", .string(hex([UInt8](repeating: 0x63, count: 32)))), ("plaintext_hex", .string(hex(batch.bytes)))])

    // Invalid: each changes one thing and is re-signed.
    func draft(_ bundle: ChangeBundle) -> BundleDraft {
        var d = BundleDraft(bundle)
        d.version = ChangeBundle.memberFormatVersion
        d.flags = (bundle.isEncrypted ? 1 : 0) | (bundle.isControl ? 2 : 0)
        d.chain = bundle.keyID?.bytes ?? []
        d.chainLength = []
        return d
    }
    func resigned(_ bundle: ChangeBundle, by signer: Identity, _ change: (inout BundleDraft) -> Void) -> [UInt8] {
        var d = draft(bundle)
        change(&d)
        return d.signed(by: signer)
    }
    if draft(genesis).signed(by: admin) != genesis.bytes { problems.append("member bundle draft does not rebuild the genesis") }
    add("control_and_encrypted", "flags 03: a control bundle is never encrypted", resigned(genesis, by: admin) { $0.flags = 0x03 },
        expected: "malformedBundle")
    add("control_and_encrypted_with_key_id", "flags 03 with a 16-byte key id after hlc max: still refused (a decoder that reads the key id would otherwise accept it)",
        resigned(genesis, by: admin) { $0.flags = 0x03; $0.chain = epoch.id.bytes }, expected: "malformedBundle")
    add("reserved_flag_bit_2", "flags 06: bit 2 is reserved", resigned(genesis, by: admin) { $0.flags = 0x06 }, expected: "malformedBundle")
    add("reserved_flag_bit_7", "flags 80 on a data bundle", resigned(plain, by: tablet) { $0.flags = 0x80 }, expected: "malformedBundle")
    add("control_clock_range", "a control bundle whose hlc max is one counter above hlc min",
        resigned(genesis, by: admin) { $0.hlcMax += 1 }, expected: "malformedBundle")
    add("control_payload_one_byte", "a control payload of 1 byte (no room for version and kind)",
        resigned(genesis, by: admin) { $0.payload = [1] }, expected: "malformedBundle")
    add("encrypted_without_room_for_key_id", "flag bit 0 set on a plaintext data bundle: the 16 bytes after hlc max are read as the key id and the rest no longer fits",
        resigned(plain, by: tablet) { $0.flags = 0x01 }, expected: "malformedBundle")
    add("encrypted_short_box", "an encrypted payload of 39 bytes (under a nonce and a tag)",
        resigned(sealed, by: tablet) { $0.payload = Array($0.payload.prefix(39)) }, expected: "malformedBundle")
    add("trailing_byte", "one 00 byte after the signature", genesis.bytes + [0], expected: "malformedBundle")
    var flipped = genesis.bytes
    flipped[flipped.count - 1] ^= 1
    add("bad_signature", "the last signature bit flipped", flipped, expected: "invalidSignature")
    add("signed_by_another_key", "the genesis re-signed by the tablet's key (the author field still names the admin)",
        resigned(genesis, by: tablet) { _ in }, expected: "invalidSignature")
    let elsewhere = try! ChangeBundle.sealControl(
        genesisOp, author: admin, spaceID: SpaceID(publicKey: MembershipHistoryBuilder.key(0x66).publicKey), previous: nil, stamp: stamp)
    add("wrong_space", "a control bundle of another space", elsewhere.bytes, expected: "wrongSpace")
    var elsewhereFlipped = elsewhere.bytes
    elsewhereFlipped[elsewhereFlipped.count - 1] ^= 1
    add("wrong_space_bad_signature", "another space's bundle with a bad signature: the space is checked before the signature",
        elsewhereFlipped, expected: "wrongSpace")
    add("format_3_in_format_2_space", "a valid format-3 bundle verified for a format-2 space: nothing after the version is read",
        genesis.bytes, format: 2, expected: "unsupportedVersion")
    add("format_2_header_in_format_3_space", "version 02 on format-3 bytes, verified for a format-3 space",
        resigned(genesis, by: admin) { $0.version = 2 }, expected: "unsupportedVersion")
    add("unknown_version_4", "version 04", resigned(genesis, by: admin) { $0.version = 4 }, expected: "unsupportedVersion")
    let future = HLCTimestamp(milliseconds: now + HybridLogicalClock.defaultMaxDrift + 1, counter: 0)
    let ahead = try! ChangeBundle.sealControl(genesisOp, author: admin, spaceID: space, previous: nil, stamp: future)
    add("clock_too_far_ahead", "a control bundle stamped 1 ms past the drift bound", ahead.bytes, expected: "clockDriftExceeded")
    let late = RecordOperation(
        stamp: Stamp(hlc: future, replica: ReplicaID(bytes: tablet.publicKey.bytes)!),
        collection: "todos", record: RecordID(high: 1, low: 3), action: .set(field: "title", value: "from the future"))
    let spread = try! ChangeBundle.sealMember([op, late], author: tablet, spaceID: space, previous: nil, epoch: nil, nonce: nonce)
    add("data_clock_max_too_far_ahead", "a data bundle whose hlc min is in bounds and hlc max 1 ms past the drift bound: the newest reading is checked",
        spread.bytes, expected: "clockDriftExceeded")
    addSectionedBundleVectors(add: add, fields: fields)
}
