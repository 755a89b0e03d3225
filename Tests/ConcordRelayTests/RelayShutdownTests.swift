import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging
import Testing

/// `RelayServer.Running.stop()` shuts down gracefully: live feeds end, the socket
/// closes, and it returns promptly even with clients connected.
@Suite struct RelayShutdownTests {
    @Test("stop() with a live SyncEngine subscribed ends its feed and returns well within the grace period; then sync now fails fast as unreachable")
    func stopWithLiveSubscribers() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let storage = try SQLiteRelayStorage(path: directory.path("relay.sqlite"))
        var logger = Logger(label: "concord.relay.test")
        logger.logLevel = .critical
        let relay = try await RelayServer(configuration: RelayConfiguration(host: "127.0.0.1", port: 0), storage: storage, logger: logger).start()
        let replica = try Replica.create(at: directory.path("device"))
        try await replica.write { try $0.set("title", to: "x", record: RecordID.random(), in: "notes") }
        var engineLogger = Logger(label: "concord.sync.test")
        engineLogger.logLevel = .critical
        let engine = SyncEngine(replica: replica, relay: relay.url(), logger: engineLogger)
        let statuses = await engine.status
        await engine.start()
        for await status in statuses where status == .synced { break }

        let start = ContinuousClock.now
        await relay.stop()
        let took = ContinuousClock.now - start
        print("relay stop with a live subscriber took \(took)")
        // The regression waited for the live feed's 30 s idle deadline; the bound is
        // generous so that a loaded machine does not fail it.
        #expect(took < .seconds(20), "stop() waited \(took); the feed should end at once")
        // The engine notices: its live session fails and it goes on retrying.
        var left = false
        for await status in statuses {
            if status != .synced, !status.isSyncing { left = true; break }
        }
        #expect(left)
        // Nothing listens any more.
        // "Sync now" against the stopped relay says unreachable at once, not after the
        // 30 s request deadline (regression: AsyncHTTPClient retried the refused connect).
        let before = ContinuousClock.now
        let error = await #expect(throws: ConcordSyncError.self) { try await engine.syncNow() }
        let failedAfter = ContinuousClock.now - before
        print("syncNow against a stopped relay failed after \(failedAfter): \(String(describing: error))")
        #expect(error?.code == .unreachable)
        #expect(failedAfter < .seconds(20), "the 30 s request deadline should not be waited for")
        await engine.stop()
        await storage.close()
    }
}
