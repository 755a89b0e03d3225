// concord-relay-bench: the relay under load, on SQLite and PostgreSQL side by side.
//
//   concord-relay-bench [--backends sqlite,postgres] [--postgres-url URL]
//                       [--subscribers 1000] [--rate 500] [--seconds 10]
//                       [--pushers 8] [--pull-ops 1000000] [--sections fanout,throughput,pull,hostile]
//                       [--feed-window 0.02] [--quick] [--json]
//
// Sections (each backend, same run):
//   fanout      N WebSocket subscribers held in one space while writers push bundles
//               (5 ops each) at a fixed rate; latency from the push request to each
//               subscriber's receipt: p50 / p99 over all deliveries, and p99 of the
//               slowest subscriber per bundle.
//   throughput  P writers pushing back to back (one bundle per request) with 100
//               subscribers; bundles stored per second and deliveries per second.
//   pull        a fresh SQLite replica pulls M operations (bundles of 1,000) through
//               `SyncEngine.syncNow()`; seconds and ops/s.
//   hostile     (only when named) what hostile clients cost: relay peak memory under 48
//               concurrent 15 MiB pushes with and without the body budget, a pull with a
//               `since` of 10,000 unknown authors, a vector of 16,000 authors (Hostile.swift).
//
// The relay runs in this process on 127.0.0.1; so do the clients (2 cores shared).

import AsyncHTTPClient
import Concord
import ConcordCore
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import HummingbirdWSClient
import Logging

struct Options {
    var backends = ["sqlite"]
    var postgresURL: String? = ProcessInfo.processInfo.environment["CONCORD_TEST_POSTGRES_URL"]
    var subscribers = 1_000
    var rate = 500
    var seconds = 10
    var pushers = 8
    var pullOps = 1_000_000
    var json = false
    var sections = ["fanout", "throughput", "pull"]
    var feedWindow = RelayConfiguration().feedBatchWindow

    init(_ args: [String]) {
        var i = 0
        func value() -> String {
            guard i + 1 < args.count else { fail("missing value for \(args[i])") }
            i += 1
            return args[i]
        }
        func int() -> Int {
            let text = value()
            guard let n = Int(text), n > 0 else { fail("\(args[i - 1]) takes a positive integer, got \(text)") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--backends": backends = value().split(separator: ",").map(String.init)
            case "--postgres-url": postgresURL = value()
            case "--subscribers": subscribers = int()
            case "--rate": rate = int()
            case "--seconds": seconds = int()
            case "--pushers": pushers = int()
            case "--pull-ops": pullOps = int()
            case "--quick": (subscribers, rate, seconds, pushers, pullOps) = (50, 100, 3, 4, 20_000)
            case "--json": json = true
            case "--sections": sections = value().split(separator: ",").map(String.init)
            case "--feed-window":
                let text = value()
                guard let seconds = Double(text), seconds >= 0 else { fail("--feed-window takes seconds (0 or more), got \(text)") }
                feedWindow = seconds
            case "--help", "-h":
                print("usage: concord-relay-bench [--backends sqlite,postgres] [--postgres-url URL] [--subscribers N] [--rate R] [--seconds T] [--pushers P] [--pull-ops M] [--sections fanout,throughput,pull,hostile] [--feed-window SECONDS] [--quick] [--json]")
                exit(0)
            default: fail("unknown argument \(args[i]); see --help")
            }
            i += 1
        }
        for backend in backends where !["sqlite", "postgres"].contains(backend) { fail("unknown backend \(backend)") }
        for section in sections where !["fanout", "throughput", "pull", "hostile"].contains(section) { fail("unknown section \(section)") }
        if backends.contains("postgres"), postgresURL == nil {
            fail("--backends postgres needs --postgres-url (or CONCORD_TEST_POSTGRES_URL); start one with Tools/postgres.sh start")
        }
    }
}

struct Row {
    var backend: String
    var metric: String
    var value: Double
    var unit: String
    var goal: String = ""
}

/// A running relay on loopback.
struct RunningRelay {
    let running: RelayServer.Running
    let storage: any RelayStorage
    var port: Int { running.port }

    func stop() async {
        await running.stop()
        await storage.close()
    }
}

