import Concord
import ConcordCore
import ConcordCrypto
import Foundation
import Testing

/// `Specs/vectors/membership.jsonl` (`Specs/membership.md` §3 to §7): every decode case
/// decodes (and re-encodes to the same bytes) or fails with its code; every evaluate case,
/// its ops given in arrival order, evaluates to the stated members, invites, epochs, void
/// and pending ops and admission decisions.
@Suite struct MembershipVectorTests {
    @Test func everyMembershipVectorConforms() throws {
        let cases = try VectorConformanceTests.load("membership.jsonl")
        #expect(cases.filter { $0.json["type"] as? String == "decode" }.count >= 30)
        #expect(cases.filter { $0.json["type"] as? String == "evaluate" }.count >= 15)
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        for name in [
            "mutual_removal_both_removed", "concurrent_role_changes_later_wins", "expired_invite", "revoked_invite_join_unseen",
            "admin_removed_while_admitting_after", "forged_signatures", "rotations_and_tainted_epoch", "removal_with_cutoff",
            "named_roles_use_their_base", "set_policy_governing_lookups", "set_policy_seen_must_hold_own_k_minus_1",
            "set_policy_needs_an_admin", "set_policy_void_after_demotion", "scope_keys_and_their_taint", "scope_key_unsorted",
            "role_named_base_admin",
            "set_policy_plaintext_in_encrypted_space", "ack_rules", "stale_until_ack_after_it", "stale_rules", "checkpoint_rules",
            "checkpoint_void_after_demotion", "finality_clamps_forced_cutoff", "finality_checkpoint_after_removal",
            "finality_delays_set_role", "finality_leaves_an_honest_cutoff", "ack_entry_zero", "stale_reason_03",
            "checkpoint_short_snapshot",
        ] {
            #expect(cases.contains { $0.name == name }, "missing membership vector \(name)")
        }
        let tokens = cases.filter { $0.json["type"] as? String == "token" }
        #expect(tokens.filter { $0.expected == "valid" }.count >= 3)
        #expect(Set(tokens.map(\.expected)) == ["valid", "invalidInvite", "inviteChecksumMismatch", "unsupportedVersion"])
        let histories = cases.filter { $0.json["type"] as? String == "history" }
        #expect(Set(histories.map(\.expected)) == ["valid", "decryptionFailed", "malformedBundle"])
        for v in cases {
            do {
                switch v.json["type"] as? String {
                case "decode": try checkDecode(v)
                case "token": try checkToken(v)
                case "history": try checkHistory(v)
                case "peer_secret": try checkPeerSecret(v)
                case "policy_body": try checkPolicyBody(v)
                default: try checkEvaluate(v)
                }
            } catch {
                Issue.record("vector \(v.name): \(error)")
            }
        }
    }

    /// The peer secret of a space from its first epoch key (`Specs/peer-protocol.md` §2.1).
    func checkPeerSecret(_ v: Vector) throws {
        let first = EpochKey(key: try SymmetricKey(bytes: try v.bytes("first_epoch_key_hex")))
        let secret = try Membership.peerSecret(firstEpoch: first)
        guard secret.secret.withUnsafeBytes({ Array($0) }) == (try v.bytes("peer_secret_hex")) else {
            throw Mismatch(message: "\(v.name): another peer secret")
        }
    }

    /// A sealed `set-policy` body (`Specs/permissions.md` §3.2), opened with the control
    /// bundle's header (`Specs/wire-format.md` §7.11) built here from the case's fields.
    func checkPolicyBody(_ v: Vector) throws {
        guard case .setPolicy(_, let form) = try MembershipOp(payload: v.bytes("payload_hex"), encrypted: true) else {
            throw Mismatch(message: "\(v.name): not a set-policy op")
        }
        var header = ByteWriter()
        header.write(contentsOf: Array("CNCB".utf8) + [0x03, 0x02])
        header.write(contentsOf: try bytes(v.json, "space_id_hex") + bytes(v.json, "author_hex"))
        header.writeVarint(try number(v.json, "sequence"))
        header.write(contentsOf: try bytes(v.json, "previous_hex"))
        let stamp = try #require(UInt64(string(v.json, "stamp")))
        header.writeFixed64(stamp)
        header.writeFixed64(stamp)
        let key = EpochKey(key: try SymmetricKey(bytes: bytes(v.json, "epoch_key_hex")))
        let got: String
        switch form.open(header: header.bytes, key: key, encrypted: true) {
        case .policy(let policy):
            got = "valid"
            guard policy.body == (try bytes(v.json, "body_hex")) else { throw Mismatch(message: "\(v.name): another body") }
        case .broken: got = "broken"
        case .unreadable: got = "unreadable"
        case .cleared: got = "cleared"
        }
        guard got == v.expected else { throw Mismatch(message: "\(v.name): \(got), expected \(v.expected)") }
    }

