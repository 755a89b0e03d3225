import Concord
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Relay retention with real processes (`Specs/snapshots.md` §5.2, `Specs/relay-api.md`
/// §3.1, §4): a relay that drops at once (`--retention 0`); an admin and a writer write,
/// acknowledge, the admin checkpoints, seals and syncs (uploading the snapshot); the relay
/// drops the data bundles the snapshot and both acknowledgements cover (its metrics count
/// them); a display that synced only at the start, marked stale since, is behind the
/// relay's retention and catches up from the snapshot (its store rebased onto it); a new
/// device joins from the snapshot; all converge.
@Suite("relay retention (real processes)", .serialized)
struct RelayRetentionCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// A counter of the relay's `GET /metrics`.
    func metric(_ name: String, of relay: RelayProcess) async throws -> Double {
        let (data, _) = try await URLSession.shared.data(from: try #require(URL(string: relay.url + "/metrics")))
        let text = String(decoding: data, as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Seals the automatic acknowledgement now (and, on an admin, a checkpoint), as the
    /// daily duties would a day later.
    func acknowledgeNow(_ store: String) async throws -> StabilityDuties {
        var options = Replica.Options()
        options.ackInterval = 0
        options.checkpointEvery = 0
        return try await Replica.open(at: store, options: options).performStabilityDuties()
    }

    @Test("the relay drops what a snapshot covers; a device behind and a new device catch up from the snapshot and converge")
    func retentionDropsAndANewDeviceJoinsFromTheSnapshot() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(
            cli: cli, storage: "sqlite:" + scratch.file("relay.sqlite"), arguments: ["--retention", "0", "--retention-interval", "0"])
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let writer = Device(cli: cli, store: scratch.file("writer"))
        let display = Device(cli: cli, store: scratch.file("display"))
        let newcomer = Device(cli: cli, store: scratch.file("newcomer"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try writer.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Amina's tablet"
        )
        try display.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Hall display"
        )
        try teacher.ok("sync", relay.url)
        try writer.ok("sync", relay.url)
        try display.ok("sync", relay.url)  // it acknowledges, then stays away
        try teacher.ok("sync", relay.url)
        // Away: the admin marks it stale, so it no longer holds stability (and retention) back.
        try teacher.ok("member", "stale", "Hall display")
        try teacher.ok("sync", relay.url)

        _ = try await SnapshotRelayCLITests.writeMany(store: writer.store, records: 300, perBundle: 30, prefix: "amina", high: 1)
        try writer.ok("sync", relay.url)
        _ = try await SnapshotRelayCLITests.writeMany(store: teacher.store, records: 100, perBundle: 25, prefix: "teacher", high: 2)
        try teacher.ok("sync", relay.url)
        try writer.ok("sync", relay.url)
        // Both acknowledge what they hold (the relay reads acknowledgements from `ack` ops
        // only), and the admin checkpoints the stable cut.
        #expect(try await acknowledgeNow(writer.store).acknowledged)
        try writer.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        // Twice: a checkpoint sealed before the admin's own `ack` counts the admin by its
        // last data bundle, written before it pulled the writer's; the second covers them.
        var checkpointed = 0
        for _ in 0..<2 {
            if try await acknowledgeNow(teacher.store).checkpointed { checkpointed += 1 }
            try teacher.ok("sync", relay.url)
            try writer.ok("sync", relay.url)
        }
        #expect(checkpointed >= 1)

        #expect(try await metric("concord_relay_bundles_dropped_total", of: relay) == 0)
        let sealed = try #require(try await Replica.open(at: teacher.store).sealSnapshot())
        let id = sealed.manifest.id.hex
        let upload = try teacher.ok("sync", relay.url)
        #expect(upload.contains("uploaded snapshot \(id.prefix(8))"), "\(upload)")
        let dropped = try await metric("concord_relay_bundles_dropped_total", of: relay)
        let droppedBytes = try await metric("concord_relay_bytes_dropped_total", of: relay)
        print(
            "the relay dropped \(Int(dropped)) bundles (\(Int(droppedBytes)) bytes) below snapshot \(id.prefix(8)) at \(sealed.manifest.vector)"
        )
        #expect(dropped >= 10, "the writer's 10 and the teacher's 4 data bundles are below the snapshot: \(dropped)")

        // The display holds a log from before the floor: its sync loads the relay's snapshot
        // into it (rebased onto it, a far-behind store) and pulls the tail.
        let caughtUp = try display.ok("sync", relay.url)
        #expect(caughtUp.contains("loaded snapshot \(id.prefix(8))"), "\(caughtUp)")

        // The tail above the snapshot, then a new device.
        _ = try await SnapshotRelayCLITests.writeMany(store: writer.store, records: 20, perBundle: 10, prefix: "tail", high: 3)
        try writer.ok("sync", relay.url)
        try newcomer.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Sipho's tablet"
        )
        try teacher.ok("sync", relay.url)
        let first = try newcomer.ok("sync", relay.url)
        #expect(first.contains("loaded snapshot \(id.prefix(8))"), "\(first)")

        for device in [teacher, writer, newcomer, display, teacher, writer, display] { try device.ok("sync", relay.url) }
        let digests = try [teacher, writer, newcomer, display].map { try json(try $0.ok("status", "--json"))["state_digest"] as? String }
        #expect(digests[0] != nil && Set(digests).count == 1, "\(digests)")
        let lists = try [teacher, newcomer].map { try $0.ok("list", "notes", "--json") }
        #expect(lists[0] == lists[1])
    }
}