func startRelay(backend: String, options: Options, directory: String) async throws -> RunningRelay {
    var logger = Logger(label: "relay-bench")
    // Stopping by cancellation makes HummingbirdCore log "Already closed" at error level;
    // anything the bench cares about reaches the clients as an HTTP status.
    logger.logLevel = .critical
    let storage: any RelayStorage
    switch backend {
    case "postgres":
        storage = try await RelayStorageURL.open(options.postgresURL!, logger: logger)
    default:
        storage = try await RelayStorageURL.open("sqlite:\(directory)/relay.sqlite", logger: logger)
    }
    var configuration = RelayConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.requestsPerSecond = 100_000
    configuration.requestBurst = 100_000
    configuration.maxFeedBacklog = 100_000
    configuration.feedBatchWindow = options.feedWindow
    configuration.maxOutstandingChallenges = max(configuration.maxOutstandingChallenges, 10_000)
    // Every load client connects from 127.0.0.1: per-client limits would see one client.
    configuration.maxConnectionsPerClient = 0
    configuration.maxChallengesPerClient = 100_000
    configuration.maxChallengesPerSpace = 100_000
    configuration.authRequestsPerSecond = 100_000
    configuration.authRequestBurst = 100_000
    configuration.newSpacesPerClientPerHour = 100_000
    let running = try await RelayServer(configuration: configuration, storage: storage, logger: logger).start()
    return RunningRelay(running: running, storage: storage)
}

/// Fresh space per section: an owner plus writers, and a reader for subscribers.
struct Cast {
    let owner: Membership
    let writers: [Membership]
    let reader: Membership

    init(writers count: Int) throws {
        owner = Membership.createSpace(encrypted: true)
        var writers = [owner]
        for _ in 1..<max(1, count) { writers.append(try Membership.join(try owner.writerInvite())) }
        self.writers = writers
        reader = try Membership.join(try owner.readerInvite())
    }
}

/// Opens `count` feed subscriptions; returns once every one has said `ready`.
func subscribe(count: Int, cast: Cast, client: LoadClient, port: Int, expected: Int, group: inout ThrowingTaskGroup<Void, any Error>) async throws -> [DeliveryLog] {
    var logs: [DeliveryLog] = []
    var tokens: [String] = []
    for _ in 0..<count { tokens.append(try await client.authenticate(cast.reader)) }
    var logger = Logger(label: "relay-bench-ws")
    logger.logLevel = .error
    let url = "ws://127.0.0.1:\(port)\(RelayAPI.path(cast.owner.spaceID, "feed"))"
    for token in tokens {
        let log = DeliveryLog()
        logs.append(log)
        group.addTask {
            var configuration = WebSocketClientConfiguration(maxFrameSize: 2 << 20)
            configuration.additionalHeaders[.authorization] = "Bearer \(token)"
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, _, _ in
                for try await message in inbound.messages(maxSize: 2 << 20) {
                    switch message {
                    case .text(let text) where text.contains("ready"):
                        log.markReady()
                    case .binary(let buffer):
                        // One or more framed bundles per message (relay-api §5).
                        let time = now()
                        var delivered = 0
                        for bundle in try BundleStreamFraming.frames(inMessage: Array(buffer.readableBytesView)) {
                            delivered = log.record(bundleKey(bundle), at: time)
                        }
                        if delivered >= expected { return }
                    default:
                        break
                    }
                }
            }
        }
    }
    let deadline = now() + 60
    while logs.contains(where: { !$0.isReady }) {
        guard now() < deadline else { throw BenchError("only \(logs.filter(\.isReady).count) of \(count) subscribers became ready in 60 s") }
        try await Task.sleep(for: .milliseconds(20))
    }
    return logs
}

/// Waits until every log has `expected` deliveries or `seconds` pass.
func drain(_ logs: [DeliveryLog], expected: Int, seconds: Double) async throws {
    let deadline = now() + seconds
    while now() < deadline, logs.contains(where: { $0.times.count < expected }) {
        try await Task.sleep(for: .milliseconds(50))
    }
}

