// The persisted-store suite: a `Replica` on a SQLite file (WAL, synchronous = FULL).
// Each step runs in its own process, driven by Benchmarks/store.py, and prints one JSON
// object per line: {"suite": "store", "step": ..., ...}.
//
//   --step gen     --ops N --file F    seal N set operations of the store workload into
//                                      bundles of 1,000 ops (a peer, in memory) and write
//                                      them to F, length-prefixed; untimed for the import
//   --step import  --file F --dir D    join the space in D (a fresh SQLite replica), import
//                  [--queries Q]       F's bundles (timed), then time Q rounds of queries
//   --step raw     --ops N --dir D     the same (collection, record, field, value) rows
//                  [--cache-kib K]     upserted with plain GRDB into a `fields`-shaped table
//                                      (SQLite's default page cache, or K KiB)
//   --step writes  --ops N --dir D     local writes on a new replica in D: one set per
//                  --mode single|batched  write {} call, or 1,000 sets per call
import Concord
import ConcordCore
import ConcordStore
import ConcordTesting
import Dispatch
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The store workload: map-like writes of random fields of random records in one
/// collection, `ops / 10` records, 10 fields of mixed kinds (so queries have something to
/// select on: `status` has 16 values, `priority` 100,000, the others are near unique).
struct StoreWorkload {
    static let collection = "items"
    static let fields = ["status", "priority", "owner", "title", "n0", "n1", "n2", "n3", "n4", "n5"]
    static let statusCount = 16
    static let priorityCount = 100_000

    let records: [RecordID]
    private var rng: SeededGenerator

    struct Write {
        var record: RecordID
        var field: String
        var value: Value
    }

    init(ops: Int, seed: UInt64) {
        var ids = SeededGenerator(seed: seed &* 3 &+ 1)
        records = (0..<max(1, ops / 10)).map { _ in RecordID.random(using: &ids) }
        rng = SeededGenerator(seed: seed &* 3 &+ 2)
    }

    mutating func next() -> Write {
        let record = records[Int.random(in: 0..<records.count, using: &rng)]
        let f = Int.random(in: 0..<Self.fields.count, using: &rng)
        let value: Value = switch f {
        case 0: .string("s\(Int.random(in: 0..<Self.statusCount, using: &rng))")
        case 1: .int(Int64.random(in: 0..<Int64(Self.priorityCount), using: &rng))
        case 2: .string("user-\(Int.random(in: 0..<1_000, using: &rng))")
        case 3: .string("title \(String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 16))")
        default: .int(Int64.random(in: 0..<1_000_000_000, using: &rng))
        }
        return Write(record: record, field: Self.fields[f], value: value)
    }
}

struct StoreOptions {
    var step = ""
    var ops = 100_000
    var file = ""
    var dir = ""
    var mode = "batched"
    var queries = 200
    var seed: UInt64 = 42
    /// The raw baseline's SQLite page cache in KiB; nil keeps SQLite's default (2 MB).
    var cacheKiB: Int?

    init(_ extra: [String], seed: UInt64) {
        self.seed = seed
        var i = 0
        while i < extra.count {
            guard i + 1 < extra.count else { fail("missing value for \(extra[i])") }
            let value = extra[i + 1]
            switch extra[i] {
            case "--step": step = value
            case "--ops": ops = number(value, "--ops")
            case "--file": file = value
            case "--dir": dir = value
            case "--mode": mode = value
            case "--queries": queries = number(value, "--queries")
            case "--cache-kib": cacheKiB = number(value, "--cache-kib")
            default: fail("unknown argument \(extra[i]) for --suite store; see --help")
            }
            i += 2
        }
        guard ["gen", "import", "raw", "writes"].contains(step) else { fail("--suite store needs --step gen|import|raw|writes") }
        guard ["single", "batched"].contains(mode) else { fail("--mode must be single or batched") }
        guard ops > 0 else { fail("--ops must be positive") }
        guard queries > 0 else { fail("--queries must be positive (each query is timed that many rounds)") }
        if step == "gen" || step == "import", file.isEmpty { fail("--step \(step) needs --file") }
        if step != "gen", dir.isEmpty { fail("--step \(step) needs --dir (a fresh directory)") }
    }
}

func runStoreSuite(_ options: Options) {
    let store = StoreOptions(options.extra, seed: options.seed)
    do {
        switch store.step {
        case "gen": try storeGenerate(store)
        case "raw": try storeRawBaseline(store)
        case "import": try runBlocking { try await storeImport(store) }
        default: try runBlocking { try await storeWrites(store) }
        }
    } catch {
        fail("store suite, step \(store.step), failed: \(error)")
    }
}

