@_spi(Benchmarks) import Concord
// The school-year suite (issue 16 item 5, Specs/snapshots.md §7): how big a year of a
// classroom's data gets, with collection on and off.
//
//   concord-bench --suite school-year --dir D [--collection on|prune-only|off] [--days 190]
//                 [--students 29] [--ops 60] [--every 10] [--silent 40] [--trace FILE] [--seed S]
//                 [--history-horizon 0] [--retention 30] [--compact-every 7] [--snapshot-min-bundles N]
//
// A teacher's admin device and --students student writers (a real membership space,
// encrypted: the admin's genesis, invites, the students' joins) on real SQLite replicas
// in D, a relay's SQLite storage (`SQLiteRelayStorage`, driven as the relay server drives
// it: vector, pull pages from `pullStart`, one all-or-nothing append per push; the HTTP
// layer and the server's admission filter are left out) and a shared manual clock. Each
// school day every device writes about --ops operations in a few write transactions
// (sets on its own and shared records, adds and removes on tag sets and class lists,
// about 5% record deletes) and syncs 1 to 4 times (pull, stability duties, push). Two
// students go silent for --silent days from day 60 (the admin marks them stale after 30
// days; they come back and catch up); one student joins on day 95 and one is removed on
// day 120. The plan (which device writes what, when it syncs) comes from the seed alone,
// so the runs with collection on and off write the same operations.
//
// --collection prune-only: the replicas prune as they write (`Replica.Options.prunesAsWritten`)
// and perform their stability duties (acks, checkpoints, stale marks) at every sync.
// --collection on: also stage 5 of `Specs/snapshots.md`: the admin seals snapshots on its own
// trigger (`Replica.Options.snapshotMinBundles`, --snapshot-min-bundles, by default 25 per
// device: about a week here; and the 30-day age rule) and uploads them after its push; every
// --compact-every days (staggered by device) each device verifies the relay's latest snapshot
// against its log and compacts to it (`Replica.compact(historyHorizon:)`, --history-horizon
// days, default 0: drop everything below the snapshot); the relay runs a retention pass
// (`RelayServer.retentionPass`, --retention days, default 30 as `concord relay serve`) after
// each upload and once a day, and a device behind the relay's floor loads its snapshot first
// (`409 snapshot-required`, as `SyncDriver` does).
// --collection off: none of it, as before issue 16.
//
// Every --every days (and on the last) it prints one JSON line per measurement: each
// replica's `storageReport()` (bytes on disk after a WAL checkpoint, log bytes, set
// tombstones, delete stubs, live records), the canonical size of its visible state
// (wire-format §5: `ReplicaState.canonicalEncoding()`) and the relay database's bytes. At
// the end: where the bytes of the admin's and one student's database go (SQLite's dbstat
// per table and index) and the goals, PASS or MISS.
//
// --trace FILE writes the same history as JSON lines for Benchmarks/school_year_peers.py,
// which replays it in Yrs (pycrdt) and Loro.
import ConcordCore
import ConcordCrypto
import ConcordRelay
import ConcordTesting
import Foundation
import GRDB

struct SchoolYearOptions {
    /// What the replicas and the relay collect: `off` nothing (as before issue 16),
    /// `prune-only` pruning as written and the stability duties (stages 1-3), `on` also
    /// snapshots, compaction on devices and relay retention (stage 5).
    enum Collection: String { case off, pruneOnly = "prune-only", on }
    var dir = ""
    var collection: Collection = .on
    var days = 190
    var students = 29
    var ops = 60
    var every = 10
    var silent = 40
    var trace: String?
    /// Days of history a device keeps below the snapshot it compacts to (`compact(historyHorizon:)`).
    var historyHorizonDays = 0
    /// The relay's retention in days (`concord relay serve --retention`).
    var retentionDays = 30
    /// Every device compacts every this many days (staggered by device), after verifying
    /// the relay's latest snapshot.
    var compactEvery = 7
    /// The admin's `Replica.Options.snapshotMinBundles`; 0: 25 per device (about a week of
    /// this workload's bundles).
    var snapshotMinBundles = 0

    /// Pruning as written and the stability duties (`prune-only` and `on`).
    var prunes: Bool { collection != .off }
    /// Snapshots, compaction and relay retention (`on`).
    var compacts: Bool { collection == .on }

