@_spi(Benchmarks) import Concord
// The new-device suite (issue 16 item 5, Specs/snapshots.md §7 "New device ready"): how
// long a newly joined device takes to be `synced` from the relay's snapshot and the
// bundles above it, beside the same device replaying the whole log.
//
//   concord-bench --suite new-device --dir D [--ops 1000000] [--records 100000] [--tail 10000]
//                 [--devices 4] [--bundle-ops 10] [--per-sync 100] [--runs 3] [--seed S]
//
// Setup (not timed): an admin device and --devices - 1 writers of an encrypted space with
// members, real SQLite replicas in D, and the relay server (`RelayServer`, Hummingbird, its
// SQLite storage in D) in this process on 127.0.0.1: every request goes over loopback HTTP.
// The devices write --ops operations over about --records live records, in bundles of 1 to
// 2 x --bundle-ops - 1 operations (one `write {}` and one seal each): new records (a title,
// a body, a priority and a tag), edits of bodies, titles, done flags, tags added and
// removed, and record deletes (a tenth as many as the live records); each device syncs
// through its `SyncEngine` after every --per-sync bundles of its own. When all but --tail
// bundles are written, every device syncs twice (their acks reach the admin), the admin
// checkpoints the stable cut and seals a snapshot at it; then the last --tail bundles are
// written and synced and the admin's round uploads the snapshot.
//
// Timed, --runs times each, a fresh device and store every run (the admin invites it, it
// joins, then one `SyncEngine.syncNow()`, the wall time until it returns `synced`):
//   (a) the engine's first round loads the relay's snapshot (download, checks, store),
//       then pulls the bundles above it, performs its duties and pushes its join;
//   (b) the same with the snapshot load switched off (`SyncEngine.Options.loadsSnapshots`,
//       an `@_spi(Benchmarks)` setting): the whole log is pulled and imported.
// Each run checks the device's visible digest against the admin's. Prints one JSON line
// per run, then the table of medians, (a)'s breakdown and the goal (a) < 2 s, PASS or MISS.
import ConcordCore
import ConcordCrypto
import ConcordRelay
@_spi(Benchmarks) import ConcordSync
import ConcordTesting
import Foundation
import Logging

struct NewDeviceOptions {
    var dir = ""
    var ops = 1_000_000
    var records = 100_000
    var tail = 10_000
    var devices = 4
    var bundleOps = 10
    var perSync = 100
    var runs = 3
    var replay = true

    init(_ extra: [String]) {
        var i = 0
        while i + 1 < extra.count {
            let (flag, text) = (extra[i], extra[i + 1])
            switch flag {
            case "--dir": dir = text
            case "--ops": ops = max(100, number(text, flag))
            case "--records": records = max(10, number(text, flag))
            case "--tail": tail = number(text, flag)
            case "--devices": devices = max(2, number(text, flag))
            case "--bundle-ops": bundleOps = max(1, number(text, flag))
            case "--per-sync": perSync = max(1, number(text, flag))
            case "--runs": runs = max(1, number(text, flag))
            case "--replay":
                guard text == "on" || text == "off" else { fail("--replay takes on or off") }
                replay = text == "on"
            default: fail("unknown --suite new-device flag \(flag)")
            }
            i += 2
        }
        guard !dir.isEmpty else { fail("--suite new-device needs --dir D (an empty directory for the replicas and the relay)") }
        guard ops >= records * 9 / 2 + records / 10 else {
            fail("--ops must be at least 4.6 x --records (a new record takes 4 operations, and a tenth as many are deleted)")
        }
    }

    /// The command line that reproduces this run (the directory left out).
    func command(seed: UInt64) -> String {
        "concord-bench --suite new-device --dir D --ops \(ops) --records \(records) --tail \(tail) --devices \(devices) "
            + "--bundle-ops \(bundleOps) --per-sync \(perSync) --runs \(runs) --seed \(seed)" + (replay ? "" : " --replay off")
    }
}

/// One operation of the plan.
enum NewDeviceOp: Sendable {
    case set(RecordID, String, Value)
    case add(RecordID, String, String)
    case remove(RecordID, String, String)
    case delete(RecordID)

    /// 7 in 10 records are notes, the others tasks (by id, so every op finds it).
    static func collection(of id: RecordID) -> String { id.bytes[15] % 10 < 7 ? "notes" : "tasks" }
}