/// Runs async code from the synchronous top level (the replica is an actor).
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: (any Error)? }
    let outcome = Outcome()
    let finished = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { outcome.error = error }
        finished.signal()
    }
    finished.wait()
    if let error = outcome.error { throw error }
}

func storeEmit(_ step: String, _ fields: [(String, String)]) {
    emit([("suite", quoted("store")), ("system", quoted("concord")), ("step", quoted(step))] + fields)
}

/// Current resident set size from /proc (0 where unavailable).
func currentRSSMegabytes() -> Double {
    #if os(Linux)
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmRSS:") {
            return Double(text.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
        }
    }
    #endif
    return 0
}

// MARK: Bundle file: frames of (UInt32 little-endian length, bytes)

struct FrameWriter {
    let file: UnsafeMutablePointer<FILE>
    var bytes = 0

    init(path: String) {
        guard let file = fopen(path, "wb") else { fail("cannot create \(path)") }
        self.file = file
    }

    mutating func write(_ frame: [UInt8]) {
        let n = UInt32(frame.count)
        let header = [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        guard fwrite(header, 1, 4, file) == 4, frame.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, file) }) == frame.count else {
            fail("writing the bundle file failed")
        }
        bytes += 4 + frame.count
    }

    func close() { fclose(file) }
}

struct FrameReader {
    let file: UnsafeMutablePointer<FILE>

    init(path: String) {
        guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
        self.file = file
    }

    /// The next frame; `nil` at the end of the file.
    func next() -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard fread(&header, 1, 4, file) == 4 else { return nil }
        let n = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
        var frame = [UInt8](repeating: 0, count: n)
        guard frame.withUnsafeMutableBytes({ fread($0.baseAddress, 1, n, file) }) == n else { fail("the bundle file is truncated") }
        return frame
    }

    func close() { fclose(file) }
}

// MARK: Steps

/// The peer: seals the workload into bundles of 1,000 operations (encrypted space) and
/// writes the invite, the workload parameters and the bundles to the file.
func storeGenerate(_ o: StoreOptions) throws {
    let start = now()
    let peer = Membership.createSpace(encrypted: true)
    var clock = HybridLogicalClock()
    var out = FrameWriter(path: o.file)
    out.write(Array(try peer.writerInvite().text.utf8))
    out.write(Array("\(o.ops) \(o.seed)".utf8))
    var workload = StoreWorkload(ops: o.ops, seed: o.seed)
    var pending: [RecordOperation] = []
    pending.reserveCapacity(1_000)
    var previous: ChangeBundle?
    var (bundles, sealedOps) = (0, 0)
    for n in 0..<o.ops {
        let w = workload.next()
        let stamp = Stamp(hlc: try clock.now(), replica: peer.replicaID)
        pending.append(RecordOperation(stamp: stamp, collection: StoreWorkload.collection, record: w.record, action: .set(field: w.field, value: w.value)))
        if pending.count == 1_000 || n == o.ops - 1 {
            let bundle = try peer.seal(pending, previous: previous)
            out.write(bundle.bytes)
            previous = bundle
            bundles += 1
            sealedOps += pending.count
            pending.removeAll(keepingCapacity: true)
        }
    }
    out.close()
    storeEmit("gen", [("ops", "\(o.ops)"), ("records", "\(workload.records.count)"), ("bundles", "\(bundles)"),
                      ("file_bytes", "\(out.bytes)"), ("gen_s", "\(now() - start)"), ("gen_peak_rss_mb", "\(peakRSSMegabytes())")])
}