    init(_ extra: [String]) {
        var i = 0
        while i + 1 < extra.count {
            let (flag, text) = (extra[i], extra[i + 1])
            switch flag {
            case "--dir": dir = text
            case "--collection":
                guard let mode = Collection(rawValue: text) else { fail("--collection takes on, prune-only or off") }
                collection = mode
            case "--days": days = max(1, number(text, flag))
            case "--students": students = max(4, number(text, flag))
            case "--ops": ops = max(4, number(text, flag))
            case "--every": every = max(1, number(text, flag))
            case "--silent": silent = number(text, flag)
            case "--trace": trace = text
            case "--history-horizon": historyHorizonDays = number(text, flag)
            case "--retention": retentionDays = number(text, flag)
            case "--compact-every": compactEvery = max(1, number(text, flag))
            case "--snapshot-min-bundles": snapshotMinBundles = number(text, flag)
            default: fail("unknown --suite school-year flag \(flag)")
            }
            i += 2
        }
        guard !dir.isEmpty else { fail("--suite school-year needs --dir D (an empty directory for the replicas and the relay)") }
    }
}

/// One operation of the plan, as written to the replica and to the trace.
struct PlannedOp: Sendable {
    enum Kind: String, Sendable { case set = "s", add = "a", remove = "r", delete = "d" }
    var kind: Kind
    var collection: String
    var record: UInt64
    var field: String
    var value: Value?

    /// The record id of `record` in `collection` (stable, readable in the trace).
    var id: RecordID { RecordID(high: UInt64(SchoolYearPlan.collections.firstIndex(of: collection)! + 1), low: record) }

    var traceJSON: String {
        let value: String
        switch self.value {
        case .string(let s)?: value = "\"\(s)\""  // plan strings hold no quotes or escapes
        case .int(let n)?: value = "\(n)"
        default: value = "null"
        }
        return "[\"\(kind.rawValue)\",\"\(collection)\",\(record),\"\(field)\",\(value)]"
    }
}

/// The seeded plan: what each device writes. Each device keeps a model of what it wrote
/// (its notes and their tags, the lessons it tagged), so removes name what is there.
struct SchoolYearPlan {
    static let collections = ["lessons", "classes", "notes", "profiles"]
    static let tags = [
        "math", "reading", "science", "art", "music", "history", "homework", "urgent", "review", "draft", "done", "group", "quiz", "lab",
        "essay",
    ]
    static let words = [
        "the", "river", "cells", "fraction", "poem", "map", "energy", "story", "angle", "planet", "verb", "history", "light", "sound",
        "graph", "forest",
    ]

    var rng: SeededGenerator
    /// Per device: live note ids and their tags.
    var notes: [Int: [UInt64: Set<String>]] = [:]
    var nextNote: [Int: UInt64] = [:]
    /// Per student: the tags it added on each lesson (its own adds, so it may remove them).
    var lessonTags: [Int: [UInt64: Set<String>]] = [:]
    /// Lessons the teacher made, oldest first, and which it deleted.
    var lessons: [UInt64] = []
    var nextLesson: UInt64 = 1
    /// Who is on each class's attendance list (the teacher's model).
    var present: [UInt64: Set<Int>] = [:]

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    mutating func text(_ words: ClosedRange<Int>) -> String {
        (0..<Int.random(in: words, using: &rng)).map { _ in Self.words.randomElement(using: &rng)! }.joined(separator: " ")
    }

    /// The teacher's ops of one day: three lessons (title, body, due, two tags), the
    /// attendance of the four classes (yesterday's list cleared, today's added), edits of
    /// recent lessons, and lessons older than 40 days deleted now and then.
    mutating func teacherDay(_ day: Int, students: [Int]) -> [PlannedOp] {
        var ops: [PlannedOp] = []
        for _ in 0..<3 {
            let lesson = nextLesson
            nextLesson += 1
            lessons.append(lesson)
            ops.append(PlannedOp(kind: .set, collection: "lessons", record: lesson, field: "title", value: .string(text(3...6))))
            ops.append(PlannedOp(kind: .set, collection: "lessons", record: lesson, field: "body", value: .string(text(30...60))))
            ops.append(PlannedOp(kind: .set, collection: "lessons", record: lesson, field: "due", value: .int(Int64(day + 7))))
            for tag in Self.tags.shuffled(using: &rng).prefix(2) {
                ops.append(PlannedOp(kind: .add, collection: "lessons", record: lesson, field: "tags", value: .string(tag)))
            }
        }
        for klass in UInt64(1)...4 {
            for student in present[klass, default: []].sorted() where Int.random(in: 0..<10, using: &rng) < 7 {
                ops.append(PlannedOp(kind: .remove, collection: "classes", record: klass, field: "present", value: .string("s\(student)")))
                present[klass]!.remove(student)
            }
            for student in students where student % 4 == Int(klass - 1) && Int.random(in: 0..<10, using: &rng) < 8 {
                ops.append(PlannedOp(kind: .add, collection: "classes", record: klass, field: "present", value: .string("s\(student)")))
                present[klass, default: []].insert(student)
            }
        }
        for _ in 0..<4 {
            guard let lesson = lessons.suffix(10).randomElement(using: &rng) else { break }
            ops.append(PlannedOp(kind: .set, collection: "lessons", record: lesson, field: "body", value: .string(text(30...60))))
        }
        if lessons.count > 120, Int.random(in: 0..<2, using: &rng) == 0 {
            let old = lessons.removeFirst()
            ops.append(PlannedOp(kind: .delete, collection: "lessons", record: old, field: "", value: nil))
        }
        return ops
    }

