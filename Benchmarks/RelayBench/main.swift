// concord-relay-bench: the relay under load, on SQLite and PostgreSQL side by side, beside a
// bare WebSocket broadcast server on the same stack as the ceiling.
//
//   concord-relay-bench [--backends sqlite,postgres] [--postgres-url URL]
//                       [--subscribers 1000] [--rates 125,250,500] [--seconds 10]
//                       [--pushers 8] [--pull-ops 1000000] [--sections fanout,throughput,pull,hostile]
//                       [--feed-window 0.02] [--quick] [--json]
//
// Sections (each backend, same run):
//   fanout      like production: the server runs in a process of its own (this binary with
//               `--serve`, Servers.swift) and this process is the load generator: N
//               WebSocket subscribers held in one space while 10 writers push bundles (5
//               ops each, one per request) at a fixed rate. First the bare broadcast server
//               at each of `--rates` (ascending, until its p99 reaches 100 ms); then the
//               relay on each backend at the highest rate the bare server sustained under
//               100 ms. Latency from the push request to each subscriber's receipt (p50 /
//               p99 over all deliveries, and p99 of the slowest subscriber per bundle); the
//               server process's CPU time (user + system, /proc/<pid>/stat) per delivered
//               bundle; and every expected delivery accounted for: any missing one fails the
//               run (exit 1) after the table.
//   throughput  P writers pushing back to back (one bundle per request) with 100
//               subscribers; bundles stored per second and deliveries per second (relay
//               in this process).
//   pull        a fresh SQLite replica pulls M operations (bundles of 1,000) through
//               `SyncEngine.syncNow()`; seconds and ops/s (relay in this process).
//   hostile     (only when named) what hostile clients cost: relay peak memory under 48
//               concurrent 15 MiB pushes with and without the body budget, a pull with a
//               `since` of 10,000 unknown authors, a vector of 16,000 authors (Hostile.swift).
//
// The goals of issue 18 are printed after the table, each PASS or MISS, from this run.

import AsyncHTTPClient
import Concord
import ConcordCore
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore

struct Options {
    var backends = ["sqlite"]
    var postgresURL: String? = ProcessInfo.processInfo.environment["CONCORD_TEST_POSTGRES_URL"]
    var subscribers = 1_000
    var rates = [125, 250, 500]
    var seconds = 10
    var pushers = 8
    var pullOps = 1_000_000
    var json = false
    var sections = ["fanout", "throughput", "pull"]
    var feedWindow = RelayConfiguration().feedBatchWindow
    var quick = false
    /// `--serve relay|bare`: run as the server process of the fan-out section (Servers.swift).
    var serve: String?
    var directory: String?

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
            case "--rate": rates = [int()]
            case "--rates":
                rates = value().split(separator: ",").map { Int($0) ?? 0 }.sorted()
                guard rates.allSatisfy({ $0 > 0 }), !rates.isEmpty else { fail("--rates takes positive integers, for example 125,250,500") }
            case "--seconds": seconds = int()
            case "--pushers": pushers = int()
            case "--pull-ops": pullOps = int()
            case "--quick": (subscribers, rates, seconds, pushers, pullOps, quick) = (50, [50, 100], 3, 4, 20_000, true)
            case "--serve": serve = value()
            case "--dir": directory = value()
            case "--json": json = true
            case "--sections": sections = value().split(separator: ",").map(String.init)
            case "--feed-window":
                let text = value()
                guard let seconds = Double(text), seconds >= 0 else { fail("--feed-window takes seconds (0 or more), got \(text)") }
                feedWindow = seconds
            case "--help", "-h":
                print("usage: concord-relay-bench [--backends sqlite,postgres] [--postgres-url URL] [--subscribers N] [--rates R1,R2,...] [--seconds T] [--pushers P] [--pull-ops M] [--sections fanout,throughput,pull,hostile] [--feed-window SECONDS] [--quick] [--json]")
                exit(0)
            default: fail("unknown argument \(args[i]); see --help")
            }
            i += 1
        }
        for backend in backends where !["sqlite", "postgres"].contains(backend) { fail("unknown backend \(backend)") }
        for section in sections where !["fanout", "throughput", "pull", "hostile"].contains(section) { fail("unknown section \(section)") }
        if let serve, !["relay", "bare"].contains(serve) { fail("--serve takes relay or bare") }
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

