import Foundation
import Testing

/// Issue 16 stage 4 with real `concord` processes (`Specs/snapshots.md` §4): an admin seals a
/// snapshot after a checkpoint, a newly joined device loads it and syncs the rest through a
/// relay, and a device that holds the log verifies it by recompute.
@Suite("snapshots: seal, show, load, verify (real processes)", .serialized)
struct SnapshotCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("seal after a checkpoint; a new device loads the file and syncs the rest; the tablet verifies; bad files are refused")
    func sealLoadVerify() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let tablet = Device(cli: cli, store: scratch.file("tablet"))
        let newcomer = Device(cli: cli, store: scratch.file("newcomer"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try tablet.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Amina's tablet"
        )
        // Nothing to seal before a checkpoint.
        #expect(try teacher.run("snapshot", "seal").status == 1)
        #expect(try teacher.ok("snapshot", "show", "--json").trimmingCharacters(in: .whitespacesAndNewlines) == "null")
        // The teacher writes before the first checkpoint; the tablet after it (the tail).
        for i in 0..<6 where i % 2 == 0 {
            let id = try teacher.ok("new-id").trimmingCharacters(in: .whitespacesAndNewlines)
            try teacher.ok("put", "todos", id, "title=\"item \(i)\"", "done=false")
        }
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)  // its initial sync: admitted, acknowledges
        try teacher.ok("sync", relay.url)  // pulls the ack; checkpoints
        for i in 0..<6 where i % 2 == 1 {
            let id = try tablet.ok("new-id").trimmingCharacters(in: .whitespacesAndNewlines)
            try tablet.ok("put", "todos", id, "title=\"item \(i)\"", "done=false")
        }
        try tablet.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)

        let file = scratch.file("school.snapshot")
        let sealed = try json(try teacher.ok("snapshot", "seal", "--out", file, "--json"))
        let id = try #require(sealed["id"] as? String)
        #expect(sealed["state"] as? String == "verified" && (sealed["records"] as? Int ?? 0) >= 3, "\(sealed)")
        let status = try json(try teacher.ok("status", "--json"))
        #expect((status["snapshot"] as? [String: Any])?["id"] as? String == id, "\(status)")
        #expect(try teacher.ok("status").contains("snapshot                \(id.prefix(8))"))

        // A tampered file is refused (exit 2); the newcomer stays empty.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let tampered = scratch.file("tampered.snapshot")
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: tampered))
        try newcomer.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "new tablet")
        try teacher.ok("sync", relay.url)  // the relay learns of the newcomer's invite
        let refused = try newcomer.run("snapshot", "load", tampered)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(try newcomer.ok("snapshot", "show").contains("no snapshot"))

        let loaded = try json(try newcomer.ok("snapshot", "load", file, "--json"))
        #expect(loaded["snapshot"] as? String == id && (loaded["records"] as? Int ?? 0) >= 3, "\(loaded)")
        #expect((try json(try newcomer.ok("snapshot", "show", "--json")))["state"] as? String == "provisional")
        try newcomer.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        let digest = { (device: Device) in try self.json(try device.ok("status", "--json"))["state_digest"] as? String }
        #expect(try digest(newcomer) == digest(teacher))
        #expect(try newcomer.ok("list", "todos", "--json").contains("item 5"))
        // The newcomer writes; everyone converges.
        let id2 = try newcomer.ok("new-id").trimmingCharacters(in: .whitespacesAndNewlines)
        try newcomer.ok("put", "todos", id2, "title=\"from the newcomer\"")
        try newcomer.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        try tablet.ok("sync", relay.url)
        #expect(try digest(tablet) == digest(teacher))
        #expect(try digest(newcomer) == digest(teacher))

        // The tablet holds the log: it verifies the snapshot by recompute.
        let verified = try json(try tablet.ok("snapshot", "verify", file, "--json"))
        #expect(verified["state"] as? String == "verified" && verified["id"] as? String == id, "\(verified)")
        // The newcomer was loaded from it: it cannot verify it against a log it lacks.
        let own = try newcomer.run("snapshot", "verify")
        #expect(own.status == 2 && own.stderr.contains("loaded from snapshot"), "\(own.stderr)")
    }
}
