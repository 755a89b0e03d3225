import Concord
import ConcordCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - The peer

/// The peer P: write transactions of its own fields, each sealed into one bundle, and the
/// model of its records after each bundle (`snapshots[s]`: after bundles 1…s).
final class PeerFeed {
    let replica: Replica
    private(set) var model = RecordsModel()
    private(set) var snapshots = [RecordsModel()]
    private(set) var bundles: [ChangeBundle] = []
    private var random: SplitMix64
    private var counter: Int64 = 0

    init(replica: Replica, seed: UInt64) {
        self.replica = replica
        random = SplitMix64(seed: seed ^ 0x5045_4552)
    }

    /// Makes `count` bundles of `operations` operations each.
    func produce(bundles count: Int, operations: Int) async throws {
        for _ in 0..<count {
            var next = model
            var planned: [ModelOperation] = []
            for _ in 0..<operations {
                let collection = CrashLayout.peerCollections.randomElement(using: &random)!
                let id = CrashLayout.recordID(collection, Int.random(in: 0..<CrashLayout.recordsPerCollection, using: &random))
                let members = next[collection, id].members
                let operation: ModelOperation
                switch Int.random(in: 0..<100, using: &random) {
                case 55..<75:
                    operation = .add(collection: collection, record: id, field: CrashLayout.peerSet, value: Int64.random(in: 0..<CrashLayout.tagMembers, using: &random))
                case 75..<90 where !members.isEmpty:
                    operation = .remove(collection: collection, record: id, field: CrashLayout.peerSet, value: members.sorted().randomElement(using: &random)!)
                case 90..<100 where collection == "peer":
                    operation = .delete(collection: collection, record: id)
                default:
                    counter += 1
                    operation = .set(collection: collection, record: id, field: CrashLayout.peerFields.randomElement(using: &random)!, value: -counter)
                }
                next.apply(operation)
                planned.append(operation)
            }
            let operations = planned
            try await replica.write { @Sendable tx in
                for operation in operations { try operation.apply(to: tx) }
            }
            let sealed = try await replica.seal()
            try #require(sealed.count == 1 && sealed[0].sequence == UInt64(bundles.count + 1), "the peer's write should seal into exactly its next bundle")
            bundles.append(sealed[0])
            model = next
            snapshots.append(next)
        }
    }