    func checkDecode(_ v: Vector) throws {
        let payload = try v.bytes("payload_hex")
        let encrypted = try #require(v.json["encrypted"] as? Bool)
        guard v.expected == "valid" else {
            do {
                _ = try MembershipOp(payload: payload, encrypted: encrypted)
                throw Mismatch(message: "\(v.name): decoded, expected \(v.expected)")
            } catch let error as ConcordError {
                guard "\(error.code)" == v.expected else { throw Mismatch(message: "\(v.name): \(error.code), expected \(v.expected)") }
            }
            return
        }
        let op = try MembershipOp(payload: payload, encrypted: encrypted)
        guard "\(op.kind)" == (try v.string("kind")), op.encoded() == payload else {
            throw Mismatch(message: "\(v.name): kind \(op.kind) or re-encoding differs")
        }
    }

    func checkEvaluate(_ v: Vector) throws {
        let spaceID = try SpaceID(hex: v.string("space_id_hex"))
        let encrypted = try #require(v.json["encrypted"] as? Bool)
        let records = try v.array("ops").map { o -> MembershipOpRecord in
            let op = try MembershipOp(payload: bytes(o, "payload_hex"), encrypted: encrypted)
            return MembershipOpRecord(
                op: op, author: try PublicKey(hex: string(o, "author")), position: try number(o, "position"),
                stamp: try #require(UInt64(string(o, "stamp"))), bundleID: BundleID(digest: try Digest32(hex: string(o, "bundle_id"))))
        }
        let state = MembershipState.evaluate(ops: records, spaceID: spaceID, encrypted: encrypted)
        let expected = try v.object("state")
        try same(summary(state)["members"], expected["members"], "members", v)
        try same(summary(state)["invites"], expected["invites"], "invites", v)
        try same(summary(state)["epochs"], expected["epochs"], "epochs", v)
        try same(summary(state)["current_epoch"], expected["current_epoch"], "current epoch", v)
        try same(summary(state)["void"], expected["void"], "void ops", v)
        try same(summary(state)["pending"], expected["pending"], "pending ops", v)
        for check in try v.array("admissions") {
            let author = try PublicKey(hex: string(check, "author"))
            let admission = state.admission(
                author: author, sequence: try number(check, "sequence"), isControl: check["control"] as? Bool ?? false)
            try same("\(admission)", check["expected"], "admission of \(author.hex.prefix(8)) at \(check["sequence"] ?? "?")", v)
        }
        // Specs/permissions.md §3.2 and §4.1: the applied set-policy ops and G(A, k).
        if let policies = v.json["policies"] {
            let got = state.policies.map { p -> [String: Any] in
                [
                    "bundle_id": p.by.bundleID.hex, "form": Int(p.form.byte),
                    "seen": Dictionary(uniqueKeysWithValues: p.seen.entries.map { ($0.key.hex, $0.value) }),
                ]
            }
            try same(got, policies, "policies", v)
        }
        // Specs/permissions.md §7.2: scope epochs, their recipients and taint.
        if let scopes = v.json["scope_epochs"] {
            let got = state.scopeEpochs.map { e -> [String: Any] in
                [
                    "scope": e.scope.hex, "readers": e.readers, "key_id": e.keyID.hex, "recipients": e.recipients.map(\.hex),
                    "tainted": e.isTainted,
                ]
            }
            try same(got, scopes, "scope epochs", v)
        }
        if v.json["checkpoints"] != nil { try checkStability(v, state) }
        for check in (v.json["governs"] as? [[String: Any]]) ?? [] {
            let author = try PublicKey(hex: string(check, "author"))
            let k = try number(check, "sequence")
            let governing = state.governingPolicy(author: author, sequence: k)
            try same(governing?.by.bundleID.hex ?? "", check["expected"], "G(\(author.hex.prefix(8)), \(k))", v)
            guard state.governingPolicyIndex(author: author, sequence: k).map({ state.policies[$0] }) == governing else {
                throw Mismatch(message: "\(v.name): governingPolicyIndex disagrees with governingPolicy")
            }
        }
    }

    /// `Specs/snapshots.md` §2 and §3, `Specs/crdt-semantics.md` §11.1: the applied
    /// checkpoints, each member's finality, stale mark and last ack, and the stable cuts
    /// ``StabilityTracker`` computes from the case's acknowledgements.
    func checkStability(_ v: Vector, _ state: MembershipState) throws {
        func json(_ vector: VersionVector) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: vector.entries.map { ($0.key.hex, $0.value) })
        }
        func vector(_ o: Any?) throws -> VersionVector {
            let entries = (o as? [String: Any]) ?? [:]
            return VersionVector(
                Dictionary(
                    uniqueKeysWithValues: try entries.map { (try PublicKey(hex: $0.key), ($0.value as? NSNumber)?.uint64Value ?? 0) }))
        }
        let checkpoints = state.checkpoints.map { c -> [String: Any] in
            ["bundle_id": c.by.bundleID.hex, "stable": json(c.stable), "seen": json(c.seen), "snapshot": c.snapshot?.hex ?? ""]
        }
        try same(checkpoints, v.json["checkpoints"], "checkpoints", v)
        let members = state.members.map { m -> [String: Any] in
            [
                "device": m.device.hex, "final_through": m.finalThrough, "stale_since": m.staleSince?.by.bundleID.hex ?? "",
                "last_ack": m.lastAck?.sequence ?? 0,
            ]
        }
        try same(members, v.json["member_stability"], "member stability", v)
        for check in try v.array("stability") {
            var tracker = StabilityTracker()
            for ack in (check["acks"] as? [[String: Any]]) ?? [] {
                tracker.record(
                    .init(
                        author: try PublicKey(hex: string(ack, "author")), sequence: try number(ack, "sequence"),
                        context: try vector(ack["context"])))
            }
            let held = try vector(check["held"])
            try same(tracker.countedMembers(membership: state, held: held).map(\.hex), check["counted"], "counted members", v)
            try same(json(tracker.stableCut(membership: state, held: held)), check["stable_cut"], "stable cut", v)
        }
    }

    /// The JSON form of a state, as the vectors write it.
    func summary(_ state: MembershipState) -> [String: Any] {
        let members = state.members.map { m -> [String: Any] in
            var o: [String: Any] = ["device": m.device.hex, "name": m.name, "role": "\(m.role)", "status": m.status.rawValue]
            if let cut = m.cut {
                o["cutoff"] = cut.cutoff
                o["removed_by"] = cut.by.author.hex
                o["removed_at"] = String(cut.by.stamp)
            }
            if let retired = m.retired { o["retired_after"] = retired }
            return o
        }
        let invites = state.invites.map { i -> [String: Any] in
            [
                "id": i.id.hex, "role": "\(i.role)", "expires": String(i.expires), "max_uses": i.maxUses, "uses": i.uses,
                "revoked": i.isRevoked,
            ]
        }
        let epochs = state.epochs.map { e -> [String: Any] in
            ["key_id": e.keyID.hex, "kind": "\(e.kind)", "recipients": e.recipients.map(\.hex), "tainted": e.isTainted]
        }
        return [
            "members": members, "invites": invites, "epochs": epochs, "current_epoch": state.currentEpoch?.keyID.hex ?? "",
            "void": state.voidOps.map(\.bundleID.hex), "pending": state.pendingOps.map(\.bundleID.hex),
        ]
    }

    /// Compares through JSON serialization, so numbers and booleans compare as JSON does.
    func same(_ got: Any?, _ expected: Any?, _ what: String, _ v: Vector) throws {
        func canonical(_ x: Any?) throws -> String {
            guard let x else { return "null" }
            let data = try JSONSerialization.data(withJSONObject: ["v": x], options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
        let (a, b) = (try canonical(got), try canonical(expected))
        guard a == b else { throw Mismatch(message: "\(v.name): \(what) differ:\n  got      \(a)\n  expected \(b)") }
    }

    func string(_ o: [String: Any], _ key: String) throws -> String {
        guard let s = o[key] as? String else { throw Mismatch(message: "missing string \(key)") }
        return s
    }

    func number(_ o: [String: Any], _ key: String) throws -> UInt64 {
        guard let n = o[key] as? NSNumber else { throw Mismatch(message: "missing number \(key)") }
        return n.uint64Value
    }

    func bytes(_ o: [String: Any], _ key: String) throws -> [UInt8] {
        let text = Array(try string(o, key).utf8)
        return try stride(from: 0, to: text.count, by: 2).map { i in
            guard let byte = UInt8(String(decoding: text[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw Mismatch(message: "bad hex in \(key)")
            }
            return byte
        }
    }
}
