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
/// state, every write the relay ever held and every write a device saw acknowledged.
///
/// Seeded: each case prints its seed (`CONCORD_SEED=N` reproduces it). Every case has each
/// field event at least once (``SoakWorld/Event/mandatory``) at seeded places among seeded
/// random steps. CI runs 3 cases of 60 steps; `CONCORD_SOAK=1` runs 50 cases of 160 steps.
/// Timings are printed, never asserted.
@Suite("field soak", .serialized)
struct FieldSoakTests {
    static let soak = ProcessInfo.processInfo.environment["CONCORD_SOAK"] != nil

    @Test func devicesConvergeAndNoAcknowledgedWriteIsLost() async throws {
        let steps = Self.soak ? 160 : 60
        try await PropertyRunner.checkAsync("field soak (\(steps) steps)", cases: 3, baseSeed: 0x5EED_F1E1D) { rng in
            let started = ContinuousClock.now
            let world = try await SoakWorld(seed: rng.seed, rng: &rng)
            do {
                for event in SoakWorld.plan(steps: steps, &rng) { try await world.step(event, &rng) }
                let stepped = ContinuousClock.now
                try await world.settle()
                try await world.check()
                print(
                    "field soak seed \(world.seed): steps took \(stepped - started), settling and checks \(ContinuousClock.now - stepped)")
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
    /// Whether a write of its own identity is dated a day or more ahead.
    var wroteFarAhead = false
    /// Its unique writes not yet seen acknowledged: record → value.
    var unacknowledged: [RecordID: String] = [:]

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
    /// Every unique write a device showed as synced after a relay sync: record → value.
    var acknowledged: [RecordID: String] = [:]
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
        let founder = try Replica.createWithoutMembers(
            at: directory + "/d0", encrypted: rng.chance(0.5), options: Replica.Options(physicalClock: founderClock))
        invite = try await founder.invite()
        let far = Int.random(in: 0..<4, using: &rng)
        devices.append(SoakDevice(name: "d0", path: directory + "/d0", clock: founderClock, replica: founder, mayGoFarAhead: far == 0))
        for index in 1..<4 {
            let clock = SkewClock()
            let replica = try Replica.join(invite, at: directory + "/d\(index)", options: Replica.Options(physicalClock: clock))
            devices.append(
                SoakDevice(name: "d\(index)", path: directory + "/d\(index)", clock: clock, replica: replica, mayGoFarAhead: far == index))
        }
        observer = try Replica.join(invite, at: directory + "/observer")
        print("field soak seed \(seed): far-ahead device d\(far), space \(founder.membership.isEncrypted ? "encrypted" : "plaintext")")
    }

    var live: [SoakDevice] { devices.filter(\.alive) }

    /// What happened, step by step: printed when a case fails.
    var history: [String] = []

    func count(_ what: String) {
        counts[what, default: 0] += 1
        history.append("    \(what)")
    }

    // MARK: Steps

    /// What happens in one step.
    enum Event: Hashable, CaseIterable {
        case write, syncRelay, syncFolder
        case clockMinutesAhead, clockDayAhead, clockYearAhead, clockTo2000, clockSetRight
        case copyStore, backUp, restore
        case truncateFile, duplicateFile, junkFile
        case relayRestart

        /// The events every case has at least once.
        static let mandatory: [Event] = [
            .clockMinutesAhead, .clockDayAhead, .clockYearAhead, .clockTo2000,
            .copyStore, .backUp, .restore, .truncateFile, .duplicateFile, .junkFile, .relayRestart,
        ]

        /// A random step: mostly writes and syncs.
        static func random(_ rng: inout SeededGenerator) -> Event {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<34: .write
            case 34..<54: .syncRelay
            case 54..<68: .syncFolder
            case 68..<71: .clockMinutesAhead
            case 71..<73: .clockDayAhead
            case 73..<74: .clockYearAhead
            case 74..<76: .clockTo2000
            case 76..<79: .clockSetRight
            case 79..<83: .copyStore
            case 83..<86: .backUp
            case 86..<89: .restore
            case 89..<92: .truncateFile
            case 92..<94: .duplicateFile
            case 94..<96: .junkFile
            default: .relayRestart
            }
        }
    }

    /// `steps` random events with every mandatory one at a seeded place (a restore after
    /// the backup it needs; the day and the year ahead next to each other, no later than
    /// the first random jump far ahead, so that both happen before the device that wrote
    /// far ahead recovers, see ``farExcursionsEnded``).
    static func plan(steps: Int, _ rng: inout SeededGenerator) -> [Event] {
        var events = (0..<steps).map { _ in Event.random(&rng) }
        let far: [Event] = [.clockDayAhead, .clockYearAhead]
        for event in Event.mandatory.shuffled(using: &rng) where !far.contains(event) && !events.contains(event) {
            let lower = event == .restore ? (events.firstIndex(of: .backUp) ?? 0) + 1 : 0
            events.insert(event, at: Int.random(in: min(lower, events.count)...events.count, using: &rng))
        }
        let firstFar = events.firstIndex(where: far.contains) ?? Int.random(in: 0...events.count / 2, using: &rng)
        events.insert(contentsOf: far.shuffled(using: &rng), at: firstFar)
        return events
    }

    func step(_ event: Event, _ rng: inout SeededGenerator) async throws {
        let device = live.randomElement(using: &rng)!
        history.append("\(event) (picked \(device.name))")
        switch event {
        case .write: try await write(device, &rng)
        case .syncRelay: try await syncRelay(device, fixClockWhenTold: rng.chance(0.5))
        case .syncFolder: try await syncFolder(device)
        case .clockMinutesAhead: jumpClock(device, to: Self.minutes3, "+3 min")
        case .clockDayAhead: jumpFarAhead(to: Self.day, "+1 day")
        case .clockYearAhead: jumpFarAhead(to: Self.year, "+1 year")
        case .clockTo2000:
            // Any device but the one far ahead (a device far ahead accepts what others wrote
            // far ahead, Specs/hlc.md §9.3: one wrong clock at a time in either direction).
            let others = live.filter { !$0.mayGoFarAhead }
            jumpClock(others.randomElement(using: &rng) ?? device, to: 946_684_800_000 - Int64(SystemClock().nowMilliseconds()), "2000")
        case .clockSetRight: jumpClock(device, to: 0, "set right")
        case .copyStore: try copyStore(device)
        case .backUp: try backUp(device)
        case .restore:
            let backedUp = live.filter { backups[$0.name] != nil }
            try restore(backedUp.randomElement(using: &rng) ?? device)
        case .truncateFile, .duplicateFile, .junkFile: try damageFolder(event, &rng)
        case .relayRestart:
            try await relay.restart()
            count("relay restart")
        }
    }

    /// The device that may go far ahead (a day, a year), or any live one if it died.
    var farAhead: SoakDevice { live.first(where: \.mayGoFarAhead) ?? live[0] }

    /// Set once the device that wrote far ahead recovered: from then on no clock goes far
    /// ahead in this case. A device far ahead takes in whatever is dated up to its own clock,
    /// also another author's changes dated far ahead (and after a recovery its own old
    /// identity is another author, whose changes dated far ahead are still in the shared
    /// folder); once its clock is set right it then holds changes dated beyond what anyone
    /// accepts, reports `clock-behind`, and cannot recover until that date (`Specs/hlc.md`
    /// §9.3, `Specs/threat-model.md`: one clock far ahead at a time).
    var farExcursionsEnded = false

    func jumpFarAhead(to offset: Int64, _ what: String) {
        guard !farExcursionsEnded else {
            count("clock \(what) skipped (the device that wrote far ahead recovered)")
            return
        }
        jumpClock(farAhead, to: offset, what)
    }

    func write(_ device: SoakDevice, _ rng: inout SeededGenerator) async throws {
        device.written += 1
        let value = "\(device.name)-\(device.written)"
        let shared = Self.shared.randomElement(using: &rng)!
        let tag = "t\(Int.random(in: 0..<4, using: &rng))"
        let removeTag = rng.chance(0.3)
        let id = RecordID.random(using: &rng)
        do {
            try await device.replica.write { tx in
                try tx.set("v", to: .string(value), record: id, in: "unique")
                try tx.set("title", to: .string(value), record: shared, in: "shared")
                if removeTag {
                    try tx.remove(.string(tag), from: "tags", record: shared, in: "shared")
                } else {
                    try tx.add(.string(tag), to: "tags", record: shared, in: "shared")
                }
            }
            device.unacknowledged[id] = value
            if device.clock.current >= Self.day { device.wroteFarAhead = true }
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
            history.append("    \(device.name) (clock \(device.clock.current / 60_000) min): \(summary)")
        } catch let error as ConcordSyncError where error.problem != nil {
            problems = [error.problem!]
        } catch let error as ConcordSyncError where error.isTransient {
            count("relay sync cut")
        }
        try await noteAcknowledged(device)
        try await handle(problems, on: device, fixClockWhenTold: fixClockWhenTold)
        try await observe()
    }

    /// Moves the device's writes it now shows as synced (acknowledged by the relay) into
    /// ``acknowledged``: from then on no device may lose them.
    func noteAcknowledged(_ device: SoakDevice) async throws {
        for (id, value) in device.unacknowledged where try await device.replica.syncStatus(of: id, in: "unique") == .synced {
            acknowledged[id] = value
            device.unacknowledged[id] = nil
        }
    }

    func syncFolder(_ device: SoakDevice) async throws {
        do {
            let report = try await FolderSync(directory: folder).run(device.replica)
            count("folder sync")
            history.append("    \(device.name) (clock \(device.clock.current / 60_000) min): \(report)")
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
        history.append("    \(device.name): \(problem.message)")
        if device.clockIsOff {
            if fixClockWhenTold { device.clock.set(0) }
            return
        }
        guard problem.remedy == .recover || problem.remedy == .setClockOrRecover else { return }
        do {
            let recovery = try await device.replica.recover()
            device.replica = recovery.replica
            count("recover")
            if device.wroteFarAhead {
                // Its old identity's changes dated far ahead stay in the shared folder; if it
                // went far ahead again it would take them in as another author's (see
                // farExcursionsEnded).
                farExcursionsEnded = true
                device.wroteFarAhead = false
            }
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

    func jumpClock(_ device: SoakDevice, to offset: Int64, _ what: String) {
        device.clock.set(offset)
        count("clock \(what)")
        history.append("    (\(device.name))")
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
        let restored = SoakDevice(name: name, path: backup, clock: clock, replica: replica, mayGoFarAhead: device.mayGoFarAhead)
        restored.wroteFarAhead = device.wroteFarAhead
        restored.written = 1_000 * devices.count
        devices.append(restored)
        count("restored from backup")
    }

    func damageFolder(_ event: Event, _ rng: inout SeededGenerator) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".concord") }.sorted()
        switch event {
        case .truncateFile:
            guard let file = files.randomElement(using: &rng) else { return }
            let path = folder + "/" + file
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(Int.random(in: 0...max(0, size - 1), using: &rng)))
            try handle.close()
            count("file truncated")
        case .duplicateFile:
            guard let file = files.randomElement(using: &rng) else { return }
            try? FileManager.default.copyItem(
                atPath: folder + "/" + file, toPath: folder + "/copy-\(Int.random(in: 0..<1_000_000, using: &rng))-" + file)
            count("file duplicated")
        default:
            let junk = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = FileManager.default.createFile(
                atPath: folder + "/junk-\(Int.random(in: 0..<1_000_000, using: &rng)).concord", contents: Data(junk))
            count("junk file")
        }
    }

