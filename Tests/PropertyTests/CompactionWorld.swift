import ConcordCore
import ConcordCrypto
import ConcordStore
import ConcordTesting
import Foundation

@testable import Concord
@testable import ConcordProtocol

/// A space of store-backed ``Replica``s playing a random history with collection at random
/// points (`Specs/snapshots.md` §8): writes, deletes and set churn, partial syncs in random
/// orders with duplicates, acknowledgements and checkpoints (the replicas' own stability
/// duties), snapshots sealed by any device, newcomers loaded from the admin's latest
/// snapshot, a writer removed, and a writer that goes away (writing offline), is marked
/// stale and returns. Shared by `CompactionProperties`.
///
/// Most devices are on `MemoryStore`; one history in eight puts one device on a real
/// SQLite file in a temporary directory (removed at the end), which keeps 1,000 histories
/// near a minute.
struct CompactionWorld {
    struct Device {
        let replica: Replica
        let name: String
        /// Loaded from a snapshot (its log starts above `V`).
        var loaded = false
        /// Removed by the admin (its bundles above the cut-off are void everywhere).
        var removed = false
        /// Compacted at least once (its log starts at its own snapshot's `V`).
        var compacted = false
    }

    /// What a history may contain.
    struct Knobs {
        var steps = 5...10
        var stale = true
        var loads = true
        var removals = true
        var compactions = true
    }

    /// One action in a write transaction (made outside it: the transaction body cannot use the generator).
    enum Write: Sendable {
        case set(RecordID, Int64)
        case add(RecordID, Int64)
        case remove(RecordID, Int64)
        case delete(RecordID)
    }

    static let collection = "items"
    let time = ManualClock(milliseconds: 1_900_000_000_000)
    let options: Replica.Options
    let knobs: Knobs
    let records: [RecordID]
    var devices: [Device] = []
    /// The writer that goes away (nil: none in this history).
    var away: Int?
    var awayIsAway = false
    /// Every bundle seen in any export or seal, by id (the oracle's input).
    var registry: [BundleID: ChangeBundle] = [:]
    /// The state digest of every snapshot sealed so far, by its checkpoint.
    var stateDigests: [BundleID: (state: Digest32, visible: [UInt8])] = [:]
    var counter: Int64 = 0
    var directory: String?
    var stats = Stats()

    struct Stats {
        var snapshots = 0
        var loads = 0
        var guarded = 0
        var removals = 0
        var staleMarks = 0
        var compactions = 0
        var bundlesDropped = 0
    }

    var admin: Replica { devices[0].replica }

