// The `hostile` section: what hostile clients cost the relay (`Specs/relay-api.md` §6).
//
//   push memory   48 concurrent pushes of a 15 MiB body each to a `concord relay serve`
//                 process (the one next to this binary, or $CONCORD_BIN), with the
//                 in-flight body budget off and at its default; the relay's peak RSS
//                 (VmHWM) and how many pushes were answered `503 busy`.
//   since cost    a pull in a space of 2,000 bundles with an empty `since`, and with a
//                 `since` naming 10,000 authors the space does not have (the bound of
//                 `maxAuthorsPerSpace`): milliseconds per pull, in-process relay.
//   vector        `RelayClient.vector()` of a space with 16,000 authors: pages and ms.

import AsyncHTTPClient
import Concord
import ConcordCore
import ConcordCrypto
import ConcordRelay
import ConcordSync
import Foundation
import Logging
import NIOCore

func hostile(backend: String, options: Options, client: LoadClient, directory: String, relay: RunningRelay) async throws -> [Row] {
    var rows: [Row] = []
    rows += try await sinceCost(backend: backend, client: client, relay: relay)
    rows += try await vectorOfManyAuthors(backend: backend, directory: directory, relay: relay)
    for budget in [Int64(1) << 40, Int64(RelayConfiguration().maxInFlightBodyBytes)] {
        rows += try await pushMemory(backend: backend, options: options, directory: directory, budget: budget)
    }
    return rows
}

/// Peak RSS of a `concord relay serve` process during 48 concurrent 15 MiB pushes.
func pushMemory(backend: String, options: Options, directory: String, budget: Int64) async throws -> [Row] {
    // The tool's executable target is ConcordCLI (not a product; `make cli` links it as concord).
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let binary =
        ProcessInfo.processInfo.environment["CONCORD_BIN"]
        ?? ["ConcordCLI", "concord"].map { directory.appendingPathComponent($0).path }.first { FileManager.default.isExecutableFile(atPath: $0) }
        ?? directory.appendingPathComponent("ConcordCLI").path
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw BenchError("push memory needs the concord binary at \(binary) (build it, or set CONCORD_BIN)")
    }
    let storage = backend == "postgres" ? options.postgresURL! : "sqlite:\(directory)/memory-\(budget).sqlite"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = [
        "relay", "serve", "--port", "0", "--db", storage, "--log-level", "error", "--max-inflight-bytes", String(budget),
        "--max-connections-per-client", "0", "--auth-requests-per-second", "100000", "--max-challenges-per-client", "100000",
    ]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    var port = 0
    var text = ""
    while port == 0 {
        let data = output.fileHandleForReading.availableData
        guard !data.isEmpty else { throw BenchError("concord relay serve ended: \(text)") }
        text += String(decoding: data, as: UTF8.self)
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on") }), let colon = line.lastIndex(of: ":") {
            port = Int(line[line.index(after: colon)...]) ?? 0
        }
    }
    let baseline = peakRSS(of: process.processIdentifier)

    // One writer's chain of 15 bundles of ~1 MiB (15 MiB, under the 16 MiB request
    // limit), pushed 48 times at once: the relay holds every body it reads.
    let owner = Membership.createSpace(encrypted: true)
    var replica = owner.makeReplica()
    var previous: ChangeBundle?
    var chain: [[UInt8]] = []
    for index in 0..<15 {
        let op = try replica.set(
            "blob", to: .bytes((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }), record: RecordID.random(), in: "files"
        )
        let bundle = try owner.seal([op], previous: previous)
        chain.append(bundle.bytes)
        previous = bundle
    }
    let stream = BundleStreamFraming.encode(chain)
    // 48 connections at once (AsyncHTTPClient opens 8 per host by default and queues the rest).
    var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(120)))
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let outcome: Result<[Int], any Error>
    do {
        let token = try await LoadClient(http: http, base: "http://127.0.0.1:\(port)").authenticate(owner)
        let url = "http://127.0.0.1:\(port)" + RelayAPI.path(owner.spaceID, "bundles")
        outcome = .success(
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<48 {
                    group.addTask {
                        var request = HTTPClientRequest(url: url)
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        request.headers.add(name: "Content-Type", value: RelayAPI.bundleStreamContentType)
                        request.body = .bytes(ByteBuffer(bytes: stream))
                        let response = try await http.execute(request, timeout: .seconds(1800))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        return Int(response.status.code)
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            })
    } catch {
        outcome = .failure(error)
    }
    try await http.shutdown()
    let statuses = try outcome.get()
    let peak = peakRSS(of: process.processIdentifier)
    let label = budget >= 1 << 40 ? "off" : "\(budget >> 20) MiB"
    return [
        Row(
            backend: backend, metric: "relay peak RSS, 48 concurrent 15 MiB pushes, body budget \(label)", value: Double(peak) / 1_048_576,
            unit: "MiB"),
        Row(backend: backend, metric: "relay RSS before the pushes (budget \(label))", value: Double(baseline) / 1_048_576, unit: "MiB"),
        Row(
            backend: backend, metric: "pushes answered 503 busy (budget \(label))", value: Double(statuses.filter { $0 == 503 }.count),
            unit: "of 48"),
        Row(
            backend: backend, metric: "pushes answered 200 (budget \(label))", value: Double(statuses.filter { $0 == 200 }.count),
            unit: "of 48"),
    ]
}

