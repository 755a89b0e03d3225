// Specs/vectors/membership.jsonl, continued: named roles (Specs/permissions.md §3.1) and
// set-policy ops (§3.2) with the governing policy G(A, k) (§4.1). Fixed test seeds
// (bytes c1 to cf). TEST KEYS ONLY.
import Concord
import ConcordCore
import ConcordCrypto

private let key = MembershipHistoryBuilder.key
private let owner = key(0xC1), deputy = key(0xC2), learnerDevice = key(0xC3), guestDevice = key(0xC4), newcomer = key(0xC5)
private let inviteDeputy = key(0xC9), inviteLearner = key(0xCA), inviteGuest = key(0xCB)
private let t: UInt64 = 1_950_000_000_000
private let never: UInt64 = 4_000_000_000_000
private let learner = try! RoleAssignment(named: "learner", base: .writer)
private let guest = try! RoleAssignment(named: "guest", base: .reader)

/// A plaintext body: learners may create and update their own `results`.
private let body = try! Policy(
    json: #"{"concord_policy": 1, "roles": {"learner": {"base": "writer"}}, "collections": {"results": {"write": {"learner": {"create": "own", "update": "own"}}}}}"#,
    encrypted: false
).body

private func vector(_ entries: [(Identity, UInt64)]) -> VersionVector {
    VersionVector(Dictionary(uniqueKeysWithValues: entries.map { ($0.0.publicKey, $0.1) }))
}

/// The owner (genesis 1, invites 2 to 4), an admin deputy, a learner (policy role of base
/// writer) and a guest (policy role of base reader), each joined at 1.
private func school(encrypted: Bool = false) -> MembershipHistoryBuilder {
    var h = MembershipHistoryBuilder(encrypted: encrypted, spaceSeed: 0xCF)
    h.genesis(owner, name: "school office", at: t)
    h.add("invite-deputy", .invite(id: inviteDeputy.publicKey, role: .admin, expires: never, maxUses: 1), by: owner.publicKey)
    h.add("invite-learner", .invite(id: inviteLearner.publicKey, role: learner, expires: never, maxUses: 0), by: owner.publicKey)
    h.add("invite-guest", .invite(id: inviteGuest.publicKey, role: guest, expires: never, maxUses: 0), by: owner.publicKey)
    h.join("join-deputy", deputy, with: inviteDeputy, name: "deputy")
    h.join("join-learner", learnerDevice, with: inviteLearner, name: "learner tablet")
    h.join("join-guest", guestDevice, with: inviteGuest, name: "visitor")
    return h
}

