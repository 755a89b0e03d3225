import Concord
import ConcordCore
import ConcordStore
import Foundation
import Testing

extension Tag {
    /// Real processes, real SIGKILLs. From the command line, select the suite by its type
    /// (`swift test --filter CrashSafetyTests`, or `--skip CrashSafetyTests`); the tag is
    /// for test plans.
    @Tag static var crash: Self
}

/// SIGKILLs a worker process (`concord-crash-worker`, Tests/CrashWorker) at random moments
/// while it writes, seals and imports into a replica on disk, then checks the replica in
/// this process against an exact model built from the worker's fsynced journal.
///
/// Reproduce a run with `CONCORD_CRASH_SEED=<seed>` (printed first); change the number
/// of kills with `CONCORD_CRASH_ROUNDS`.
@Suite("Crash safety", .tags(.crash), .serialized)
struct CrashSafetyTests {
    @Test("SIGKILL mid-write, mid-seal and mid-import: no corruption, no lost acknowledged write, no half-applied bundle; then convergence")
    func sigkillRounds() async throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["CONCORD_CRASH_SEED"].flatMap { UInt64($0) } ?? 20_260_601
        let rounds = environment["CONCORD_CRASH_ROUNDS"].flatMap { Int($0) } ?? 70
        print("crash safety: seed \(seed), at least \(rounds) kills (reproduce with CONCORD_CRASH_SEED=\(seed))")
        let started = ContinuousClock.now
        let binary = try CrashWorkerProcess.locate()

        let root = NSTemporaryDirectory() + "concord-crash-" + UUID().uuidString
        let storeA = root + "/a"
        let peerFile = root + "/peer.bundles"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var keepFiles = false
        defer {
            if keepFiles {
                print("crash safety: the replicas and journals are kept in \(root)")
            } else {
                try? FileManager.default.removeItem(atPath: root)
            }
        }

        // A is the worker's replica: created here, then closed; only the worker opens it
        // while it runs. P is the peer, in this process.
        let invite = try await Replica.createWithoutMembers(at: storeA).invite()
        let peer = PeerFeed(replica: try Replica.join(invite, at: root + "/p"), seed: seed)
        try await peer.produce(bundles: 40, operations: 50)
        #expect(try await peerModelMatchesReplica(peer))

        var random = SplitMix64(seed: seed)
        var model = WorkerModel()
        var killsWhileIn: [String: Int] = [:]
        var inFlightResults: [String: Int] = [:]
        var applyingImportKills = 0
        var acknowledgedCalls = 0
        var callTimes: [String: (count: Int, micros: Int)] = [:]

        // At least `rounds` kills, and more (up to five times as many, within 180 s) until
        // each phase had its share: where a kill lands depends on this machine's speed.
        func covered() -> Bool {
            killsWhileIn["write", default: 0] >= 5 && killsWhileIn["seal", default: 0] >= 5
                && killsWhileIn["import", default: 0] + killsWhileIn["bulk import", default: 0] >= 5
        }
        var round = 0
        while round < rounds || (!covered() && round < 5 * rounds && ContinuousClock.now - started < .seconds(180)) {
            round += 1
            try await peer.produce(bundles: 2, operations: 50)
            try peer.writeFile(to: peerFile)
            let workerSeed = (seed &* 1_000 &+ UInt64(round)) % (1 << 36)
            let delay = Int.random(in: 20...400, using: &random)
            let journalPath = root + "/journal-\(round)"
            let exit = try await CrashWorkerProcess.runAndKill(
                binary, store: storeA, peerFile: peerFile, seed: workerSeed, journal: journalPath, after: delay)
            let journal = ParsedJournal(contents: (try? String(contentsOfFile: journalPath, encoding: .utf8)) ?? "")
            let context = "round \(round), worker seed \(workerSeed), killed after \(delay) ms"
            guard exit.killed, exit.reason == .uncaughtSignal, exit.status == SIGKILL else {
                keepFiles = true
                Issue.record("\(context): the worker stopped by itself (\(exit.reason), status \(exit.status)): \(journal.failure ?? "") \(exit.standardError)")
                break
            }
            #expect(journal.problems.isEmpty, "\(context): unparsable journal lines \(journal.problems)")

            // 1. The file is healthy. (Files are kept unless the round passes.)
            keepFiles = true
            let integrity = try SQLiteStore(path: storeA + "/replica.sqlite").integrityCheck()
            #expect(integrity.isEmpty, "\(context): integrity check: \(integrity)")
            if !integrity.isEmpty { break }

            // 2. The replica opens and holds what the journal acknowledged.
            let replica = try Replica.open(at: storeA)
            let observed = try await Observation(replica, peer: peer)
            var problems: [String] = []
            var acknowledgedApplied: [Int] = []
            for call in journal.calls where call.acknowledgement != nil {
                problems += model.acknowledged(call, peer: peer).map { "\(context): \($0)" }
                for words in call.acknowledgement! where words.count == 5 && words[0] == "I" && words[3] == "applied" {
                    acknowledgedApplied += words[4].split(separator: ",").compactMap { peer.sequence(ofHex: String($0)) }
                }
                acknowledgedCalls += 1
                callTimes[call.kind.name, default: (0, 0)].count += 1
                callTimes[call.kind.name, default: (0, 0)].micros += call.microseconds
            }
            // Every bundle reported applied is in the log.
            for sequence in acknowledgedApplied where sequence > observed.peerHead {
                problems.append("\(context): peer bundle \(sequence) was reported applied but the log ends at \(observed.peerHead)")
            }
            // The call in flight committed entirely or not at all.
            let phase: String
            if !journal.opened {
                phase = "startup"
            } else if let call = journal.inFlight {
                phase = call.kind.name
                let candidates = model.inFlightCandidates(call)
                if candidates.count > 1, case .importOne = call.kind { applyingImportKills += candidates.last!.0.hasSuffix("imported") ? 1 : 0 }
                if candidates.count > 1, case .bulk = call.kind { applyingImportKills += candidates.last!.0.hasSuffix("imported") ? 1 : 0 }
                if let (name, match) = candidates.first(where: { $0.1.mismatches(observed, peer: peer).isEmpty }) {
                    model = match
                    inFlightResults["\(phase) \(name)", default: 0] += 1
                } else {
                    for (name, candidate) in candidates {
                        problems += candidate.mismatches(observed, peer: peer).prefix(8).map { "\(context): in-flight \(phase) \(name)? \($0)" }
                    }
                }
            } else {
                phase = "between calls"
                problems += model.mismatches(observed, peer: peer).map { "\(context): \($0)" }
            }
            // No peer bundle is half-applied.
            problems += observed.peerMismatches(peer).map { "\(context): \($0)" }
            model.ownHead = observed.ownHead
            model.ownHeadExact = true
            killsWhileIn[phase, default: 0] += 1
            print("crash round \(round): seed \(workerSeed), kill at \(delay) ms during \(phase), \(journal.calls.count) calls, A at \(observed.ownHead) own / \(observed.peerHead) of \(peer.bundles.count) peer bundles, \(observed.status.heldBundles) held, \(observed.status.pendingOperations) pending")
            if !problems.isEmpty {
                for problem in problems.prefix(30) { Issue.record(Comment(rawValue: problem)) }
                break
            }
            keepFiles = false
        }