/// The seeded plan: each call gives one device's next bundle. Each device creates its own
/// records and edits mostly its own (recent ones more often), sometimes another's; it
/// removes only tags it added and deletes only its own records.
struct NewDevicePlan {
    static let words = [
        "the", "river", "cells", "fraction", "poem", "map", "energy", "story", "angle", "planet", "verb", "history", "light", "sound",
        "graph", "forest", "budget", "invoice", "meeting", "draft",
    ]
    static let tags = ["home", "work", "urgent", "later", "review", "idea", "errand", "call", "read", "waiting", "someday", "done"]

    var rng: SeededGenerator
    let bundleOps: Int
    /// Chance of each action: create a record (4 ops), delete one (1 op), else edit (1 op).
    let createChance: Double
    let deleteChance: Double
    /// Per device: its live records, and the tags on each of them.
    var own: [[RecordID]]
    var tags: [RecordID: Set<String>] = [:]
    var next: [UInt64]
    var opsPlanned = 0

    init(seed: UInt64, devices: Int, ops: Int, records: Int, bundleOps: Int) {
        rng = SeededGenerator(seed: seed)
        self.bundleOps = bundleOps
        let deletes = records / 10
        let creates = records + deletes
        let edits = ops - 4 * creates - deletes
        let actions = Double(creates + deletes + edits)
        createChance = Double(creates) / actions
        deleteChance = Double(deletes) / actions
        own = Array(repeating: [], count: devices)
        next = Array(repeating: 1, count: devices)
    }

    mutating func text(_ words: ClosedRange<Int>) -> String {
        (0..<Int.random(in: words, using: &rng)).map { _ in Self.words.randomElement(using: &rng)! }.joined(separator: " ")
    }

    /// A record to edit: one of `device`'s own (the 50 newest 3 times in 4), or 1 in 10
    /// another device's.
    mutating func pick(_ device: Int) -> (RecordID, mine: Bool)? {
        if Int.random(in: 0..<10, using: &rng) == 0 {
            let other = Int.random(in: 0..<own.count, using: &rng)
            if let id = own[other].randomElement(using: &rng) { return (id, other == device) }
        }
        let mine = own[device]
        guard !mine.isEmpty else { return nil }
        if mine.count > 50, Int.random(in: 0..<4, using: &rng) < 3 {
            return (mine[mine.count - 1 - Int.random(in: 0..<50, using: &rng)], true)
        }
        return (mine.randomElement(using: &rng)!, true)
    }

    mutating func bundle(device: Int) -> [NewDeviceOp] {
        let size = Int.random(in: 1...(2 * bundleOps - 1), using: &rng)
        var ops: [NewDeviceOp] = []
        while ops.count < size {
            let roll = Double.random(in: 0..<1, using: &rng)
            if roll < createChance || own[device].isEmpty {
                let id = RecordID(high: UInt64(device + 1), low: next[device])
                next[device] += 1
                own[device].append(id)
                let tag = Self.tags.randomElement(using: &rng)!
                tags[id] = [tag]
                ops += [
                    .set(id, "title", .string(text(2...6))), .set(id, "body", .string(text(6...20))),
                    .set(id, "priority", .int(Int64.random(in: 1...5, using: &rng))), .add(id, "tags", tag),
                ]
            } else if roll < createChance + deleteChance, own[device].count > 1 {
                let index = Int.random(in: 0..<own[device].count, using: &rng)
                let id = own[device].remove(at: index)
                tags[id] = nil
                ops.append(.delete(id))
            } else if let (id, mine) = pick(device) {
                let what = Int.random(in: 0..<100, using: &rng)
                if what < 40 {
                    ops.append(.set(id, "body", .string(text(6...20))))
                } else if what < 55 {
                    ops.append(.set(id, "title", .string(text(2...6))))
                } else if what < 70 {
                    ops.append(.set(id, "done", .bool(Bool.random(using: &rng))))
                } else if what < 90 || !mine || tags[id, default: []].isEmpty {
                    let tag = Self.tags.randomElement(using: &rng)!
                    if mine { tags[id, default: []].insert(tag) }
                    ops.append(.add(id, "tags", tag))
                } else {
                    let tag = tags[id]!.sorted().randomElement(using: &rng)!
                    tags[id]!.remove(tag)
                    ops.append(.remove(id, "tags", tag))
                }
            }
        }
        opsPlanned += ops.count
        return ops
    }
}