/// Opens one feed subscription per token (nil: no `Authorization` header, the bare
/// server); returns once every one has said `ready`.
func subscribe(url: String, tokens: [String?], expected: Int, group: inout ThrowingTaskGroup<Void, any Error>) async throws -> [DeliveryLog] {
    var logs: [DeliveryLog] = []
    var logger = Logger(label: "relay-bench-ws")
    logger.logLevel = .error
    for token in tokens {
        let log = DeliveryLog()
        logs.append(log)
        group.addTask {
            var configuration = WebSocketClientConfiguration(maxFrameSize: 2 << 20)
            if let token { configuration.additionalHeaders[.authorization] = "Bearer \(token)" }
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
        guard now() < deadline else { throw BenchError("only \(logs.filter(\.isReady).count) of \(tokens.count) subscribers became ready in 60 s") }
        try await Task.sleep(for: .milliseconds(20))
    }
    return logs
}

/// Relay feed subscriptions of `cast`'s reader.
func subscribe(count: Int, cast: Cast, client: LoadClient, port: Int, expected: Int, group: inout ThrowingTaskGroup<Void, any Error>) async throws -> [DeliveryLog] {
    var tokens: [String?] = []
    for _ in 0..<count { tokens.append(try await client.authenticate(cast.reader)) }
    return try await subscribe(
        url: "ws://127.0.0.1:\(port)\(RelayAPI.path(cast.owner.spaceID, "feed"))", tokens: tokens, expected: expected, group: &group)
}

/// Waits until every log has `expected` deliveries or `seconds` pass.
func drain(_ logs: [DeliveryLog], expected: Int, seconds: Double) async throws {
    let deadline = now() + seconds
    while now() < deadline, logs.contains(where: { $0.times.count < expected }) {
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// One fan-out run against a server process: `bare`, or the relay on `sqlite`/`postgres`.
struct FanoutRun {
    var target: String
    var rate: Int
    var subscribers: Int
    var pushRate: Double
    var expected: Int
    var delivered: Int
    var missing: Int
    var p50: Double
    var p99: Double
    var slowestP99: Double
    var serverCPU: Double
    var loadGeneratorCPU: Double
    var serverPeakRSS: Double
    /// The relay's own counters after the run (`/metrics`), by metric name.
    var counters: [String: Double] = [:]

    /// Server CPU per delivered bundle, µs.
    var cpuPerDelivery: Double { delivered > 0 ? serverCPU / Double(delivered) * 1e6 : .nan }
    /// Under 100 ms at p99 with nothing missing.
    var sustained: Bool { missing == 0 && p99 < 100 }
}

func fanout(target: String, rate: Int, options: Options, http: HTTPClient, root: String) async throws -> FanoutRun {
    let directory = "\(root)/fanout-\(target)-\(rate)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var arguments = ["bare"]
    if target != "bare" {
        arguments = ["relay", "--backends", target, "--dir", directory, "--feed-window", String(options.feedWindow)]
        if let url = options.postgresURL { arguments += ["--postgres-url", url] }
    }
    let server = try ServerProcess(arguments)
    defer { server.stop() }
    let client = LoadClient(http: http, base: "http://127.0.0.1:\(server.port)")

    let writerCount = 10
    let cast = try Cast(writers: writerCount)
    let total = rate * options.seconds
    let perWriter = (total + writerCount - 1) / writerCount
    var chains: [[ChangeBundle]] = []
    for (index, writer) in cast.writers.enumerated() {
        chains.append(try sealChain(writer, count: perWriter, opsPerBundle: 5, seed: UInt64(1_000 * rate + index + 1)))
    }
    let expected = chains.reduce(0) { $0 + $1.count }
    let sends = SendLog()
    let space = cast.owner.spaceID
    // The bare server takes the same bundle bytes as a plain body: same message sizes.
    let feedURL: String
    var subscriberTokens: [String?] = []
    var writerTokens: [String] = []
    if target == "bare" {
        feedURL = "ws://127.0.0.1:\(server.port)/feed"
        subscriberTokens = Array(repeating: nil, count: options.subscribers)
    } else {
        feedURL = "ws://127.0.0.1:\(server.port)\(RelayAPI.path(space, "feed"))"
        for writer in cast.writers { writerTokens.append(try await client.authenticate(writer)) }
        for _ in 0..<options.subscribers { subscriberTokens.append(try await client.authenticate(cast.reader)) }
    }
    let writerTokensFixed = writerTokens
    let push: @Sendable (Int, [UInt8]) async throws -> Void = { writer, bytes in
        if target == "bare" {
            let (status, _) = try await client.post("/publish", body: bytes, contentType: "application/octet-stream")
            guard status == 200 else { throw BenchError("publish: HTTP \(status)") }
        } else {
            try await client.push([bytes], space: space, token: writerTokensFixed[writer])
        }
    }

    return try await withThrowingTaskGroup(of: Void.self) { group in
        let logs = try await subscribe(url: feedURL, tokens: subscriberTokens, expected: expected, group: &group)
        let cpuBefore = server.cpuSeconds()
        let ownBefore = ownCPUSeconds()
        // Each writer pushes its chain at rate / writers, one bundle per request.
        let interval = Double(writerCount) / Double(rate)
        let pushStart = now()
        try await withThrowingTaskGroup(of: Void.self) { pushers in
            for (index, chain) in chains.enumerated() {
                pushers.addTask {
                    let offset = interval * Double(index) / Double(writerCount)
                    for (n, bundle) in chain.enumerated() {
                        let due = pushStart + offset + Double(n) * interval
                        let wait = due - now()
                        if wait > 0 { try await Task.sleep(for: .microseconds(Int(wait * 1e6))) }
                        sends.record(bundleKey(bundle.bytes), at: now())
                        try await push(index, bundle.bytes)
                    }
                }
            }
            try await pushers.waitForAll()
        }
        let pushSeconds = now() - pushStart
        try await drain(logs, expected: expected, seconds: 30)
        let serverCPU = server.cpuSeconds() - cpuBefore
        let loadGeneratorCPU = ownCPUSeconds() - ownBefore
        group.cancelAll()

        var counters: [String: Double] = [:]
        if target != "bare" {
            let (status, body) = try await client.get("/metrics")
            if status == 200 {
                for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
                    let parts = line.split(separator: " ")
                    if parts.count == 2, let value = Double(parts[1]) { counters[String(parts[0])] = value }
                }
            }
        }

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
        return FanoutRun(
            target: target, rate: rate, subscribers: logs.count, pushRate: Double(expected) / pushSeconds, expected: expected * logs.count,
            delivered: all.count, missing: missing, p50: percentile(all, 0.5), p99: percentile(all, 0.99),
            slowestP99: percentile(slowest.values.sorted(), 0.99), serverCPU: serverCPU, loadGeneratorCPU: loadGeneratorCPU,
            serverPeakRSS: server.peakRSSMegabytes(), counters: counters)
    }
}

/// The table rows of a fan-out run.
func fanoutRows(_ run: FanoutRun) -> [Row] {
    var rows = [
        Row(backend: run.target, metric: "fan-out rate asked", value: Double(run.rate), unit: "bundles/s"),
        Row(backend: run.target, metric: "subscribers held", value: Double(run.subscribers), unit: ""),
        Row(backend: run.target, metric: "push rate achieved", value: run.pushRate, unit: "bundles/s"),
        Row(backend: run.target, metric: "deliveries expected", value: Double(run.expected), unit: ""),
        Row(backend: run.target, metric: "deliveries missing after 30 s", value: Double(run.missing), unit: ""),
        Row(backend: run.target, metric: "fan-out latency p50", value: run.p50, unit: "ms"),
        Row(backend: run.target, metric: "fan-out latency p99", value: run.p99, unit: "ms"),
        Row(backend: run.target, metric: "slowest subscriber p99", value: run.slowestP99, unit: "ms"),
        Row(backend: run.target, metric: "server CPU (user + system)", value: run.serverCPU, unit: "s"),
        Row(backend: run.target, metric: "server CPU per delivery", value: run.cpuPerDelivery, unit: "µs"),
        Row(backend: run.target, metric: "load generator CPU per delivery", value: run.delivered > 0 ? run.loadGeneratorCPU / Double(run.delivered) * 1e6 : .nan, unit: "µs"),
        Row(backend: run.target, metric: "server peak RSS", value: run.serverPeakRSS, unit: "MB"),
    ]
    for (name, label) in [
        ("concord_relay_bundles_served_total", "relay's own count of bundles served"),
        ("concord_relay_feed_read_retries_total", "feed read retries (relay counter)"),
        ("concord_relay_feed_read_failures_total", "feed read failures (relay counter)"),
        ("concord_relay_feed_overflows_total", "feed overflows (relay counter)"),
    ] {
        if let value = run.counters[name] { rows.append(Row(backend: run.target, metric: label, value: value, unit: "")) }
    }
    return rows
}

func throughput(backend: String, options: Options, client: LoadClient, directory: String, relay: RunningRelay) async throws -> [Row] {
    let cast = try Cast(writers: options.pushers)
    let perWriter = max(50, options.rates.last! * options.seconds / options.pushers)
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
switch options.serve {
case "bare":
    try await serveBare()
    exit(0)
case "relay":
    try await serveRelay(options: options)
    exit(0)
default:
    break
}

let root = FileManager.default.temporaryDirectory.appendingPathComponent("concord-relay-bench-\(getpid())").path
try? FileManager.default.removeItem(atPath: root)
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10))))
var rows: [Row] = []
var failed = false
var bareRuns: [FanoutRun] = []
var relayRuns: [FanoutRun] = []
var ceiling: FanoutRun?