/// VmHWM of a process, in bytes (Linux); 0 elsewhere.
func peakRSS(of pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

/// Milliseconds per pull with an empty `since` and with 10,000 unknown authors in it.
func sinceCost(backend: String, client: LoadClient, relay: RunningRelay) async throws -> [Row] {
    let owner = Membership.createSpace(encrypted: true)
    let chain = try sealChain(owner, count: 2_000, opsPerBundle: 5, seed: 11)
    let client = LoadClient(http: client.http, base: "http://127.0.0.1:\(relay.port)")
    let token = try await client.authenticate(owner)
    try await client.push(chain.map(\.bytes), space: owner.spaceID, token: token)
    var strangers: [String: UInt64] = [owner.device.publicKey.hex: 0]
    while strangers.count < RelayConfiguration().maxAuthorsPerSpace { strangers[Identity().publicKey.hex] = UInt64.max }
    var rows: [Row] = []
    for (name, since) in [("empty since", [String: UInt64]()), ("since of 10,000 unknown authors", strangers)] {
        let body = Array(try JSONEncoder().encode(RelayAPI.PullRequest(since: since)))
        let runs = 10
        let start = now()
        for _ in 0..<runs {
            let (status, bytes) = try await client.post(
                RelayAPI.path(owner.spaceID, "pull"), body: body, contentType: "application/json", token: token)
            guard status == 200, bytes.count > 2_000 * 100 else { throw BenchError("pull: HTTP \(status), \(bytes.count) bytes") }
        }
        rows.append(
            Row(backend: backend, metric: "pull of 2,000 bundles, \(name)", value: (now() - start) * 1000 / Double(runs), unit: "ms"))
    }
    return rows
}

/// `RelayClient.vector()` of a space with 16,000 authors (writers minted with the space
/// seed, as one writer can).
func vectorOfManyAuthors(backend: String, directory: String, relay: RunningRelay) async throws -> [Row] {
    let owner = Membership.createSpace(encrypted: false)
    let invite = try owner.writerInvite()
    let replica = try Replica.join(invite, at: directory + "/many-authors")
    var batch: [ChangeBundle] = []
    for index in 0..<16_000 {
        let member = try Membership.join(invite)
        var writer = member.makeReplica()
        let op = try writer.set("n", to: .int(Int64(index)), record: RecordID.random(), in: "x")
        batch.append(try member.seal([op], previous: nil))
        if batch.count == 2_000 {
            _ = try await relay.storage.append(batch, to: owner.spaceID, quotaBytes: 1 << 30)
            batch = []
        }
    }
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let client = RelayClient(replica: replica, relay: URL(string: "http://127.0.0.1:\(relay.port)")!, logger: logger)
    try await client.authenticate()
    let start = now()
    let vector = try await client.vector()
    let seconds = now() - start
    guard vector.entries.count == 16_000 else { throw BenchError("vector has \(vector.entries.count) authors") }
    return [Row(backend: backend, metric: "vector of 16,000 authors (4 pages)", value: seconds * 1000, unit: "ms")]
}