@MainActor func addMembershipPolicyVectors() {
    addNamedRoleDecodeVectors()
    addSetPolicyDecodeVectors()
    addScopeKeyDecodeVectors()

    // Named roles in a history: membership applies the base only.
    var h = school()
    h.write(learnerDevice)
    h.add("learner-to-guest", .setRole(target: learnerDevice.publicKey, role: guest, boundary: 3), by: owner.publicKey)
    membershipEvaluateCase(
        "named_roles_use_their_base",
        "invites give the policy roles learner (base writer) and guest (base reader); the learner writes (applied), the guest's data is refused (notAWriter), and a set-role to guest with boundary 3 refuses the learner's data from 4 on: membership knows only the base",
        h, admissions: [(learnerDevice, 2, false), (learnerDevice, 3, false), (learnerDevice, 4, false), (guestDevice, 2, false)]
    ) { $0.member(learnerDevice.publicKey)?.role == guest && $0.invite(inviteLearner.publicKey)?.role == learner && $0.voidOps.isEmpty }

    // G(A, k) with three policies (the last one a clear), by two admins.
    h = school()
    h.write(learnerDevice, bundles: 3)  // learner data 2, 3, 4
    h.add("p1", .setPolicy(seen: vector([(owner, 4), (deputy, 1), (learnerDevice, 2)]), form: .plaintext(body)), by: owner.publicKey)
    h.add("p2", .setPolicy(seen: vector([(owner, 4), (deputy, 1), (learnerDevice, 3)]), form: .plaintext(body)), by: deputy.publicKey)
    h.write(owner)  // owner data 6
    h.add("p3", .setPolicy(seen: vector([(owner, 6), (deputy, 2), (learnerDevice, 6)]), form: .clear), by: owner.publicKey)
    membershipEvaluateCase(
        "set_policy_governing_lookups",
        "three applied set-policy ops (owner at 5: learner seen to 2; deputy at 2: learner seen to 3; owner clears at 7: learner seen to 6): G(learner, k) is none for k = 2, the owner's policy for 3, the deputy's for 4 to 6, the clear from 7; G(owner, 4) is none (every policy saw it), G(deputy, 2) the deputy's own; a device absent from every seen vector (the guest, a newcomer) is governed by the latest; G compares k > seen[A] (not ≥) and ignores policies whose seen vector holds the bundle",
        h, arrival: h.records.reversed(), admissions: [(learnerDevice, 4, false)],
        governs: [
            (learnerDevice, 2), (learnerDevice, 3), (learnerDevice, 4), (learnerDevice, 6), (learnerDevice, 7), (owner, 4), (owner, 5),
            (owner, 7), (deputy, 2), (deputy, 3), (guestDevice, 1), (newcomer, 1),
        ]
    ) { $0.policies.count == 3 && $0.voidOps.isEmpty && $0.governingPolicy(author: learnerDevice.publicKey, sequence: 2) == nil }

    h = school()
    h.add("wrong-seen", .setPolicy(seen: vector([(owner, 3), (learnerDevice, 1)]), form: .plaintext(body)), by: owner.publicKey)
    h.add("own-absent", .setPolicy(seen: vector([(learnerDevice, 1)]), form: .clear), by: owner.publicKey)
    h.add("ahead-seen", .setPolicy(seen: vector([(owner, 7)]), form: .clear), by: owner.publicKey)
    h.add("good", .setPolicy(seen: vector([(owner, 7), (learnerDevice, 1)]), form: .plaintext(body)), by: owner.publicKey)
    membershipEvaluateCase(
        "set_policy_seen_must_hold_own_k_minus_1",
        "four set-policy ops by the owner at 5 to 8: seen[owner] = 3 (k − 2), absent, and 7 at k = 7 (its own position, not k − 1) are void; only the one at 8 with seen[owner] = 7 is applied",
        h, admissions: [], governs: [(learnerDevice, 2)]
    ) { $0.policies.count == 1 && $0.voidOps.count == 3 }

    h = school()
    h.write(learnerDevice)
    h.add("by-learner", .setPolicy(seen: vector([(learnerDevice, 2)]), form: .clear), by: learnerDevice.publicKey)
    h.add("by-guest", .setPolicy(seen: vector([(guestDevice, 1)]), form: .plaintext(body)), by: guestDevice.publicKey)
    h.add("at-1", .setPolicy(seen: VersionVector(), form: .clear), by: newcomer.publicKey, position: 1)
    membershipEvaluateCase(
        "set_policy_needs_an_admin",
        "set-policy by the learner (base writer), by the guest (base reader) and by an unknown device at position 1: all void, no policy",
        h, admissions: [], governs: [(learnerDevice, 3)]
    ) { $0.policies.isEmpty && $0.voidOps.count == 3 }

    h = school()
    h.add("deputy-policy", .setPolicy(seen: vector([(deputy, 1), (owner, 4)]), form: .plaintext(body)), by: deputy.publicKey, at: t + 100)
    h.add("demote-deputy", .setRole(target: deputy.publicKey, role: .writer, boundary: 1), by: owner.publicKey, at: t + 200)
    membershipEvaluateCase(
        "set_policy_void_after_demotion",
        "the deputy sets a policy at 2; the owner, not having seen it, demotes the deputy from 2 on (boundary 1) later in order: the policy is voided retroactively, like every admin op",
        h, admissions: [], governs: [(learnerDevice, 2)]
    ) { $0.policies.isEmpty && $0.voidOps.count == 1 }

    addScopeKeyVectors()
}

/// Scope keys (`Specs/permissions.md` §3.2, §7.2): epochs of read scopes, their taint and grants.
@MainActor private func addScopeKeyVectors() {
    var h = school(encrypted: true)
    let (o, d, l, g) = (owner.publicKey, deputy.publicKey, learnerDevice.publicKey, guestDevice.publicKey)
    h.add("learners", .scopeKey(readers: ["learner"], epoch: h.epoch([o, d, l])), by: o)
    h.add("guests-to-learner", .scopeKey(readers: ["guest"], epoch: h.epoch([o, g, l])), by: o)
    h.add("guests-and-readers", .scopeKey(readers: ["guest", "reader"], epoch: h.epoch([o, g, inviteGuest.publicKey])), by: d)
    let learnersKey = h.names["learners"]!.op
    guard case .scopeKey(_, let field) = learnersKey else { fatalError() }
    h.add("grant-learners-to-guest", .grant(keyID: field.keyID, recipients: h.epoch([g]).recipients), by: d)
    h.add("grant-by-learner", .grant(keyID: field.keyID, recipients: h.epoch([l]).recipients), by: l)
    h.add("reused-key", .scopeKey(readers: ["learner"], epoch: field), by: o)
    membershipEvaluateCase(
        "scope_keys_and_their_taint",
        "an encrypted school: a scope key for learner sealed to the admins and the learner (clean, until the deputy grants it to the guest: tainted); one for guest also sealed to the learner (tainted); one for guest and reader sealed to the owner, the guest and the guest invite (clean); a grant by the learner (void: not an admin); a scope-key reusing a key id (tainted). Scope membership is by role name, admins always",
        h, admissions: []
    ) { s in s.scopeEpochs.map(\.isTainted) == [true, true, false, true] && s.voidOps.count == 1 }
}