    init(rng: inout SeededGenerator, knobs: Knobs = Knobs(), writers: Int? = nil) async throws {
        self.knobs = knobs
        var options = Replica.Options(physicalClock: time)
        options.ackInterval = 0
        options.checkpointEvery = 0
        options.staleAfter = 0
        options.snapshotMinBundles = Int.max
        self.options = options
        records = (0..<Int.random(in: 3...6, using: &rng)).map { RecordID(high: 0xC0, low: UInt64($0 + 1)) }
        if Int.random(in: 0..<8, using: &rng) == 0 {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("concord-compaction-\(UUID().uuidString)").path
        }
        let (membership, genesis) = try Membership.createMemberSpace(
            device: Self.identity(&rng), name: "admin", encrypted: false,
            stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        devices = [Device(replica: try await makeReplica(membership, first: genesis, onDisk: directory != nil), name: "admin")]
        for n in 0..<(writers ?? Int.random(in: 1...2, using: &rng)) {
            devices.append(Device(replica: try await join(name: "writer \(n + 1)", rng: &rng), name: "writer \(n + 1)"))
        }
        if knobs.stale {
            away = devices.count
            devices.append(Device(replica: try await join(name: "away", rng: &rng), name: "away"))
        }
        try await settle(rng: &rng)
    }

    func cleanUp() {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func identity(_ rng: inout SeededGenerator) -> Identity {
        try! Identity(seed: SecretBytes((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }))
    }

    func makeReplica(_ membership: Membership, first: ChangeBundle, onDisk: Bool) async throws -> Replica {
        let store: any Store
        if onDisk, let directory {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            store = try SQLiteStore(path: directory + "/\(devices.count).sqlite")
        } else {
            store = MemoryStore()
        }
        let replica = try Replica(store: store, membership: membership, options: options)
        guard case .applied = try await replica.import(first.bytes) else {
            throw PropertyViolation("a new replica refused its first bundle")
        }
        return replica
    }

    /// A new writer invited by the admin (its join reaches the admin with the next sync).
    mutating func join(name: String, rng: inout SeededGenerator) async throws -> Replica {
        time.advance(by: 1)
        let token = try await admin.invite(role: .writer)
        time.advance(by: 1)
        let (membership, join) = try Membership.joinMember(
            token, device: Self.identity(&rng), name: name, stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        registry[join.id] = join
        return try await makeReplica(membership, first: join, onDisk: false)
    }

    /// Whether device `i` is offline (the away device while away).
    func isAway(_ i: Int) -> Bool { awayIsAway && i == away }

    /// Device `i` writes and seals one to three ops on random records.
    mutating func write(_ i: Int, rng: inout SeededGenerator) async throws {
        time.advance(by: UInt64.random(in: 1...20, using: &rng))
        var writes: [Write] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let record = records.randomElement(using: &rng)!
            counter += 1
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<40: writes.append(.set(record, counter))
            case 40..<65: writes.append(.add(record, Int64.random(in: 1...3, using: &rng)))
            case 65..<80: writes.append(.remove(record, Int64.random(in: 1...3, using: &rng)))
            default: writes.append(.delete(record))
            }
        }
        let batch = writes
        do {
            try await devices[i].replica.write { tx in
                for write in batch {
                    switch write {
                    case .set(let record, let n): try tx.set("v", to: .int(n), record: record, in: Self.collection)
                    case .add(let record, let n): try tx.add(.int(n), to: "tags", record: record, in: Self.collection)
                    case .remove(let record, let n): try tx.remove(.int(n), from: "tags", record: record, in: Self.collection)
                    case .delete(let record): try tx.delete(record: record, in: Self.collection)
                    }
                }
            }
            for bundle in try await devices[i].replica.seal() { registry[bundle.id] = bundle }
        } catch let error as ConcordError where error.code == .notAllowed {
            return  // it learned of its removal, or (a newcomer) its admission has not reached it yet
        }
    }

    /// Device `i` imports what `j` has above its vector: everything, or (partial) a random
    /// four fifths in random order with a few duplicates, in imports of random size.
    mutating func sync(_ i: Int, from j: Int, partial: Bool, rng: inout SeededGenerator) async throws {
        guard i != j else { return }
        let bundles = try await export(from: j, since: try await devices[i].replica.versionVector())
        try await deliver(bundles, to: [i], partial: partial, from: devices[j].name, rng: &rng)
    }

    /// What device `j` holds above `since` (optionally only `authors`' bundles).
    mutating func export(from j: Int, since: VersionVector, authors: Set<PublicKey>? = nil) async throws -> [ChangeBundle] {
        var bundles: [ChangeBundle] = []
        for try await bundle in try await devices[j].replica.bundles(since: since) where authors?.contains(bundle.author) ?? true {
            bundles.append(bundle)
            registry[bundle.id] = bundle
        }
        return bundles
    }

    /// Imports `bundles` into each of `targets`, the same batches in the same order (partial:
    /// a random four fifths, shuffled, a few twice), checking nothing is refused or forked.
    /// `after` runs after each batch (the twins of `rollbackAfterCompaction` compare there).
    mutating func deliver(
        _ bundles: [ChangeBundle], to targets: [Int], partial: Bool, from source: String, rng: inout SeededGenerator,
        after: (() async throws -> Void)? = nil
    ) async throws {
        var bundles = bundles
        if partial {
            bundles = bundles.filter { _ in Int.random(in: 0..<5, using: &rng) > 0 }
            bundles += bundles.filter { _ in Int.random(in: 0..<6, using: &rng) == 0 }
            bundles.shuffle(using: &rng)
        }
        while !bundles.isEmpty {
            let count = min(bundles.count, Int.random(in: 1...8, using: &rng))
            for i in targets {
                let summary = try await devices[i].replica.import(bundles.prefix(count).map(\.bytes))
                stats.guarded += summary.guarded.count
                // Bundles of a removed writer past its cut-off are refused; nothing else is.
                guard summary.rejected.allSatisfy({ $0.error.code == .removed }), summary.forks == 0 else {
                    throw PropertyViolation(
                        "\(devices[i].name) refused bundles from \(source): \(summary.rejected.map { "\($0.error)" }), forks \(summary.forks)"
                    )
                }
            }
            bundles.removeFirst(count)
            try await after?()
        }
    }

    /// Device `i`'s stability duties (acks; on the admin, checkpoints).
    mutating func duties(_ i: Int) async throws {
        guard !devices[i].removed else { return }
        time.advance(by: 1)
        do {
            try await devices[i].replica.performStabilityDuties()
        } catch let error as ConcordError where error.code == .notAllowed {
            return
        }
    }

    /// Device `i` seals a snapshot at the latest checkpoint it holds; every snapshot at one
    /// checkpoint must have the same state and visible digest, whoever sealed it when.
    mutating func seal(_ i: Int) async throws {
        guard !devices[i].removed else { return }
        let sealed: SealedSnapshot?
        do {
            sealed = try await devices[i].replica.sealSnapshot()
        } catch let error as ConcordError where error.code == .notAllowed {
            return  // a newcomer not admitted yet
        }
        guard let snapshot = sealed else { return }
        stats.snapshots += 1
        let manifest = snapshot.manifest
        if let known = stateDigests[manifest.checkpoint] {
            guard known.state == manifest.stateDigest, known.visible == manifest.visibleDigest else {
                throw PropertyViolation(
                    "\(devices[i].name) sealed checkpoint \(manifest.checkpoint.shortDescription) with another state digest than an earlier snapshot"
                )
            }
        } else {
            stateDigests[manifest.checkpoint] = (manifest.stateDigest, manifest.visibleDigest)
        }
    }

    /// A newcomer joins and loads the admin's latest snapshot (sealing one first if needed),
    /// then pulls from the admin.
    mutating func loadNewcomer(rng: inout SeededGenerator) async throws {
        var snapshot = try await admin.latestSnapshot()
        if snapshot == nil || Bool.random(using: &rng) {
            try await seal(0)
            snapshot = try await admin.latestSnapshot()
        }
        guard let snapshot else { return }
        let name = "newcomer \(devices.count)"
        let replica = try await join(name: name, rng: &rng)
        try await replica.loadSnapshot(snapshot, controlBundles: try await admin.controlBundles(through: snapshot.manifest))
        devices.append(Device(replica: replica, name: name, loaded: true))
        stats.loads += 1
        try await sync(devices.count - 1, from: 0, partial: Bool.random(using: &rng), rng: &rng)
        try await sync(0, from: devices.count - 1, partial: false, rng: &rng)
    }

    /// The admin removes writer `i` at the head it holds.
    mutating func remove(_ i: Int) async throws {
        time.advance(by: 1)
        try await admin.removeMember(devices[i].replica.deviceID)
        devices[i].removed = true
        stats.removals += 1
    }

    /// The away device leaves (it keeps writing offline).
    mutating func leave() { awayIsAway = away != nil }

    /// The admin marks the away device stale.
    mutating func markStale() async throws {
        guard let away else { return }
        time.advance(by: 1)
        try await admin.markStale(devices[away].replica.deviceID)
        stats.staleMarks += 1
    }

    /// One random step of a history.
    mutating func step(rng: inout SeededGenerator) async throws {
        let online = devices.indices.filter { !isAway($0) }
        let i = online.randomElement(using: &rng)!
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<30: try await write(Int.random(in: 0..<4, using: &rng) == 0 ? (away ?? i) : i, rng: &rng)
        case 30..<55: try await sync(i, from: online.randomElement(using: &rng)!, partial: true, rng: &rng)
        case 55..<70: try await duties(i)
        case 70..<74: try await seal(i)
        case 74..<78:
            if knobs.compactions { _ = try await compact(i, rng: &rng) } else { try await seal(i) }
        case 78..<85:
            if knobs.loads, devices.count < 7 { try await loadNewcomer(rng: &rng) }
        case 85..<90:
            if awayIsAway, stats.staleMarks == 0 { try await markStale() } else { try await duties(0) }
        default:
            let writers = devices.indices.filter { $0 != 0 && $0 != away && !devices[$0].removed && !devices[$0].loaded }
            if knobs.removals, stats.removals == 0, writers.count > 1, let w = writers.randomElement(using: &rng) {
                try await remove(w)
            } else {
                try await duties(0)
            }
        }
    }