    /// One student's ops of a day, about `count`: notes (new ones, edits, tags, deletes,
    /// about 5% of its ops), its profile, comments and tags on the recent lessons.
    mutating func studentDay(_ student: Int, day: Int, count: Int) -> [PlannedOp] {
        var ops: [PlannedOp] = []
        let n = Int.random(in: (count * 5 / 6)...(count * 7 / 6), using: &rng)
        let noteBase = UInt64(student) << 32
        while ops.count < n {
            let roll = Int.random(in: 0..<100, using: &rng)
            var mine = notes[student, default: [:]]
            if roll < 5, mine.count > 3, let victim = mine.keys.sorted().randomElement(using: &rng) {
                ops.append(PlannedOp(kind: .delete, collection: "notes", record: victim, field: "", value: nil))
                mine[victim] = nil
            } else if roll < 40 {
                let note: UInt64
                if mine.isEmpty || Int.random(in: 0..<6, using: &rng) == 0 {
                    note = noteBase | nextNote[student, default: 1]
                    nextNote[student, default: 1] += 1
                    mine[note] = []
                    ops.append(PlannedOp(kind: .set, collection: "notes", record: note, field: "title", value: .string(text(2...5))))
                } else {
                    note = mine.keys.sorted().suffix(8).randomElement(using: &rng)!
                }
                ops.append(
                    PlannedOp(
                        kind: .set, collection: "notes", record: note, field: Bool.random(using: &rng) ? "body" : "title",
                        value: .string(text(8...40))))
            } else if roll < 60, let note = mine.keys.sorted().suffix(8).randomElement(using: &rng) {
                let tags = mine[note]!
                if !tags.isEmpty, Int.random(in: 0..<10, using: &rng) < 4 {
                    let tag = tags.sorted().randomElement(using: &rng)!
                    ops.append(PlannedOp(kind: .remove, collection: "notes", record: note, field: "tags", value: .string(tag)))
                    mine[note]!.remove(tag)
                } else {
                    let tag = Self.tags.randomElement(using: &rng)!
                    ops.append(PlannedOp(kind: .add, collection: "notes", record: note, field: "tags", value: .string(tag)))
                    mine[note]!.insert(tag)
                }
            } else if roll < 72 {
                let field = ["status", "mood", "reading"].randomElement(using: &rng)!
                ops.append(
                    PlannedOp(kind: .set, collection: "profiles", record: UInt64(student), field: field, value: .string(text(1...4))))
            } else if roll < 85, let lesson = lessons.suffix(10).randomElement(using: &rng) {
                ops.append(
                    PlannedOp(
                        kind: .set, collection: "lessons", record: lesson, field: "comment", value: .string("s\(student): " + text(3...12)))
                )
            } else if let lesson = lessons.suffix(10).randomElement(using: &rng) {
                // The lesson's "groups" list: a student joins and leaves groups.
                var added = lessonTags[student, default: [:]][lesson, default: []]
                if let group = added.sorted().first, Int.random(in: 0..<10, using: &rng) < 5 {
                    ops.append(PlannedOp(kind: .remove, collection: "lessons", record: lesson, field: "groups", value: .string(group)))
                    added.remove(group)
                } else {
                    let group = "g\(Int.random(in: 1...6, using: &rng))-s\(student)"
                    ops.append(PlannedOp(kind: .add, collection: "lessons", record: lesson, field: "groups", value: .string(group)))
                    added.insert(group)
                }
                lessonTags[student, default: [:]][lesson] = added
            }
            notes[student] = mine
        }
        return ops
    }
}

/// One measurement point of one run.
struct SchoolYearPoint {
    var day: Int
    var devices: [(name: String, report: StorageReport, canonical: Int)]
    var relayBytes: Int
}

func fileBytes(_ path: String) -> Int {
    ["", "-wal", "-shm"].reduce(0) { total, suffix in
        total + (((try? FileManager.default.attributesOfItem(atPath: path + suffix))?[.size] as? Int) ?? 0)
    }
}

/// Checkpoints a SQLite database's WAL into the main file and truncates it, from a
/// connection of its own, so sizes are the database's, not the WAL's high-water mark.
func checkpointWAL(_ path: String) {
    guard let queue = try? DatabaseQueue(path: path) else { return }
    _ = try? queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    try? queue.close()
}

