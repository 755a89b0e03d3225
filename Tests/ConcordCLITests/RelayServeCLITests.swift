import Concord
import Foundation
import Testing

/// `concord relay serve` as a real process: which spaces it serves, and its stop on SIGTERM
/// (a `ServiceGroup` turns the signal into a graceful shutdown).
@Suite("relay serve (real processes)", .serialized)
struct RelayServeCLITests {
    @Test("a relay on an address others can reach does not start until its operator says which spaces it serves")
    func reachableRelayNeedsASpacePolicy() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let result = try cli.run(["relay", "serve", "--host", "0.0.0.0", "--port", "0", "--db", "sqlite:" + scratch.file("relay.sqlite")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--allow-space") && result.stderr.contains("--open"), "\(result.stderr)")
        #expect(!result.stdout.contains("listening"))
        let both = try cli.run(["relay", "serve", "--open", "--allow-space", String(repeating: "ab", count: 32), "--port", "0"])
        #expect(both.status != 0)
    }

    @Test("--allow-spaces-file serves the listed spaces only (others: exit 2, space-not-served); SIGTERM stops the relay with exit 0")
    func allowListFromAFile() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let listed = Device(cli: cli, store: scratch.file("listed"))
        let other = Device(cli: cli, store: scratch.file("other"))
        try listed.ok("init")
        try other.ok("init")
        let space = try Replica.open(at: listed.store).spaceID.hex
        let file = scratch.file("spaces")
        try "# the classroom\n\(space)   # teacher's space\n\n".write(toFile: file, atomically: true, encoding: .utf8)
        let relay = try RelayProcess.start(
            cli: cli, storage: "sqlite:" + scratch.file("relay.sqlite"), arguments: ["--allow-spaces-file", file])
        try listed.ok("put", "notes", UUID().uuidString, "title=\"hello\"")
        let synced = try listed.ok("sync", relay.url)
        #expect(synced.contains("pushed 1"), "\(synced)")
        let refused = try other.run("sync", relay.url)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("space-not-served"), "\(refused.stderr)")
        let start = Date()
        #expect(relay.terminate() == 0)
        #expect(Date().timeIntervalSince(start) < 8)
    }

    @Test("a relay that cannot bind its port stops at once with exit 1 and says why (the ServiceGroup ends; the database is closed)")
    func portInUseFails() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let first = try RelayProcess.start(cli: cli, storage: "sqlite:" + scratch.file("one.sqlite"))
        defer { first.terminate() }
        let start = Date()
        let second = try cli.run(["relay", "serve", "--port", String(first.port), "--db", "sqlite:" + scratch.file("two.sqlite")])
        #expect(second.status == 1)
        #expect(second.stderr.contains("the relay stopped") && second.stderr.contains("is free"), "\(second.stderr)")
        #expect(Date().timeIntervalSince(start) < 15)
    }
}