if options.sections.contains("fanout") {
    // The ceiling first: the bare broadcast at each rate, until its p99 reaches 100 ms.
    for rate in options.rates {
        FileHandle.standardError.write(Data("==> relay bench: bare broadcast, fanout at \(rate)/s\n".utf8))
        do {
            let run = try await fanout(target: "bare", rate: rate, options: options, http: http, root: root)
            bareRuns.append(run)
            if !run.sustained { break }
        } catch {
            failed = true
            FileHandle.standardError.write(Data("relay bench bare fanout at \(rate)/s failed: \(error)\n".utf8))
            break
        }
    }
    ceiling = bareRuns.last(where: \.sustained) ?? bareRuns.first
    if let ceiling {
        rows += fanoutRows(ceiling)
        for run in bareRuns {
            rows.append(Row(backend: "bare", metric: "bare ladder: p99 at \(run.rate)/s", value: run.p99, unit: "ms"))
        }
        for backend in options.backends {
            FileHandle.standardError.write(Data("==> relay bench: \(backend) fanout at \(ceiling.rate)/s (relay in its own process)\n".utf8))
            do {
                let run = try await fanout(target: backend, rate: ceiling.rate, options: options, http: http, root: root)
                relayRuns.append(run)
                rows += fanoutRows(run)
            } catch {
                failed = true
                FileHandle.standardError.write(Data("relay bench \(backend) fanout failed: \(error)\n".utf8))
            }
        }
    }
}

