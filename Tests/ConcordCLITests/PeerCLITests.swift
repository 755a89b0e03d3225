import Foundation
import Testing

/// Peer sync with the real `concord` binary on one machine (loopback): `concord peer
/// serve` on one store, `concord sync peer://127.0.0.1:PORT` on another.
@Suite("Peer sync on one machine", .serialized)
struct PeerCLITests {
    @Test("two stores converge with `peer serve` and `sync peer://127.0.0.1:PORT`, both ways, then live")
    func twoStoresConverge() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let devices = try PeerFixtures.members(2, cli: cli, scratch: scratch)
        let (a, b) = (devices[0], devices[1])
        for index in 0..<3 { try PeerFixtures.note(a, "a\(index)") }
        for index in 0..<2 { try PeerFixtures.note(b, "b\(index)") }
        let server = try PeerFixtures.serve(a)
        defer { server.stop() }
        let port = try await server.peerPort()

        let result = try b.run("sync", "peer://127.0.0.1:\(port)")
        #expect(result.status == 0, "\(result.stderr)")
        // Each side's puts were sealed into one bundle.
        #expect(result.stdout.contains("received 1 (applied 1, duplicate 0, held 0, fork 0, rejected 0), sent 1"), "\(result.stdout)")
        // The one-shot sync returns after the server acknowledged: A already holds B's notes.
        #expect(try PeerFixtures.notes(a) == ["a0", "a1", "a2", "b0", "b1"])
        #expect(try PeerFixtures.notes(b) == ["a0", "a1", "a2", "b0", "b1"])
        #expect(try PeerFixtures.digest(a) == PeerFixtures.digest(b))

        // Again: nothing new, nothing applied twice.
        let again = try b.run("sync", "peer://127.0.0.1:\(port)")
        #expect(again.status == 0)
        #expect(again.stdout.contains("received 0"), "\(again.stdout)")

        // Live: B watches; a write on A (through another process, sealed by the server's
        // watcher) arrives without another command.
        let watcher = try BackgroundProcess(cli.binary, ["--store", b.store, "sync", "peer://127.0.0.1:\(port)", "--watch"], label: "sync --watch")
        defer { watcher.stop() }
        _ = try await watcher.waitForLine(timeout: 20) { $0 == "synced" }
        try PeerFixtures.note(a, "a-live")
        #expect(try await PeerFixtures.eventually(timeout: 15) { try PeerFixtures.notes(b).contains("a-live") }, "\(watcher.output)\n\(server.output)")
        try PeerFixtures.note(b, "b-live")
        #expect(try await PeerFixtures.eventually(timeout: 15) { try PeerFixtures.notes(a).contains("b-live") }, "\(watcher.output)\n\(server.output)")
        #expect(watcher.stop() == 0)
        #expect(server.stop() == 0)
        #expect(try PeerFixtures.digest(a) == PeerFixtures.digest(b))
    }

    @Test("a transfer cut mid-way resumes from the vectors: every bundle once, nothing lost")
    func cutTransferResumes() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let devices = try PeerFixtures.members(2, cli: cli, scratch: scratch)
        let (a, b) = (devices[0], devices[1])
        // 12 bundles of about 20 KB each (`export` seals the pending put into its own bundle).
        let blob = String(repeating: "x", count: 20_000)
        for index in 0..<12 {
            try PeerFixtures.note(a, "\(index)-\(blob)")
            try a.ok("export", scratch.file("seal.concord"))
        }
        let server = try PeerFixtures.serve(a)
        defer { server.stop() }
        let proxy = try TCPProxy(upstream: UInt16(try await server.peerPort()))
        defer { proxy.close() }
        proxy.cutNextTransfer(afterBytes: 60_000)
        let result = try b.run("sync", "peer://127.0.0.1:\(proxy.port)", "--attempts", "3")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(proxy.cuts == 1)
        #expect(result.stderr.contains("retrying"), "\(result.stderr)")
        #expect(try PeerFixtures.notes(b).count == 12)
        let status = try PeerFixtures.status(b)
        #expect(status["bundles"] as? Int == 12)
        #expect(status["held_bundles"] as? Int == 0)
        #expect(try PeerFixtures.digest(a) == PeerFixtures.digest(b))
    }

    @Test("a peer of another space is refused and nothing is exchanged")
    func strangerIsRefused() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = try PeerFixtures.members(1, cli: cli, scratch: scratch, prefix: "a")[0]
        let stranger = try PeerFixtures.members(1, cli: cli, scratch: scratch, prefix: "s")[0]
        try PeerFixtures.note(a, "secret")
        try PeerFixtures.note(stranger, "junk")
        let server = try PeerFixtures.serve(a)
        defer { server.stop() }
        let port = try await server.peerPort()
        let result = try stranger.run("sync", "peer://127.0.0.1:\(port)", "--attempts", "1")
        #expect(result.status != 0)
        #expect(result.stderr.contains("not a member of this space"), "\(result.stderr)")
        #expect(try PeerFixtures.notes(stranger) == ["junk"])
        #expect(try PeerFixtures.notes(a) == ["secret"])
    }

    @Test("peer addresses are checked before anything runs")
    func badAddressesAreUsageErrors() throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let a = try PeerFixtures.members(1, cli: cli, scratch: scratch)[0]
        for bad in ["peer://127.0.0.1", "peer://:80", "peer://host:70000", "ftp://x"] {
            let result = try a.run("sync", bad)
            #expect(result.status == 1, "\(bad): \(result.stderr)")
            #expect(result.stderr.contains("peer://HOST:PORT") || result.stderr.contains("relay URL"), "\(bad): \(result.stderr)")
        }
        let missing = try a.run("sync")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("--lan"))
    }
}