    // MARK: The end

    /// Every clock set right; every device syncs (recovering when told) until all agree.
    func settle() async throws {
        for device in live { device.clock.set(0) }
        history.append("settle: every clock set right")
        for round in 0..<10 {
            for device in live {
                if round == 1 {
                    // Each device writes once more: a copy's original goes on under its
                    // identity, and replicas still on an abandoned branch meet the relay's.
                    device.written += 1
                    let id = RecordID.random()
                    try await device.replica.write { try $0.set("v", to: .string("\(device.name)-final"), record: id, in: "unique") }
                    device.unacknowledged[id] = "\(device.name)-final"
                }
                try await syncRelay(device, fixClockWhenTold: true)
                try await syncFolder(device)
            }
            for device in live { try await syncRelay(device, fixClockWhenTold: true) }
            try await observe()
            if round >= 1, try await converged() {
                print(
                    "field soak seed \(seed): settled after \(round + 1) rounds; \(live.count) live devices of \(devices.count); \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                )
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
            if try await device.replica.state().digestHex != digest {
                failures.append("\(device.name) did not converge: " + (try await difference(device.replica, observer)))
            }
            let pending = try await device.replica.status().pendingOperations
            if pending > 0 { failures.append("\(device.name) has \(pending) unsealed writes") }
        }
        if heldByRelay.isEmpty { failures.append("the relay never held a write") }
        if acknowledged.isEmpty { failures.append("no write was ever acknowledged") }
        for (id, value) in heldByRelay.sorted(by: { $0.value < $1.value }) {
            for device in live where try await device.replica.record(id, in: "unique")?["v"] != .string(value) {
                failures.append("\(device.name) lost \(value), which the relay held")
            }
        }
        for (id, value) in acknowledged.sorted(by: { $0.value < $1.value }) {
            if try await observer.record(id, in: "unique")?["v"] != .string(value) {
                failures.append("the relay does not hold \(value), which its device showed as synced")
            }
            for device in live where try await device.replica.record(id, in: "unique")?["v"] != .string(value) {
                failures.append("\(device.name) lost \(value), which was acknowledged")
            }
        }
        // Live devices' own writes: recovery re-issues what was not acknowledged, so none
        // is lost either (a device that died with its store lost only what it never shared).
        for device in live {
            for (id, value) in device.unacknowledged.sorted(by: { $0.value < $1.value }) {
                failures.append(
                    "\(device.name)'s write \(value) was never acknowledged"
                        + (try await observer.record(id, in: "unique") == nil ? " and the relay does not hold it" : ""))
            }
        }
        guard failures.isEmpty else {
            print("field soak seed \(seed): what happened\n" + history.joined(separator: "\n"))
            throw SoakFailure(description: "seed \(seed): " + failures.prefix(12).joined(separator: "; "))
        }
        print(
            "field soak seed \(seed): \(live.count) devices converged; the \(heldByRelay.count) writes the relay held and the \(acknowledged.count) acknowledged are on all of them"
        )
    }

    /// The records two replicas show differently (or that their hidden state differs).
    func difference(_ replica: Replica, _ other: Replica) async throws -> String {
        var lines: [String] = []
        for collection in ["unique", "shared"] {
            let mine = Set(try await replica.records(in: collection))
            let theirs = Set(try await other.records(in: collection))
            for view in mine.subtracting(theirs) { lines.append("only here: \(collection) \(view)") }
            for view in theirs.subtracting(mine) { lines.append("only at the relay: \(collection) \(view)") }
        }
        let mine = try await replica.versionVector(), theirs = try await other.versionVector()
        lines.append(
            "vectors: here \(mine.entries.map { "\($0.key.hex.prefix(8)):\($0.value)" }.sorted()), at the relay \(theirs.entries.map { "\($0.key.hex.prefix(8)):\($0.value)" }.sorted())"
        )
        lines.append("unconfirmed here: \(try await replica.unconfirmedAuthors().map { $0.hex.prefix(8) })")
        return lines.joined(separator: "; ")
    }

    func close() async {
        await relay.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct SoakFailure: Error, CustomStringConvertible {
    var description: String
}
