import Concord
import Foundation
import Testing

/// Read scopes with real `concord` processes (`Specs/permissions.md` §7, stage 4): under the
/// classroom policy as shipped, a teacher's note to `teacher_notes` travels to a learner in
/// a sealed scope section the learner cannot open. The learner's store files never hold the
/// note's plaintext (checked on the bytes on disk), the learner holds no key of the scope,
/// its own write there is refused with the scope's sentence (exit 4), and it converges on
/// everything else; the teacher and the admin read the note. Made a teacher later, the
/// learner's device opens the section it kept unread.
@Suite("read scopes (real processes)", .serialized)
struct ScopeCLITests {
    func carry(_ from: Device, to: Device, via file: String) throws {
        try from.ok("export", file)
        try to.ok("import", file)
    }

    /// Every byte of every file under `scratch` whose name starts with `name` (the store and
    /// its journal files), concatenated.
    func storeBytes(_ scratch: Scratch, _ name: String) throws -> Data {
        var all = Data()
        let manager = FileManager.default
        for entry in try manager.contentsOfDirectory(atPath: scratch.path) where entry.hasPrefix(name) {
            let path = scratch.file(entry)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                for inner in manager.enumerator(atPath: path)?.compactMap({ $0 as? String }) ?? [] {
                    if let data = manager.contents(atPath: path + "/" + inner) { all.append(data) }
                }
            } else if let data = manager.contents(atPath: path) {
                all.append(data)
            }
        }
        return all
    }

    @Test("a teacher's note reaches a learner sealed: not on its disk, no key; everything else converges")
    func teacherNotesStaySealed() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let admin = Device(cli: cli, store: scratch.file("admin"))
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let amina = Device(cli: cli, store: scratch.file("amina"))
        try admin.ok("init", "--name", "School office")
        try PolicyCLITests.classroom().write(toFile: scratch.file("classroom.json"), atomically: true, encoding: .utf8)
        try admin.ok("policy", "set", scratch.file("classroom.json"))
        for (device, name, role) in [(teacher, "Ms Dlamini's laptop", "teacher"), (amina, "Amina's tablet", "learner")] {
            let token = try admin.ok("invite", "--role", role).trimmingCharacters(in: .whitespacesAndNewlines)
            try device.ok("join", token, "--name", name)
            try carry(admin, to: device, via: scratch.file("a.concord"))
            try carry(device, to: admin, via: scratch.file("j.concord"))
        }
        try carry(admin, to: teacher, via: scratch.file("a.concord"))
        try carry(admin, to: amina, via: scratch.file("a.concord"))

        // The teacher writes a note (scoped) and a result (everyone reads results).
        let marker = "marker-\(UUID().uuidString.prefix(8)) talk to Amina's parents"
        let note = try teacher.ok("new-id").trimmingCharacters(in: .whitespacesAndNewlines)
        try teacher.ok("put", "teacher_notes", note, "text=\"\(marker)\"")
        let result = try teacher.ok("new-id").trimmingCharacters(in: .whitespacesAndNewlines)
        try teacher.ok("put", "results", result, "grade=\"B\"")
        // The learner's own result.
        let answer = try amina.ok("new-id", "--owned").trimmingCharacters(in: .whitespacesAndNewlines)
        try amina.ok("put", "results", answer, "answer=42")

        // Files travel every way: teacher → learner, teacher → admin → learner, learner → both.
        try carry(teacher, to: amina, via: scratch.file("t.concord"))
        try carry(teacher, to: admin, via: scratch.file("t.concord"))
        try carry(admin, to: amina, via: scratch.file("a.concord"))
        try carry(amina, to: teacher, via: scratch.file("l.concord"))
        try carry(amina, to: admin, via: scratch.file("l.concord"))

        // The teacher and the admin read the note; the learner does not.
        #expect(try teacher.ok("get", "teacher_notes", note).contains(marker))
        #expect(try admin.ok("get", "teacher_notes", note).contains(marker))
        let hidden = try amina.run("get", "teacher_notes", note)
        #expect(!hidden.stdout.contains(marker) && !hidden.stderr.contains(marker))

        // The learner converges on everything else.
        #expect(try amina.ok("get", "results", result).contains("\"B\""))
        #expect(try teacher.ok("get", "results", answer).contains("42"))
        #expect(try admin.ok("get", "results", answer).contains("42"))

        // Its own write to the scoped collection: refused before anything is written.
        let other = try amina.ok("new-id", "--owned").trimmingCharacters(in: .whitespacesAndNewlines)
        let refused = try amina.run("put", "teacher_notes", other, "text=\"hi\"")
        #expect(refused.status == 4, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr == "`teacher_notes` can only be read and written by teachers and admins\n", "\(refused.stderr)")

        // The bytes on disk: the teacher's store holds the marker, the learner's nowhere.
        let needle = Data(marker.utf8)
        #expect(try storeBytes(scratch, "teacher").range(of: needle) != nil, "the check must be able to see the marker")
        #expect(try storeBytes(scratch, "amina").range(of: needle) == nil, "the learner's store files hold the note's plaintext")

        // No key of the scope on the learner's device; the teacher holds one.
        for (path, holds) in [(scratch.file("amina"), false), (scratch.file("teacher"), true)] {
            let replica = try Replica.open(at: path)
            let context = try await replica.memberContext()
            let key = replica.membership.currentScopeKey(readers: ["teacher"], records: context.records, state: context.state)
            #expect((key != nil) == holds, "\(path)")
            #expect(!context.state.scopeEpochs.isEmpty)
            // The learner keeps the teacher's section whole, as unread.
            #expect(try await replica.unreadSections().count == (holds ? 0 : 1))
        }

        // `status` says so: one sealed section stored unread on the learner's device, none on the teacher's.
        #expect(try amina.ok("status", "--json").contains("\"unread_sections\":1"))
        #expect(try teacher.ok("status", "--json").contains("\"unread_sections\":0"))
        #expect(try amina.ok("status").contains("1 sealed section of read scopes this device is not in, stored unread"))

        // Amina becomes a teacher: the admin grants her the scope's key (§7.2), and her
        // device opens the section it stored unread and applies the note (§7.4, §6.4).
        try admin.ok("set-role", "Amina's tablet", "teacher")
        try carry(admin, to: amina, via: scratch.file("a.concord"))
        #expect(try amina.ok("get", "teacher_notes", note).contains(marker))
        #expect(try await Replica.open(at: scratch.file("amina")).unreadSections().isEmpty)
    }
}
