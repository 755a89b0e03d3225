import ConcordRelay
import ConcordSync
import Foundation
import Logging
import Testing

@testable import Concord
@testable import ConcordSync

/// Issue 17 regressions through a real relay on loopback: writes of a second `Replica`
/// instance (an app extension) are pushed, the status never says synced while the store
/// holds pending operations, an oversized value never blocks later pushes, and an engine
/// that is released stops. Each test failed on the code before the fix.
@Suite("App sync regressions (issue 17)")
struct AppSyncRegressionTests {
    static var quietLogger: Logger {
        var logger = Logger(label: "concord.sync.test")
        logger.logLevel = .critical
        return logger
    }

    /// Waits for `condition`, at most 60 s: a liveness bound, not a timing check (a loaded
    /// 2-core machine running the relay suites beside this one took longer than 15 s).
    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test("syncNow pushes what another Replica instance on the same store wrote, and is synced only once the store holds nothing pending")
    func syncNowPushesOtherInstancesWrites() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let app = try Replica.createWithoutMembers(at: directory.path("app"))
            let reader = try Replica.join(try await app.invite(), at: directory.path("other-device"))
            let widget = try Replica.open(at: directory.path("app"))
            let engine = SyncEngine(replica: app, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            let id = RecordID.random()
            try await widget.write { try $0.set("title", to: "from the widget", record: id, in: "notes") }

            let summary = try await engine.syncNow()
            #expect(summary.pushed.stored == 1, "the widget's write must be pushed")
            #expect(await engine.currentStatus == .synced)
            #expect(try await app.status().pendingOperations == 0)
            #expect(try await widget.syncStatus(of: id, in: "notes") == .synced)

            _ = try await SyncEngine(replica: reader, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger).syncNow()
            #expect(try await reader.record(id, in: "notes")?["title"] == "from the widget")
        }
    }

    @Test("a live engine pushes writes of another instance within its poll interval and reports synced only afterwards")
    func liveEnginePushesOtherInstancesWrites() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let app = try Replica.createWithoutMembers(at: directory.path("app"))
            let other = try Replica.join(try await app.invite(), at: directory.path("other-device"))
            let widget = try Replica.open(at: directory.path("app"))
            let options = SyncEngine.Options(localWritePollInterval: 0.2)
            let engine = SyncEngine(replica: app, relay: URL(string: relay.baseURL)!, options: options, logger: Self.quietLogger)
            await engine.start()
            #expect(try await Self.eventually { await engine.currentStatus == .synced })

            let id = RecordID.random()
            try await widget.write { try $0.set("title", to: "while live", record: id, in: "notes") }
            let otherEngine = SyncEngine(replica: other, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            #expect(
                try await Self.eventually {
                    _ = try await otherEngine.syncNow()
                    return try await other.record(id, in: "notes") != nil
                })
            #expect(
                try await Self.eventually {
                    let synced = await engine.currentStatus == .synced
                    let pending = try await app.status().pendingOperations
                    return synced && pending == 0
                })
            await engine.stop()
        }
    }

    @Test("a 20 MB value is refused at write time, and everything written afterwards still reaches the relay")
    func oversizedValueNeverBlocksPushes() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let a = try Replica.createWithoutMembers(at: directory.path("a"))
            let b = try Replica.join(try await a.invite(), at: directory.path("b"))
            let error = await #expect(throws: ConcordError.self) {
                try await a.write {
                    try $0.set("photo", to: .bytes([UInt8](repeating: 1, count: 20 << 20)), record: .random(), in: "files")
                }
            }
            #expect(error?.code == .valueTooLarge)
            // 6 values near the limit: more than one push request and one bundle hold.
            let part = Value.bytes([UInt8](repeating: 2, count: 900 << 10))
            for index in 0..<6 {
                try await a.write { try $0.set("part", to: part, record: RecordID(high: 7, low: UInt64(index)), in: "files") }
            }
            let url = URL(string: relay.baseURL)!
            let pushed = try await SyncEngine(replica: a, relay: url, logger: Self.quietLogger).syncNow()
            #expect(pushed.pushed.stored >= 2)
            _ = try await SyncEngine(replica: b, relay: url, logger: Self.quietLogger).syncNow()
            #expect(try await b.count(matching: RecordQuery("files")) == 6)
        }
    }

    @Test("a live engine that is released stops: its task ends and the replica forgets its listeners")
    func releasedEngineStops() async throws {
        try await RelayHarness.with { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let replica = try Replica.createWithoutMembers(at: directory.path("app"))
            weak var released: SyncEngine?
            let status: ObservableSyncStatus
            do {
                let engine = SyncEngine(replica: replica, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
                released = engine
                status = engine.observableStatus
                await engine.start()
                #expect(try await Self.eventually { status.status == .synced }, "the observable status follows the engine")
            }
            #expect(try await Self.eventually { released == nil }, "nothing keeps a released engine alive")
            #expect(try await Self.eventually { await replica.localWriteListeners.isEmpty }, "its live loop ended")
            #expect(try await Self.eventually { status.status == .offline })
        }
    }
}
