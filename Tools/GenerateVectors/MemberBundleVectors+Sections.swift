// Sectioned payloads (flag bit 2, Specs/permissions.md section 7.3, Specs/wire-format.md
// section 7.11) in Specs/vectors/member_bundles.jsonl: the structure every relay checks
// without keys, and for valid ones the general section (under the epoch key) and each scope
// section (under its scope key, `header ‖ key id` as associated data) as a member opens
// them: `open_expected` when the general section fails for every member, a section's
// `expected` when it is broken for the members of its scope (§6.2). TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

@MainActor func addSectionedBundleVectors(
    add: (String, String, [UInt8], UInt8, String, [(String, JSON)]) -> Void,
    fields: (ChangeBundle) -> [(String, JSON)]
) {
    let now: UInt64 = 1_800_000_000_000
    let tablet = MembershipHistoryBuilder.key(0x62)
    let space = SpaceID(publicKey: MembershipHistoryBuilder.key(0x60).publicKey)
    let epochBytes = [UInt8](repeating: 0x63, count: 32)
    let epoch = EpochKey(key: try! SymmetricKey(bytes: epochBytes))
    let scopeBytes: [[UInt8]] = [[UInt8](repeating: 0x67, count: 32), [UInt8](repeating: 0x68, count: 32)]
    let scopeKeys = scopeBytes.map { EpochKey(key: try! SymmetricKey(bytes: $0)) }
    let nonces = (0..<3).map { try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 0x69 + UInt8($0), count: 24)) }
    let me = ReplicaID(bytes: tablet.publicKey.bytes)!
    func op(_ ms: UInt64, _ collection: String, _ low: UInt64, _ text: String) -> RecordOperation {
        RecordOperation(
            stamp: Stamp(hlc: HLCTimestamp(milliseconds: now - ms, counter: 0), replica: me), collection: collection,
            record: RecordID(high: 1, low: low), action: .set(field: "text", value: .string(text)))
    }
    let todo = op(40_000, "todos", 2, "Buy milk")
    let note = op(30_000, "teacher_notes", 7, "marker-7f3e: talk to Amina's parents")
    let note2 = op(35_000, "staff_only", 9, "rota")
    func keyHex(_ key: EpochKey) -> String {
        hex(scopeBytes[scopeKeys.firstIndex { $0.id == key.id }!])
    }
    func plaintext(_ contents: BundleContents) -> String {
        var w = ByteWriter()
        contents.context.encodeContext(into: &w)
        w.write(contentsOf: OperationCodec.encode(contents.operations))
        return hex(w.bytes)
    }
    /// The sections of a sectioned bundle as the vector states them, opened where `keys` has the key.
    func sectionsJSON(_ bundle: ChangeBundle, keys: [EpochKey]) -> JSON {
        .array(
            bundle.sections.map { section in
                var pairs: [(String, JSON)] = [
                    ("key_id_hex", .string(hex(section.keyID.bytes))), ("length", .number(UInt64(section.length))),
                ]
                if let key = keys.first(where: { $0.id == section.keyID }) {
                    pairs.append(("scope_key_hex", .string(keyHex(key))))
                    do {
                        let ops = try ChangeBundle.openSection(section, of: bundle, key: key.key)
                        pairs += [("expected", .string("valid")), ("batch_hex", .string(hex(OperationCodec.encode(ops))))]
                    } catch let error as ConcordError {
                        pairs.append(("expected", .string(error.code.description)))
                    } catch { problems.append("section: \(error)") }
                }
                return .object(pairs)
            })
    }
    func valid(_ name: String, _ description: String, _ bundle: ChangeBundle, keys: [EpochKey], openExpected: String? = nil) {
        var extra = fields(bundle) + [("epoch_key_hex", .string(hex(epochBytes)))]
        do {
            let contents = try ChangeBundle.openData(bundle, key: epoch.key)
            if openExpected != nil { problems.append("sectioned \(name): the general section opened") }
            extra.append(("plaintext_hex", .string(plaintext(contents))))
        } catch let error as ConcordError {
            if error.code.description != openExpected { problems.append("sectioned \(name): general section \(error.code)") }
            extra.append(("open_expected", .string(error.code.description)))
        } catch { problems.append("sectioned \(name): \(error)") }
        extra.append(("sections", sectionsJSON(bundle, keys: keys)))
        add(name, description, bundle.bytes, 3, "valid", extra)
    }

    // Valid: one section; the general batch empty with two sections (one of them unread here).
    let one = try! ChangeBundle.sealMember(
        [todo], scoped: [.init(key: scopeKeys[0], operations: [note])], author: tablet, spaceID: space, previous: nil,
        epoch: epoch, nonces: nonces)
    valid(
        "data_sectioned",
        "flags 05: a general section under the epoch key (0x63 × 32, nonce 0x69 × 24) and one scope section under scope key 0x67 × 32 (nonce 0x6a × 24); hlc max is the scoped op's, so the general ops lie strictly inside the range",
        one, keys: scopeKeys)
    let two = try! ChangeBundle.sealMember(
        [], scoped: [.init(key: scopeKeys[1], operations: [note2]), .init(key: scopeKeys[0], operations: [note])], author: tablet,
        spaceID: space, previous: nil, epoch: epoch, nonces: nonces)
    valid(
        "data_sectioned_general_empty",
        "an empty general batch (op count 0) and two scope sections in key id order; scope key 0x68 × 32 is not given (a member outside that scope: its section is unread, not broken)",
        two, keys: [scopeKeys[0]])
    if two.sections.count != 2 { problems.append("data_sectioned_general_empty has \(two.sections.count) sections") }

    // Structure faults: the valid bundle's parts reassembled and re-signed.
    struct Parts {
        var flags: UInt8 = 0x05
        var general: [UInt8]
        var count: [UInt8]?
        var sections: [([UInt8], [UInt8])]
        var trailing: [UInt8] = []
        /// Whether the header carries the key id (flag bit 0's field).
        var keyID = true
        /// Whether hlc max is lowered to hlc min (a control bundle's one reading).
        var oneReading = false
    }
    func parts(_ bundle: ChangeBundle) -> Parts {
        Parts(general: Array(bundle.generalPayload), sections: bundle.sections.map { ($0.keyID.bytes, Array(bundle.bytes[$0.range])) })
    }
    func draft(_ bundle: ChangeBundle) -> BundleDraft {
        var d = BundleDraft(bundle)
        d.version = ChangeBundle.memberFormatVersion
        d.flags = 0x05
        d.chain = bundle.keyID!.bytes
        d.chainLength = []
        return d
    }
    func build(_ bundle: ChangeBundle, _ change: (inout Parts) -> Void) -> [UInt8] {
        var p = parts(bundle)
        change(&p)
        var w = ByteWriter()
        w.writeLengthPrefixed(p.general)
        w.write(contentsOf: p.count ?? BundleDraft.varint(UInt64(p.sections.count)))
        for (id, blob) in p.sections {
            w.write(contentsOf: id)
            w.writeLengthPrefixed(blob)
        }
        w.write(contentsOf: p.trailing)
        var d = draft(bundle)
        d.flags = p.flags
        if !p.keyID { d.chain = [] }
        if p.oneReading { d.hlcMax = d.hlcMin }
        d.payload = w.bytes
        return d.signed(by: tablet)
    }
    func bad(_ name: String, _ description: String, _ bytes: [UInt8]) { add(name, description, bytes, 3, "malformedBundle", []) }
    if build(two, { _ in }) != two.bytes { problems.append("sectioned parts do not rebuild the bundle") }
    let plainData = try! ChangeBundle.sealMember([todo], author: tablet, spaceID: space, previous: nil, epoch: nil)
    var alone = BundleDraft(plainData)
    alone.version = 3
    alone.flags = 0x04
    bad("sections_flag_without_encryption", "flags 04 on a plaintext data bundle: bit 2 needs bit 0", alone.signed(by: tablet))
    bad("sections_flag_with_control_and_encryption", "flags 07 on the sectioned bundle: bit 2 with bit 1", build(one) { $0.flags = 0x07 })
    bad(
        "sections_flag_with_control", "flags 06 on the sectioned bundle (no key id read): bit 2 with bit 1 and without bit 0",
        build(one) { $0.flags = 0x06 })
    bad(
        "sections_flag_without_encryption_well_formed",
        "flags 04, no key id, a well-formed sectioned payload: only the rule that bit 2 needs bit 0 refuses it",
        build(one) {
            $0.flags = 0x04; $0.keyID = false
        })
    bad(
        "sections_flag_with_control_well_formed",
        "flags 06, no key id, hlc min = hlc max, a well-formed sectioned payload: only the rule that bit 2 excludes bit 1 refuses it",
        build(one) {
            $0.flags = 0x06; $0.keyID = false; $0.oneReading = true
        })
    let unsectioned = try! ChangeBundle.sealMember([todo], author: tablet, spaceID: space, previous: nil, epoch: epoch, nonce: nonces[0])
    var flagged = draft(unsectioned)
    flagged.payload = Array(unsectioned.payload)
    bad(
        "sections_flag_on_plain_payload", "flags 05 on an ordinary encrypted payload: it is read as sections and does not fit",
        flagged.signed(by: tablet))
    bad(
        "sections_count_zero", "m = 0 after the general section",
        build(one) {
            $0.sections = []; $0.count = [0]
        })
    bad(
        "sections_count_seventeen", "m = 17 with 17 well-formed sections, key ids increasing",
        build(one) { p in
            p.sections = (0..<17).map { i in ([UInt8](repeating: 0x10 + UInt8(i), count: 16), p.sections[0].1) }
        })
    bad("sections_count_larger_than_present", "m = 3 with two sections", build(two) { $0.count = [3] })
    bad("sections_key_ids_decreasing", "two sections with their key ids swapped", build(two) { $0.sections.reverse() })
    bad("sections_key_ids_equal", "two sections under the same key id", build(two) { $0.sections[1].0 = $0.sections[0].0 })
    bad(
        "sections_section_blob_39_bytes", "a scope section's blob of 39 bytes (under a nonce and a tag)",
        build(two) { $0.sections[1].1 = Array($0.sections[1].1.prefix(39)) })
    bad("sections_general_blob_39_bytes", "the general blob of 39 bytes", build(one) { $0.general = Array($0.general.prefix(39)) })
    bad("sections_byte_after_last", "one 00 byte after the last section (inside the signed payload)", build(one) { $0.trailing = [0] })
    bad("sections_count_not_minimal", "m written as the two-byte varint 81 00", build(one) { $0.count = [0x81, 0x00] })

    // Member-side faults: well formed for a relay; the general section fails for every member
    // (`open_expected`), or a scope section is broken for its scope's members.
    func forge(
        min: RecordOperation, max: RecordOperation, general: [RecordOperation], sections: [(EpochKey, [UInt8], Bool)]
    ) -> ChangeBundle {
        var d = draft(one)
        d.hlcMin = min.stamp.hlc.rawValue
        d.hlcMax = max.stamp.hlc.rawValue
        let header = d.header
        var w = ByteWriter()
        VersionVector().encodeContext(into: &w)
        w.write(contentsOf: OperationCodec.encode(general))
        var payload = ByteWriter()
        payload.writeLengthPrefixed(XChaCha20Poly1305.seal(w.bytes, using: epoch.key, nonce: nonces[0], authenticating: header).combined)
        payload.writeVarint(UInt64(sections.count))
        for (index, (key, batch, withKeyID)) in sections.enumerated() {
            payload.write(contentsOf: key.id.bytes)
            let ad = withKeyID ? header + key.id.bytes : header
            payload.writeLengthPrefixed(
                XChaCha20Poly1305.seal(batch, using: key.key, nonce: nonces[index + 1], authenticating: ad).combined)
        }
        d.payload = payload.bytes
        return try! ChangeBundle(bytes: d.signed(by: tablet))
    }
    let noteBatch = OperationCodec.encode([note])
    valid(
        "sectioned_section_outside_range",
        "hlc max is the general op's reading; the scope section's op is 10 s later: the section is broken (malformedBundle) for its scope's members, the general section opens",
        forge(min: todo, max: todo, general: [todo], sections: [(scopeKeys[0], noteBatch, true)]), keys: scopeKeys)
    valid(
        "sectioned_section_ad_without_key_id",
        "the scope section sealed with the header alone as associated data (without its key id): broken (decryptionFailed)",
        forge(min: todo, max: note, general: [todo], sections: [(scopeKeys[0], noteBatch, false)]), keys: scopeKeys)
    valid(
        "sectioned_section_empty_batch", "a scope section whose batch has no op: broken (emptyBundle)",
        forge(min: todo, max: todo, general: [todo], sections: [(scopeKeys[0], OperationCodec.encode([]), true)]), keys: scopeKeys)
    let foreign = RecordOperation(
        stamp: Stamp(hlc: note.stamp.hlc, replica: ReplicaID(bytes: MembershipHistoryBuilder.key(0x61).publicKey.bytes)!),
        collection: "teacher_notes", record: RecordID(high: 1, low: 8), action: .set(field: "text", value: .string("not mine")))
    valid(
        "sectioned_section_foreign_op", "a scope section holding an op stamped by another device: broken (authorMismatch)",
        forge(min: todo, max: note, general: [todo], sections: [(scopeKeys[0], OperationCodec.encode([foreign]), true)]), keys: scopeKeys)
    valid(
        "sectioned_general_outside_range",
        "hlc min is the scoped op's reading, after the general op: the general section fails for every member (malformedBundle); the scope section itself is sound",
        forge(min: note, max: note, general: [todo], sections: [(scopeKeys[0], noteBatch, true)]), keys: scopeKeys,
        openExpected: "malformedBundle")
    valid(
        "sectioned_general_range_not_exact",
        "the header's range is wider than every op on both ends (no op at hlc min or hlc max): valid, equality is not required in a sectioned bundle",
        forge(min: op(50_000, "x", 1, "x"), max: op(20_000, "x", 1, "x"), general: [todo], sections: [(scopeKeys[0], noteBatch, true)]),
        keys: scopeKeys)

    var stripped = one.bytes
    stripped[stripped.count - 70] ^= 1
    add(
        "sections_altered_unsigned", "one byte of the scope section changed without re-signing: the signature covers every section",
        stripped, 3, "invalidSignature", [])
}