/// One timed run of a new device.
struct NewDeviceRun {
    var mode: String
    var seconds: Double
    var phases: [String: Double]
    var pulled: Int
    var snapshotLoaded: Bool
}

final class NewDeviceBench: @unchecked Sendable {
    let o: NewDeviceOptions
    let seed: UInt64
    let url: URL
    var logger: Logger
    var devices: [Replica] = []
    var engines: [SyncEngine] = []
    var bundlesWritten = 0
    var opsWritten = 0

    init(_ o: NewDeviceOptions, seed: UInt64, port: Int) {
        self.o = o
        self.seed = seed
        url = URL(string: "http://127.0.0.1:\(port)")!
        logger = Logger(label: "concord.bench.new-device")
        logger.logLevel = .critical
    }

    /// The replica options of the space's devices: acks and checkpoints at every sync (the
    /// setup's whole history happens in minutes), no automatic snapshot (the suite seals
    /// one where it wants it).
    static var deviceOptions: Replica.Options {
        var options = Replica.Options()
        options.ackInterval = 0
        options.checkpointEvery = 0
        options.snapshotMinBundles = .max
        return options
    }

    func write(_ device: Int, _ ops: [NewDeviceOp]) async throws {
        let replica = devices[device]
        try await replica.write { tx in
            for op in ops {
                switch op {
                case .set(let id, let field, let value): try tx.set(field, to: value, record: id, in: NewDeviceOp.collection(of: id))
                case .add(let id, let field, let tag): try tx.add(.string(tag), to: field, record: id, in: NewDeviceOp.collection(of: id))
                case .remove(let id, let field, let tag):
                    try tx.remove(.string(tag), from: field, record: id, in: NewDeviceOp.collection(of: id))
                case .delete(let id): try tx.delete(record: id, in: NewDeviceOp.collection(of: id))
                }
            }
        }
        _ = try await replica.seal()
        bundlesWritten += 1
        opsWritten += ops.count
    }

    /// The device that writes bundle `k` of the history: blocks of --per-sync bundles,
    /// round robin.
    func device(ofBundle k: Int) -> Int { (k / o.perSync) % o.devices }

    /// Writes bundles `range` of the history; a device syncs after each block of its own
    /// (and the last device after the range's last bundle).
    func writeBundles(_ range: Range<Int>, plan: inout NewDevicePlan) async throws {
        for k in range {
            let device = device(ofBundle: k)
            try await write(device, plan.bundle(device: device))
            if (k + 1) % o.perSync == 0 || k == range.upperBound - 1 { _ = try await engines[device].syncNow() }
        }
    }

    func progress(_ text: String) {
        FileHandle.standardError.write(Data("  [new-device] \(text)\n".utf8))
    }

    /// Builds the space; returns the snapshot the relay serves and the admin's visible digest.
    func setUp() async throws -> (SealedSnapshot, String, tailBundles: UInt64, logBundles: UInt64) {
        // A dry run of the plan counts its bundles, so the snapshot falls --tail bundles
        // before the end.
        var dry = NewDevicePlan(seed: seed, devices: o.devices, ops: o.ops, records: o.records, bundleOps: o.bundleOps)
        var total = 0
        while dry.opsPlanned < o.ops {
            _ = dry.bundle(device: device(ofBundle: total))
            total += 1
        }
        let prefix = max(1, total - o.tail)
        let options = Self.deviceOptions
        let admin = try await Replica.create(at: o.dir + "/device-0", name: "admin", options: options)
        devices = [admin]
        for device in 1..<o.devices {
            let invite = try await admin.invite(role: .writer)
            devices.append(try await Replica.join(invite, at: o.dir + "/device-\(device)", name: "device \(device)", options: options))
        }
        engines = devices.map { SyncEngine(replica: $0, relay: url, logger: logger) }
        for engine in engines { _ = try await engine.syncNow() }
        var plan = NewDevicePlan(seed: seed, devices: o.devices, ops: o.ops, records: o.records, bundleOps: o.bundleOps)
        let started = now()
        var written = 0
        while written < prefix {
            let step = min(prefix - written, o.devices * o.perSync * 10)
            try await writeBundles(written..<(written + step), plan: &plan)
            written += step
            progress("\(bundlesWritten)/\(total) bundles, \(opsWritten) ops written, \(String(format: "%.0f", now() - started)) s")
        }
        // Everyone pulls and acknowledges, twice, then the admin checkpoints the cut.
        for _ in 0..<2 { for engine in engines { _ = try await engine.syncNow() } }
        guard let sealed = try await admin.sealSnapshot() else { throw BenchFailure("no checkpoint covers the history: no snapshot") }
        let prefixBundles = try await admin.versionVector().entries.values.reduce(0, +)
        progress(
            "snapshot sealed: \(sealed.manifest.recordCount) records (\(sealed.manifest.liveRecordCount) live), V = \(sealed.manifest.vector.entries.values.reduce(0, +)) of \(prefixBundles) bundles held"
        )
        try await writeBundles(prefix..<total, plan: &plan)
        for engine in engines { _ = try await engine.syncNow() }
        // The admin's rounds upload its snapshot (during the tail, or now).
        _ = try await engines[0].syncNow()
        let served = try await RelayClient(replica: admin, relay: url, logger: logger).latestSnapshot()
        guard served?.id == sealed.manifest.id else {
            throw BenchFailure("the relay does not serve the admin's snapshot \(sealed.manifest.id.hex.prefix(8))")
        }
        let digest = try await admin.state().digestHex
        let held = try await admin.versionVector().entries.values.reduce(0, +)
        let above = held - sealed.manifest.vector.entries.values.reduce(0, +)
        progress("\(bundlesWritten) bundles, \(opsWritten) ops in \(String(format: "%.0f", now() - started)) s; \(above) bundles above V")
        return (sealed, digest, above, held)
    }