        print("crash safety: \(round) kills; by phase \(killsWhileIn.sorted { $0.key < $1.key }); in-flight calls \(inFlightResults.sorted { $0.key < $1.key }); \(applyingImportKills) kills during imports that apply bundles; \(acknowledgedCalls) acknowledged calls, mean duration " + callTimes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.micros / max(1, $0.value.count) / 1_000) ms (\($0.value.count))" }.joined(separator: ", "))
        #expect(killsWhileIn.values.reduce(0, +) >= rounds)
        #expect(killsWhileIn["write", default: 0] >= 5, "kills during writes: \(killsWhileIn)")
        #expect(killsWhileIn["seal", default: 0] >= 5, "kills during seals: \(killsWhileIn)")
        #expect(killsWhileIn["import", default: 0] + killsWhileIn["bulk import", default: 0] >= 5, "kills during imports: \(killsWhileIn)")

        // 3. Convergence: A and P exchange everything and end in the same state.
        let replica = try Replica.open(at: storeA)
        let toA = try await collectBundles(peer.replica.bundles(since: replica.versionVector()))
        let intoA = try await replica.import(toA.map(\.bytes))
        #expect(intoA.rejected.isEmpty && intoA.forks == 0, "A importing P: \(intoA)")
        let toP = try await collectBundles(replica.bundles(since: peer.replica.versionVector()))
        let intoP = try await peer.replica.import(toP.map(\.bytes))
        #expect(intoP.rejected.isEmpty && intoP.forks == 0, "P importing A: \(intoP)")
        let statusA = try await replica.status()
        #expect(statusA.heldBundles == 0 && statusA.pendingOperations == 0 && statusA.quarantinedBundles == 0, "A after the exchange: \(statusA)")
        #expect(try await replica.state().digestHex == peer.replica.state().digestHex, "A and P should converge")
        // Every acknowledged worker write reached P, through A's sealed bundles.
        var missing: [String] = []
        for collection in CrashLayout.workerCollections {
            for id in CrashLayout.ids(collection) {
                let expected = model.records[collection, id]
                let view = try await peer.replica.record(id, in: collection)
                let part = view.map { OwnedPart($0, fieldPrefix: "w", set: "wt") } ?? OwnedPart(ModelRecord())
                if part != OwnedPart(expected) { missing.append("\(collection)/\(id): P has \(part), expected \(OwnedPart(expected))") }
            }
        }
        #expect(missing.isEmpty, "P after the exchange: \(missing.prefix(10))")
        print("crash safety: done in \(ContinuousClock.now - started)")
    }

    /// The peer's model matches what its replica holds (so the model's rules are right).
    private func peerModelMatchesReplica(_ peer: PeerFeed) async throws -> Bool {
        for collection in CrashLayout.peerCollections {
            for id in CrashLayout.ids(collection) {
                let expected = peer.model[collection, id]
                let view = try await peer.replica.record(id, in: collection)
                if (view != nil) != expected.visible { return false }
                if let view, OwnedPart(view, fieldPrefix: "p", set: "pt") != OwnedPart(expected) { return false }
            }
        }
        return true
    }
}
