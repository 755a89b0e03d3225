import ConcordCore
import ConcordCrypto
import ConcordSync
import Foundation
import Synchronization
import Testing

@testable import Concord
@testable import ConcordProtocol
@testable import ConcordRelay

/// `SyncEngine` and snapshots (`Specs/snapshots.md` §4.5, `Specs/relay-api.md` §3.1): an
/// admin's round uploads its own sealed snapshot after its push; a newly joined device's
/// first round loads the relay's snapshot, reporting chunks, then pulls the tail above it
/// and ends with the admin's visible state. (In ConcordRelayTests: it needs the relay in
/// process, which ConcordSyncTests does not link.)
@Suite("SyncEngine: initial sync from the relay's snapshot", .serialized)
struct SyncEngineSnapshotTests {
    @Test(arguments: StorageBackend.all)
    func aNewDeviceLoadsTheSnapshotThenPullsTheTail(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(
            backend, { $0.spaces = .open },
            { relay in
                let room = try await RelaySnapshotEndpointTests.classroom(relay, checkpoints: 1)
                defer { room.directory.cleanUp() }
                let url = URL(string: relay.baseURL)!
                let sealed = try #require(try await room.teacher.sealSnapshot())
                let teacherEngine = SyncEngine(replica: room.teacher, relay: url)
                let first = try await teacherEngine.syncNow()
                #expect(first.snapshotUploaded == sealed.manifest.id, "\(first)")
                #expect(first.compacted == nil, "compaction is off by default")
                #expect(try await relay.storage.latestSnapshot(of: room.teacher.spaceID)?.id == sealed.manifest.id)
                // Offered once: the next round does not upload again.
                #expect(try await teacherEngine.syncNow().snapshotUploaded == nil)

                // The tail above V, and an invite for a third device.
                try await room.tablet.write {
                    try $0.set("title", to: "after the snapshot", record: RecordID(high: 99, low: 1), in: "notes")
                }
                _ = try await SyncEngine(replica: room.tablet, relay: url).syncNow()
                let invite = try await room.teacher.invite(role: .writer)
                _ = try await teacherEngine.syncNow()
                let newcomer = try await Replica.join(invite, at: room.directory.path("newcomer"), name: "Sipho's tablet")
                let engine = SyncEngine(replica: newcomer, relay: url)
                let seen = Mutex<[SyncEngine.SyncProgress]>([])
                let statuses = await engine.status
                let watcher = Task {
                    for await status in statuses {
                        if case .syncing(let progress) = status { seen.withLock { $0.append(progress) } }
                        if status == .synced { break }
                    }
                }
                let summary = try await engine.syncNow()
                await watcher.value
                #expect(summary.snapshotLoaded == sealed.manifest.id, "\(summary)")
                #expect(summary.description.contains("loaded snapshot \(sealed.manifest.id.hex.prefix(8))"))
                #expect(summary.pulled.applied > 0, "the tail above V is pulled: \(summary)")
                #expect(try await newcomer.snapshotStatus()?.id == sealed.manifest.id)
                #expect(try await newcomer.record(RecordID(high: 99, low: 1), in: "notes")?["title"] == "after the snapshot")
                let progress = seen.withLock { $0 }
                #expect(progress.contains { $0.chunksTotal == sealed.chunks.count }, "\(progress)")
                // Everyone converges on the same visible state.
                _ = try await SyncEngine(replica: room.tablet, relay: url).syncNow()
                _ = try await teacherEngine.syncNow()
                _ = try await engine.syncNow()
                let digests = [
                    try await room.teacher.state().digestHex, try await room.tablet.state().digestHex, try await newcomer.state().digestHex,
                ]
                #expect(Set(digests).count == 1, "\(digests)")
                // A store that is not empty never loads: a second round pulls as usual.
                #expect(try await engine.syncNow().snapshotLoaded == nil)
                // The admin holds the log at or below V: it verifies the snapshot.
                #expect(try await room.teacher.verifySnapshot(sealed).state == .verified)
            })
    }
    /// `Replica.Options.compaction = .auto` (`Specs/snapshots.md` §5.1): the admin's round
    /// compacts to the snapshot it sealed, after uploading it; a writer's round verifies the
    /// relay's snapshot against its own log, then compacts to it; the next rounds have
    /// nothing to do, and both still converge with later writes.
    @Test func automaticCompactionAfterASealedOrVerifiedSnapshot() async throws {
        try await RelayHarness.with(
            { $0.spaces = .open },
            { relay in
                let room = try await RelaySnapshotEndpointTests.classroom(relay, checkpoints: 1, compaction: .auto(historyHorizon: .zero))
                defer { room.directory.cleanUp() }
                let url = URL(string: relay.baseURL)!
                let sealed = try #require(try await room.teacher.sealSnapshot())
                let teacherEngine = SyncEngine(replica: room.teacher, relay: url)
                let tabletEngine = SyncEngine(replica: room.tablet, relay: url)
                let teacherBefore = try await room.teacher.storageReport().counts.logBundles
                let first = try await teacherEngine.syncNow()
                #expect(first.snapshotUploaded == sealed.manifest.id, "\(first)")
                let teacherReport = try #require(first.compacted, "\(first)")
                #expect(teacherReport.bundlesDropped > 0 && teacherReport.snapshot == sealed.manifest.id, "\(teacherReport)")
                #expect(try await room.teacher.storageReport().counts.logBundles < teacherBefore)
                #expect(first.description.contains("compacted"))

                // The tablet holds the log below the snapshot: it verifies the relay's, then compacts.
                #expect(try await room.tablet.snapshotStatus() == nil)
                let tabletRound = try await tabletEngine.syncNow()
                let tabletReport = try #require(tabletRound.compacted, "\(tabletRound)")
                #expect(tabletReport.snapshot == sealed.manifest.id && tabletReport.bundlesDropped > 0, "\(tabletReport)")
                #expect(try await room.tablet.snapshotStatus()?.state == .verified)
                #expect(try await room.tablet.snapshotStatus()?.id == sealed.manifest.id)

                // Nothing is due again until a newer snapshot.
                #expect(try await teacherEngine.syncNow().compacted == nil)
                #expect(try await tabletEngine.syncNow().compacted == nil)

                // Later writes still converge.
                try await room.tablet.write { try $0.set("title", to: "after compaction", record: RecordID(high: 98, low: 1), in: "notes") }
                try await room.teacher.write { try $0.set("title", to: "teacher too", record: RecordID(high: 98, low: 2), in: "notes") }
                for engine in [tabletEngine, teacherEngine, tabletEngine] { _ = try await engine.syncNow() }
                #expect(try await room.teacher.record(RecordID(high: 98, low: 1), in: "notes")?["title"] == "after compaction")
                #expect(try await room.teacher.state().digestHex == (try await room.tablet.state().digestHex))
            })
    }
}
