import Concord
import Foundation
import Testing

/// Issue 16's "done when" with real processes (`Specs/snapshots.md` §4.5, §5.2,
/// `Specs/relay-api.md` §3.1): a relay, an admin and a writer build a space of a few thousand
/// operations, the admin checkpoints, seals a snapshot (through the library) and its
/// `concord sync` uploads it; a third
/// device joins, and its first sync loads the snapshot from the relay, then pulls the tail
/// above it; every device ends with the same visible state, and the admin, who holds the
/// log, verifies the snapshot.
@Suite("snapshots through a relay (real processes)", .serialized)
struct SnapshotRelayCLITests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Writes `records` records in bundles of `perBundle` through the library (one process
    /// per write would take minutes), with sets, set adds and a delete every tenth record.
    static func writeMany(store: String, records: Int, perBundle: Int, prefix: String, high: UInt64) async throws -> Int {
        let replica = try Replica.open(at: store)
        var operations = 0
        var written = 0
        while written < records {
            let n = min(perBundle, records - written)
            let base = written
            let ops = try await replica.write { tx -> Int in
                var count = 0
                for i in base..<(base + n) {
                    let id = RecordID(high: high, low: UInt64(i))
                    try tx.set("title", to: .string("\(prefix) note \(i)"), record: id, in: "notes")
                    try tx.set("n", to: .int(Int64(i)), record: id, in: "notes")
                    try tx.add(.string("tag\(i % 7)"), to: "tags", record: id, in: "notes")
                    count += 3
                    if i % 10 == 9 {
                        try tx.delete(record: RecordID(high: high, low: UInt64(i - 5)), in: "notes")
                        count += 1
                    }
                }
                return count
            }
            operations += ops
            try await replica.seal()
            written += n
        }
        return operations
    }

    @Test("a new device joins a large space through the relay from a snapshot, converges, and the admin verifies the snapshot")
    func newDeviceLoadsTheRelaysSnapshot() async throws {
        let cli = try CLI.locate()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let relay = try RelayProcess.start(cli: cli, database: scratch.file("relay.sqlite"))
        defer { relay.terminate() }
        let teacher = Device(cli: cli, store: scratch.file("teacher"))
        let writer = Device(cli: cli, store: scratch.file("writer"))
        let newcomer = Device(cli: cli, store: scratch.file("newcomer"))
        try teacher.ok("init", "--name", "Ms Dlamini's laptop")
        try writer.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Amina's tablet"
        )
        try teacher.ok("sync", relay.url)
        try writer.ok("sync", relay.url)  // its initial sync: it acknowledges

        // A few thousand operations, then the admin's checkpoint covering them.
        var operations = try await Self.writeMany(store: writer.store, records: 800, perBundle: 40, prefix: "amina", high: 1)
        try writer.ok("sync", relay.url)
        operations += try await Self.writeMany(store: teacher.store, records: 200, perBundle: 50, prefix: "teacher", high: 2)
        try teacher.ok("sync", relay.url)  // pulls the writer's bundles; acknowledges; checkpoints
        try writer.ok("sync", relay.url)
        try teacher.ok("sync", relay.url)
        #expect(operations >= 3_000, "\(operations) operations")

        // The admin's first checkpoint came with its first sync that counted the writer; the
        // next is due a day later. Checkpoint the stable cut now (it covers the writes), as
        // the daily duty would, then push it.
        var options = Replica.Options()
        options.checkpointEvery = 0
        #expect(try await Replica.open(at: teacher.store, options: options).performStabilityDuties().checkpointed)
        try teacher.ok("sync", relay.url)
        // Sealed through the library (the admin's duty seals on its own only past
        // snapshotMinBundles bundles); its next `concord sync` uploads it.
        let sealed = try #require(try await Replica.open(at: teacher.store).sealSnapshot())
        let id = sealed.manifest.id.hex
        let upload = try teacher.ok("sync", relay.url)
        #expect(upload.contains("uploaded snapshot \(id.prefix(8))"), "\(upload)")

        // The tail above the snapshot.
        _ = try await Self.writeMany(store: writer.store, records: 30, perBundle: 10, prefix: "tail", high: 3)
        try writer.ok("sync", relay.url)

        // A third device joins; its first sync loads the snapshot, then pulls the tail.
        try newcomer.ok(
            "join", try teacher.ok("invite", "--role", "writer").trimmingCharacters(in: .whitespacesAndNewlines), "--name", "Sipho's tablet"
        )
        try teacher.ok("sync", relay.url)  // the invite op reaches the relay
        let start = Date()
        let first = try newcomer.ok("sync", relay.url)
        let seconds = Date().timeIntervalSince(start)
        #expect(first.contains("loaded snapshot \(id.prefix(8))"), "\(first)")
        // Only the bundles above V came as bundles, not the whole log.
        let pulled = first.split(separator: " ").drop { $0 != "pulled" }.dropFirst().first.flatMap { Int($0) }
        let held = try #require(try json(try teacher.ok("status", "--json"))["bundles"] as? Int)
        let below = sealed.manifest.vector.entries.values.reduce(0) { $0 + Int($1) }
        print(
            "snapshot at \(sealed.manifest.vector) (\(below) bundles); the newcomer pulled \(pulled ?? -1) of the \(held) bundles the admin holds"
        )
        #expect(below >= 20 && pulled != nil && pulled! + below <= held + 4, "\(first)")
        let shown = try #require(try json(try newcomer.ok("status", "--json"))["snapshot"] as? [String: Any])
        #expect(shown["id"] as? String == id && shown["state"] as? String == "provisional", "\(shown)")
        let loaded = try #require(try await Replica.open(at: newcomer.store).snapshotStatus())
        #expect(loaded.id == sealed.manifest.id && loaded.state == .provisional, "\(loaded)")
        print("newcomer ready from the snapshot in \(String(format: "%.2f", seconds)) s (\(operations) operations before it)")

        // Everyone converges.
        for device in [teacher, writer, newcomer, teacher, writer] { try device.ok("sync", relay.url) }
        let digests = try [teacher, writer, newcomer].map { try json(try $0.ok("status", "--json"))["state_digest"] as? String }
        #expect(digests[0] != nil && digests[0] == digests[1] && digests[1] == digests[2], "\(digests)")
        let lists = try [teacher, newcomer].map { try $0.ok("list", "notes", "--json") }
        #expect(lists[0] == lists[1])

        // The admin holds the log at or below V: it verifies the snapshot by recomputing it.
        #expect(try await Replica.open(at: teacher.store).verifySnapshot(sealed).state == .verified)
    }
}
