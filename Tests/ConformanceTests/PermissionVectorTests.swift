import ConcordCore
import ConcordProtocol
import Foundation
import Testing

/// `Specs/vectors/permissions.jsonl` (`Specs/permissions.md` §10, stage 1), written by
/// `Tools/reference/gen_permission_vectors.py` from the independent Python reference: every
/// policy reads to its body and normalized JSON (and back), every invalid policy is refused
/// with `invalidPolicy`, owner tags and bound ids match, every decision and message matches,
/// and scope ids match.
@Suite struct PermissionVectorTests {
    @Test func everyPermissionVectorConforms() throws {
        let cases = try VectorConformanceTests.load("permissions.jsonl")
        #expect(Set(cases.map(\.name)).count == cases.count, "case names must be unique")
        let groups = Dictionary(grouping: cases) { $0.json["group"] as? String ?? "" }
        #expect((groups["policy_json"]?.count ?? 0) >= 20)
        #expect((groups["policy_invalid"]?.count ?? 0) >= 60)
        #expect((groups["owner_id"]?.count ?? 0) >= 30)
        #expect((groups["decide"]?.count ?? 0) >= 60)
        #expect((groups["scope"]?.count ?? 0) >= 3)
        // Every reason code of a pure decision appears.
        let codes = Set((groups["decide"] ?? []).map(\.expected))
        for code in [
            "allowed", "role-not-in-policy", "policy-broken", "no-grant", "wrong-section", "field", "create", "update", "delete",
            "create-not-own", "update-not-own", "delete-not-own",
        ] {
            #expect(codes.contains(code), "no decide vector for \(code)")
        }
        for name in ["classroom", "nfc_and_nfd_collections_kept_apart", "body_exactly_16384_bytes", "learner_grade_denied"] {
            #expect(cases.contains { $0.name == name }, "missing permission vector \(name)")
        }
        VectorConformanceTests.checkEach(cases, "permission", check)
    }

    /// Checks one case; throws ``Mismatch`` on any difference.
    func check(_ v: Vector) throws {
        switch v.json["group"] as? String {
        case "policy_json": try checkPolicyJSON(v)
        case "policy_invalid": try checkInvalid(v)
        case "owner_id": try checkOwner(v)
        case "decide": try checkDecide(v)
        case "scope": try checkScope(v)
        default: throw Mismatch(message: "\(v.name): unknown group")
        }
    }

    func checkPolicyJSON(_ v: Vector) throws {
        let encrypted = try flag(v, "encrypted")
        let json = try v.string("json")
        let body = try v.bytes("body_hex")
        let policy = try Policy(json: v.string("input"), encrypted: encrypted)
        try same(policy.body, body, "body", v)
        try same(Array(policy.normalizedJSON.utf8), Array(json.utf8), "normalized JSON", v)
        let decoded = try Policy(body: body, encrypted: encrypted)
        try same(Array(decoded.normalizedJSON.utf8), Array(json.utf8), "normalized JSON of the body", v)
        try same(try Policy(json: json, encrypted: encrypted).body, body, "body of the normalized JSON", v)
    }

    func checkInvalid(_ v: Vector) throws {
        let encrypted = try flag(v, "encrypted")
        do {
            if let input = v.json["input"] as? String {
                _ = try Policy(json: input, encrypted: encrypted)
            } else if v.json["input_hex"] != nil {
                _ = try Policy(jsonBytes: v.bytes("input_hex"), encrypted: encrypted)
            } else {
                _ = try Policy(body: v.bytes("body_hex"), encrypted: encrypted)
            }
        } catch let error as ConcordError {
            guard "\(error.code)" == v.expected else { throw Mismatch(message: "\(v.name): \(error.code), expected \(v.expected)") }
            return
        }
        throw Mismatch(message: "\(v.name): accepted, expected \(v.expected)")
    }

