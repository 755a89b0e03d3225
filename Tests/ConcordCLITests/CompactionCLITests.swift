import Foundation
import Testing

/// Issue 16 stage 5 with real `concord` processes (`Specs/snapshots.md` §5.1): an admin seals
/// a snapshot, compacts and shows what it reclaimed; later syncs converge; a fork below the
/// floor is still detected.
@Suite("compaction: concord compact (real processes)", .serialized)
struct CompactionCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static let day: Int64 = 86_400_000

    @Test("seal, compact (dry run, then for real), sync on and converge; a fork below the floor is quarantined")
    func compactSyncAndDetectForks() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // A shared folder, every clock shifted together so a day passes (checkpoints are daily).
        let folder = scratch.file("shared")
        let stores = ShiftedStores(cli: cli, scratch: scratch, offset: -2 * Self.day)
        try stores.ok("teacher", "init", "--name", "Ms Dlamini's laptop")
        try stores.ok(
            "tablet", "join", try stores.ok("teacher", "invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines),
            "--name",
            "tablet")
        // Without a snapshot there is nothing to compact to: the error says what to do.
        let refused = try stores.run("teacher", "compact")
        #expect(refused.status == 1 && refused.stderr.contains("concord snapshot seal"), "\(refused.stderr)")
        // The horizon reads as the relay's --retention does: `forever` keeps everything, a
        // value that is not a duration is a usage error naming what to write.
        #expect(try stores.ok("teacher", "compact", "--history-horizon", "forever").contains("nothing to compact"))
        let bad = try stores.run("teacher", "compact", "--history-horizon", "soon")
        #expect(bad.status != 0 && bad.stderr.contains("write 30d, 12h, 90m, 45s, 0 or forever"), "\(bad.stderr)")

        for device in ["teacher", "tablet", "teacher", "tablet"] { try stores.ok(device, "sync-folder", folder) }
        // A copy of the tablet's store, made now, writes its own bundle later: a fork.
        try FileManager.default.copyItem(atPath: scratch.file("tablet"), toPath: scratch.file("copy"))
        for round in 0..<8 {
            for i in 0..<5 {
                let id = UUID().uuidString
                try stores.ok(
                    "teacher", "put", "todos", id, "title=\"item \(round)-\(i) \(String(repeating: "x", count: 200))\"", "done=false")
            }
            try stores.ok("teacher", "sync-folder", folder)
            try stores.ok("tablet", "put", "todos", UUID().uuidString, "title=\"tablet \(round)\"")
            try stores.ok("tablet", "sync-folder", folder)
        }
        // A day later the tablet acknowledges everything; the teacher checkpoints it.
        stores.offset = -Self.day + 60_000
        try stores.ok("tablet", "sync-folder", folder)
        try stores.ok("teacher", "sync-folder", folder)
        try stores.ok("teacher", "sync-folder", folder)
        let sealed = try json(try stores.ok("teacher", "snapshot", "seal", "--json"))
        let id = try #require(sealed["id"] as? String)

        let dry = try json(try stores.ok("teacher", "compact", "--history-horizon", "0", "--dry-run", "--json"))
        #expect(
            dry.keys.sorted() == [
                "bundles_dropped", "bundles_kept", "bytes_after", "bytes_before", "control_bundles", "snapshot", "stubs",
                "tombstones_pruned",
            ], "\(dry)")
        #expect(dry["snapshot"] as? String == id)
        let dryStatus = try json(try stores.ok("teacher", "status", "--json"))
        #expect((dryStatus["storage"] as? [String: Any])?["floor"] is NSNull, "\(dryStatus)")

        let text = try stores.ok("teacher", "compact", "--history-horizon", "0")
        print(text)
        #expect(text.contains("compacted to snapshot \(id.prefix(4))") && text.contains("(VACUUM)"), "\(text)")
        #expect(text.contains("bundles dropped   \(dry["bundles_dropped"] as? Int ?? -1) "), "\(text) vs \(dry)")
        #expect((dry["bundles_dropped"] as? Int ?? 0) >= 8, "\(dry)")
        let storage = try #require(try json(try stores.ok("teacher", "status", "--json"))["storage"] as? [String: Any])
        #expect(storage["floor"] as? String == id, "\(storage)")
        #expect((storage["log_bundles"] as? Int ?? 0) == (dry["bundles_kept"] as? Int ?? -1), "\(storage) vs \(dry)")
        // Again: nothing more to drop; the file is smaller than before the first run.
        let again = try json(try stores.ok("teacher", "compact", "--history-horizon", "0", "--json"))
        #expect(again["bundles_dropped"] as? Int == 0)
        #expect((again["bytes_before"] as? Int ?? .max) < (dry["bytes_before"] as? Int ?? 0), "\(again) vs \(dry)")

        // Later writes sync both ways and converge.
        let later = UUID().uuidString
        try stores.ok("tablet", "put", "todos", later, "title=\"after compaction\"")
        try stores.ok("tablet", "sync-folder", folder)
        try stores.ok("teacher", "sync-folder", folder)
        try stores.ok("teacher", "put", "todos", later, "done=true")
        try stores.ok("teacher", "sync-folder", folder)
        try stores.ok("tablet", "sync-folder", folder)
        let digest = { (store: String) in try self.json(try stores.ok(store, "status", "--json"))["state_digest"] as? String }
        #expect(try digest("tablet") == digest("teacher"))
        #expect(try stores.ok("teacher", "list", "todos", "--json").contains("after compaction"))

        // The copy's bundle lies below the teacher's floor: still a fork, quarantined.
        try stores.ok("copy", "put", "todos", UUID().uuidString, "title=\"on the copy\"")
        try stores.ok("copy", "export", scratch.file("copy.concord"))
        let imported = try stores.run("teacher", "import", scratch.file("copy.concord"))
        print(imported.stdout, imported.stderr)
        let after = try json(try stores.run("teacher", "status", "--json").stdout)
        #expect((after["storage"] as? [String: Any])?["quarantined_bundles"] as? Int == 1, "\(after)")
        #expect(try !stores.ok("teacher", "list", "todos", "--json").contains("on the copy"))
    }
}