@MainActor private func addScopeKeyDecodeVectors() {
    let field = try! EpochField(
        keyID: EpochKeyID(bytes: [UInt8](repeating: 0xE8, count: 16)), recipients: [.init(key: owner.publicKey, sealed: [UInt8](repeating: 0x5E, count: 80))])
    let valid = MembershipOp.scopeKey(readers: ["learner", "reader", "teacher"], epoch: field).encoded()
    membershipDecodeCase("scope_key", "a scope-key for learner, reader and teacher in an encrypted space", valid, encrypted: true, "valid")
    membershipDecodeCase("scope_key_in_plain_space", "a scope-key in an unencrypted space (an epoch field, like rotate)", valid, encrypted: false, "malformedBundle")
    func refs(_ names: [String]) -> [UInt8] { MembershipOp.scopeKey(readers: names, epoch: field).encoded() }
    let thirtyFour = ["reader", "writer"] + (0..<32).map { "r\(String(format: "%02d", $0))" }.sorted()
    membershipDecodeCase("scope_key_34_roles", "a scope of 34 roles (32 policy roles, reader and writer)", refs(thirtyFour.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }), encrypted: true, "valid")
    let malformed: [(String, String, [UInt8])] = [
        ("scope_key_no_roles", "a scope of 0 roles", refs([])),
        ("scope_key_35_roles", "a scope of 35 roles", refs((["reader", "writer"] + (0..<33).map { "r\(String(format: "%02d", $0))" }).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })),
        ("scope_key_unsorted", "scope roles teacher, learner (not sorted by bytes)", refs(["teacher", "learner"])),
        ("scope_key_repeated", "scope roles learner twice", refs(["learner", "learner"])),
        ("scope_key_admin", "a scope naming admin (admins are always in every scope)", refs(["admin"])),
        ("scope_key_bad_name", "a scope naming Teacher (not a role name)", refs(["Teacher"])),
    ]
    for (name, description, payload) in malformed { membershipDecodeCase(name, description, payload, encrypted: true, "malformedBundle") }
}

@MainActor private func addNamedRoleDecodeVectors() {
    let target = learnerDevice.publicKey
    membershipDecodeCase(
        "role_named_set_role", "a set-role to the policy role learner (04, base 02 writer)",
        MembershipOp.setRole(target: target, role: learner, boundary: 3).encoded(), encrypted: false, "valid")
    membershipDecodeCase(
        "role_named_invite_reader_base", "an invite with the policy role guest (04, base 03 reader)",
        MembershipOp.invite(id: inviteGuest.publicKey, role: guest, expires: never, maxUses: 2).encoded(), encrypted: true, "valid")
    let longest = try! RoleAssignment(named: "a" + String(repeating: "z9_-", count: 7) + "abc", base: .writer)
    membershipDecodeCase(
        "role_named_32_bytes", "a policy role name of 32 bytes (the longest)",
        MembershipOp.setRole(target: target, role: longest, boundary: 1).encoded(), encrypted: false, "valid")
    func named(_ base: UInt8, _ name: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [1, 4] + target.bytes + [4, base, UInt8(name.count)] + name
        bytes.append(3)  // boundary
        return bytes
    }
    let cases: [(String, String, [UInt8])] = [
        ("role_named_base_admin", "a named role of base 01 admin (a policy cannot name admin)", named(1, Array("learner".utf8))),
        ("role_named_base_unknown", "a named role of base 05", named(5, Array("learner".utf8))),
        ("role_named_name_writer", "a named role called writer (a built-in name)", named(2, Array("writer".utf8))),
        ("role_named_name_admin", "a named role called admin", named(3, Array("admin".utf8))),
        ("role_named_uppercase", "a named role Learner (a capital first letter)", named(2, Array("Learner".utf8))),
        ("role_named_digit_first", "a named role 1st (a digit first)", named(2, Array("1st".utf8))),
        ("role_named_dot", "a named role team.lead (a dot)", named(2, Array("team.lead".utf8))),
        ("role_named_empty", "a named role with an empty name", named(2, [])),
        ("role_named_33_bytes", "a named role of 33 bytes", named(2, Array(("a" + String(repeating: "b", count: 32)).utf8))),
        ("role_named_non_ascii", "a named role élève (non-ASCII)", named(2, Array("élève".utf8))),
        ("role_byte_05", "a role byte 05", [1, 4] + target.bytes + [5, 3]),
    ]
    for (name, description, payload) in cases { membershipDecodeCase(name, description, payload, encrypted: false, "malformedBundle") }
}

