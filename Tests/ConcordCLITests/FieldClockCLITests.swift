import Foundation
import Testing

/// Wrong clocks with real `concord` processes and a real relay (issue 12.1,
/// `Specs/hlc.md` §7 and §9). A device's clock is shifted with `CONCORD_CLOCK_OFFSET_MS`.
@Suite("field clocks (real processes)", .serialized)
struct FieldClockCLITests {
    /// `CONCORD_CLOCK_OFFSET_MS` for a shifted device.
    static func offset(_ milliseconds: Int64) -> [String: String] { ["CONCORD_CLOCK_OFFSET_MS": String(milliseconds)] }

    @Test("`sync --watch` runs on a store while another process imports a bundle stamped minutes ahead: the watcher never writes its older clock back, and the next `put` wins")
    func watcherNeverLowersTheStoredClock() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let c = Device(cli: cli, store: scratch.file("c"))
        let peer = scratch.file("peer")
        let ahead = Self.offset(3 * 60_000)
        try a.ok("init")
        let invite = try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
        try c.ok("join", invite)
        #expect(try cli.run(["--store", peer, "join", invite], environment: ahead).status == 0)

        let watcher = try BackgroundCLI(cli: cli, ["sync", relay.url, "--watch", "--store", a.store])
        defer { watcher.terminate() }
        #expect(watcher.waitForLine(containing: "synced"), "watcher: \(watcher.output) \(watcher.errorOutput)")

        // The peer, 3 minutes ahead, writes the title; its bundle reaches A's store through
        // another process (`concord import`) while the watcher runs.
        let id = UUID().uuidString
        #expect(try cli.run(["--store", peer, "put", "notes", id, "title=\"remote\""], environment: ahead).status == 0)
        #expect(try cli.run(["--store", peer, "export", scratch.file("peer.concord")], environment: ahead).status == 0)
        try a.ok("import", scratch.file("peer.concord"))
        // C's ordinary write reaches the watcher through the relay's feed: importing it, the
        // watcher wrote its own older clock back before the fix.
        let other = UUID().uuidString
        try c.ok("put", "notes", other, "title=\"from c\"")
        try c.ok("sync", relay.url)
        #expect(try eventually { try a.run("get", "notes", other).status == 0 }, "the watcher did not import C's write")
        // Written after A had seen "remote": it must win.
        try a.ok("put", "notes", id, "title=\"local\"")
        let record = try a.ok("get", "notes", id, "--json")
        #expect(record.contains("\"title\":\"local\""), "\(record)")
    }
}