/// Bytes per table and index of a SQLite database (dbstat: pages, and the unused bytes in
/// them), largest first; empty when the SQLite has no dbstat.
func spaceByTable(_ path: String) -> [(String, Int, Int)] {
    guard let queue = try? DatabaseQueue(path: path) else { return [] }
    defer { try? queue.close() }
    let rows =
        (try? queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT name, SUM(pgsize) AS bytes, SUM(unused) AS unused FROM dbstat GROUP BY name ORDER BY bytes DESC")
        }) ?? []
    return rows.map { ($0["name"] as String, $0["bytes"] as Int, $0["unused"] as Int) }
}

final class SchoolYearRun: @unchecked Sendable {
    let o: SchoolYearOptions
    let seed: UInt64
    let clock: ManualClock
    var options: Replica.Options
    let relay: SQLiteRelayStorage
    let relayPath: String
    var devices: [Int: Replica] = [:]  // 0: the teacher's admin device
    var names: [Int: String] = [:]
    var trace: FileHandle?
    var points: [SchoolYearPoint] = []
    var syncs = 0
    var opsWritten = 0
    var bundlesImported = 0
    /// The visible digests of the replicas after the closing sync rounds (one when converged).
    var digests: Set<String> = []
    /// Collection `on`: the relay server over `relay` (never listening), for its snapshot
    /// checks' storage and its retention passes (`RelayServer.retentionPass(of:now:)`).
    let server: RelayServer?
    /// The day being played (compaction days are staggered by device).
    var day = 0
    /// Per device: the snapshot it last compacted to, the day it last tried.
    var compactedTo: [Int: Digest32] = [:]
    var compactionTried: [Int: Int] = [:]
    /// Per device: its latest compaction (day, bytes before and after, bundles dropped).
    var compactions: [Int: (day: Int, before: Int, after: Int, dropped: Int)] = [:]
    var compactionCount = 0
    var snapshotsSealed = 0
    var snapshotsLoaded = 0
    var retentionDropped = 0
    var retentionBytes: Int64 = 0
    /// Refusals of verify, compact and load by error code (expected ones: a returning
    /// device that holds no log below the snapshot, a snapshot above what a device holds).
    var refusals: [String: Int] = [:]

    init(_ o: SchoolYearOptions, seed: UInt64) throws {
        self.o = o
        self.seed = seed
        // A school year that ended a little before now: HLC readings stay in the past.
        let start = SystemClock().nowMilliseconds() - UInt64(o.days + 30) * 86_400_000
        clock = ManualClock(milliseconds: start)
        options = Replica.Options(physicalClock: clock)
        options.prunesAsWritten = o.prunes
        if o.compacts { options.snapshotMinBundles = o.snapshotMinBundles > 0 ? o.snapshotMinBundles : 25 * (o.students + 1) }
        relayPath = o.dir + "/relay.sqlite"
        relay = try SQLiteRelayStorage(path: relayPath)
        if o.compacts {
            var configuration = RelayConfiguration()
            configuration.retention = .days(UInt64(o.retentionDays))
            server = RelayServer(configuration: configuration, storage: relay)
        } else {
            server = nil
        }
        if let path = o.trace {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            trace = FileHandle(forWritingAtPath: path)
        }
    }

    func emit(_ line: String) {
        trace?.write(Data((line + "\n").utf8))
    }

    /// One relay round, as `SyncDriver` runs it: the relay's vector, a pull from
    /// `pullStart` in pages, the stability duties (collection on), then a seal and a push of
    /// every bundle above the relay's vector in one append.
    func sync(_ device: Int) async throws {
        guard let replica = devices[device] else { return }
        syncs += 1
        emit("{\"t\":\"sync\",\"dev\":\(device)}")
        let space = replica.spaceID
        if o.compacts { try await loadSnapshotIfBehindFloor(device) }
        let local = try await replica.versionVector()
        if var after = try await relay.pullStart(in: space, since: local) {
            while true {
                let page = try await relay.bundles(in: space, since: local, afterPosition: after, limit: 256)
                guard let last = page.last else { break }
                let summary = try await replica.import(page.map(\.bytes))
                bundlesImported += summary.applied
                after = last.position
                if page.count < 256 { break }
            }
        }
        var sealed: Digest32?
        if o.prunes {
            do { sealed = try await replica.performStabilityDuties().snapshot } catch let error as ConcordError
                where error.code == .notAllowed
            {}
        }
        guard replica.role == .writer else { return }
        _ = try await replica.seal()
        let relayVector = try await relay.vector(of: space)
        // This device's bundles above the relay's head, read by sequence. (`RelayClient.push`
        // reads them through `Replica.bundles(since:)`, which walks the whole log from its
        // start at every push: quadratic over a year, a tenth of this suite's time by day 60.
        // Other devices' bundles are never missing from the relay here: each pushes its own.)
        let me = replica.membership.device.publicKey
        let head = try await replica.versionVector()[me]
        let from = relayVector[me] + 1
        let stored =
            from > head ? [] : try replica.store.read { tx in try (from...head).compactMap { try tx.bundle(of: me, sequence: $0) } }
        let push = try stored.map { try ChangeBundle(bytes: $0.bytes) }
        if !push.isEmpty {
            _ = try await relay.append(push, to: space, limits: SpaceLimits(quotaBytes: .max))
        }
        guard o.compacts else { return }
        // After the push (the relay holds the checkpoint it names), as `SyncDriver` uploads
        // an admin's own snapshot; the relay then runs a retention pass.
        if sealed != nil, let own = try await replica.latestSnapshot() { try await upload(own) }
        if compactionTried[device] != day, (day + device) % o.compactEvery == 0 {
            compactionTried[device] = day
            try await compactIfDue(device)
        }
    }