    /// Everyone online exchanges everything: each pushes to the admin, the admin to each,
    /// then each device not level with the admin pulls from every other; twice, with
    /// stability duties between.
    mutating func settle(rng: inout SeededGenerator) async throws {
        let online = devices.indices.filter { !isAway($0) }
        for round in 0..<2 {
            for i in online.shuffled(using: &rng) { try await sync(0, from: i, partial: false, rng: &rng) }
            for i in online.shuffled(using: &rng) { try await sync(i, from: 0, partial: false, rng: &rng) }
            let hub = try await admin.versionVector()
            for i in online where try await devices[i].replica.versionVector() != hub {
                for j in online.shuffled(using: &rng) { try await sync(i, from: j, partial: false, rng: &rng) }
            }
            if round == 0 {
                for i in online.shuffled(using: &rng) { try await duties(i) }
                for i in online { try await sync(0, from: i, partial: false, rng: &rng) }
                try await duties(0)
            }
        }
    }

    /// Plays a whole history (setup is done): random steps with everyone online; the away
    /// device leaves; random steps while it writes offline (the admin marks it stale at
    /// some point); the others settle, acknowledge and the admin checkpoints (most
    /// histories); it writes more; it returns and everyone settles.
    mutating func play(rng: inout SeededGenerator) async throws {
        for _ in 0..<Int.random(in: 0...knobs.steps.lowerBound, using: &rng) { try await step(rng: &rng) }
        if knobs.stale { leave() }
        for _ in 0..<Int.random(in: knobs.steps, using: &rng) { try await step(rng: &rng) }
        if let away, knobs.stale {
            if stats.staleMarks == 0 { try await markStale() }
            try await settle(rng: &rng)
            if Int.random(in: 0..<10, using: &rng) < 9 {
                for i in devices.indices where !isAway(i) { try await duties(i) }
                for i in devices.indices where !isAway(i) { try await sync(0, from: i, partial: false, rng: &rng) }
                try await duties(0)
            }
            for _ in 0..<Int.random(in: 1...3, using: &rng) { try await write(away, rng: &rng) }
        }
        awayIsAway = false
        try await settle(rng: &rng)
    }
}
