import Foundation
import Testing

/// Issue 16 stage 2 with real `concord` processes (`Specs/snapshots.md` §2-§3): sync
/// through a relay seals acknowledgements and the admin's checkpoint, `status` shows the
/// stable cut, and `concord member stale` marks a device stale until it syncs again.
@Suite("stability: acks, checkpoints and stale members (real processes)", .serialized)
struct StabilityCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test(
        "through a relay: acks and a checkpoint move the stable cut; member stale is admin-only, shown by status, cleared by the device's next sync"
    )
    func stableCutAndStaleMembers() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try tablet.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Amina's tablet"
        )
        let teacherID = try #require(try json(try teacher.ok("status", "--json"))["device"] as? String)
        let tabletID = try #require(try json(try tablet.ok("status", "--json"))["device"] as? String)
        // Alone, the teacher has nothing to acknowledge or checkpoint.
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)  // its initial sync: it acknowledges what it pulled
        try teacher.ok("sync", relay.url)  // pulls the ack; checkpoints; acknowledges
        try tablet.ok("sync", relay.url)
        for device in [teacher, tablet] {
            let status = try json(try device.ok("status", "--json"))
            let cut = try #require(status["stable_cut"] as? [String: Int], "\(status)")
            #expect((cut[teacherID] ?? 0) >= 2 && (cut[tabletID] ?? 0) >= 1, "\(cut)")
            #expect((status["stale_members"] as? [Any])?.isEmpty == true)
        }
        let text = try teacher.ok("status")
        #expect(text.contains("stability") && text.contains("2 members counted") && text.contains("latest checkpoint"), "\(text)")

        // Only admins may mark a device stale (exit 4); an unknown device is a failure naming it.
        let notAdmin = try tablet.run("member", "stale", "Ms Dlamini's laptop")
        #expect(notAdmin.status == 4 && notAdmin.stderr.contains("only admins may mark devices stale"), "\(notAdmin.stderr)")
        let unknown = try teacher.run("member", "stale", "nobody")
        #expect(unknown.status == 1 && unknown.stderr.contains("no member of this space is \"nobody\""), "\(unknown.stderr)")
        let marked = try teacher.ok("member", "stale", "Amina's tablet")
        #expect(marked.contains("marked Amina's tablet") && marked.contains("stale"), "\(marked)")
        let status = try json(try teacher.ok("status", "--json"))
        let stale = try #require((status["stale_members"] as? [[String: String]])?.first, "\(status)")
        #expect(stale["device"] == tabletID && stale["name"] == "Amina's tablet" && stale["reason"] == "admin", "\(stale)")
        #expect(stale["since"]?.hasSuffix(" UTC") == true)
        #expect(try teacher.ok("status").contains("stale: Amina's tablet since"))
        // The tablet syncs, sees the mark, acknowledges: the teacher counts it again.
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        #expect((try json(try teacher.ok("status", "--json"))["stale_members"] as? [Any])?.isEmpty == true)
        #expect(try teacher.ok("status").contains("2 members counted"))
    }
}