@MainActor private func addSetPolicyDecodeVectors() {
    let seen = vector([(owner, 4), (learnerDevice, 2)])
    let keyID = try! EpochKeyID(bytes: [UInt8](repeating: 0xE7, count: 16))
    func op(_ form: MembershipOp.PolicyForm, _ seen: VersionVector = seen) -> [UInt8] { MembershipOp.setPolicy(seen: seen, form: form).encoded() }
    membershipDecodeCase("set_policy_clear", "a set-policy that clears the policy (form 00), unencrypted space", op(.clear), encrypted: false, "valid")
    membershipDecodeCase("set_policy_clear_encrypted", "form 00 in an encrypted space", op(.clear), encrypted: true, "valid")
    membershipDecodeCase("set_policy_empty_seen", "an empty seen vector (void in the evaluation, not malformed)", op(.clear, VersionVector()), encrypted: false, "valid")
    membershipDecodeCase("set_policy_plaintext", "a plaintext body (form 01) in an unencrypted space", op(.plaintext(body)), encrypted: false, "valid")
    membershipDecodeCase("set_policy_plaintext_opaque", "a plaintext body that is not a policy: membership treats bodies as opaque (the permission layer finds it broken)",
                         op(.plaintext([0xFF, 0x00])), encrypted: false, "valid")
    membershipDecodeCase("set_policy_plaintext_16384", "a plaintext body of 16,384 bytes (the largest)",
                         op(.plaintext([UInt8](repeating: 0x42, count: 16_384))), encrypted: false, "valid")
    membershipDecodeCase("set_policy_sealed", "a sealed body (form 02) in an encrypted space",
                         op(.sealed(keyID: keyID, blob: [UInt8](repeating: 0x5A, count: 64))), encrypted: true, "valid")
    membershipDecodeCase("set_policy_sealed_16424", "a sealed blob of 16,424 bytes (nonce, the largest body, tag)",
                         op(.sealed(keyID: keyID, blob: [UInt8](repeating: 0x5A, count: 16_424))), encrypted: true, "valid")
    let malformed: [(String, String, [UInt8], Bool)] = [
        ("set_policy_plaintext_in_encrypted_space", "form 01 in an encrypted space (the body must be sealed)", op(.plaintext(body)), true),
        ("set_policy_sealed_in_plain_space", "form 02 in an unencrypted space", op(.sealed(keyID: keyID, blob: [1, 2, 3])), false),
        ("set_policy_form_03", "an unknown form 03", Array(op(.clear).dropLast()) + [3], false),
        ("set_policy_plaintext_16385", "a plaintext body of 16,385 bytes", op(.plaintext([UInt8](repeating: 0x42, count: 16_385))), false),
        ("set_policy_sealed_16425", "a sealed blob of 16,425 bytes", op(.sealed(keyID: keyID, blob: [UInt8](repeating: 0x5A, count: 16_425))), true),
        ("set_policy_trailing_byte", "a cleared policy followed by a byte", op(.clear) + [0], false),
        ("set_policy_seen_zero", "a seen entry of 0", [1, 13, 1] + owner.publicKey.bytes + [0, 0], false),
        ("set_policy_seen_unsorted", "seen authors not strictly increasing",
         [1, 13, 2] + max(owner.publicKey, deputy.publicKey).bytes + [1] + min(owner.publicKey, deputy.publicKey).bytes + [1, 0], false),
        ("set_policy_seen_repeated", "an author twice in the seen vector", [1, 13, 2] + owner.publicKey.bytes + [1] + owner.publicKey.bytes + [2, 0], false),
        ("set_policy_seen_count_beyond_bytes", "a seen count of 2 with one entry's bytes", [1, 13, 2] + owner.publicKey.bytes + [1, 0], false),
        ("set_policy_no_form", "a seen vector and no form byte", [1, 13, 1] + owner.publicKey.bytes + [1], false),
    ]
    for (name, description, payload, encrypted) in malformed {
        membershipDecodeCase(name, description, payload, encrypted: encrypted, "malformedBundle")
    }
}