func fanout(backend: String, options: Options, client: LoadClient, directory: String, relay: RunningRelay) async throws -> [Row] {
    let writerCount = 10
    let cast = try Cast(writers: writerCount)
    let total = options.rate * options.seconds
    let perWriter = (total + writerCount - 1) / writerCount
    var chains: [[ChangeBundle]] = []
    for (index, writer) in cast.writers.enumerated() {
        chains.append(try sealChain(writer, count: perWriter, opsPerBundle: 5, seed: UInt64(index + 1)))
    }
    let expected = chains.reduce(0) { $0 + $1.count }
    let sends = SendLog()
    let client = LoadClient(http: client.http, base: "http://127.0.0.1:\(relay.port)")
    var tokens: [String] = []
    for writer in cast.writers { tokens.append(try await client.authenticate(writer)) }

    return try await withThrowingTaskGroup(of: Void.self) { group in
        let started = now()
        let logs = try await subscribe(count: options.subscribers, cast: cast, client: client, port: relay.port, expected: expected, group: &group)
        let subscribeSeconds = now() - started
        let rssHeld = peakRSSMegabytes()
        // Each writer pushes its chain at rate / writers, one bundle per request.
        let interval = Double(writerCount) / Double(options.rate)
        let pushStart = now()
        try await withThrowingTaskGroup(of: Void.self) { pushers in
            for (index, chain) in chains.enumerated() {
                let token = tokens[index]
                let space = cast.owner.spaceID
                pushers.addTask {
                    let offset = interval * Double(index) / Double(writerCount)
                    for (n, bundle) in chain.enumerated() {
                        let due = pushStart + offset + Double(n) * interval
                        let wait = due - now()
                        if wait > 0 { try await Task.sleep(for: .microseconds(Int(wait * 1e6))) }
                        sends.record(bundleKey(bundle.bytes), at: now())
                        try await client.push([bundle.bytes], space: space, token: token)
                    }
                }
            }
            try await pushers.waitForAll()
        }
        let pushSeconds = now() - pushStart
        try await drain(logs, expected: expected, seconds: 30)
        group.cancelAll()

        let sendTimes = sends.times
        var all: [Double] = []
        all.reserveCapacity(expected * logs.count)
        var slowest: [UInt64: Double] = [:]
        var missing = 0
        for log in logs {
            let times = log.times
            missing += expected - times.count
            for (key, received) in times {
                guard let sent = sendTimes[key] else { continue }
                let latency = (received - sent) * 1000
                all.append(latency)
                slowest[key] = max(slowest[key] ?? 0, latency)
            }
        }
        all.sort()
        let worst = slowest.values.sorted()
        let p99 = percentile(all, 0.99)
        return [
            Row(backend: backend, metric: "subscribers held", value: Double(logs.count), unit: "", goal: options.subscribers >= 1_000 ? "≥ 1,000: \(logs.count >= 1_000 ? "PASS" : "MISS")" : ""),
            Row(backend: backend, metric: "subscribe (auth + upgrade) all", value: subscribeSeconds, unit: "s"),
            Row(backend: backend, metric: "push rate achieved", value: Double(expected) / pushSeconds, unit: "bundles/s"),
            Row(backend: backend, metric: "deliveries", value: Double(all.count), unit: ""),
            Row(backend: backend, metric: "deliveries missing after 30 s", value: Double(missing), unit: ""),
            Row(backend: backend, metric: "fan-out latency p50", value: percentile(all, 0.5), unit: "ms"),
            Row(backend: backend, metric: "fan-out latency p99", value: p99, unit: "ms",
                goal: options.subscribers >= 1_000 && options.rate >= 500 ? "< 100 ms at 500/s: \(p99 < 100 && missing == 0 ? "PASS" : "MISS")" : ""),
            Row(backend: backend, metric: "slowest subscriber p99", value: percentile(worst, 0.99), unit: "ms"),
            Row(backend: backend, metric: "peak RSS (relay + clients)", value: max(rssHeld, peakRSSMegabytes()), unit: "MB"),
        ]
    }
}

func throughput(backend: String, options: Options, client: LoadClient, directory: String, relay: RunningRelay) async throws -> [Row] {
    let cast = try Cast(writers: options.pushers)
    let perWriter = max(50, options.rate * options.seconds / options.pushers)
    var chains: [[ChangeBundle]] = []
    for (index, writer) in cast.writers.enumerated() {
        chains.append(try sealChain(writer, count: perWriter, opsPerBundle: 5, seed: UInt64(100 + index)))
    }
    let client = LoadClient(http: client.http, base: "http://127.0.0.1:\(relay.port)")
    var tokens: [String] = []
    for writer in cast.writers { tokens.append(try await client.authenticate(writer)) }
    let subscribers = min(100, options.subscribers)
    let expected = chains.reduce(0) { $0 + $1.count }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        let logs = try await subscribe(count: subscribers, cast: cast, client: client, port: relay.port, expected: expected, group: &group)
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { pushers in
            for (index, chain) in chains.enumerated() {
                let token = tokens[index]
                let space = cast.owner.spaceID
                pushers.addTask {
                    for bundle in chain { try await client.push([bundle.bytes], space: space, token: token) }
                }
            }
            try await pushers.waitForAll()
        }
        let pushSeconds = now() - start
        try await drain(logs, expected: expected, seconds: 60)
        let allSeconds = now() - start
        group.cancelAll()
        let delivered = logs.reduce(0) { $0 + $1.times.count }
        return [
            Row(backend: backend, metric: "push throughput (\(options.pushers) writers)", value: Double(expected) / pushSeconds, unit: "bundles/s"),
            Row(backend: backend, metric: "fan-out to \(subscribers) subscribers", value: Double(delivered) / allSeconds, unit: "deliveries/s"),
        ]
    }
}

