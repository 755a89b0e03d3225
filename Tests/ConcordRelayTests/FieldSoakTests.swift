import Concord
import ConcordRelay
import ConcordSync
import ConcordTesting
import Foundation
import Logging
import Synchronization
import Testing

/// The field soak (issue 12.8): several devices on real SQLite stores write, sync through a
/// relay and through a shared folder, while their clocks jump (minutes, a day, a year, back
/// to 2000), stores are copied and restored from backups, files in the folder are truncated,
/// duplicated and joined by junk, and the relay restarts. At the end every clock is set
/// right, every device syncs (recovering when told to), and then every device holds the same
/// state and every write the relay ever held.
///
/// Seeded: each case prints its seed (`CONCORD_SEED=N` reproduces it). CI runs one short
/// case; `CONCORD_SOAK=1` runs 50 longer ones.
@Suite("field soak", .serialized)
struct FieldSoakTests {
    static let soak = ProcessInfo.processInfo.environment["CONCORD_SOAK"] != nil

    @Test func devicesConvergeAndNoWriteTheRelayHeldIsLost() async throws {
        let steps = Self.soak ? 160 : 45
        try await PropertyRunner.checkAsync("field soak (\(steps) steps)", cases: 1, baseSeed: 0x5EED_F1E1D) { rng in
            let world = try await SoakWorld(seed: rng.seed, rng: &rng)
            do {
                for _ in 0..<steps { try await world.step(&rng) }
                try await world.settle()
                try await world.check()
                await world.close()
            } catch {
                await world.close()
                throw error
            }
        }
    }
}

/// The system clock plus an offset the test moves (a person setting the date wrong).
final class SkewClock: PhysicalClock {
    private let offset = Mutex<Int64>(0)

    init(offset: Int64 = 0) { self.offset.withLock { $0 = offset } }

    var current: Int64 { offset.withLock { $0 } }
    func set(_ value: Int64) { offset.withLock { $0 = value } }

    func nowMilliseconds() -> UInt64 {
        UInt64(max(0, Int64(SystemClock().nowMilliseconds()) + current))
    }
}

/// One device: a directory, a clock, the replica open on it.
final class SoakDevice: @unchecked Sendable {
    let name: String
    let path: String
    let clock: SkewClock
    var replica: Replica
    var alive = true
    /// Whether this device may set its clock far ahead (one device per run: a device far
    /// ahead accepts what others wrote far ahead, Specs/hlc.md §9.3).
    let mayGoFarAhead: Bool
    var written = 0

    init(name: String, path: String, clock: SkewClock, replica: Replica, mayGoFarAhead: Bool) {
        self.name = name
        self.path = path
        self.clock = clock
        self.replica = replica
        self.mayGoFarAhead = mayGoFarAhead
    }

    /// Whether the clock is more than the drift bound off.
    var clockIsOff: Bool { abs(clock.current) > Int64(HybridLogicalClock.defaultMaxDrift) }
}

/// A relay on SQLite that can be restarted on the same database.
actor SoakRelay {
    let path: String
    var running: RelayServer.Running?
    var storage: (any RelayStorage)?
    var restarts = 0

    init(path: String) async throws {
        self.path = path
        try await start()
    }

    func start() async throws {
        let storage = try SQLiteRelayStorage(path: path)
        var logger = Logger(label: "concord.relay.soak")
        logger.logLevel = .critical
        let server = RelayServer(configuration: RelayConfiguration(host: "127.0.0.1", port: 0), storage: storage, logger: logger)
        running = try await server.start()
        self.storage = storage
    }

    func restart() async throws {
        await stop()
        restarts += 1
        try await start()
    }

    func stop() async {
        await running?.stop()
        await storage?.close()
        running = nil
        storage = nil
    }

    var url: URL { URL(string: "http://127.0.0.1:\(running?.port ?? 1)")! }
}

/// Everything of one soak case.
final class SoakWorld: @unchecked Sendable {
    static let minutes3: Int64 = 3 * 60_000
    static let day: Int64 = 86_400_000
    static let year: Int64 = 365 * day

    let seed: UInt64
    let directory: String
    let folder: String
    let relay: SoakRelay
    var devices: [SoakDevice] = []
    /// Never copied, restored or shifted: after each relay sync it shows what the relay holds.
    let observer: Replica
    var backups: [String: String] = [:]
    /// Every unique write the relay ever held: record → value.
    var heldByRelay: [RecordID: String] = [:]
    var counts: [String: Int] = [:]
    var invite: InviteToken
    let quiet: Logger

    static let shared = (0..<5).map { RecordID(high: 0x50AC, low: UInt64($0)) }