    /// Stores an admin's snapshot as the relay's latest (what `PUT …/snapshot` stores once
    /// its checks pass: the admin is trusted here), then a retention pass.
    func upload(_ snapshot: SealedSnapshot) async throws {
        let manifest = snapshot.manifest
        let stored = StoredSnapshot(
            spaceID: devices[0]!.spaceID, id: manifest.id, vector: manifest.vector, madeAt: manifest.madeAt.rawValue,
            manifest: manifest.bytes, chunkCount: snapshot.chunks.count,
            bytes: Int64(manifest.bytes.count + snapshot.chunks.reduce(0) { $0 + $1.count }))
        if try await relay.putSnapshot(stored, chunks: snapshot.chunks, quotaBytes: .max) == .stored {
            snapshotsSealed += 1
            try await retention()
        }
    }

    /// One relay retention pass, at the shared clock's time.
    func retention() async throws {
        guard let server, let space = devices[0]?.spaceID else { return }
        if let summary = try await server.retentionPass(of: space, now: clock.nowMilliseconds()) {
            retentionDropped += summary.dropped
            retentionBytes += summary.bytes
        }
    }

    /// What bounds the relay's retention: the bundles (summed over authors) under its latest
    /// snapshot's `V` and under its stable cut, computed as `RelayServer` does
    /// (`MemberDirectory`: the stored control bundles and the authors of data bundles;
    /// `StabilityTracker.relayCut`: each member's `ack` ops, no data-bundle context).
    func relayBounds() async throws -> (vector: UInt64, cut: UInt64) {
        guard let space = devices[0]?.spaceID, let snapshot = try await relay.latestSnapshot(of: space) else { return (0, 0) }
        var controls: [ChangeBundle] = []
        var dataAuthors = Set<PublicKey>()
        var after: Int64 = 0
        while true {
            let page = try await relay.bundles(in: space, since: VersionVector(), afterPosition: after, limit: 512)
            for stored in page {
                after = stored.position
                guard stored.bytes.count > 5 else {
                    if stored.bytes.isEmpty { dataAuthors.insert(stored.author) }
                    continue
                }
                if stored.bytes[5] & 0x02 == 0 {
                    dataAuthors.insert(stored.author)
                } else if let bundle = try? ChangeBundle(bytes: stored.bytes, limits: BundleLimits(maxBundleBytes: .max)) {
                    controls.append(bundle)
                }
            }
            if page.count < 512 { break }
        }
        let state = MembershipState.evaluate(
            ops: controls.compactMap { try? $0.membershipRecord(encrypted: true) }, spaceID: space, encrypted: true)
        let cut = StabilityTracker.relayCut(membership: state, held: try await relay.vector(of: space), dataAuthors: dataAuthors)
        let sum = { (vector: VersionVector) in vector.entries.values.reduce(0, +) }
        return (sum(snapshot.vector), sum(cut))
    }

    /// The relay's latest snapshot, manifest and chunks, as a device downloads it.
    func relaySnapshot() async throws -> SealedSnapshot? {
        guard let space = devices[0]?.spaceID, let latest = try await relay.latestSnapshot(of: space) else { return nil }
        var chunks: [[UInt8]] = []
        for index in 0..<latest.chunkCount {
            guard let chunk = try await relay.snapshotChunk(latest.id, index: index, of: space) else { return nil }
            chunks.append(chunk)
        }
        return try SealedSnapshot.decode(manifest: latest.manifest, chunks: chunks)
    }

    func refused(_ what: String, _ error: ConcordError) {
        refusals["\(what) \(error.code)", default: 0] += 1
        FileHandle.standardError.write(Data("  [school-year] day \(day): \(what) refused: \(error.code): \(error.message)\n".utf8))
    }

