import ConcordCore
import ConcordProtocol
import Foundation
import Testing

/// The pure permission model of `Specs/permissions.md` (stage 1): the classroom example, the
/// JSON errors users see, owned record ids and the decision's messages. The full tables are
/// in `Specs/vectors/permissions.jsonl` (`PermissionVectorTests`).
@Suite struct PolicyTests {
    static let classroomURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/policies/classroom.json")

    let space = try! SpaceID(bytes: [UInt8](repeating: 0x5A, count: 32))
    let tablet = try! DeviceID(bytes: [UInt8](repeating: 0x01, count: 32))
    let laptop = try! DeviceID(bytes: [UInt8](repeating: 0x02, count: 32))

    func classroom() throws -> (Policy, String) {
        let text = try String(contentsOf: Self.classroomURL, encoding: .utf8)
        return (try Policy(json: text, encrypted: true), text)
    }

    @Test func classroomFileIsNormalized() throws {
        let (policy, text) = try classroom()
        #expect(Array(policy.normalizedJSON.utf8) == Array(text.utf8))
        #expect(policy.jsonData() == Array(text.utf8))
        #expect(try Policy(body: policy.body, encrypted: true) == policy)
        #expect(policy.body.count < 200)
        #expect(policy.roles.map(\.name) == ["learner", "teacher"])
        #expect(policy.entries.map(\.collection) == ["*", "results", "teacher_notes"])
    }

    @Test func classroomNeedsAnEncryptedSpace() throws {
        let (_, text) = try classroom()
        #expect(throws: ConcordError.self) { try Policy(json: text, encrypted: false) }
    }

    @Test func learnerMayNotWriteGrade() throws {
        let (policy, _) = try classroom()
        let learner = PolicyDecision.Role.named("learner", base: .writer)
        let grade = PolicyDecision.decide(
            .init(kind: .set, collection: "results", field: "grade"), role: learner, policy: .policy(policy), isCreate: false, isOwn: true)
        guard case .denied(let denial) = grade else {
            Issue.record("a learner's grade change was allowed")
            return
        }
        #expect(denial.reason == .field)
        #expect(denial.message == "learners may not write field `grade` of collection `results`")
        #expect(denial.role == "learner" && denial.collection == "results" && denial.field == "grade")
        let answer = PolicyDecision.decide(
            .init(kind: .set, collection: "results", field: "answer"), role: learner, policy: .policy(policy), isCreate: true, isOwn: true)
        #expect(answer == .allowed)
        let notOwn = PolicyDecision.decide(
            .init(kind: .set, collection: "results", field: "answer"), role: learner, policy: .policy(policy), isCreate: true,
            isOwn: false)
        guard case .denied(let claim) = notOwn else {
            Issue.record("a learner created a record bound to someone else")
            return
        }
        #expect(claim.reason == .createNotOwn)
    }

    @Test func noPolicyIsTodaysBehaviour() {
        let op = PolicyDecision.Operation(kind: .delete, collection: "results")
        #expect(PolicyDecision.decide(op, role: .writer, policy: .none, isCreate: false, isOwn: false) == .allowed)
        #expect(PolicyDecision.decide(op, role: .admin, policy: .broken, isCreate: false, isOwn: false) == .allowed)
        let named = PolicyDecision.decide(op, role: .named("learner", base: .writer), policy: .none, isCreate: false, isOwn: false)
        guard case .denied(let denial) = named else {
            Issue.record("a policy role without a policy was allowed")
            return
        }
        #expect(denial.reason == .roleNotInPolicy)
    }

    @Test func jsonErrorsNameThePath() {
        let text = """
            {"concord_policy": 1, "roles": {"learner": {"base": "writer"}},
             "collections": {"results": {"write": {"learner": {"update": "mine"}}}}}
            """
        do {
            _ = try Policy(json: text, encrypted: true)
            Issue.record("accepted an unknown right")
        } catch {
            #expect(error.code == .invalidPolicy)
            #expect(error.message.contains("collections.results.write.learner.update"))
            #expect(error.message.contains("\"mine\" is not none, own or any"))
        }
        #expect(throws: ConcordError.self) { try Policy(json: #"{"concord_policy": 1, "concord_policy": 1}"#, encrypted: true) }
        #expect(throws: ConcordError.self) { try Policy(json: #"{"concord_policy": 1.0}"#, encrypted: true) }
    }