    func checkOwner(_ v: Vector) throws {
        let space = try SpaceID(hex: v.string("space_id_hex"))
        let device = try DeviceID(hex: v.string("device_hex"))
        let record = try v.bytes("record_id_hex")
        let tag = OwnerTag(device: device, space: space)
        if let tagHex = v.json["tag_hex"] as? String {
            try same(tag.hex, tagHex, "owner tag", v)
        }
        if v.json["random_hex"] != nil {
            try same(RecordID.owned(by: tag, random: try v.bytes("random_hex")).bytes, record, "owned record id", v)
        }
        guard let family = v.json["family"] as? [String], let id = RecordID(bytes: record) else {
            throw Mismatch(message: "\(v.name): missing family or record id")
        }
        let tags = try family.map { OwnerTag(device: try DeviceID(hex: $0), space: space) }
        try same(id.isOwned(byFamily: tags) ? "bound" : "unbound", v.expected, "binding", v)
    }

    func checkDecide(_ v: Vector) throws {
        let encrypted = try flag(v, "encrypted")
        let governing: PolicyDecision.Governing
        switch v.json["policy"] {
        case let text as String where text == "broken": governing = .broken
        case let text as String: governing = .policy(try Policy(json: text, encrypted: encrypted))
        default: governing = .none
        }
        let role: PolicyDecision.Role
        switch v.json["role"] {
        case let name as String where name == "admin": role = .admin
        case let name as String where name == "writer": role = .writer
        case let named as [String: Any]:
            guard let name = named["name"] as? String, let base = named["base"] as? String else {
                throw Mismatch(message: "\(v.name): bad role")
            }
            role = .named(name, base: base == "writer" ? .writer : .reader)
        default: throw Mismatch(message: "\(v.name): bad role")
        }
        let op = try v.object("op")
        guard let kindText = op["kind"] as? String, let kind = PolicyDecision.Operation.Kind(rawValue: kindText),
            let collection = op["collection"] as? String
        else { throw Mismatch(message: "\(v.name): bad op") }
        let operation = PolicyDecision.Operation(kind: kind, collection: collection, field: op["field"] as? String)
        let section: PolicyDecision.Section
        if let readers = v.json["section"] as? [String] {
            section = .sealed(readers: readers)
        } else {
            section = .general
        }
        let isCreate = try flag(v, "create")
        if let family = v.json["family"] as? [String: Any] {
            try same(isCreateOf(family, v), isCreate, "create (from the family)", v)
        }
        let decision = PolicyDecision.decide(
            operation, role: role, policy: governing, section: section, isCreate: isCreate, isOwn: try flag(v, "own"))
        switch decision {
        case .allowed:
            try same("allowed", v.expected, "decision", v)
        case .denied(let denial):
            try same(denial.reason.code, v.expected, "decision (\(denial.message))", v)
            try same(Array(denial.message.utf8), Array(try v.string("message").utf8), "message", v)
        }
    }

    func isCreateOf(_ family: [String: Any], _ v: Vector) throws -> Bool {
        guard let author = family["author"] as? String, let sequence = family["sequence"] as? NSNumber,
            let predecessors = family["predecessors"] as? [String], let writes = family["writes"] as? [[Any]]
        else { throw Mismatch(message: "\(v.name): bad family") }
        let earlier = try writes.map { write -> (device: DeviceID, sequence: UInt64) in
            guard write.count == 2, let device = write[0] as? String, let position = write[1] as? NSNumber else {
                throw Mismatch(message: "\(v.name): bad write")
            }
            return (try DeviceID(hex: device), position.uint64Value)
        }
        return PolicyDecision.isCreate(
            author: try DeviceID(hex: author), sequence: sequence.uint64Value,
            predecessors: Set(try predecessors.map { try DeviceID(hex: $0) }), writes: earlier)
    }

    func checkScope(_ v: Vector) throws {
        guard let readers = v.json["readers"] as? [String] else { throw Mismatch(message: "\(v.name): missing readers") }
        try same(ScopeID(readers: readers).hex, try v.string("scope_id_hex"), "scope id", v)
    }

    func flag(_ v: Vector, _ key: String) throws -> Bool {
        guard let value = v.json[key] as? Bool else { throw Mismatch(message: "\(v.name): missing boolean \(key)") }
        return value
    }

    func same<T: Equatable>(_ got: T, _ expected: T, _ what: String, _ v: Vector) throws {
        guard got == expected else { throw Mismatch(message: "\(v.name): \(what) differs:\n  got      \(got)\n  expected \(expected)") }
    }
}