    /// `409 snapshot-required` as `SyncDriver` meets it: when the relay's retention dropped
    /// bundles this device lacks (its vector is below the relay's floor for an author), it
    /// loads the relay's latest snapshot (an empty store, or rebased when far behind) before
    /// pulling. The control bundles come from the admin's replica: the same the relay
    /// serves (`GET …/snapshot/{id}/control`: the control bundles it holds at or below `V`
    /// and the checkpoint).
    func loadSnapshotIfBehindFloor(_ device: Int) async throws {
        guard let replica = devices[device], let admin = devices[0] else { return }
        let floor = try await relay.floor(of: replica.spaceID)
        let local = try await replica.versionVector()
        guard floor.entries.contains(where: { local[$0.key] < $0.value }), let snapshot = try await relaySnapshot() else { return }
        do {
            let controls = try await admin.controlBundles(through: snapshot.manifest)
            _ = try await replica.loadSnapshot(snapshot, controlBundles: controls)
            snapshotsLoaded += 1
        } catch let error as ConcordError {
            refused("load", error)
        }
    }

    /// A device's weekly compaction: verify the relay's latest snapshot against its own log
    /// (the admin sealed its own), then compact to it.
    func compactIfDue(_ device: Int) async throws {
        guard let replica = devices[device], let snapshot = try await relaySnapshot() else { return }
        let id = snapshot.manifest.id
        guard compactedTo[device] != id else { return }
        if try await replica.snapshotStatus().map({ $0.id != id || $0.state != .verified }) ?? true {
            guard try await replica.versionVector().includes(snapshot.manifest.vector) else { return }
            do {
                try await replica.verifySnapshot(snapshot)
            } catch let error as ConcordError {
                refused("verify", error)
                return
            }
        }
        do {
            let report = try await replica.compact(historyHorizon: .seconds(o.historyHorizonDays * 86_400))
            compactedTo[device] = id
            compactionCount += 1
            compactions[device] = (day, report.bytesBefore, report.bytesAfter, report.bundlesDropped)
        } catch let error as ConcordError {
            refused("compact", error)
        }
    }

    func write(_ device: Int, _ ops: [PlannedOp]) async throws {
        guard let replica = devices[device], !ops.isEmpty else { return }
        opsWritten += ops.count
        emit("{\"t\":\"w\",\"dev\":\(device),\"ops\":[\(ops.map(\.traceJSON).joined(separator: ","))]}")
        let clock = self.clock
        try await replica.write { tx in
            for op in ops {
                clock.advance(by: 1)
                switch op.kind {
                case .set: try tx.set(op.field, to: op.value!, record: op.id, in: op.collection)
                case .add: try tx.add(op.value!, to: op.field, record: op.id, in: op.collection)
                case .remove: try tx.remove(op.value!, from: op.field, record: op.id, in: op.collection)
                case .delete: try tx.delete(record: op.id, in: op.collection)
                }
            }
        }
    }

    func join(_ student: Int, admin: Replica) async throws {
        let token = try await admin.invite(role: .writer)
        let replica = try await Replica.join(token, at: o.dir + "/student-\(student)", name: "student \(student)", options: options)
        devices[student] = replica
        names[student] = "student \(student)"
        emit("{\"t\":\"join\",\"dev\":\(student)}")
    }