    /// One fresh device: invited by the admin, joined, then one timed round.
    func newDevice(_ name: String, loadsSnapshots: Bool, expected digest: String) async throws -> NewDeviceRun {
        let invite = try await devices[0].invite(role: .writer)
        _ = try await engines[0].syncNow()
        let replica = try await Replica.join(invite, at: o.dir + "/" + name, name: name)
        var options = SyncEngine.Options()
        options.loadsSnapshots = loadsSnapshots
        let engine = SyncEngine(replica: replica, relay: url, options: options, logger: logger)
        let start = now()
        let summary = try await engine.syncNow()
        let seconds = now() - start
        guard engine.observableStatus.isSynced else { throw BenchFailure("\(name) is not synced after its round: \(summary)") }
        guard (summary.snapshotLoaded != nil) == loadsSnapshots else { throw BenchFailure("\(name): unexpected round \(summary)") }
        let got = try await replica.state().digestHex
        guard got == digest else { throw BenchFailure("\(name) holds visible digest \(got.prefix(12)), the admin \(digest.prefix(12))") }
        return NewDeviceRun(
            mode: loadsSnapshots ? "snapshot" : "replay", seconds: seconds, phases: summary.phases, pulled: summary.pulled.applied,
            snapshotLoaded: summary.snapshotLoaded != nil)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The steps of (a), in the order they run, with the label the table gives each.
let newDevicePhases: [(key: String, label: String)] = [
    ("snapshot download", "download (manifest, controls, chunks)"),
    ("controls", "verify: control bundles, signature, trust"),
    ("chunk ids", "verify: chunk ids"),
    ("decrypt", "decrypt"),
    ("decode", "decode records"),
    ("state digest", "verify: state digest"),
    ("visible digest", "verify: visible digest"),
    ("store records", "store: insert records"),
    ("store snapshot", "store: keep snapshot"),
    ("store base", "store: keep base"),
    ("store other", "store: ledger, floors, clock"),
    ("commit", "store: commit"),
    ("pull", "tail: pull and import"),
    ("duties", "duties (ack)"),
    ("push", "push (join, ack)"),
]

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func runNewDeviceSuite(_ options: Options) {
    let o = NewDeviceOptions(options.extra)
    do {
        try runBlocking {
            var configuration = RelayConfiguration(host: "127.0.0.1", port: 0, requestsPerSecond: 1e9, requestBurst: 1e9)
            configuration.maxSnapshotBytes = 1 << 30
            configuration.maxInFlightBodyBytes = 1 << 30
            configuration.spaceQuotaBytes = 1 << 40
            var relayLogger = Logger(label: "concord.bench.relay")
            relayLogger.logLevel = .critical
            let storage = try SQLiteRelayStorage(path: o.dir + "/relay.sqlite")
            let running = try await RelayServer(configuration: configuration, storage: storage, logger: relayLogger).start()
            let bench = NewDeviceBench(o, seed: options.seed, port: running.port)
            do {
                let setupStart = now()
                let (sealed, digest, tail, held) = try await bench.setUp()
                let setupSeconds = now() - setupStart
                var runs: [NewDeviceRun] = []
                for run in 0..<o.runs {
                    for loads in o.replay ? [true, false] : [true] {
                        let name = "new-\(loads ? "a" : "b")-\(run)"
                        bench.progress("run \(run + 1)/\(o.runs): \(loads ? "(a) snapshot + tail" : "(b) whole log") ...")
                        let result = try await bench.newDevice(name, loadsSnapshots: loads, expected: digest)
                        runs.append(result)
                        let phases = result.phases.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \(String(format: "%.4f", $0.value))" }
                        print(
                            "{\"suite\": \"new-device\", \"mode\": \"\(result.mode)\", \"run\": \(run + 1), \"seconds\": \(String(format: "%.4f", result.seconds)), "
                                + "\"bundles_pulled\": \(result.pulled), \"phases\": {\(phases.joined(separator: ", "))}}")
                        try? FileManager.default.removeItem(atPath: o.dir + "/" + name)
                    }
                }
                let m = sealed.manifest
                let a = runs.filter { $0.mode == "snapshot" }
                let b = runs.filter { $0.mode == "replay" }
                let aMedian = median(a.map(\.seconds))
                let ms = { (s: Double) in String(format: "%.0f ms", s * 1000) }
                print("")
                print(
                    "New device ready: \(bench.opsWritten) ops in \(bench.bundlesWritten) bundles by \(o.devices) devices (1 admin), seed \(options.seed); "
                        + "relay: ConcordRelay's server in this process on 127.0.0.1 (HTTP over loopback, SQLite storage); setup \(String(format: "%.0f", setupSeconds)) s"
                )
                print(
                    "snapshot: \(m.recordCount) records (\(m.liveRecordCount) live, \(m.stubCount) stubs), \(m.plaintextBytes) plaintext bytes in \(m.chunks.count) chunks "
                        + "(\(sealed.chunks.reduce(0) { $0 + $1.count }) bytes, encrypted), V = \(m.vector.entries.values.reduce(0, +)) of \(held) bundles; tail above V: \(tail) bundles"
                )
                print("")
                print("| new device, fresh store | runs | median | min | max | bundles pulled |")
                print("|---|---:|---:|---:|---:|---:|")
                for (label, set) in [("(a) snapshot + tail, to synced", a), ("(b) whole log, to synced", b)] where !set.isEmpty {
                    print(
                        "| \(label) | \(set.count) | \(ms(median(set.map(\.seconds)))) | \(ms(set.map(\.seconds).min()!)) | \(ms(set.map(\.seconds).max()!)) | \(set[0].pulled) |"
                    )
                }
                print("")
                print("| (a) step | median | share |")
                print("|---|---:|---:|")
                for (key, label) in newDevicePhases {
                    let value = median(a.map { $0.phases[key] ?? 0 })
                    print("| \(label) | \(ms(value)) | \(String(format: "%.0f%%", 100 * value / aMedian)) |")
                }
                let other = median(a.map { run in run.seconds - newDevicePhases.reduce(0) { $0 + (run.phases[$1.key] ?? 0) } })
                print(
                    "| other (relay vector, status checks, actor hops) | \(ms(other)) | \(String(format: "%.0f%%", 100 * other / aMedian)) |"
                )
                print("")
                // The goal is stated at 1M operations; a smaller space says so.
                let verdict = (aMedian < 2 ? "PASS" : "MISS") + (o.ops < 1_000_000 ? " at this size (the goal is stated at 1M operations)" : "")
                let speedup =
                    b.isEmpty
                    ? ""
                    : String(
                        format: "; replay of the whole log %.1f s, %.1fx longer", median(b.map(\.seconds)),
                        median(b.map(\.seconds)) / aMedian)
                print(
                    "goal: new device ready from a snapshot + \(tail) bundles in < 2 s: \(verdict) (median \(String(format: "%.2f", aMedian)) s\(speedup))"
                )
                print("command: \(o.command(seed: options.seed))")
                await running.stop()
                await storage.close()
            } catch {
                await running.stop()
                await storage.close()
                throw error
            }
        }
    } catch {
        fail("new-device suite failed: \(error)")
    }
}