/// Sealed policy bodies (`Specs/permissions.md` §3.2, fixed nonce): XChaCha20-Poly1305 under
/// the epoch key the op names, with the control bundle's header (bytes `[0, H)` of
/// `Specs/wire-format.md` §7.11) as associated data. Each case gives the header's fields, so
/// a reader builds the header itself.
@MainActor func addPolicyBodyVectors() {
    let space = SpaceID(publicKey: key(0xCF).publicKey)
    let epochKey = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x33, count: 32)))
    let otherKey = EpochKey(key: try! SymmetricKey(bytes: [UInt8](repeating: 0x34, count: 32)))
    let previous = [UInt8](repeating: 0xAB, count: 32)
    let stamp = HLCTimestamp(milliseconds: t + 5, counter: 0).rawValue
    func header(_ sequence: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 160)
        w.write(contentsOf: ChangeBundle.magic)
        w.write(ChangeBundle.memberFormatVersion)
        w.write(0x02)  // control
        w.write(contentsOf: space.bytes)
        w.write(contentsOf: owner.publicKey.bytes)
        w.writeVarint(sequence)
        w.write(contentsOf: previous)
        w.writeFixed64(stamp)
        w.writeFixed64(stamp)
        return w.bytes
    }
    let policy = try! Policy(body: body, encrypted: true)
    let nonce = try! XChaCha20Poly1305.Nonce(bytes: [UInt8](repeating: 0x24, count: 24))
    let blob = XChaCha20Poly1305.seal(policy.body, using: epochKey.key, nonce: nonce, authenticating: header(5)).combined
    func op(_ blob: [UInt8], _ keyID: EpochKeyID = epochKey.id) -> MembershipOp {
        .setPolicy(seen: vector([(owner, 4)]), form: .sealed(keyID: keyID, blob: blob))
    }
    var flipped = blob
    flipped[30] ^= 0x01
    let cases: [(String, String, MembershipOp, UInt64, EpochKey, String)] = [
        ("policy_body_sealed", "a body sealed under the epoch key, the control bundle's header (sequence 5) as associated data: it opens to the policy", op(blob), 5, epochKey, "valid"),
        ("policy_body_other_header", "the same op read in a control bundle of sequence 6 (another header): it does not authenticate, the policy is broken", op(blob), 6, epochKey, "broken"),
        ("policy_body_flipped_bit", "one bit of the ciphertext flipped: broken", op(flipped), 5, epochKey, "broken"),
        ("policy_body_key_not_held", "the reader holds another epoch key than the one the op names: unreadable (the bundles it governs wait)", op(blob), 5, otherKey, "unreadable"),
        ("policy_body_named_key_wrong", "the op names the reader's key id but was sealed under another key: broken", op(XChaCha20Poly1305.seal(policy.body, using: otherKey.key, nonce: nonce, authenticating: header(5)).combined), 5, epochKey, "broken"),
    ]
    for (name, description, op, sequence, key, expected) in cases {
        guard case .setPolicy(_, let form) = op else { continue }
        let got: String
        switch form.open(header: header(sequence), key: key, encrypted: true) {
        case .policy(let opened): got = opened == policy ? "valid" : "another policy"
        case .broken: got = "broken"
        case .unreadable: got = "unreadable"
        case .cleared: got = "cleared"
        }
        if got != expected { problems.append("membership \(name): expected \(expected), got \(got)") }
        var pairs: [(String, JSON)] = [
            ("name", .string(name)), ("expected", .string(expected)), ("type", .string("policy_body")), ("description", .string(description)),
            ("space_id_hex", .string(space.hex)), ("author_hex", .string(owner.publicKey.hex)), ("sequence", .number(sequence)),
            ("previous_hex", .string(hex(previous))), ("stamp", .string(String(stamp))), ("epoch_key_hex", .string(key.key.secret.withUnsafeBytes { hex($0) })),
            ("payload_hex", .string(hex(op.encoded()))),
        ]
        if expected == "valid" { pairs.append(("body_hex", .string(hex(policy.body)))) }
        membershipLines.append(line(pairs))
    }
}
