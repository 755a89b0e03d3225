import Concord
import ConcordCore
import Foundation
import Synchronization

/// The loop: a seeded mix of writes, seals and imports, each journaled (see main.swift).
@MainActor
final class Worker {
    let replica: Replica
    let peer: [ChangeBundle]
    let journal: Journal
    let seed: UInt64
    var random: SplitMix64
    var valueCounter: Int64 = 0
    var call = 0
    var callStarted = ContinuousClock.now

    init(replica: Replica, peer: [ChangeBundle], journal: Journal, seed: UInt64) {
        self.replica = replica
        self.peer = peer
        self.journal = journal
        self.seed = seed
        random = SplitMix64(seed: seed)
    }

    /// Runs until killed; exits with status 2 when a call fails.
    func run() async -> Never {
        do {
            var unsealed = try await replica.status().pendingOperations > 0
            let started = ContinuousClock.now
            let parent = getppid()
            while true {
                // The test kills it within a second; an orphan must not run forever. The
                // parent's exit is the sign (a 60 s timer fired when a loaded machine stalled
                // the test process for minutes); 15 minutes is a backstop.
                if getppid() != parent || ContinuousClock.now - started > .seconds(900) {
                    fail("not killed: the test process is gone or 15 minutes passed")
                }
                call += 1
                let roll = Int.random(in: 0..<100, using: &random)
                // Writes 30%, seals 45% (a write instead when nothing is pending),
                // single imports 15%, bulk imports 10%. Seals are the quickest calls
                // (about 3 ms against 6 for a write and 15 for a bulk import, debug
                // build), so they come often enough for kills to land in them.
                if peer.isEmpty || roll < 30 || (roll < 75 && !unsealed) {
                    try await write()
                    unsealed = true
                } else if roll < 75 {
                    try await seal()
                    unsealed = false
                } else if roll < 90 {
                    try await importOne()
                    unsealed = false
                } else {
                    try await importBulk()
                    unsealed = false
                }
            }
        } catch {
            journal.append(["X \(call) \(error)"])
            fail("call \(call) failed: \(error)")
        }
    }

    /// Journals the intent of call `call` (`B`, `O`…, `E`) just before making it.
    func begin(_ lines: [String]) {
        journal.append(lines + ["E \(call)"])
        callStarted = .now
    }

    /// Journals what call `call` returned, and how long it took in microseconds (`K`).
    func acknowledge(_ lines: [String]) {
        let elapsed = ContinuousClock.now - callStarted
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        journal.append(lines + ["K \(call) \(micros)"])
    }

    /// Values are unique across runs: the seed in the high bits, a counter in the low ones.
    func nextValue() -> Int64 {
        valueCounter += 1
        return Int64(seed) << 24 | valueCounter
    }

    func members(_ id: RecordID, in collection: String) async throws -> Set<Int64> {
        let view = try await replica.record(id, in: collection)
        return Set((view?.members(of: Layout.workerSet) ?? []).compactMap { if case .int(let v) = $0 { v } else { nil } })
    }

    /// One write transaction of 1–50 operations over the worker's records.
    func write() async throws {
        var operations: [PlannedOperation] = []
        // The tag members of the records this transaction touches, as it will see them.
        var tags: [String: Set<Int64>] = [:]
        for _ in 0..<Int.random(in: 1...50, using: &random) {
            let collection = Layout.workerCollections.randomElement(using: &random)!
            let id = Layout.recordID(collection, Int.random(in: 0..<Layout.recordsPerCollection, using: &random))
            let key = collection + "/" + id.uuidString
            let roll = Int.random(in: 0..<100, using: &random)
            if roll >= 55, tags[key] == nil { tags[key] = try await members(id, in: collection) }
            switch roll {
            case 55..<75:
                let value = Int64.random(in: 0..<Layout.tagMembers, using: &random)
                operations.append(.add(collection: collection, record: id, value: value))
                tags[key]!.insert(value)
            case 75..<90 where !tags[key]!.isEmpty:
                let value = tags[key]!.sorted().randomElement(using: &random)!
                operations.append(.remove(collection: collection, record: id, value: value))
                tags[key]!.remove(value)
            case 90..<100 where collection == "private":
                operations.append(.delete(collection: collection, record: id))
                tags[key] = []
            default:
                let field = Layout.workerFields.randomElement(using: &random)!
                operations.append(.set(collection: collection, record: id, field: field, value: nextValue()))
            }
        }
        begin(["B \(call) write"] + operations.map(\.intent))
        let planned = operations
        try await replica.write { @Sendable tx in
            for operation in planned { try operation.apply(to: tx) }
        }
        acknowledge(operations.map(\.acknowledgement))
    }

    func seal() async throws {
        begin(["B \(call) seal"])
        let sealed = try await replica.seal()
        acknowledge(sealed.map { "S \($0.sequence)" })
    }

    /// The peer's chain head in the replica.
    func frontier() async throws -> Int {
        Int(try await replica.versionVector()[peer[0].author])
    }

    /// One bundle: the next one, one a little ahead (held), or one already applied.
    func importOne() async throws {
        let frontier = try await frontier()
        let sequence: Int
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<50 where frontier < peer.count:
            sequence = frontier + 1
        case 50..<75 where frontier + 2 <= peer.count:
            sequence = Int.random(in: frontier + 2...min(peer.count, frontier + 5), using: &random)
        default:
            sequence = Int.random(in: 1...max(1, min(frontier, peer.count)), using: &random)
        }
        let bundle = peer[sequence - 1]
        begin(["B \(call) import \(sequence)"])
        let outcome = try await replica.import(bundle.bytes)
        acknowledge(["I \(sequence) \(bundle.id.hex) \(Self.describe(outcome))"])
    }

    /// A list around the peer frontier: in order, or shuffled (some held until their
    /// predecessor arrives), with repeats.
    func importBulk() async throws {
        let frontier = try await frontier()
        let count = Int.random(in: 2...8, using: &random)
        var list = (frontier + 1...frontier + count).map { min($0, peer.count) }
        if Bool.random(using: &random) { list.shuffle(using: &random) }
        if Bool.random(using: &random) { list.append(Int.random(in: max(1, frontier - 2)...max(1, frontier), using: &random)) }
        if Bool.random(using: &random) { list.insert(list.randomElement(using: &random)!, at: 0) }

        begin(["B \(call) bulk " + list.map(String.init).joined(separator: ",")])
        let progress = ProgressLog()
        let summary = try await replica.import(list.map { peer[$0 - 1].bytes }) { report in
            progress.last.withLock { $0 = report }
        }
        let done = progress.last.withLock { $0.map { "\($0.bundlesDone)/\($0.bundlesTotal ?? -1)" } ?? "none" }
        acknowledge(["M applied \(summary.applied) duplicate \(summary.duplicates) held \(summary.held) fork \(summary.forks) rejected \(summary.rejected.count) ops \(summary.operationsApplied) progress \(done)"])
    }

    static func describe(_ outcome: ImportOutcome) -> String {
        switch outcome {
        case .applied(let ids): "applied " + ids.map(\.hex).joined(separator: ",")
        case .duplicate: "duplicate"
        case .held(let waitingFor): "held \(waitingFor)"
        case .fork(_, let sequence): "fork \(sequence)"
        case .rejected(let error): "rejected \(error.code)"
        }
    }
}

/// The last progress report of a bulk import.
final class ProgressLog: Sendable {
    let last = Mutex<ImportProgress?>(nil)
}