    init(seed: UInt64, rng: inout SeededGenerator) async throws {
        self.seed = seed
        directory = NSTemporaryDirectory() + "concord-soak-\(seed)-\(UUID().uuidString)"
        folder = directory + "/shared"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        relay = try await SoakRelay(path: directory + "/relay.sqlite")
        var logger = Logger(label: "concord.sync.soak")
        logger.logLevel = .critical
        quiet = logger
        let founderClock = SkewClock()
        let founder = try Replica.create(at: directory + "/d0", encrypted: rng.chance(0.5), options: Replica.Options(physicalClock: founderClock))
        invite = try await founder.invite()
        let far = Int.random(in: 0..<4, using: &rng)
        devices.append(SoakDevice(name: "d0", path: directory + "/d0", clock: founderClock, replica: founder, mayGoFarAhead: far == 0))
        for index in 1..<4 {
            let clock = SkewClock()
            let replica = try Replica.join(invite, at: directory + "/d\(index)", options: Replica.Options(physicalClock: clock))
            devices.append(SoakDevice(name: "d\(index)", path: directory + "/d\(index)", clock: clock, replica: replica, mayGoFarAhead: far == index))
        }
        observer = try Replica.join(invite, at: directory + "/observer")
        print("field soak seed \(seed): far-ahead device d\(far), space \(founder.membership.isEncrypted ? "encrypted" : "plaintext")")
    }

    var live: [SoakDevice] { devices.filter(\.alive) }

    func count(_ what: String) { counts[what, default: 0] += 1 }

    // MARK: Steps

