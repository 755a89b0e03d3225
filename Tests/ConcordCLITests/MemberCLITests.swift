import Foundation
import Testing

/// Issue 13 with real `concord` processes (`Specs/membership.md`): a space with members,
/// invites with a role and an expiry, removal with a cut-off, and exit status 4 for what
/// the membership does not allow. Bundles travel as files.
@Suite("members, roles and removal (real processes)", .serialized)
struct MemberCLITests {
    /// Copies everything `from` holds into `to` through a bundle file.
    func carry(_ from: Device, to: Device, via file: String) throws {
        try from.ok("export", file)
        try to.ok("import", file)
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test(
        "a teacher invites a tablet; the lost tablet is removed: its later bundle files are refused, it cannot write or read what follows")
    func lostTabletIsRemoved() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        let learner = Device(cli: cli, store: scratch.file("learner"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        let tabletToken = try teacher.ok("invite", "--role", "writer", "--expires", "7d").trimmingCharacters(in: .whitespacesAndNewlines)
        let learnerToken = try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tabletToken.hasPrefix("concord2-"))
        try tablet.ok("join", tabletToken, "--name", "Amina's tablet")
        try learner.ok("join", learnerToken, "--name", "Sipho's tablet")
        try carry(teacher, to: tablet, via: scratch.file("t1.concord"))
        try carry(teacher, to: learner, via: scratch.file("t1.concord"))
        let whoami = try #require(try json(try tablet.ok("whoami", "--json")) as? [String: String])
        #expect(whoami["name"] == "Amina's tablet" && whoami["role"] == "writer")

        let note = UUID().uuidString
        try tablet.ok("put", "notes", note, "title=\"before\"")
        try carry(tablet, to: teacher, via: scratch.file("a1.concord"))
        try carry(learner, to: teacher, via: scratch.file("l1.concord"))
        let members = try #require(try json(try teacher.ok("members", "--json")) as? [[String: String]])
        #expect(Set(members.map { $0["name"] ?? "" }) == ["Ms Dlamini's laptop", "Amina's tablet", "Sipho's tablet"])
        #expect(members.allSatisfy { $0["status"] == "active" })

        // Not an admin: exit 4, with the reason.
        let notAdmin = try tablet.run("invite")
        #expect(notAdmin.status == 4 && notAdmin.stderr.contains("only admins may invite"), "\(notAdmin.stderr)")

        // The tablet is lost; it writes on, offline; the teacher removes it.
        let late = UUID().uuidString
        try tablet.ok("put", "notes", late, "title=\"after the cut\"")
        try tablet.ok("export", scratch.file("a2.concord"))
        try teacher.ok("remove-member", "Amina's tablet")
        let after = try #require(try json(try teacher.ok("members", "--json")) as? [[String: String]])
        #expect(after.first { $0["name"] == "Amina's tablet" }?["status"] == "removed")
        // Its later bundle file is refused by the teacher, and by the learner once it knows.
        let refused = try teacher.run("import", scratch.file("a2.concord"))
        #expect(refused.stdout.contains("rejected 1") || refused.stderr.contains("removed"), "\(refused.stdout) \(refused.stderr)")
        #expect(try teacher.run("get", "notes", late).status == 3)
        try carry(teacher, to: learner, via: scratch.file("t2.concord"))
        _ = try learner.run("import", scratch.file("a2.concord"))
        #expect(try learner.run("get", "notes", late).status == 3)
        #expect(try learner.ok("get", "notes", note).contains("before"))

        // The class goes on under a new key; the tablet, found again, learns of its removal:
        // it cannot write (exit 4, naming the teacher) and cannot read the new note.
        let fresh = UUID().uuidString
        try learner.ok("put", "notes", fresh, "title=\"after rotation\"")
        try carry(learner, to: teacher, via: scratch.file("l2.concord"))
        #expect(try teacher.ok("get", "notes", fresh).contains("after rotation"))
        try carry(teacher, to: tablet, via: scratch.file("t3.concord"))
        #expect(try tablet.run("get", "notes", fresh).status == 3)
        let blocked = try tablet.run("put", "notes", fresh, "title=\"still here\"")
        #expect(blocked.status == 4, "\(blocked.stdout) \(blocked.stderr)")
        #expect(blocked.stderr.contains("removed from the space by Ms Dlamini's laptop"), "\(blocked.stderr)")
    }

    @Test("through a real relay process: a removed tablet's sync is refused (exit 4, naming the teacher) and its late write reaches no one")
    func relayRefusesTheRemovedTablet() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        let learner = Device(cli: cli, store: scratch.file("learner"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try tablet.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "tablet")
        try learner.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "learner")
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)
        try learner.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        let late = UUID().uuidString
        try tablet.ok("put", "notes", late, "title=\"after the cut\"")
        try teacher.ok("remove-member", "tablet")
        try teacher.ok("sync", relay.url)
        let refused = try tablet.run("sync", relay.url)
        #expect(refused.status == 4, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("removed from the space by Ms Dlamini's laptop"), "\(refused.stderr)")
        try learner.ok("sync", relay.url)
        #expect(try learner.run("get", "notes", late).status == 3)
        let members = try learner.ok("members")
        #expect(members.contains("removed") && members.contains("tablet"), "\(members)")
    }

    @Test("over a peer link (`peer serve`, `sync peer://`): a tablet joins with its token alone, then, removed, is refused with exit 4")
    func peerLinkAdmitsThenRefuses() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        let (n1, n2, n3) = (UUID().uuidString, UUID().uuidString, UUID().uuidString)
        try teacher.ok("put", "notes", n1, "title=\"homework\"")
        try tablet.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "tablet")
        let server = try PeerFixtures.serve(teacher)
        defer { server.stop() }
        let port = try await server.peerPort()
        let first = try tablet.run("sync", "peer://127.0.0.1:\(port)")
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)\n\(server.output)")
        #expect(try tablet.ok("get", "notes", n1).contains("homework"))
        #expect(try tablet.ok("whoami").contains("writer"))
        try tablet.ok("put", "notes", n2, "title=\"answer\"")
        #expect(try tablet.run("sync", "peer://127.0.0.1:\(port)").status == 0)
        #expect(try teacher.ok("get", "notes", n2).contains("answer"))

        try teacher.ok("remove-member", "tablet")
        try tablet.ok("put", "notes", n3, "title=\"after the cut\"")
        let refused = try tablet.run("sync", "peer://127.0.0.1:\(port)")
        #expect(refused.status == 4, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("removed from the space by Ms Dlamini's laptop"), "\(refused.stderr)")
        #expect(try teacher.run("get", "notes", n3).status == 3)
    }

    @Test(
        "a copied tablet store that forked recovers through a real relay: the copy continues as a successor, the original is told to recover too, nothing is lost"
    )
    func forkedCopiesRecoverThroughARelay() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        try teacher.ok("init", "--name", "teacher")
        try tablet.ok("join", try teacher.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "tablet")
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)
        try FileManager.default.copyItem(atPath: tablet.store, toPath: scratch.file("copy"))
        let copy = Device(cli: cli, store: scratch.file("copy"))
        let (onOriginal, onCopy) = (UUID().uuidString, UUID().uuidString)
        try tablet.ok("put", "notes", onOriginal, "title=\"on the original\"")
        try tablet.ok("sync", relay.url)
        try copy.ok("put", "notes", onCopy, "title=\"on the copy\"")
        // Handed out on a USB stick: sealed as the same place of the chain as the original's.
        try copy.ok("export", scratch.file("usb.concord"))
        let forked = try copy.run("sync", relay.url)
        #expect(forked.status == 5 && forked.stderr.contains("concord recover"), "\(forked.stdout) \(forked.stderr)")
        #expect(try copy.ok("recover").contains("continues as device"))
        try copy.ok("sync", relay.url)
        // The original may still pull: it learns that the copy continued it, and is told.
        let told = try tablet.run("sync", relay.url)
        #expect(told.status == 5 && told.stderr.contains("concord recover"), "\(told.stdout) \(told.stderr)")
        let originalRecovered = try tablet.run("recover")
        #expect(
            originalRecovered.status == 0 && originalRecovered.stdout.contains("continues as device"),
            "\(originalRecovered.stdout) \(originalRecovered.stderr)")
        try tablet.ok("sync", relay.url)
        try copy.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        for device in [teacher, tablet, copy] {
            let notes = try device.ok("list", "notes", "--json")
            #expect(notes.contains("on the original") && notes.contains("on the copy"), "\(device.store): \(notes)")
        }
        let members = try teacher.ok("members")
        #expect(members.components(separatedBy: "tablet").count - 1 == 3, "\(members)")
    }

    @Test(
        "`concord init` without --name makes a space with members: this device its admin, named after the host; a joiner writes after its first sync"
    )
    func initWithoutNameHasMembers() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let admin = Device(cli: cli, store: scratch.file("admin"))
        let other = Device(cli: cli, store: scratch.file("other"))
        try admin.ok("init")
        let me = try JSONSerialization.jsonObject(with: Data(try admin.ok("whoami", "--json").utf8)) as? [String: Any]
        #expect(me?["role"] as? String == "admin")
        #expect((me?["name"] as? String)?.isEmpty == false)
        let token = try admin.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("concord2-"), "an invite that carries no authority over the space: \(token)")
        #expect(!FileManager.default.fileExists(atPath: admin.store + "/space.key"))
        try other.ok("join", token, "--name", "office")
        let early = try other.run("put", "notes", UUID().uuidString, "title=\"too early\"")
        #expect(early.status == 4 && early.stderr.contains("not admitted"), "\(early.stderr)")
        try carry(admin, to: other, via: scratch.file("a.concord"))
        let note = UUID().uuidString
        try other.ok("put", "notes", note, "title=\"after the first sync\"")
        try carry(other, to: admin, via: scratch.file("b.concord"))
        #expect(try admin.ok("get", "notes", note).contains("after the first sync"))
        // Stores of earlier versions (format 2) still work: invites carry no roles there.
        let legacy = Device(cli: cli, store: scratch.file("legacy"))
        try legacy.ok("init", "--format", "2")
        #expect(try legacy.run("invite", "--role", "admin").stderr.contains("earlier version"))
    }

    @Test(
        "`concord migrate` moves a store of the earlier format into a new space with members: same records, the old store unchanged; status names the format"
    )
    func migrateAnOldStore() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let old = Device(cli: cli, store: scratch.file("old"))
        let new = Device(cli: cli, store: scratch.file("new"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        try old.ok("init", "--format", "2")
        let trip = UUID().uuidString
        let gone = UUID().uuidString
        try old.ok("put", "notes", trip, "title=\"Trip\"", "pages=12")
        try old.ok("add", "notes", trip, "tags", "\"travel\"")
        try old.ok("put", "notes", gone, "title=\"Old\"")
        try old.ok("delete", "notes", gone)
        let oldStatus = try json(try old.ok("status", "--json")) as? [String: Any]
        #expect(oldStatus?["format"] as? Int == 2)
        #expect(try old.ok("status").contains("no members: `concord migrate --to DIR`"))
        let oldDigest = oldStatus?["state_digest"] as? String

        let migrated = try old.run("migrate", "--to", new.store, "--name", "Ms Dlamini's laptop")
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("migrated 1 record in 1 collection (3 values) into \(new.store)"), "\(migrated.stdout)")
        #expect(migrated.stderr.contains("invite the other devices"), "\(migrated.stderr)")
        #expect(try old.ok("get", "notes", trip, "--json") == (try new.ok("get", "notes", trip, "--json")))
        #expect(try new.run("get", "notes", gone).status == 3)
        let newStatus = try json(try new.ok("status", "--json")) as? [String: Any]
        #expect(newStatus?["format"] as? Int == 3)
        #expect((try json(try old.ok("status", "--json")) as? [String: Any])?["state_digest"] as? String == oldDigest)
        let me = try json(try new.ok("whoami", "--json")) as? [String: String]
        #expect(me?["role"] == "admin" && me?["name"] == "Ms Dlamini's laptop")

        // The new space invites and syncs like any other.
        let token = try new.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines)
        try tablet.ok("join", token, "--name", "tablet")
        try carry(new, to: tablet, via: scratch.file("n.concord"))
        #expect(try tablet.ok("get", "notes", trip).contains("Trip"))

        // Nothing to migrate twice; an occupied target is refused, naming it.
        let twice = try new.run("migrate", "--to", scratch.file("third"))
        #expect(twice.status == 1 && twice.stderr.contains("already a space with members"), "\(twice.stderr)")
        let occupied = try old.run("migrate", "--to", tablet.store)
        #expect(occupied.status != 0 && occupied.stderr.contains(tablet.store), "\(occupied.stderr)")
    }

    @Test("invites expire and can be revoked: a join through either cannot write, with exit 4")
    func expiredAndRevokedInvites() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        try teacher.ok("init", "--name", "teacher", "--plaintext")
        // Revoked before the device joined: its join is void everywhere.
        let token = try teacher.ok("invite", "--role", "reader").trimmingCharacters(in: .whitespacesAndNewlines)
        let invites = try #require(try json(try teacher.ok("invites", "--json")) as? [[String: Any]])
        let id = try #require(invites.first?["id"] as? String)
        try teacher.ok("revoke-invite", String(id.prefix(12)))
        let late = Device(cli: cli, store: scratch.file("late"))
        try late.ok("join", token, "--name", "late tablet")
        try carry(teacher, to: late, via: scratch.file("t.concord"))
        let who = try late.run("whoami")
        #expect(who.status == 4, "\(who.stdout) \(who.stderr)")
        let write = try late.run("put", "notes", UUID().uuidString, "title=\"x\"")
        #expect(write.status == 4, "\(write.stderr)")
        // Expired: a 30-minute invite used by a device whose clock reads an hour later.
        let short = try teacher.ok("invite", "--role", "writer", "--expires", "30m").trimmingCharacters(in: .whitespacesAndNewlines)
        let slow = try cli.run(
            ["--store", scratch.file("slow"), "join", short, "--name", "slow tablet"], environment: ["CONCORD_CLOCK_OFFSET_MS": "3600000"])
        #expect(slow.status == 4 && slow.stderr.contains("expired"), "\(slow.stdout) \(slow.stderr)")
        // The device whose join through a revoked invite is void is refused by the admin's
        // peer node too (the handshake decides from the same membership).
        let server = try PeerFixtures.serve(teacher)
        defer { server.stop() }
        let port = try await server.peerPort()
        let peer = try late.run("sync", "peer://127.0.0.1:\(port)")
        #expect(peer.status == 4 && peer.stderr.contains("not a member"), "\(peer.stdout) \(peer.stderr)")
        // Bad durations and roles are usage errors.
        #expect(try teacher.run("invite", "--expires", "7w").status != 0)
        #expect(try teacher.run("invite", "--role", "owner").status != 0)
        // A removed member, an unknown name: clear failures.
        #expect(try teacher.run("remove-member", "nobody").stderr.contains("no member"))
    }
}
