import Foundation
import Testing

/// Issue 16 stage 3 with real `concord` processes syncing through a shared folder (`Specs/snapshots.md` §3,
/// `Specs/crdt-semantics.md` §11.4): a tablet goes away; the teacher deletes a record it
/// edits, marks it stale and checkpoints a day later, once the phone acknowledged the
/// delete; the tablet edits the record offline and syncs. The record stays deleted
/// everywhere, the tablet's other write applies, and `status --json` on the tablet shows
/// `writes-dropped`. Every device's clock is shifted together (`CONCORD_CLOCK_OFFSET_MS`)
/// so a day passes between the phases without bundles from the future.
@Suite("resurrection guard (real processes)", .serialized)
struct ResurrectionGuardCLITests {
    static let day: Int64 = 86_400_000

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("a returning device's edit of a checkpointed delete is dropped everywhere; status --json on it shows writes-dropped")
    func staleEditStaysDeleted() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // A shared folder, not a relay: a relay's clock would call the shifted devices behind.
        let folder = scratch.file("shared")
        let stores = ShiftedStores(cli: cli, scratch: scratch, offset: -2 * Self.day)
        try stores.ok("teacher", "init", "--name", "teacher")
        for device in ["phone", "tablet"] {
            let invite = try stores.ok("teacher", "invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines)
            try stores.ok(device, "join", invite, "--name", device)
        }
        let record = UUID().uuidString
        let other = UUID().uuidString
        for device in ["teacher", "phone", "tablet", "teacher", "phone", "tablet"] { try stores.ok(device, "sync-folder", folder) }
        try stores.ok("tablet", "put", "todos", record, "title=\"draft\"")
        for device in ["tablet", "teacher", "phone", "tablet"] { try stores.ok(device, "sync-folder", folder) }
        #expect(try stores.run("phone", "get", "todos", record).status == 0)

        // The tablet goes away. The teacher deletes the record and marks the tablet stale.
        try stores.ok("teacher", "delete", "todos", record)
        try stores.ok("teacher", "member", "stale", "tablet")
        try stores.ok("teacher", "sync-folder", folder)
        try stores.ok("phone", "sync-folder", folder)
        // A day later the phone acknowledges the delete; the teacher checkpoints it.
        stores.offset = -Self.day + 60_000
        try stores.ok("phone", "sync-folder", folder)
        // (A folder sync does its duties before it imports: the second one checkpoints what
        // the first imported.)
        try stores.ok("teacher", "sync-folder", folder)
        try stores.ok("teacher", "sync-folder", folder)
        let teacher = try json(try stores.ok("teacher", "status", "--json"))
        let teacherID = try #require(teacher["device"] as? String)
        let cut = try #require(teacher["stable_cut"] as? [String: Int], "\(teacher)")
        #expect((cut[teacherID] ?? 0) >= 4, "the delete is stable: \(cut)")
        #expect(try stores.ok("teacher", "status").contains("latest checkpoint"))

        // Still away, the tablet edits the record and writes another, then comes back.
        stores.offset = -Self.day + 120_000
        try stores.ok("tablet", "put", "todos", record, "title=\"offline edit\"")
        try stores.ok("tablet", "put", "todos", other, "title=\"kept\"")
        // Its sync seals the writes with what it had seen, pulls the delete and the
        // checkpoint, rolls the edit back and says so (exit 5, attention).
        let back = try stores.run("tablet", "sync-folder", folder)
        #expect(back.status == 5 && back.stderr.contains("while this device was away"), "\(back.status): \(back.stderr)")
        for device in ["teacher", "phone"] { try stores.ok(device, "sync-folder", folder) }

        for device in ["teacher", "phone", "tablet"] {
            #expect(try stores.run(device, "get", "todos", record).status == 3, "\(device) shows the deleted record")
            #expect(try stores.run(device, "get", "todos", other).status == 0, "\(device) lacks the tablet's other write")
        }
        let status = try stores.run("tablet", "status", "--json")
        #expect(status.status == 5, "status with a problem exits 5 (attention): \(status.stderr)")
        let problems = try #require(try json(status.stdout)["problems"] as? [[String: Any]], "\(status.stdout)")
        let dropped = try #require(problems.first { $0["kind"] as? String == "writes-dropped" }, "\(problems)")
        #expect(dropped["remedy"] as? String == "review")
        let message = dropped["message"] as? String ?? ""
        #expect(message.contains("1 change made on this device") && message.contains("offline edit"), "\(message)")
        let teacherProblems = try json(try stores.run("teacher", "status", "--json").stdout)["problems"] as? [[String: Any]] ?? []
        #expect(!teacherProblems.contains { $0["kind"] as? String == "writes-dropped" })
        // Every device agrees.
        let digests = try ["teacher", "phone", "tablet"].map {
            try json(try stores.run($0, "status", "--json").stdout)["state_digest"] as? String
        }
        #expect(Set(digests).count == 1, "\(digests)")
        // Reviewed: dismissing it clears the problem (status exits 0); the state is unchanged.
        #expect(try stores.ok("tablet", "dismiss", "writes-dropped").contains("dismissed 1 change"))
        let after = try stores.run("tablet", "status", "--json")
        #expect(after.status == 0, "status after dismissing exits 0: \(after.stdout) \(after.stderr)")
        #expect(try json(after.stdout)["state_digest"] as? String == digests[0])
        #expect(try stores.ok("tablet", "dismiss", "writes-dropped").contains("nothing to dismiss"))
        let refused = try stores.run("tablet", "dismiss", "forked")
        #expect(refused.status == 1 && refused.stderr.contains("cannot be dismissed"), "\(refused.stderr)")
    }
}
