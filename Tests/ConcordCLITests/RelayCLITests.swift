import Concord
import ConcordSync
import Foundation
import Testing

/// The relay and the sync engine as real processes on loopback: `concord relay serve` on
/// a temporary SQLite file, clients through `concord sync` and `SyncEngine`.
@Suite("relay sync (real processes)", .serialized)
struct RelayCLITests {
    /// Three devices, a relay, and stores that are joined to one space.
    struct Setup {
        let cli: CLI
        let scratch: Scratch
        let relay: RelayProcess
        let a: Device
        let b: Device
        let c: Device
        /// With `proxied`: a TCP proxy in front of the relay, which the relay knows as one
        /// of its public URLs (clients sign sessions for the URL they use).
        let proxy: TCPProxy?
        /// What a relay restarted on the same database needs besides `--db`.
        let relayArguments: [String]

        init(readerC: Bool = false, proxied: Bool = false) throws {
            cli = try CLI.locate()
            scratch = try Scratch()
            proxy = proxied ? try TCPProxy(upstream: 1) : nil
            relayArguments = proxy.map { ["--public-url", "http://127.0.0.1:\($0.port)"] } ?? []
            relay = try RelayProcess.start(cli: cli, storage: "sqlite:" + scratch.file("relay.sqlite"), arguments: relayArguments)
            proxy?.setUpstream(relay.port)
            a = Device(cli: cli, store: scratch.file("a"))
            b = Device(cli: cli, store: scratch.file("b"))
            c = Device(cli: cli, store: scratch.file("c"))
            try a.ok("init", "--format", "2")
            try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
            let cInvite = readerC ? try a.ok("invite", "--read-only") : try a.ok("invite")
            try c.ok("join", cInvite.trimmingCharacters(in: .whitespacesAndNewlines))
        }

        func tearDown() {
            proxy?.close()
            relay.terminate()
            scratch.remove()
        }
    }

    /// Writes `count` records in bundles of `perBundle`, each with `payload` bytes.
    static func writeMany(store: String, count: Int, perBundle: Int, payload: Int) async throws {
        let replica = try Replica.open(at: store)
        var written = 0
        while written < count {
            let n = min(perBundle, count - written)
            let base = written
            try await replica.write { tx in
                for i in base..<(base + n) {
                    try tx.set("body", to: .string(String(repeating: "x", count: payload) + "-\(i)"), record: RecordID.random(), in: "notes")
                }
            }
            try await replica.seal()
            written += n
        }
    }