    /// Writes every bundle, in chain order, as a 4-byte big-endian length and the bytes.
    func writeFile(to path: String) throws {
        var data = Data()
        for bundle in bundles {
            let length = UInt32(bundle.bytes.count)
            data.append(contentsOf: [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
            data.append(contentsOf: bundle.bytes)
        }
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The peer sequence of a bundle id.
    func sequence(ofHex hex: String) -> Int? {
        bundles.firstIndex { $0.id.hex == hex }.map { $0 + 1 }
    }
}

// MARK: - What the worker's replica should hold

/// The expected state of the worker's replica A, from the journals of all runs so far.
struct WorkerModel {
    /// The worker's own records (its fields only).
    var records = RecordsModel()
    /// Unsealed local operations.
    var pending = 0
    /// Records written locally since the last seal (`collection/uuid`).
    var unsealedRecords: Set<String> = []
    /// A's own chain head; a lower bound when `ownHeadExact` is false (an implicit seal
    /// before an import makes one or more bundles).
    var ownHead: UInt64 = 0
    var ownHeadExact = true
    /// The peer's chain head in A, and the peer bundles A holds waiting for a predecessor.
    var peerHead = 0
    var held: Set<Int> = []

    enum Outcome: Equatable {
        case applied([Int])
        case duplicate
        case held(waitingFor: Int)
    }

    /// Applies a write transaction. Returns a problem when the worker removed a member
    /// the model says is absent.
    mutating func write(_ operations: [ModelOperation]) -> [String] {
        var problems: [String] = []
        for operation in operations {
            if !records.apply(operation) { problems.append("the worker removed \(operation) but the model has no such member") }
            pending += 1
            unsealedRecords.insert(operation.collection + "/" + operation.record.uuidString)
        }
        return problems
    }

    /// A seal of everything pending (explicit, or the one before an import).
    mutating func seal() {
        guard pending > 0 else { return }
        pending = 0
        unsealedRecords = []
        ownHead += 1
        ownHeadExact = false
    }

    /// The importer's chain rules for one peer bundle.
    mutating func importBundle(_ sequence: Int) -> Outcome {
        if sequence <= peerHead || held.contains(sequence) { return .duplicate }
        guard sequence == peerHead + 1 else {
            held.insert(sequence)
            return .held(waitingFor: peerHead + 1)
        }
        var applied = [sequence]
        peerHead = sequence
        while held.remove(peerHead + 1) != nil {
            peerHead += 1
            applied.append(peerHead)
        }
        return .applied(applied)
    }

    /// Applies an acknowledged call, checking its acknowledgement against the model's
    /// prediction. Returns the problems found.
    mutating func acknowledged(_ call: JournalCall, peer: PeerFeed) -> [String] {
        let lines = call.acknowledgement ?? []
        var problems: [String] = []
        switch call.kind {
        case .write(let operations):
            let acknowledged = lines.map { ModelOperation(kind: $0[0], $0.dropFirst()) }
            if acknowledged != operations.map(Optional.some) {
                problems.append("call \(call.number): the acknowledgement \(lines) does not list the intended operations \(operations)")
            }
            problems += write(operations)
        case .seal:
            let sequences = lines.compactMap { $0.count == 2 && $0[0] == "S" ? UInt64($0[1]) : nil }
            if sequences.count != lines.count { problems.append("call \(call.number): bad seal acknowledgement \(lines)") }
            if (pending > 0) != !sequences.isEmpty {
                problems.append("call \(call.number): seal with \(pending) pending operations made bundles \(sequences)")
            }
            if let first = sequences.first, let last = sequences.last {
                if ownHeadExact ? first != ownHead + 1 : first < ownHead + 1 {
                    problems.append("call \(call.number): seal made bundle \(first) after own head \(ownHead)\(ownHeadExact ? "" : " (at least)")")
                }
                if sequences != Array(first...last) { problems.append("call \(call.number): sealed sequences not contiguous: \(sequences)") }
                pending = 0
                unsealedRecords = []
                ownHead = last
                ownHeadExact = true
            }
        case .importOne(let sequence):
            seal()
            let predicted = importBundle(sequence)
            guard lines.count == 1, lines[0].count >= 4, lines[0][0] == "I", Int(lines[0][1]) == sequence else {
                problems.append("call \(call.number): bad import acknowledgement \(lines)")
                break
            }
            let words = lines[0]
            if words[2] != peer.bundles[sequence - 1].id.hex { problems.append("call \(call.number): imported bundle \(words[2]) is not peer bundle \(sequence)") }
            let reported: Outcome? = switch words[3] {
            case "applied" where words.count == 5: .applied(words[4].split(separator: ",").map { peer.sequence(ofHex: String($0)) ?? -1 })
            case "duplicate": .duplicate
            case "held" where words.count == 5: Int(words[4]).map { .held(waitingFor: $0) }
            default: nil
            }
            if reported != predicted {
                problems.append("call \(call.number): import of peer bundle \(sequence) reported \(words.dropFirst(3).joined(separator: " ")), expected \(predicted)")
            }
        case .bulk(let list):
            seal()
            var applied = 0, duplicates = 0, held = 0
            for sequence in list {
                switch importBundle(sequence) {
                case .applied(let ids): applied += ids.count
                case .duplicate: duplicates += 1
                case .held: held += 1
                }
            }
            let expected = "M applied \(applied) duplicate \(duplicates) held \(held) fork 0 rejected 0"
            let line = lines.first?.joined(separator: " ") ?? ""
            if lines.count != 1 || !line.hasPrefix(expected + " ops ") || !line.hasSuffix(" progress \(list.count)/\(list.count)")
                || (applied > 0) == line.contains(" ops 0 ") {
                problems.append("call \(call.number): bulk import of \(list) reported \(line), expected \(expected), operations iff applied, progress \(list.count)/\(list.count)")
            }
        }
        return problems
    }

    /// The states the replica may be in when `call` was in flight at the kill: each
    /// transaction of the call committed or not, in order.
    func inFlightCandidates(_ call: JournalCall) -> [(String, WorkerModel)] {
        var candidates = [("not committed", self)]
        switch call.kind {
        case .write(let operations):
            var committed = self
            _ = committed.write(operations)
            candidates.append(("committed", committed))
        case .seal:
            var sealed = self
            sealed.seal()
            if pending > 0 { candidates.append(("committed", sealed)) }
        case .importOne, .bulk:
            var sealed = self
            sealed.seal()
            if pending > 0 { candidates.append(("sealed, not imported", sealed)) }
            let list: [Int] = if case .importOne(let sequence) = call.kind { [sequence] } else if case .bulk(let list) = call.kind { list } else { [] }
            for sequence in list { _ = sealed.importBundle(sequence) }
            if sealed.peerHead != peerHead || sealed.held != held { candidates.append(("sealed and imported", sealed)) }
        }
        return candidates
    }

    /// The differences between this model and what the replica holds.
    func mismatches(_ observed: Observation, peer: PeerFeed) -> [String] {
        var problems: [String] = []
        let status = observed.status
        if status.pendingOperations != pending { problems.append("pending operations \(status.pendingOperations), expected \(pending)") }
        if observed.peerHead != peerHead { problems.append("peer chain head \(observed.peerHead), expected \(peerHead)") }
        if status.heldBundles != held.count { problems.append("held bundles \(status.heldBundles), expected \(held.count) (\(held.sorted()))") }
        if ownHeadExact ? observed.ownHead != ownHead : observed.ownHead < ownHead {
            problems.append("own chain head \(observed.ownHead), expected \(ownHeadExact ? "" : "at least ")\(ownHead)")
        }
        if observed.unsealedRecords != unsealedRecords {
            problems.append("records with unsealed changes: \(observed.unsealedRecords.count), expected \(unsealedRecords.count); e.g. \(observed.unsealedRecords.symmetricDifference(unsealedRecords).first ?? "")")
        }
        let snapshot = peer.snapshots[min(observed.peerHead, peer.snapshots.count - 1)]
        for collection in CrashLayout.workerCollections {
            let ids = CrashLayout.ids(collection)
            for stray in Set(observed.views[collection, default: [:]].keys).subtracting(ids) {
                problems.append("\(collection)/\(stray) should not exist")
            }
            for id in ids {
                let expected = records[collection, id]
                let visible = expected.visible || (collection == "shared" && snapshot[collection, id].visible)
                guard let view = observed.views[collection]?[id] else {
                    if visible { problems.append("\(collection)/\(id) is missing; expected worker part \(OwnedPart(expected))") }
                    continue
                }
                if !visible { problems.append("\(collection)/\(id) is visible but should be deleted or absent: \(view)") }
                let part = OwnedPart(view, fieldPrefix: "w", set: "wt")
                if part != OwnedPart(expected) { problems.append("\(collection)/\(id): worker part \(part), expected \(OwnedPart(expected))") }
            }
        }
        return problems
    }
}

/// What the replica holds after a kill, read in the test process.
struct Observation {
    var status: ReplicaStatus
    var ownHead: UInt64
    var peerHead: Int
    var views: [String: [RecordID: RecordView]]
    var unsealedRecords: Set<String>

    init(_ replica: Replica, peer: PeerFeed) async throws {
        status = try await replica.status()
        ownHead = status.versionVector[replica.membership.device.publicKey]
        peerHead = Int(status.versionVector[peer.replica.membership.device.publicKey])
        views = [:]
        for collection in ["shared", "private", "peer"] {
            views[collection] = Dictionary(uniqueKeysWithValues: try await replica.records(in: collection).map { ($0.id, $0) })
        }
        unsealedRecords = []
        for collection in CrashLayout.workerCollections {
            for id in CrashLayout.ids(collection) where try await replica.syncStatus(of: id, in: collection) == .unsealed {
                unsealedRecords.insert(collection + "/" + id.uuidString)
            }
        }
    }

    /// The peer's records must be exactly those of the peer's bundles 1…`peerHead`: a
    /// bundle is applied entirely or not at all.
    func peerMismatches(_ peer: PeerFeed) -> [String] {
        guard peerHead < peer.snapshots.count else { return ["peer chain head \(peerHead) beyond the \(peer.bundles.count) bundles the peer made"] }
        let snapshot = peer.snapshots[peerHead]
        var problems: [String] = []
        for stray in Set(views["peer", default: [:]].keys).subtracting(CrashLayout.ids("peer")) {
            problems.append("peer/\(stray) should not exist")
        }
        for collection in CrashLayout.peerCollections {
            for id in CrashLayout.ids(collection) {
                let expected = snapshot[collection, id]
                guard let view = views[collection]?[id] else {
                    if expected.visible { problems.append("\(collection)/\(id) is missing; expected peer part \(OwnedPart(expected)) (peer bundles 1…\(peerHead))") }
                    continue
                }
                if collection == "peer", !expected.visible { problems.append("peer/\(id) should be deleted or absent after peer bundles 1…\(peerHead): \(view)") }
                let part = OwnedPart(view, fieldPrefix: "p", set: "pt")
                if part != OwnedPart(expected) {
                    problems.append("\(collection)/\(id): peer part \(part), expected \(OwnedPart(expected)) (peer bundles 1…\(peerHead): half-applied?)")
                }
            }
        }
        return problems
    }
}

// MARK: - The worker process

enum CrashWorkerProcess {
    static let name = "concord-crash-worker"

    /// Finds the worker binary built next to the tests (`swift build --build-tests`
    /// builds it): `CONCORD_CRASH_WORKER`, else the directory of the test executable or
    /// bundle, else `.build*/debug` in the package.
    static func locate() throws -> URL {
        var directories: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["CONCORD_CRASH_WORKER"] {
            return URL(fileURLWithPath: explicit)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        directories.append(executable.deletingLastPathComponent())
        for bundle in [Bundle.main] + Bundle.allBundles {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
            directories.append(bundle.bundleURL)
        }
        // Tests/IntegrationTests/CrashHarness.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let scratch = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in scratch.sorted() where name.hasPrefix(".build") {
            directories.append(root.appendingPathComponent(name).appendingPathComponent("debug"))
        }
        for directory in directories {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw CrashTestError("\(name) not found; build it with `swift build --build-tests` (same scratch path as the tests) or set CONCORD_CRASH_WORKER. Looked in: " + directories.map(\.path).joined(separator: ", "))
    }

    struct Exit {
        /// Whether it was still running when the kill was sent.
        var killed: Bool
        var reason: Process.TerminationReason
        var status: Int32
        var standardError: String
    }

    /// Runs the worker and SIGKILLs it after `milliseconds`.
    static func runAndKill(_ binary: URL, store: String, peerFile: String, seed: UInt64, journal: String, after milliseconds: Int) async throws -> Exit {
        let errorPath = journal + ".stderr"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer { try? errorHandle.close() }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--store", store, "--peer-bundles", peerFile, "--seed", String(seed), "--journal", journal]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorHandle
        try process.run()
        defer {
            // Never leave a worker behind (for example when the sleep is cancelled).
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try await Task.sleep(for: .milliseconds(milliseconds))
        let running = process.isRunning
        // Only a worker still running: once it has exited and been reaped, its process id
        // may already belong to another test's process.
        if running { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let standardError = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        return Exit(killed: running, reason: process.terminationReason, status: process.terminationStatus, standardError: standardError)
    }
}

struct CrashTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func collectBundles(_ stream: BundleStream) async throws -> [ChangeBundle] {
    var result: [ChangeBundle] = []
    for try await bundle in stream { result.append(bundle) }
    return result
}
