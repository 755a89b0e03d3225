import Concord
import Foundation
import Testing

/// Wrong clocks with real `concord` processes and a real relay (issue 12.1,
/// `Specs/hlc.md` §7 and §9). A device's clock is shifted with `CONCORD_CLOCK_OFFSET_MS`.
@Suite("field clocks (real processes)", .serialized)
struct FieldClockCLITests {
    /// `CONCORD_CLOCK_OFFSET_MS` for a shifted device.
    static func offset(_ milliseconds: Int64) -> [String: String] { ["CONCORD_CLOCK_OFFSET_MS": String(milliseconds)] }

    @Test(
        "`sync --watch` runs on a store while another process imports a bundle stamped minutes ahead: the watcher never writes its older clock back, and the next `put` wins"
    )
    func watcherNeverLowersTheStoredClock() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let a = Device(cli: cli, store: scratch.file("a"))
        let c = Device(cli: cli, store: scratch.file("c"))
        let peer = scratch.file("peer")
        let ahead = Self.offset(3 * 60_000)
        try a.ok("init", "--format", "2")
        let invite = try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines)
        try c.ok("join", invite)
        #expect(try cli.run(["--store", peer, "join", invite], environment: ahead).status == 0)

        let watcher = try BackgroundCLI(cli: cli, ["sync", relay.url, "--watch", "--store", a.store])
        defer { watcher.terminate() }
        #expect(try await watcher.waitForLine(containing: "synced"), "watcher: \(watcher.output) \(watcher.errorOutput)")

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
        #expect(try await eventually { try a.run("get", "notes", other).status == 0 }, "the watcher did not import C's write")
        // Written after A had seen "remote": it must win.
        try a.ok("put", "notes", id, "title=\"local\"")
        let record = try a.ok("get", "notes", id, "--json")
        #expect(record.contains("\"title\":\"local\""), "\(record)")
    }

    static let day: Int64 = 86_400_000
    static let year: Int64 = 365 * day
    /// The offset that sets a clock to 2000-01-01 00:00 UTC.
    static var to2000: Int64 { 946_684_800_000 - Int64(SystemClock().nowMilliseconds()) }

    struct Setup {
        let cli: CLI
        let scratch: Scratch
        let relay: RelayProcess
        let a: Device
        let tablet: String

        init() throws {
            cli = try CLI.locate()
            scratch = try Scratch()
            relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
            a = Device(cli: cli, store: scratch.file("a"))
            tablet = scratch.file("tablet")
            try a.ok("init", "--format", "2")
        }

        var invite: String { get throws { try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines) } }

        /// Runs `concord` on the tablet with its clock `offset` ms off.
        func onTablet(_ arguments: [String], offset: Int64 = 0) throws -> CLI.Result {
            try cli.run(["--store", tablet] + arguments, environment: offset == 0 ? [:] : FieldClockCLITests.offset(offset))
        }

        func tearDown() {
            relay.terminate()
            scratch.remove()
        }
    }

    @Test(
        "a tablet set a year ahead writes and syncs: exit 5 with both dates, nothing sealed; with the clock set right the next sync re-dates the write and shares it"
    )
    func yearAheadIsStoppedBeforeSealingThenRedated() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        #expect(try setup.onTablet(["join", try setup.invite]).status == 0)
        let id = UUID().uuidString
        #expect(try setup.onTablet(["put", "notes", id, "title=\"from the tablet\""], offset: Self.year).status == 0)
        let ahead = try setup.onTablet(["sync", setup.relay.url], offset: Self.year)
        #expect(ahead.status == 5, "\(ahead.stdout) \(ahead.stderr)")
        let now = SystemClock().nowMilliseconds()
        #expect(
            ahead.stderr.contains(CalendarTime.date(now + UInt64(Self.year))) && ahead.stderr.contains(CalendarTime.date(now)),
            "\(ahead.stderr)")
        #expect(ahead.stderr.contains("set this device's date and time"), "\(ahead.stderr)")
        #expect(try setup.onTablet(["status", "--json"]).stdout.contains("\"pending_operations\":1"), "nothing was sealed")
        // The clock is set right: the write is re-dated, shared, and a later write elsewhere wins.
        let fixed = try setup.onTablet(["sync", setup.relay.url])
        #expect(fixed.status == 0, "\(fixed.stdout) \(fixed.stderr)")
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.a.ok("get", "notes", id).contains("from the tablet"))
        try setup.a.ok("put", "notes", id, "title=\"from A, later\"")
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.onTablet(["sync", setup.relay.url]).status == 0)
        #expect(try setup.onTablet(["get", "notes", id]).stdout.contains("from A, later"))
    }

    @Test(
        "a tablet that sealed a write a year ahead (a USB export), then had its clock set right: sync exits 4 naming `concord recover`; after recover everyone has the write"
    )
    func sealedYearAheadRecovers() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        #expect(try setup.onTablet(["join", try setup.invite]).status == 0)
        let id = UUID().uuidString
        #expect(try setup.onTablet(["put", "notes", id, "title=\"sealed ahead\""], offset: Self.year).status == 0)
        #expect(try setup.onTablet(["export", setup.scratch.file("usb.concord")], offset: Self.year).status == 0)
        let stuck = try setup.onTablet(["sync", setup.relay.url])
        #expect(stuck.status == 5, "\(stuck.stdout) \(stuck.stderr)")
        #expect(stuck.stderr.contains("concord recover"), "\(stuck.stderr)")
        let status = try setup.onTablet(["status", "--json"])
        #expect(
            status.status == 5
                && (status.stdout.contains("\"kind\":\"wrote-ahead\"") || status.stdout.contains("\"kind\":\"clock-disagrees\"")),
            "\(status.stdout)")
        let recovered = try setup.onTablet(["recover"])
        #expect(recovered.status == 0 && recovered.stdout.contains("with the present time"), "\(recovered.stdout) \(recovered.stderr)")
        #expect(try setup.onTablet(["sync", setup.relay.url]).status == 0)
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.a.ok("get", "notes", id).contains("sealed ahead"))
    }

    @Test(
        "a tablet reset to 2000 after syncing: sync exits 4 with both dates and 'set the date and time'; writes go on; with the clock set they reach everyone"
    )
    func resetTo2000() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        #expect(try setup.onTablet(["join", try setup.invite]).status == 0)
        try setup.a.ok("put", "notes", UUID().uuidString, "title=\"from A\"")
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.onTablet(["sync", setup.relay.url]).status == 0)
        try setup.a.ok("put", "notes", UUID().uuidString, "title=\"newer from A\"")
        try setup.a.ok("sync", setup.relay.url)
        let reset = Self.to2000
        let id = UUID().uuidString
        #expect(try setup.onTablet(["put", "notes", id, "title=\"written in 2000\""], offset: reset).status == 0)
        let behind = try setup.onTablet(["sync", setup.relay.url], offset: reset)
        #expect(behind.status == 5, "\(behind.stdout) \(behind.stderr)")
        #expect(
            behind.stderr.contains("2000-01-01") && behind.stderr.contains(CalendarTime.date(SystemClock().nowMilliseconds())),
            "\(behind.stderr)")
        #expect(behind.stderr.contains("set this device's date and time"), "\(behind.stderr)")
        let status = try setup.onTablet(["status"], offset: reset)
        #expect(status.status == 5 && status.stdout.contains("attention"), "\(status.stdout)")
        #expect(try setup.onTablet(["recover"], offset: reset).status == 5, "recover refuses while the clock is behind")
        // Set right: everything flows, nothing was lost.
        #expect(try setup.onTablet(["sync", setup.relay.url]).status == 0)
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.a.ok("get", "notes", id).contains("written in 2000"))
        #expect(try setup.onTablet(["list", "notes"]).stdout.contains("newer from A"))
    }

    @Test("a tablet that joined with its clock a day ahead: once the clock is right its membership is renewed and its writes are accepted")
    func joinedADayAhead() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        #expect(try setup.onTablet(["join", try setup.invite], offset: Self.day).status == 0)
        let id = UUID().uuidString
        #expect(try setup.onTablet(["put", "notes", id, "title=\"joined ahead\""], offset: Self.day).status == 0)
        #expect(try setup.onTablet(["sync", setup.relay.url], offset: Self.day).status == 5)
        let fixed = try setup.onTablet(["sync", setup.relay.url])
        #expect(fixed.status == 0, "\(fixed.stdout) \(fixed.stderr)")
        try setup.a.ok("sync", setup.relay.url)
        #expect(try setup.a.ok("get", "notes", id).contains("joined ahead"))
    }
}