    @Test("three replicas converge through the relay with `concord sync`")
    func threeReplicasConverge() throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let devices = [setup.a, setup.b, setup.c]
        let shared = UUID().uuidString
        for (index, device) in devices.enumerated() {
            try device.ok("put", "notes", UUID().uuidString, "title=\"from \(index)\"")
            try device.ok("put", "notes", shared, "title=\"shared \(index)\"", "n=\(index)")
            try device.ok("add", "notes", shared, "tags", "\"t\(index)\"")
        }
        for device in devices + devices.prefix(2) {
            let output = try device.ok("sync", setup.relay.url)
            #expect(output.contains("pulled") && output.contains("pushed"), "\(output)")
        }
        let lists = try devices.map { try $0.ok("list", "notes", "--json") }
        #expect(lists[0] == lists[1] && lists[1] == lists[2], "replicas diverged:\n\(lists.joined(separator: "\n"))")
        #expect(lists[0].contains("from 0") && lists[0].contains("from 1") && lists[0].contains("from 2"))
        // A round with nothing new moves nothing.
        let idle = try setup.a.ok("sync", setup.relay.url)
        #expect(idle.hasPrefix("pulled 0") && idle.contains("pushed 0"), "\(idle)")
        let status = try setup.a.ok("status")
        print("after sync: \(status)")
    }

    @Test("relay SIGKILLed and restarted mid-sync on the same database: clients resume, no loss, no duplicates")
    func relayKilledMidSync() async throws {
        let setup = try Setup(proxied: true)
        defer { setup.tearDown() }
        let proxy = try #require(setup.proxy)
        let url = "http://127.0.0.1:\(proxy.port)"
        try await Self.writeMany(store: setup.a.store, count: 3000, perBundle: 5, payload: 200)

        let started = Date()
        let sync = Process()
        sync.executableURL = URL(fileURLWithPath: setup.cli.binary)
        sync.arguments = ["sync", url, "--store", setup.a.store, "--attempts", "8"]
        let errors = Pipe()
        sync.standardError = errors
        sync.standardOutput = FileHandle.nullDevice
        try sync.run()
        try await Task.sleep(for: .milliseconds(250))
        setup.relay.kill()
        let killedAt = Date().timeIntervalSince(started)
        let restarted = try RelayProcess.start(cli: setup.cli, storage: setup.relay.storage, arguments: setup.relayArguments)
        defer { restarted.terminate() }
        proxy.setUpstream(restarted.port)
        sync.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("relay killed \(String(format: "%.2f", killedAt)) s into the sync; client stderr: \(stderr)")
        #expect(sync.terminationStatus == 0, "\(stderr)")

        // B pulls everything from the restarted relay; a second round moves nothing.
        let pulled = try setup.b.ok("sync", url)
        #expect(pulled.hasPrefix("pulled 600 "), "\(pulled)")
        let again = try setup.a.ok("sync", url)
        #expect(again.hasPrefix("pulled 0") && again.contains("pushed 0 (duplicate 0)"), "\(again)")
        #expect(try setup.a.ok("list", "notes", "--json") == setup.b.ok("list", "notes", "--json"))
        let b = try Replica.open(at: setup.b.store)
        #expect(try await b.records(in: "notes").count == 3000)
        #expect(try await b.status().heldBundles == 0)
    }

    @Test("a pull cut mid-transfer by the network keeps whole bundles; the retry converges")
    func pullCutMidTransfer() async throws {
        let setup = try Setup(proxied: true)
        defer { setup.tearDown() }
        try await Self.writeMany(store: setup.a.store, count: 400, perBundle: 1, payload: 8000)
        try setup.a.ok("sync", setup.relay.url)
        let proxy = try #require(setup.proxy)
        proxy.cutNextTransfer(afterBytes: 1_000_000)

        let b = try Replica.open(at: setup.b.store)
        let engine = SyncEngine(replica: b, relay: URL(string: "http://127.0.0.1:\(proxy.port)")!)
        var failure: ConcordSyncError?
        do {
            try await engine.syncNow()
        } catch let error as ConcordSyncError {
            failure = error
        }
        #expect(proxy.cuts == 1)
        #expect(failure?.code == .cutShort || failure?.code == .unreachable, "\(String(describing: failure))")
        #expect(failure?.isTransient == true)
        let kept = try await b.bundleCount()
        print("cut after 1 MB: \(kept) whole bundles kept; error: \(failure?.message ?? "none")")
        #expect(kept > 0 && kept < 400)
        #expect(await engine.currentStatus == .offline)

        let summary = try await engine.syncNow()
        #expect(summary.pulled.applied == 400 - kept)
        #expect(summary.pulled.duplicates == 0)
        #expect(try await b.bundleCount() == 400)
        #expect(try await b.records(in: "notes").count == 400)
        #expect(await engine.currentStatus == .synced)
    }

    @Test("live mode: a write on A reaches B through the feed within a second; status offline → syncing → synced")
    func liveFeed() async throws {
        let setup = try Setup()
        defer { setup.tearDown() }
        let relay = URL(string: setup.relay.url)!
        let a = try Replica.open(at: setup.a.store)
        let b = try Replica.open(at: setup.b.store)
        let engineA = SyncEngine(replica: a, relay: relay)
        let engineB = SyncEngine(replica: b, relay: relay)
        let statuses = await engineA.status
        let recorder = Task {
            var seen: [String] = []
            for await status in statuses {
                let kind = status.isSyncing ? "syncing" : status.description
                if seen.last != kind { seen.append(kind) }
                if kind == "synced" { break }
            }
            return seen
        }
        await engineA.start()
        await engineB.start()
        defer { Task { await engineA.stop(); await engineB.stop() } }
        let sequence = await recorder.value
        // offline → syncing → synced; on a loaded machine the first live session may miss its
        // 10 s ready deadline and be retried (offline → syncing again), never anything else.
        #expect(sequence.first == "offline" && sequence.last == "synced", "\(sequence)")
        let between = sequence.dropFirst().dropLast()
        #expect(between.allSatisfy { $0 == "syncing" || $0 == "offline" } && between.contains("syncing"), "\(sequence)")
        if sequence != ["offline", "syncing", "synced"] { print("live mode: the first live session was retried: \(sequence)") }
        for await status in await engineB.status where status == .synced { break }

        let id = RecordID.random()
        let start = ContinuousClock.now
        try await a.write { tx in try tx.set("title", to: .string("live"), record: id, in: "notes") }
        var arrived: Duration?
        while ContinuousClock.now - start < .seconds(20) {
            if try await b.record(id, in: "notes") != nil {
                arrived = ContinuousClock.now - start
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        print("live write A → B took \(arrived.map { "\($0)" } ?? "more than 20 s")")
        // The time is printed, not asserted (a loaded machine stretches any bound);
        // that it came through the live feed, not a later pull, is checked below.
        #expect(arrived != nil)
        // The count is bumped just after the import that made the record visible.
        for _ in 0..<100 where await engineB.feedBundlesReceived == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await engineB.feedBundlesReceived >= 1, "the write should arrive through the feed")
        // A's write is acknowledged by the relay: its sync status turns synced.
        var synced = false
        for _ in 0..<100 where !synced {
            synced = try await a.syncStatus(of: id, in: "notes") == .synced
            if !synced { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(synced)
        await engineA.stop()
        await engineB.stop()
        #expect(await engineA.currentStatus == .offline)
    }

    @Test("live mode survives a relay SIGKILL and restart: engines reconnect (new sessions), then writes flow again")
    func liveReconnectsAfterRelayRestart() async throws {
        let setup = try Setup(proxied: true)
        defer { setup.tearDown() }
        let proxy = try #require(setup.proxy)
        let relay = URL(string: "http://127.0.0.1:\(proxy.port)")!
        let a = try Replica.open(at: setup.a.store)
        let b = try Replica.open(at: setup.b.store)
        let options = SyncEngine.Options(maxDelay: 2)
        let engineA = SyncEngine(replica: a, relay: relay, options: options)
        let engineB = SyncEngine(replica: b, relay: relay, options: options)
        await engineA.start()
        await engineB.start()
        for await status in await engineB.status where status == .synced { break }

        setup.relay.kill()
        let restarted = try RelayProcess.start(cli: setup.cli, storage: setup.relay.storage, arguments: setup.relayArguments)
        defer { restarted.terminate() }
        proxy.setUpstream(restarted.port)
        proxy.dropAll()
        // Written while the feed is down: reaches B by A's push and B's catch-up pull.
        let ids = (0..<3).map { _ in RecordID.random() }
        for id in ids {
            try await a.write { tx in try tx.set("title", to: .string("after restart"), record: id, in: "notes") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let start = ContinuousClock.now
        var all = false
        while !all && ContinuousClock.now - start < .seconds(15) {
            all = true
            for id in ids where try await b.record(id, in: "notes") == nil { all = false }
            if !all { try await Task.sleep(for: .milliseconds(20)) }
        }
        print("after the relay restart, B had A's writes in \(ContinuousClock.now - start)")
        #expect(all)
        #expect(try await b.status().heldBundles == 0)
        await engineA.stop()
        await engineB.stop()
    }

    @Test("a session the relay forgot (restart) gets 401; the client authenticates again once and the request succeeds")
    func reauthenticatesAfter401() async throws {
        let setup = try Setup(proxied: true)
        defer { setup.tearDown() }
        try setup.a.ok("put", "notes", UUID().uuidString, "title=\"one\"")
        let proxy = try #require(setup.proxy)
        let a = try Replica.open(at: setup.a.store)
        let client = RelayClient(replica: a, relay: URL(string: "http://127.0.0.1:\(proxy.port)")!)
        try await client.push()
        #expect(await client.isAuthenticated)
        setup.relay.kill()
        let restarted = try RelayProcess.start(cli: setup.cli, storage: setup.relay.storage, arguments: setup.relayArguments)
        defer { restarted.terminate() }
        proxy.setUpstream(restarted.port)
        proxy.dropAll()
        var vector = try? await client.vector()  // a pooled connection may see the drop first
        if vector == nil { vector = try await client.vector() }
        #expect(vector?[a.membership.device.publicKey] == 1)
        #expect(try await a.syncStatus(of: try await a.records(in: "notes")[0].id, in: "notes") == .synced)
    }

    @Test("a reader pulls fine; its session's push is refused 403 read-only by the relay")
    func readerIsRefused() async throws {
        let setup = try Setup(readerC: true)
        defer { setup.tearDown() }
        try setup.a.ok("put", "notes", UUID().uuidString, "title=\"by a writer\"")
        try setup.a.ok("sync", setup.relay.url)
        let pulled = try setup.c.ok("sync", setup.relay.url)
        #expect(pulled.hasPrefix("pulled 1 "), "\(pulled)")
        #expect(try setup.c.ok("list", "notes", "--json") == setup.a.ok("list", "notes", "--json"))

        let a = try Replica.open(at: setup.a.store)
        var bundles: [[UInt8]] = []
        for try await bundle in try await a.bundles() { bundles.append(bundle.bytes) }
        let reader = try Replica.open(at: setup.c.store)
        let client = RelayClient(replica: reader, relay: URL(string: setup.relay.url)!)
        try await client.authenticate()
        #expect(await client.sessionRole == "reader")
        do {
            _ = try await client.sendBundles(BundleStreamFraming.encode(bundles))
            Issue.record("a reader's push was accepted")
        } catch let error as ConcordSyncError {
            #expect(error.code == .relayRefused && error.httpStatus == 403 && error.relayCode == "read-only", "\(error)")
            #expect(!error.isTransient)
            print("reader push refused: \(error.message)")
        }
    }

    @Test(
        "two relays on one PostgreSQL: clients of different relays converge, and a live write through one relay reaches a subscriber of the other within a second",
        .enabled(if: ProcessInfo.processInfo.environment["CONCORD_TEST_POSTGRES_URL"] != nil, "set CONCORD_TEST_POSTGRES_URL (make test starts PostgreSQL)"))
    func twoRelaysShareOnePostgres() async throws {
        let database = try #require(ProcessInfo.processInfo.environment["CONCORD_TEST_POSTGRES_URL"])
        let cli = try CLI.locate()
        let scratch = try Scratch()
        let one = try RelayProcess.start(cli: cli, storage: database)
        let two = try RelayProcess.start(cli: cli, storage: database)
        defer {
            one.terminate()
            two.terminate()
            scratch.remove()
        }
        let a = Device(cli: cli, store: scratch.file("a"))
        let b = Device(cli: cli, store: scratch.file("b"))
        let c = Device(cli: cli, store: scratch.file("c"))
        try a.ok("init", "--format", "2")
        try b.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))
        try c.ok("join", try a.ok("invite").trimmingCharacters(in: .whitespacesAndNewlines))

        // Batch: A and C use relay one, B relay two; every write reaches everyone.
        try a.ok("put", "notes", UUID().uuidString, "title=\"from a\"")
        try b.ok("put", "notes", UUID().uuidString, "title=\"from b\"")
        try c.ok("put", "notes", UUID().uuidString, "title=\"from c\"")
        try a.ok("sync", one.url)
        try b.ok("sync", two.url)
        try c.ok("sync", one.url)
        try a.ok("sync", one.url)
        try b.ok("sync", two.url)
        let lists = try [a, b, c].map { try $0.ok("list", "notes", "--json") }
        #expect(lists[0] == lists[1] && lists[1] == lists[2], "replicas diverged:\n\(lists.joined(separator: "\n"))")
        #expect(["from a", "from b", "from c"].allSatisfy { lists[0].contains($0) }, "\(lists[0])")

        // Live: A writes through relay one; B listens on relay two (LISTEN/NOTIFY between them).
        let replicaA = try Replica.open(at: a.store)
        let replicaB = try Replica.open(at: b.store)
        let engineA = SyncEngine(replica: replicaA, relay: URL(string: one.url)!)
        let engineB = SyncEngine(replica: replicaB, relay: URL(string: two.url)!)
        await engineA.start()
        await engineB.start()
        for await status in await engineA.status where status == .synced { break }
        for await status in await engineB.status where status == .synced { break }
        let id = RecordID.random()
        let start = ContinuousClock.now
        try await replicaA.write { tx in try tx.set("title", to: .string("live across relays"), record: id, in: "notes") }
        var arrived: Duration?
        while ContinuousClock.now - start < .seconds(20) {
            if try await replicaB.record(id, in: "notes") != nil {
                arrived = ContinuousClock.now - start
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        print("live write A (relay one) → B (relay two) took \(arrived.map { "\($0)" } ?? "more than 20 s")")
        // The time is printed, not asserted (a loaded machine stretches any bound);
        // that it came through the live feed, not a later pull, is checked below.
        #expect(arrived != nil)
        for _ in 0..<100 where await engineB.feedBundlesReceived == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await engineB.feedBundlesReceived >= 1, "the write should arrive through relay two's feed")
        await engineA.stop()
        await engineB.stop()
        #expect(try await replicaA.state() == replicaB.state())
    }
}