func pull(backend: String, options: Options, client: LoadClient, directory: String, relay: RunningRelay) async throws -> [Row] {
    let owner = Membership.createSpace(encrypted: true)
    let bundleCount = max(1, options.pullOps / 1_000)
    let chain = try sealChain(owner, count: bundleCount, opsPerBundle: min(1_000, options.pullOps), seed: 7)
    let client = LoadClient(http: client.http, base: "http://127.0.0.1:\(relay.port)")
    let token = try await client.authenticate(owner)
    var batch: [[UInt8]] = []
    var batchBytes = 0
    for bundle in chain {
        batch.append(bundle.bytes)
        batchBytes += bundle.bytes.count
        if batchBytes > 8 << 20 {
            try await client.push(batch, space: owner.spaceID, token: token)
            (batch, batchBytes) = ([], 0)
        }
    }
    if !batch.isEmpty { try await client.push(batch, space: owner.spaceID, token: token) }

    let replicaDirectory = directory + "/pulling-replica"
    let replica = try Replica.join(try owner.readerInvite(), at: replicaDirectory)
    let engine = SyncEngine(replica: replica, relay: URL(string: client.base)!)
    let start = now()
    _ = try await engine.syncNow()
    let seconds = now() - start
    let count = try await replica.count(matching: RecordQuery("progress"))
    guard try await replica.versionVector()[owner.device.publicKey] == UInt64(bundleCount) else {
        throw BenchError("the pulling replica did not receive every bundle")
    }
    let ops = Double(bundleCount * min(1_000, options.pullOps))
    return [
        Row(backend: backend, metric: "initial pull of \(Int(ops)) ops", value: seconds, unit: "s",
            goal: ops >= 1_000_000 ? "< 30 s: \(seconds < 30 ? "PASS" : "MISS")" : ""),
        Row(backend: backend, metric: "initial pull rate", value: ops / seconds, unit: "ops/s"),
        Row(backend: backend, metric: "records after pull", value: Double(count), unit: ""),
    ]
}

func format(_ value: Double, _ unit: String) -> String {
    if value.isNaN { return "n/a" }
    let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
    return unit.isEmpty ? text : "\(text) \(unit)"
}

func render(_ rows: [Row], backends: [String]) -> String {
    var metrics: [String] = []
    for row in rows where !metrics.contains(row.metric) { metrics.append(row.metric) }
    var table: [[String]] = [["metric"] + backends + ["goal"]]
    for metric in metrics {
        var line = [metric]
        var goal = ""
        for backend in backends {
            let row = rows.first { $0.metric == metric && $0.backend == backend }
            line.append(row.map { format($0.value, $0.unit) } ?? "-")
            if let g = row?.goal, !g.isEmpty { goal += (goal.isEmpty ? "" : "; ") + "\(backend) \(g)" }
        }
        table.append(line + [goal])
    }
    let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max()! }
    return table.enumerated().map { index, line in
        let text = zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ")
        return index == 0 ? text + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-") : text
    }.joined(separator: "\n")
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let root = FileManager.default.temporaryDirectory.appendingPathComponent("concord-relay-bench-\(getpid())").path
try? FileManager.default.removeItem(atPath: root)
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10))))
var rows: [Row] = []
var failed = false
for backend in options.backends {
    for (name, section) in [("fanout", fanout), ("throughput", throughput), ("pull", pull), ("hostile", hostile)] as [(String, (String, Options, LoadClient, String, RunningRelay) async throws -> [Row])] where options.sections.contains(name) {
        let directory = "\(root)/\(backend)-\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            FileHandle.standardError.write(Data("==> relay bench: \(backend) \(name)\n".utf8))
            let relay = try await startRelay(backend: backend, options: options, directory: directory)
            do {
                rows += try await section(backend, options, LoadClient(http: http, base: ""), directory, relay)
                await relay.stop()
            } catch {
                await relay.stop()
                throw error
            }
        } catch {
            failed = true
            FileHandle.standardError.write(Data("relay bench \(backend) \(name) failed: \(error)\n".utf8))
        }
    }
}
try await http.shutdown().get()

print("Relay benchmark: \(options.subscribers) subscribers, \(options.rate) bundles/s for \(options.seconds) s, \(options.pushers) pushers, pull of \(options.pullOps) ops")
print("(relay and clients in one process on 127.0.0.1, \(ProcessInfo.processInfo.activeProcessorCount) cores; feed batch window \(Int(options.feedWindow * 1000)) ms)")
print(render(rows, backends: options.backends))
if options.json {
    for row in rows {
        let object: [String: Any] = ["section": "relay", "backend": row.backend, "metric": row.metric, "value": row.value.isNaN ? 0 : row.value, "unit": row.unit]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}
exit(failed ? 1 : 0)
