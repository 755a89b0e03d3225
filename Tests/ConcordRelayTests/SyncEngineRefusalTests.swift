import Concord
import ConcordRelay
import ConcordSync
import Foundation
import Logging
import Testing

/// What an app sees when a real relay refuses its sync: `SyncEngine.syncNow()` throws a
/// typed ``ConcordSyncError`` carrying the relay's status, code and `Retry-After`, the
/// status stream reports the reason, and nothing is lost or half-stored on either side.
@Suite struct SyncEngineRefusalTests {
    /// A replica on disk with `count` records written and sealed.
    static func replica(in directory: TemporaryDirectory, records count: Int, bytes: Int) async throws -> (Replica, [RecordID]) {
        let replica = try Replica.createWithoutMembers(at: directory.path("device"))
        let ids = (0..<count).map { _ in RecordID.random() }
        try await replica.write { tx in
            for id in ids { try tx.set("body", to: .string(String(repeating: "x", count: bytes)), record: id, in: "notes") }
        }
        return (replica, ids)
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "concord.sync.test")
        logger.logLevel = .critical
        return logger
    }

    @Test("507: a push over the space quota throws quota-exceeded, not transient; the relay stores nothing and the writes stay pending", arguments: StorageBackend.all)
    func quotaRefusal(_ backend: StorageBackend) async throws {
        try await RelayHarness.with(backend, { $0.spaceQuotaBytes = 2_000 }) { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let (replica, ids) = try await Self.replica(in: directory, records: 20, bytes: 500)
            let engine = SyncEngine(replica: replica, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            let statuses = await engine.status
            let error = await #expect(throws: ConcordSyncError.self) { try await engine.syncNow() }
            #expect(error?.code == .relayRefused)
            #expect(error?.httpStatus == 507)
            #expect(error?.relayCode == "quota-exceeded")
            #expect(error?.isTransient == false, "a full space does not empty itself: no retry loop")
            #expect(error?.message.contains("quota") == true, "\(String(describing: error?.message))")
            var reported: String?
            for await status in statuses {
                if case .error(let reason) = status {
                    reported = reason
                    break
                }
            }
            #expect(reported?.contains("quota") == true, "status stream: \(String(describing: reported))")
            #expect(try await relay.storage.bundles(in: replica.spaceID, since: VersionVector(), afterPosition: 0, limit: 100).isEmpty)
            for id in ids.prefix(3) { #expect(try await replica.syncStatus(of: id, in: "notes") != .synced) }
            #expect(try await replica.records(matching: RecordQuery("notes")).count == ids.count)
        }
    }

    @Test("429: a session over its request rate gets rate-limited with Retry-After, marked transient so the engine backs off and retries; nothing half-stored")
    func rateLimitRefusal() async throws {
        try await RelayHarness.with({ $0.requestsPerSecond = 0.05; $0.requestBurst = 3 }) { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let (replica, _) = try await Self.replica(in: directory, records: 3, bytes: 10)
            let engine = SyncEngine(replica: replica, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            var refusal: ConcordSyncError?
            for _ in 0..<6 where refusal == nil {
                do {
                    _ = try await engine.syncNow()
                } catch let error as ConcordSyncError {
                    refusal = error
                }
            }
            let error = try #require(refusal, "six rounds at 0.05 requests/s with a burst of 3 should be refused")
            #expect(error.httpStatus == 429)
            #expect(error.relayCode == "rate-limited")
            #expect(error.isTransient)
            let retryAfter = try #require(error.retryAfter, "429 carries Retry-After")
            #expect(retryAfter > 0 && retryAfter <= 60, "Retry-After \(retryAfter)")
            // What was pushed before the refusal is stored once; nothing is half-stored.
            let stored = try await relay.storage.bundles(in: replica.spaceID, since: VersionVector(), afterPosition: 0, limit: 100)
            #expect(Set(stored.map(\.sequence)).count == stored.count)
        }
    }
}
