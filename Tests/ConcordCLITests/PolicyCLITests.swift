import Concord
import Foundation
import Testing

/// Permissions with real `concord` processes (`Specs/permissions.md` §6, stage 3): the
/// teacher sets the classroom policy; a learner's forbidden `put` exits 4 with the policy's
/// sentence and changes nothing; a tampered learner's op (signed below the CLI's check) is
/// ignored by the teacher and by another learner, and `log --denied` shows it.
@Suite("permission policies (real processes)", .serialized)
struct PolicyCLITests {
    func carry(_ from: Device, to: Device, via file: String) throws {
        try from.ok("export", file)
        try to.ok("import", file)
    }

    /// `Examples/policies/classroom.json` as shipped (its `teacher_notes` read list included).
    static func classroom() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/policies/classroom.json")
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("the classroom: a learner's grade is refused locally (exit 4), a tampered grade is ignored everywhere and listed")
    func classroom() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let amina = Device(cli: cli, store: scratch.file("amina"))
        let sipho = Device(cli: cli, store: scratch.file("sipho"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try Self.classroom().write(toFile: scratch.file("classroom.json"), atomically: true, encoding: .utf8)
        // As shipped, `read` list included (stage 4: read scopes).
        try teacher.ok("policy", "set", scratch.file("classroom.json"))
        #expect(try teacher.ok("policy", "show", "--json").contains("\"learner\""))
        // The rules as sentences (Specs/permissions.md §3.4).
        let shown = try teacher.ok("policy", "show")
        #expect(shown.hasPrefix("policy set by Ms Dlamini's laptop on "), "\(shown)")
        #expect(
            shown.contains(
                "  in `results`, learners may create records bound to themselves, change only those, and write every field but `grade`; they may not delete records\n"
            ), "\(shown)")
        #expect(shown.contains("  in every collection without rules of its own, teachers may write everything\n"), "\(shown)")

        // Policy roles for invites; an unknown one is refused with the list.
        let typo = try teacher.run("invite", "--role", "lerner")
        #expect(
            typo.status != 0 && typo.stderr.contains("the space's policy has no role `lerner`; roles: learner, teacher"), "\(typo.stderr)")
        for (device, name) in [(amina, "Amina's tablet"), (sipho, "Sipho's tablet")] {
            let token = try teacher.ok("invite", "--role", "learner").trimmingCharacters(in: .whitespacesAndNewlines)
            try device.ok("join", token, "--name", name)
            try carry(teacher, to: device, via: scratch.file("t.concord"))
            try carry(device, to: teacher, via: scratch.file("j.concord"))
        }
        try carry(teacher, to: amina, via: scratch.file("t.concord"))
        try carry(teacher, to: sipho, via: scratch.file("t.concord"))
        #expect(try amina.ok("whoami").contains("learner"))

        // A learner's own result: allowed; its grade: refused before anything is written.
        let id = try amina.ok("new-id", "--owned").trimmingCharacters(in: .whitespacesAndNewlines)
        try amina.ok("put", "results", id, "answer=42")
        let graded = try amina.run("put", "results", id, "grade=\"A\"")
        #expect(graded.status == 4, "\(graded.stdout) \(graded.stderr)")
        #expect(graded.stderr == "learners may not write field `grade` of collection `results`\n", "\(graded.stderr)")
        #expect(!(try amina.ok("get", "results", id)).contains("grade"))
        // Not an admin: policy commands exit 4.
        #expect(try amina.run("policy", "clear").status == 4)

        // A tampered client: the same grade, signed below the CLI's check.
        do {
            let replica = try Replica.open(at: scratch.file("amina"))
            try await replica.writeBypassingPolicy { try $0.set("grade", to: "A", record: try RecordID(uuidString: id), in: "results") }
            try await replica.seal()
        }
        try amina.ok("export", scratch.file("a.concord"))
        for device in [teacher, sipho] {
            let imported = try device.run("import", scratch.file("a.concord"))
            #expect(imported.status == 0 && imported.stderr.contains("1 ops of these bundles are denied"), "\(imported.stderr)")
            let record = try device.ok("get", "results", id)
            #expect(record.contains("42") && !record.contains("grade"), "\(record)")
            let denied = try device.ok("log", "--denied")
            #expect(
                denied.contains("Amina's tablet")
                    && denied.contains("denied: learners may not write field `grade` of collection `results`"), "\(denied)")
            #expect(try device.ok("log").contains("  denied: op 0: learners may not write field `grade`"))
        }
        let status = try teacher.ok("status")
        #expect(status.contains("policy                  set by Ms Dlamini's laptop on"), "\(status)")
        #expect(status.contains("1 ops denied (latest: Amina's tablet"), "\(status)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try teacher.ok("status", "--json").utf8)) as? [String: Any])
        let policy = try #require(json["policy"] as? [String: Any])
        #expect(
            policy["set_by"] as? String == "Ms Dlamini's laptop" && policy["denied"] as? Int == 1 && policy["state"] as? String == "policy")

        // A policy that drops the learners' role is refused, naming them, unless --force;
        // then `members` says so.
        let dropping =
            #"{"concord_policy": 1, "roles": {"teacher": {"base": "writer"}}, "collections": {"*": {"write": {"teacher": "all"}}}}"#
        try dropping.write(toFile: scratch.file("teachers-only.json"), atomically: true, encoding: .utf8)
        let refused = try teacher.run("policy", "set", scratch.file("teachers-only.json"))
        #expect(refused.status == 4 && refused.stderr.contains("Amina's tablet (learner)"), "\(refused.stderr)")
        let forced = try teacher.ok("policy", "set", scratch.file("teachers-only.json"), "--force")
        // Closed world: the set lists the writers left without any grant (§13, question 1).
        #expect(forced.contains("no grant for Amina's tablet (learner), Sipho's tablet (learner): they may write nothing"), "\(forced)")
        #expect(try teacher.ok("members").contains("learner (not in the policy)"))
        try teacher.ok("policy", "clear")
        #expect(try teacher.ok("policy", "show", "--json") == "null\n")
    }
}