/// A fresh SQLite replica joins the peer's space, then imports the file's bundles.
/// Bundles are read ten at a time (10,000 operations: one store transaction, as
/// `import(_:)` batches a whole list) so the file is never held in memory.
func storeImport(_ o: StoreOptions) async throws {
    let input = FrameReader(path: o.file)
    defer { input.close() }
    guard let inviteFrame = input.next(), let paramsFrame = input.next() else { fail("\(o.file) holds no invite") }
    let params = String(decoding: paramsFrame, as: UTF8.self).split(separator: " ").compactMap { UInt64($0) }
    guard params.count == 2 else { fail("\(o.file) has no workload parameters") }
    let (ops, seed) = (Int(params[0]), params[1])
    let replica = try Replica.join(try InviteToken(String(decoding: inviteFrame, as: UTF8.self)), at: o.dir)
    let rssBefore = currentRSSMegabytes()

    var summary = ImportSummary()
    var (importSeconds, readSeconds, bundles, bytes) = (0.0, 0.0, 0, 0)
    var chunk: [[UInt8]] = []
    var finished = false
    while !finished {
        let readStart = now()
        chunk.removeAll(keepingCapacity: true)
        while chunk.count < 10 {
            guard let frame = input.next() else { finished = true; break }
            chunk.append(frame)
            bytes += frame.count
        }
        readSeconds += now() - readStart
        guard !chunk.isEmpty else { break }
        bundles += chunk.count
        let start = now()
        let part = try await replica.import(chunk)
        importSeconds += now() - start
        summary.applied += part.applied
        summary.duplicates += part.duplicates
        summary.held += part.held
        summary.forks += part.forks
        summary.rejected += part.rejected
        summary.operationsApplied += part.operationsApplied
    }
    chunk = []
    let peak = peakRSSMegabytes()
    guard summary.applied == bundles, summary.rejected.isEmpty, summary.held == 0, summary.forks == 0 else {
        fail("import did not apply every bundle: \(summary); first rejection: \(summary.rejected.first.map { "\($0.error)" } ?? "-")")
    }
    let database = o.dir + "/replica.sqlite"
    let fileSize = { (path: String) -> Int in
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
    storeEmit("import", [
        ("ops", "\(ops)"), ("bundles", "\(bundles)"), ("bundle_bytes", "\(bytes)"), ("ops_applied", "\(summary.operationsApplied)"),
        ("import_s", "\(importSeconds)"), ("read_file_s", "\(readSeconds)"),
        ("ops_per_s", "\(Double(summary.operationsApplied) / importSeconds)"),
        ("rss_before_import_mb", "\(rssBefore)"), ("peak_rss_mb", "\(peak)"),
        ("db_bytes", "\(fileSize(database) + fileSize(database + "-wal"))"),
    ])

    // Queries on the imported store, through the Replica API (actor hop included).
    let workload = StoreWorkload(ops: ops, seed: seed)
    var rng = SeededGenerator(seed: seed &+ 99)
    let items = StoreWorkload.collection
    let count = try await replica.count(matching: RecordQuery(items))
    var times: [String: [Double]] = [:]
    func timed(_ name: String, _ body: () async throws -> Int) async throws {
        let start = now()
        _ = try await body()
        times[name, default: []].append(now() - start)
    }
    let rounds = o.queries
    for round in 0..<(rounds + 10) {
        let id = workload.records[Int.random(in: 0..<workload.records.count, using: &rng)]
        let status = Value.string("s\(Int.random(in: 0..<StoreWorkload.statusCount, using: &rng))")
        let floor = Value.int(Int64.random(in: 0..<Int64(StoreWorkload.priorityCount), using: &rng))
        let warm = round < 10
        try await timed(warm ? "warm" : "by_id") { try await replica.record(id, in: items) == nil ? 0 : 1 }
        try await timed(warm ? "warm" : "equality_limit20") {
            try await replica.records(matching: RecordQuery(items).where("status", .equals(status)).limit(20)).count
        }
        try await timed(warm ? "warm" : "range_ordered_limit20") {
            try await replica.records(matching: RecordQuery(items).where("priority", .greaterThanOrEqual(floor)).order(by: "priority").limit(20)).count
        }
        try await timed(warm ? "warm" : "count_all") { try await replica.count(matching: RecordQuery(items)) }
    }
    var fields: [(String, String)] = [("ops", "\(ops)"), ("records_visible", "\(count)"), ("rounds", "\(rounds)")]
    for name in ["by_id", "equality_limit20", "range_ordered_limit20", "count_all"] {
        let sorted = times[name]!.sorted()
        fields.append(("\(name)_median_us", "\(sorted[sorted.count / 2] * 1e6)"))
        fields.append(("\(name)_p99_us", "\(sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)] * 1e6)"))
    }
    storeEmit("queries", fields)
}

/// Plain GRDB: a table shaped like Concord's `fields` (same key, same secondary index),
/// WAL and synchronous = FULL, the workload's rows upserted in 10,000-row transactions.
/// Only the transactions are timed (rows are prepared before each).
func storeRawBaseline(_ o: StoreOptions) throws {
    // As SQLiteStore does: WAL set here, not with `config.journalMode = .wal` (GRDB would
    // then reset `synchronous` to NORMAL, and commits would not be durable).
    var config = Configuration()
    config.prepareDatabase { db in
        _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
        try db.execute(sql: "PRAGMA synchronous = FULL")
        // `--cache-kib 8192` gives the baseline SQLiteStore's page cache
        // (Specs/storage-schema.md section 2), for a like-for-like comparison.
        if let kib = o.cacheKiB { try db.execute(sql: "PRAGMA cache_size = -\(kib)") }
    }
    mkdir(o.dir, 0o700)
    let queue = try DatabaseQueue(path: o.dir + "/raw.sqlite", configuration: config)
    let (journal, synchronous) = try queue.read { db in
        (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
    }
    guard journal == "wal", synchronous == 2 else { fail("raw baseline: journal_mode \(journal), synchronous \(synchronous); expected wal and 2 (FULL)") }
    try queue.write { db in
        try db.execute(sql: """
            CREATE TABLE fields (
                collection TEXT NOT NULL,
                record_id BLOB NOT NULL,
                name TEXT NOT NULL,
                type INTEGER NOT NULL,
                value,
                PRIMARY KEY (collection, record_id, name)
            ) WITHOUT ROWID;
            CREATE INDEX fields_by_value ON fields (collection, name, value);
            """)
    }
    var workload = StoreWorkload(ops: o.ops, seed: o.seed)
    var seconds = 0.0
    var done = 0
    var rows: [StatementArguments] = []
    rows.reserveCapacity(10_000)
    while done < o.ops {
        rows.removeAll(keepingCapacity: true)
        for _ in 0..<min(10_000, o.ops - done) {
            let w = workload.next()
            let value: DatabaseValue = switch w.value {
            case .int(let i): i.databaseValue
            case .string(let s): s.databaseValue
            default: fail("the store workload writes ints and strings only")
            }
            rows.append([StoreWorkload.collection, Data(w.record.bytes), w.field, IndexedValue(w.value).type, value])
        }
        let start = now()
        try queue.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO fields (collection, record_id, name, type, value) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (collection, record_id, name) DO UPDATE SET type = excluded.type, value = excluded.value
                """)
            for row in rows { try upsert.execute(arguments: row) }
        }
        seconds += now() - start
        done += rows.count
    }
    let stored = try queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM fields") } ?? 0
    storeEmit("raw", [("ops", "\(o.ops)"), ("rows_stored", "\(stored)"), ("raw_s", "\(seconds)"),
                      ("rows_per_s", "\(Double(o.ops) / seconds)"), ("peak_rss_mb", "\(peakRSSMegabytes())"),
                      ("journal_mode", quoted(journal)), ("synchronous", "\(synchronous)"), ("cache_kib", "\(o.cacheKiB ?? 0)")])
}

/// Local writes on a new on-disk replica (default options: auto-seal every 10,000
/// pending operations, which the batched run includes).
func storeWrites(_ o: StoreOptions) async throws {
    let replica = try Replica.createWithoutMembers(at: o.dir)
    var workload = StoreWorkload(ops: o.ops, seed: o.seed)
    let writes = (0..<o.ops).map { _ in workload.next() }
    let per = o.mode == "single" ? 1 : 1_000
    let items = StoreWorkload.collection
    let start = now()
    var index = 0
    while index < writes.count {
        let chunk = writes[index..<min(writes.count, index + per)]
        try await replica.write { tx in
            for w in chunk { try tx.set(w.field, to: w.value, record: w.record, in: items) }
        }
        index += chunk.count
    }
    let seconds = now() - start
    let fsync = fsyncLatency(in: o.dir, count: o.mode == "single" ? 200 : 0)
    storeEmit("writes", [("mode", quoted(o.mode)), ("ops", "\(o.ops)"), ("sets_per_write", "\(per)"), ("writes_s", "\(seconds)"),
                         ("writes_per_s", "\(Double(o.ops) / seconds)"), ("peak_rss_mb", "\(peakRSSMegabytes())")]
                         + (fsync.map { [("fsync_median_ms", "\($0 * 1e3)")] } ?? []))
}

/// The disk's durable-commit floor, right after the writes: the median time of a 4 KiB
/// write plus `fdatasync` on a file in `directory` (what each durable commit pays at least).
func fsyncLatency(in directory: String, count: Int) -> Double? {
    guard count > 0 else { return nil }
    let path = directory + "/fsync-probe"
    let fd = open(path, O_CREAT | O_WRONLY, 0o600)
    guard fd >= 0 else { return nil }
    defer { close(fd); unlink(path) }
    let page = [UInt8](repeating: 0xA5, count: 4_096)
    var times: [Double] = []
    for _ in 0..<count {
        let start = now()
        guard pwrite(fd, page, page.count, 0) == page.count, fdatasync(fd) == 0 else { return nil }
        times.append(now() - start)
    }
    return times.sorted()[times.count / 2]
}