    func step(_ rng: inout SeededGenerator) async throws {
        let device = live.randomElement(using: &rng)!
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<34: try await write(device, &rng)
        case 34..<54: try await syncRelay(device, fixClockWhenTold: rng.chance(0.5))
        case 54..<68: try await syncFolder(device)
        case 68..<77: jumpClock(device, &rng)
        case 77..<81: try copyStore(device)
        case 81..<84: try backUp(device)
        case 84..<87: try restore(device)
        case 87..<95: try damageFolder(&rng)
        default:
            try await relay.restart()
            count("relay restart")
        }
    }

    func write(_ device: SoakDevice, _ rng: inout SeededGenerator) async throws {
        device.written += 1
        let value = "\(device.name)-\(device.written)"
        let shared = Self.shared.randomElement(using: &rng)!
        let tag = "t\(Int.random(in: 0..<4, using: &rng))"
        let removeTag = rng.chance(0.3)
        do {
            try await device.replica.write { tx in
                try tx.set("v", to: .string(value), record: RecordID.random(), in: "unique")
                try tx.set("title", to: .string(value), record: shared, in: "shared")
                if removeTag {
                    try tx.remove(.string(tag), from: "tags", record: shared, in: "shared")
                } else {
                    try tx.add(.string(tag), to: "tags", record: shared, in: "shared")
                }
            }
            count("write")
        } catch let error as ConcordError where error.code == .clockFailure {
            count("write refused: clock")
        }
    }

    func syncRelay(_ device: SoakDevice, fixClockWhenTold: Bool) async throws {
        var problems: [ReplicaProblem] = []
        do {
            let summary = try await SyncEngine(replica: device.replica, relay: await relay.url, logger: quiet).syncNow()
            problems = summary.problems
            count("relay sync")
        } catch let error as ConcordSyncError where error.problem != nil {
            problems = [error.problem!]
        } catch let error as ConcordSyncError where error.isTransient {
            count("relay sync cut")
        }
        try await handle(problems, on: device, fixClockWhenTold: fixClockWhenTold)
        try await observe()
    }

    func syncFolder(_ device: SoakDevice) async throws {
        do {
            _ = try await FolderSync(directory: folder).run(device.replica)
            count("folder sync")
        } catch let error as ConcordSyncError {
            count("folder sync failed: \(error.code)")
        }
        try await handle(try await device.replica.problems(), on: device, fixClockWhenTold: false)
    }

    /// What a person does when told: set the clock (sometimes), or recover when the clock is
    /// right and the device says to.
    func handle(_ problems: [ReplicaProblem], on device: SoakDevice, fixClockWhenTold: Bool) async throws {
        guard let problem = problems.first else { return }
        count("attention: \(problem.kind)")
        if device.clockIsOff {
            if fixClockWhenTold { device.clock.set(0) }
            return
        }
        guard problem.remedy == .recover || problem.remedy == .setClockOrRecover else { return }
        do {
            let recovery = try await device.replica.recover()
            device.replica = recovery.replica
            count("recover")
        } catch let error as ConcordError where error.code == .clockFailure {
            count("recover refused: clock")
        }
    }

    /// Syncs the observer with the relay and records every unique write it holds.
    func observe() async throws {
        do {
            try await SyncEngine(replica: observer, relay: await relay.url, logger: quiet).syncNow()
        } catch let error as ConcordSyncError where error.isTransient {
            return
        }
        for view in try await observer.records(in: "unique") {
            if case .string(let value)? = view["v"] { heldByRelay[view.id] = value }
        }
    }

    func jumpClock(_ device: SoakDevice, _ rng: inout SeededGenerator) {
        let to2000 = 946_684_800_000 - Int64(SystemClock().nowMilliseconds())
        let choices: [Int64] = device.mayGoFarAhead ? [Self.minutes3, Self.day, Self.year, 0] : [Self.minutes3, to2000, 0]
        let offset = choices.randomElement(using: &rng)!
        device.clock.set(offset)
        count("clock \(offset == 0 ? "set right" : offset == Self.minutes3 ? "+3 min" : offset == Self.day ? "+1 day" : offset == Self.year ? "+1 year" : "2000")")
    }

    /// A copy of the store (a copied folder, a cloned tablet) becomes another live device.
    func copyStore(_ device: SoakDevice) throws {
        guard live.count < 6, !device.clockIsOff else { return }
        let name = "d\(devices.count)"
        let path = directory + "/" + name
        try FileManager.default.copyItem(atPath: device.path, toPath: path)
        let clock = SkewClock(offset: device.clock.current)
        let replica = try Replica.open(at: path, options: Replica.Options(physicalClock: clock))
        let copy = SoakDevice(name: name, path: path, clock: clock, replica: replica, mayGoFarAhead: false)
        copy.written = 1_000 * devices.count
        devices.append(copy)
        count("store copied")
    }

    func backUp(_ device: SoakDevice) throws {
        guard !device.clockIsOff else { return }
        let path = directory + "/backup-\(device.name)-\(UUID().uuidString.prefix(6))"
        try FileManager.default.copyItem(atPath: device.path, toPath: path)
        backups[device.name] = path
        count("backup")
    }

    /// The device dies; its last backup comes back as a new device (same identity).
    func restore(_ device: SoakDevice) throws {
        guard let backup = backups.removeValue(forKey: device.name), live.count > 2 else { return }
        device.alive = false
        let name = "d\(devices.count)"
        let clock = SkewClock()
        let replica = try Replica.open(at: backup, options: Replica.Options(physicalClock: clock))
        let restored = SoakDevice(name: name, path: backup, clock: clock, replica: replica, mayGoFarAhead: false)
        restored.written = 1_000 * devices.count
        devices.append(restored)
        count("restored from backup")
    }

    func damageFolder(_ rng: inout SeededGenerator) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".concord") }.sorted()
        switch Int.random(in: 0..<3, using: &rng) {
        case 0:
            guard let file = files.randomElement(using: &rng) else { return }
            let path = folder + "/" + file
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(Int.random(in: 0...max(0, size - 1), using: &rng)))
            try handle.close()
            count("file truncated")
        case 1:
            guard let file = files.randomElement(using: &rng) else { return }
            try? FileManager.default.copyItem(atPath: folder + "/" + file, toPath: folder + "/copy-\(Int.random(in: 0..<1_000_000, using: &rng))-" + file)
            count("file duplicated")
        default:
            let junk = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = FileManager.default.createFile(atPath: folder + "/junk-\(Int.random(in: 0..<1_000_000, using: &rng)).concord", contents: Data(junk))
            count("junk file")
        }
    }

    // MARK: The end

    /// Every clock set right; every device syncs (recovering when told) until all agree.
    func settle() async throws {
        for device in live { device.clock.set(0) }
        for round in 0..<10 {
            for device in live {
                if round == 1 {
                    // Each device writes once more: a copy's original goes on under its
                    // identity, and replicas still on an abandoned branch meet the relay's.
                    device.written += 1
                    try await device.replica.write { try $0.set("v", to: .string("\(device.name)-final"), record: RecordID.random(), in: "unique") }
                }
                try await syncRelay(device, fixClockWhenTold: true)
                try await syncFolder(device)
            }
            for device in live { try await syncRelay(device, fixClockWhenTold: true) }
            try await observe()
            if round >= 1, try await converged() {
                print("field soak seed \(seed): settled after \(round + 1) rounds; \(live.count) live devices of \(devices.count); \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
                return
            }
        }
    }

    func converged() async throws -> Bool {
        let digest = try await observer.state().digestHex
        for device in live {
            guard try await device.replica.state().digestHex == digest, try await device.replica.problems().isEmpty else { return false }
        }
        return true
    }

    /// Throws (so the runner prints the seed) unless every live device holds the
    /// observer's state, has nothing left to fix or seal, and holds every write the relay
    /// ever held.
    func check() async throws {
        var failures: [String] = []
        let digest = try await observer.state().digestHex
        for device in live {
            let problems = try await device.replica.problems()
            if !problems.isEmpty { failures.append("\(device.name) still has problems: \(problems.map(\.message))") }
            if try await device.replica.state().digestHex != digest { failures.append("\(device.name) did not converge") }
            let pending = try await device.replica.status().pendingOperations
            if pending > 0 { failures.append("\(device.name) has \(pending) unsealed writes") }
        }
        if heldByRelay.isEmpty { failures.append("the relay never held a write") }
        for (id, value) in heldByRelay.sorted(by: { $0.value < $1.value }) {
            for device in live where try await device.replica.record(id, in: "unique")?["v"] != .string(value) {
                failures.append("\(device.name) lost \(value), which the relay held")
            }
        }
        guard failures.isEmpty else {
            throw SoakFailure(description: "seed \(seed): " + failures.prefix(12).joined(separator: "; "))
        }
        print("field soak seed \(seed): \(live.count) devices converged, \(heldByRelay.count) writes the relay held are on all of them")
    }

    func close() async {
        await relay.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct SoakFailure: Error, CustomStringConvertible {
    var description: String
}