    @Test func builtPolicyEqualsReadPolicy() throws {
        let built = try Policy(
            roles: [.init("teacher", base: .writer), .init("learner", base: .writer)],
            entries: [
                .init("teacher_notes", read: ["teacher"], grants: [.all("teacher")]),
                .init("results", grants: [.all("teacher"), .init("learner", create: .own, update: .own, fields: .deny(["grade"]))]),
                .init("*", grants: [.all("teacher")]),
            ],
            encrypted: true)
        let (read, _) = try classroom()
        #expect(built == read)
        #expect(built.body == read.body)
    }

    @Test func namesAreBytesNotNormalized() throws {
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        let policy = try Policy(
            roles: [], entries: [.init(composed, grants: [.all("writer")]), .init(decomposed, grants: [.init("writer", update: .any)])],
            encrypted: false)
        #expect(policy.entries.count == 2)
        #expect(policy.entry(for: composed)?.grant(for: "writer")?.isAll == true)
        #expect(policy.entry(for: decomposed)?.grant(for: "writer")?.isAll == false)
    }

    @Test func fieldPatterns() {
        let allow = Policy.Fields.allow(["address.*", "name"])
        #expect(allow.allows("address") && allow.allows("address.city") && allow.allows("address.city.zip"))
        #expect(allow.allows("name"))
        #expect(!allow.allows("addressbook") && !allow.allows("name.first") && !allow.allows("age"))
        #expect(!Policy.Fields.deny(["grade"]).allows("grade"))
        #expect(Policy.Fields.deny(["grade"]).allows("grades"))
        // Edges of `name.*` (the matcher compares UTF-8 bytes in place): `name.` itself, a
        // pattern that ends `.*.*`, a shorter field, and names equal only up to Unicode
        // normalization.
        #expect(Policy.Fields.matches("address.*", "address."))
        #expect(Policy.Fields.matches("a.*.*", "a.*") && Policy.Fields.matches("a.*.*", "a.*.x") && !Policy.Fields.matches("a.*.*", "a.x"))
        #expect(!Policy.Fields.matches("ab.*", "a") && !Policy.Fields.matches("ab.*", "ab_") && Policy.Fields.matches(".b", ".b"))
        #expect(!Policy.Fields.matches("caf\u{E9}", "cafe\u{301}") && !Policy.Fields.matches("caf\u{E9}.*", "cafe\u{301}.x"))
        #expect(Policy.Fields.matches("caf\u{E9}.*", "caf\u{E9}.x"))
    }

    @Test func ownedRecordIDs() {
        let tag = OwnerTag(device: tablet, space: space)
        let id = RecordID.owned(by: tablet, in: space)
        #expect(id.isBound(to: tag))
        #expect(!id.isBound(to: OwnerTag(device: laptop, space: space)))
        #expect(id.bytes[6] >> 4 == 8 && id.bytes[8] >> 6 == 2)
        #expect(id.isOwned(byFamily: [OwnerTag(device: laptop, space: space), tag]))
        #expect(!RecordID.random().isOwned(byFamily: [tag]))
        #expect(RecordID.owned(by: tablet, in: space) != id)
    }

    @Test func createOrUpdateByFamily() {
        func isCreate(_ sequence: UInt64, predecessors: Set<DeviceID> = [], _ writes: [(device: DeviceID, sequence: UInt64)]) -> Bool {
            PolicyDecision.isCreate(author: tablet, sequence: sequence, predecessors: predecessors, writes: writes)
        }
        let first = isCreate(3, [])
        let sameBundle = isCreate(3, [(tablet, 3)])
        let earlierBundle = isCreate(3, [(tablet, 2)])
        let predecessorWrote = isCreate(1, predecessors: [laptop], [(laptop, 9)])
        let otherDeviceWrote = isCreate(3, [(laptop, 1)])
        #expect(first && sameBundle && otherDeviceWrote)
        #expect(!earlierBundle && !predecessorWrote)
    }

    @Test func scopeIDsIgnoreOrder() {
        #expect(ScopeID(readers: ["teacher", "reader"]) == ScopeID(readers: ["reader", "teacher"]))
        #expect(ScopeID(readers: ["teacher"]) != ScopeID(readers: ["teacher", "reader"]))
        #expect(ScopeID(readers: ["teacher"]).bytes.count == 16)
    }
}
