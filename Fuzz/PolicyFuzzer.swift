import ConcordCore
import ConcordProtocol

// libFuzzer target for the permission model (`Specs/permissions.md` §3.3, §3.4, §6.2): the
// input is read as a policy body (`Policy(body:encrypted:)`) and as a policy file
// (`Policy(jsonBytes:encrypted:)`), in an unencrypted and an encrypted space; whatever
// reads is decided against a few fixed ops. Built by Fuzz/run.sh like the membership
// target.
//
// Invariants (a violation traps, and libFuzzer keeps the input as a crash):
// - nothing crashes, hangs or allocates beyond what the input justifies (ASan, -timeout);
// - both readers fail only with `invalidPolicy`;
// - a body that reads is canonical (it is the policy's body), and its normalized JSON
//   reads back to the same body;
// - a file that reads prints normalized JSON that reads back to the same policy, and is
//   itself normalized (printing it again gives the same text);
// - an unencrypted space accepts only policies an encrypted space accepts too.

let ops: [PolicyDecision.Operation] = [
    .init(kind: .set, collection: "results", field: "grade"), .init(kind: .delete, collection: "results"),
    .init(kind: .add, collection: "teacher_notes", field: "a.b"), .init(kind: .remove, collection: "*", field: "x"),
]
let roles: [PolicyDecision.Role] = [.admin, .writer, .named("learner", base: .writer), .named("teacher", base: .reader)]

func check(_ policy: Policy, encrypted: Bool) {
    let json = policy.normalizedJSON
    guard let again = try? Policy(json: json, encrypted: encrypted) else { preconditionFailure("normalized JSON does not read back") }
    precondition(again.body == policy.body, "normalized JSON reads back to another body")
    precondition(Array(again.normalizedJSON.utf8) == Array(json.utf8), "normalized JSON is not stable")
    guard let decoded = try? Policy(body: policy.body, encrypted: encrypted) else { preconditionFailure("a body does not read back") }
    precondition(decoded.body == policy.body, "a body reads back to another body")
    for op in ops {
        for role in roles {
            for section in [PolicyDecision.Section.general, .sealed(readers: ["teacher"])] {
                _ = PolicyDecision.decide(op, role: role, policy: .policy(policy), section: section, isCreate: true, isOwn: false)
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    var readsUnencrypted = (body: false, json: false)
    for encrypted in [false, true] {
        do {
            let policy = try Policy(body: bytes, encrypted: encrypted)
            precondition(policy.body == bytes, "a body read but is not canonical")
            check(policy, encrypted: encrypted)
            if !encrypted { readsUnencrypted.body = true }
        } catch {
            precondition(error.code == .invalidPolicy, "body: undocumented \(error.code)")
            precondition(!(encrypted && readsUnencrypted.body), "a body reads in an unencrypted space only")
        }
        do {
            let policy = try Policy(jsonBytes: bytes, encrypted: encrypted)
            check(policy, encrypted: encrypted)
            if !encrypted { readsUnencrypted.json = true }
        } catch {
            precondition(error.code == .invalidPolicy, "JSON: undocumented \(error.code)")
            precondition(!(encrypted && readsUnencrypted.json), "a policy file reads in an unencrypted space only")
        }
    }
    return 0
}