    func measure(day: Int) async throws {
        var point = SchoolYearPoint(day: day, devices: [], relayBytes: 0)
        for device in devices.keys.sorted() {
            let replica = devices[device]!
            checkpointWAL(o.dir + (device == 0 ? "/teacher" : "/student-\(device)") + "/replica.sqlite")
            let report = try await replica.storageReport()
            let canonical = try await replica.state().canonicalEncoding().count
            point.devices.append((names[device]!, report, canonical))
        }
        checkpointWAL(relayPath)
        point.relayBytes = fileBytes(relayPath)
        points.append(point)
        emit("{\"t\":\"measure\",\"day\":\(day)}")
        let disk = point.devices.map(\.report.bytesOnDisk)
        let canonical = point.devices.map(\.canonical)
        func median(_ xs: [Int]) -> Int { xs.sorted()[xs.count / 2] }
        let c = point.devices.map(\.report.counts)
        var line =
            "{\"suite\": \"school-year\", \"collection\": \"\(o.collection.rawValue)\", \"day\": \(day), \"devices\": \(point.devices.count), "
            + "\"ops_written\": \(opsWritten), \"syncs\": \(syncs), "
            + "\"median_bytes_on_disk\": \(median(disk)), \"max_bytes_on_disk\": \(disk.max()!), "
            + "\"median_log_bytes\": \(median(c.map(\.logBytes))), \"median_log_bundles\": \(median(c.map(\.logBundles))), "
            + "\"median_set_tombstones\": \(median(c.map(\.setTombstones))), \"median_delete_stubs\": \(median(c.map(\.deleteStubs))), "
            + "\"median_live_records\": \(median(c.map(\.liveRecords))), \"median_canonical_bytes\": \(median(canonical)), "
            + "\"teacher_bytes_on_disk\": \(point.devices[0].report.bytesOnDisk), \"teacher_canonical_bytes\": \(point.devices[0].canonical), "
            + "\"relay_bytes\": \(point.relayBytes)"
        if o.compacts {
            // The bytes each device had right after its latest compaction (VACUUM included).
            let after = compactions.isEmpty ? 0 : median(compactions.values.map(\.after))
            let before = compactions.isEmpty ? 0 : median(compactions.values.map(\.before))
            line += ", \"median_bytes_after_compaction\": \(after), \"median_bytes_before_compaction\": \(before), "
            line += "\"compactions\": \(compactionCount), \"snapshots\": \(snapshotsSealed), \"snapshots_loaded\": \(snapshotsLoaded), "
            line += "\"relay_bundles_dropped\": \(retentionDropped), \"relay_bytes_dropped\": \(retentionBytes), "
            line += "\"refusals\": \(refusals.values.reduce(0, +)), "
            let bounds = try await relayBounds()
            line += "\"relay_snapshot_vector_bundles\": \(bounds.vector), \"relay_cut_bundles\": \(bounds.cut)"
        }
        line += "}"
        print(line)
        // Also on stderr, unbuffered: a long run's series survives the run being stopped.
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func run() async throws {
        var plan = SchoolYearPlan(seed: seed)
        var rng = SeededGenerator(seed: seed &+ 1)
        // Day 0: the teacher's space, an invite per student, their joins; everyone syncs.
        let admin = try await Replica.create(at: o.dir + "/teacher", name: "teacher", options: options)
        devices[0] = admin
        names[0] = "teacher"
        emit("{\"t\":\"join\",\"dev\":0}")
        for student in 1...o.students { try await join(student, admin: admin) }
        try await sync(0)
        for student in 1...o.students { try await sync(student) }
        try await sync(0)
        let silent: Set<Int> = [1, 2]
        let silentStart = min(60, o.days / 4)
        let silentDays = silentStart..<(silentStart + min(o.silent, o.days / 2))
        let joinDay = min(95, o.days / 2)
        let removeDay = min(120, o.days * 2 / 3)
        let removed = 3
        let newcomer = o.students + 1
        let start = clock.nowMilliseconds()
        for day in 1...o.days {
            self.day = day
            emit("{\"t\":\"day\",\"day\":\(day)}")
            // School starts at 8:00 of day `day`.
            clock.set(milliseconds: max(clock.nowMilliseconds(), start + UInt64(day) * 86_400_000))
            if day == joinDay {
                try await join(newcomer, admin: admin)
                try await sync(0)
                try await sync(newcomer)
            }
            if day == removeDay, let gone = devices[removed] {
                try await admin.removeMember(gone.deviceID)
                devices[removed] = nil
                emit("{\"t\":\"remove\",\"dev\":\(removed)}")
                try await sync(0)
            }
            let away = silentDays.contains(day) ? silent : []
            let active = devices.keys.sorted().filter { !away.contains($0) }
            // Each device's ops of the day, in four slots; it syncs after 1-4 of them.
            var slots: [Int: [[PlannedOp]]] = [:]
            var syncSlots: [Int: Set<Int>] = [:]
            for device in active {
                let ops =
                    device == 0
                    ? plan.teacherDay(day, students: active.filter { $0 != 0 }) : plan.studentDay(device, day: day, count: o.ops)
                var parts: [[PlannedOp]] = [[], [], [], []]
                for op in ops { parts[Int.random(in: 0..<4, using: &rng)].append(op) }
                slots[device] = parts
                let count = Int.random(in: 1...4, using: &rng)
                syncSlots[device] = Set([0, 1, 2, 3].shuffled(using: &rng).prefix(count))
            }
            for slot in 0..<4 {
                clock.advance(by: 2 * 3_600_000)
                for device in active.shuffled(using: &rng) {
                    try await write(device, slots[device]![slot])
                    if syncSlots[device]!.contains(slot) { try await sync(device) }
                }
            }
            // The relay's retention pass of the day (the server runs one at most every
            // `retentionPassInterval` after pushes, and after each snapshot upload).
            if o.compacts { try await retention() }
            if day % o.every == 0 || day == o.days {
                FileHandle.standardError.write(
                    Data("  [school-year \(o.collection.rawValue)] day \(day)/\(o.days): \(opsWritten) ops, \(syncs) syncs\n".utf8))
                try await measure(day: day)
            }
        }
        // After the year (not measured): two more rounds for every device, then every
        // replica must show the same visible state.
        for _ in 0..<2 { for device in devices.keys.sorted() { try await sync(device) } }
        for device in devices.keys.sorted() { digests.insert(try await devices[device]!.state().digestHex) }
        try? trace?.close()
    }
}

func runSchoolYearSuite(_ options: Options) {
    let o = SchoolYearOptions(options.extra)
    do {
        try runBlocking {
            let started = now()
            let run = try SchoolYearRun(o, seed: options.seed)
            try await run.run()
            let seconds = now() - started
            let label = o.collection.rawValue
            let last = run.points.last!
            let teacher = last.devices[0]
            let student = last.devices.first { $0.name == "student 5" } ?? last.devices[1]
            print("")
            print(
                "School year, collection \(label): \(o.students) students + 1 teacher, \(o.days) days, \(run.opsWritten) ops, \(run.syncs) syncs, "
                    + "\(run.bundlesImported) bundle imports, seed \(options.seed), \(String(format: "%.0f", seconds)) s")
            print("")
            print(
                "| day | replica bytes (median) | log bytes (median) | set tombstones (median) | delete stubs (median) | live records | canonical live bytes (median) | relay bytes |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for p in run.points {
                func median(_ xs: [Int]) -> Int { xs.sorted()[xs.count / 2] }
                let c = p.devices.map(\.report.counts)
                print(
                    "| \(p.day) | \(median(p.devices.map(\.report.bytesOnDisk))) | \(median(c.map(\.logBytes))) | \(median(c.map(\.setTombstones))) | "
                        + "\(median(c.map(\.deleteStubs))) | \(median(c.map(\.liveRecords))) | \(median(p.devices.map(\.canonical))) | \(p.relayBytes) |"
                )
            }
            print(
                "converged after two closing sync rounds: \(run.digests.count == 1 ? "yes" : "NO") (\(run.devices.count) replicas, \(run.digests.count) visible digest(s))"
            )
            print("")
            for (who, dir) in [(teacher, "/teacher"), (student, "/student-5")] {
                let path = o.dir + dir + "/replica.sqlite"
                checkpointWAL(path)
                let tables = spaceByTable(path)
                let total = tables.reduce(0) { $0 + $1.1 }
                let shown = tables.prefix(12).map { "\($0.0) \($0.1) (\($0.2) unused)" }.joined(separator: ", ")
                print(
                    "where the bytes go, \(who.name) (dbstat, \(total) bytes in pages): \(tables.isEmpty ? "dbstat not available" : shown)")
            }
            print("")
            // Goal 1 (after collection): each replica's bytes on disk at most 2x the canonical
            // size of its live data.
            let ratios = last.devices.map { Double($0.report.bytesOnDisk) / Double(max(1, $0.canonical)) }.sorted()
            let medianRatio = ratios[ratios.count / 2]
            let worst = ratios.last!
            if o.compacts {
                let after = run.compactions.values.map { Double($0.after) }.sorted()
                let canonicalMedian = Double(last.devices.map(\.canonical).sorted()[last.devices.count / 2])
                print(
                    "compaction: \(run.compactionCount) compactions to \(run.snapshotsSealed) snapshots (admin's snapshotMinBundles \(run.options.snapshotMinBundles)), "
                        + "history horizon \(o.historyHorizonDays) d, every \(o.compactEvery) days per device; \(run.snapshotsLoaded) snapshot loads "
                        + "(behind the relay's floor); relay retention \(o.retentionDays) d dropped \(run.retentionDropped) bundles, \(run.retentionBytes) bytes; "
                        + "refusals \(run.refusals.isEmpty ? "none" : run.refusals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                )
                if !after.isEmpty {
                    print(
                        "right after each device's latest compaction: median \(Int(after[after.count / 2])) bytes "
                            + "(\(String(format: "%.1fx", after[after.count / 2] / max(1, canonicalMedian))) the final median canonical size)"
                    )
                }
            }
            if o.prunes {
                print(
                    "goal: replica bytes on disk <= 2x canonical live size after collection: \(worst <= 2 ? "PASS" : "MISS") "
                        + "(median \(String(format: "%.1fx", medianRatio)), worst \(String(format: "%.1fx", worst)); "
                        + "teacher \(teacher.report.bytesOnDisk) bytes vs \(teacher.canonical) canonical)")
                // Measured by its own suite: a year of this class is about 200k operations, the
                // goal is stated at 1M (`concord-bench --suite new-device`, NewDeviceBenchmark.swift).
                print("goal: new device ready from a snapshot in < 2 s at 1M ops: see concord-bench --suite new-device")
            } else {
                print(
                    "without collection: replica bytes on disk \(String(format: "%.1fx", medianRatio)) the canonical live size (median; worst \(String(format: "%.1fx", worst)))"
                )
            }
        }
    } catch {
        fail("school-year suite failed: \(error)")
    }
}