for backend in options.backends {
    for (name, section) in [("throughput", throughput), ("pull", pull), ("hostile", hostile)] as [(String, (String, Options, LoadClient, String, RunningRelay) async throws -> [Row])] where options.sections.contains(name) {
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

let columns = (ceiling == nil ? [] : ["bare"]) + options.backends
print("Relay benchmark: \(options.subscribers) subscribers, fan-out rates \(options.rates.map(String.init).joined(separator: ",")) bundles/s for \(options.seconds) s each, \(options.pushers) pushers, pull of \(options.pullOps) ops")
print("(fan-out: each server in its own process, this process the load generator; throughput and pull: relay in this process; 127.0.0.1, \(ProcessInfo.processInfo.activeProcessorCount) cores; feed batch window \(Int(options.feedWindow * 1000)) ms)")
print(render(rows, backends: columns))

// The goals of issue 18, judged from this run.
var goals: [(String, Bool)] = []
let sizes = options.subscribers >= 1_000 ? "" : " [quick sizes; the goal is for 1,000 subscribers]"
if let ceiling {
    for run in relayRuns {
        let ratio = run.cpuPerDelivery / ceiling.cpuPerDelivery
        goals.append((
            "\(run.target): relay CPU per delivery within 1.5x of the bare broadcast's: \(format(run.cpuPerDelivery, "µs")) vs \(format(ceiling.cpuPerDelivery, "µs")) = \(String(format: "%.2f", ratio))x",
            ratio <= 1.5
        ))
        goals.append((
            "\(run.target): p99 fan-out under 100 ms at \(ceiling.rate)/s (the highest rate of \(options.rates.map(String.init).joined(separator: ",")) the bare broadcast sustained under 100 ms\(ceiling.sustained ? "" : ": none did")) with \(run.subscribers) subscribers: \(format(run.p99, "ms"))\(sizes)",
            run.sustained && ceiling.sustained
        ))
        goals.append(("\(run.target): zero lost deliveries: \(run.missing) of \(run.expected) missing", run.missing == 0))
    }
}
let pushThroughput = { (backend: String) in rows.first { $0.backend == backend && $0.metric.hasPrefix("push throughput") }?.value }
if let sqlite = pushThroughput("sqlite"), let postgres = pushThroughput("postgres") {
    goals.append((
        "PostgreSQL push throughput at least 50% of SQLite's: \(format(postgres, "bundles/s")) vs \(format(sqlite, "bundles/s")) = \(String(format: "%.0f", postgres / sqlite * 100))%",
        postgres >= sqlite / 2
    ))
}
for row in rows where row.metric.hasPrefix("initial pull of") && !row.goal.isEmpty {
    goals.append(("\(row.backend): \(row.metric) \(row.goal.replacingOccurrences(of: ": PASS", with: "").replacingOccurrences(of: ": MISS", with: "")): \(format(row.value, row.unit))", row.goal.hasSuffix("PASS")))
}
if !goals.isEmpty {
    print("\nGoals (issue 18), this run:")
    for (text, met) in goals { print("  \(met ? "PASS" : "MISS")  \(text)") }
}

if options.json {
    for row in rows {
        let object: [String: Any] = ["section": "relay", "backend": row.backend, "metric": row.metric, "value": row.value.isNaN ? 0 : row.value, "unit": row.unit]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}
// Every expected delivery is accounted for: a missing one fails the run, loudly.
for run in bareRuns + relayRuns where run.missing > 0 {
    failed = true
    FileHandle.standardError.write(
        Data("FAIL: \(run.target) fan-out at \(run.rate)/s: \(run.missing) of \(run.expected) expected deliveries never arrived\n".utf8))
}
exit(failed ? 1 : 0)
