import Concord
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Foundation
import Synchronization
import Testing

@testable import ConcordRelay

/// PostgreSQL's one-statement append (`concord_append`, schema version 3) decides every push
/// as SQLite's `ChainCheck` and `SpaceLimitCheck` do: the same bundles stored, the same
/// duplicates counted, the same refusal (code and message: author, sequences, ids, bytes)
/// for the first bundle that fails, and the same heads and usage afterwards. The SQL states
/// the chain rule of `Specs/sync-protocol.md` §7 on its own, so its chain decisions are also
/// compared with `ChainRule` directly, over a model of the chains held in memory (no SQLite).
@Suite(.enabled(if: postgresTestURL != nil, "set CONCORD_TEST_POSTGRES_URL (Tools/postgres.sh start)"), .serialized)
struct PostgresAppendPropertyTests {
    /// What an append did, comparable across backends.
    enum Outcome: Equatable, CustomStringConvertible {
        case stored(Int, duplicates: Int)
        case refused(RelayError.Code, String)

        init(_ body: () async throws -> AppendSummary) async {
            do {
                let summary = try await body()
                self = .stored(summary.stored, duplicates: summary.duplicates)
            } catch let error as RelayError {
                self = .refused(error.code, error.message)
            } catch {
                self = .refused(.storage, "\(error)")
            }
        }

        var description: String {
            switch self {
            case .stored(let stored, let duplicates): "stored \(stored), duplicates \(duplicates)"
            case .refused(let code, let message): "refused \(code): \(message)"
            }
        }
    }

    @Test func theServerSideAppendDecidesEveryPushAsTheChainCheckDoes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let sqlite = try SQLiteRelayStorage(path: directory.path("relay.sqlite"))
        let postgres = try await openPostgres()
        do {
            try await PropertyRunner.checkAsync("concord_append decides as ChainCheck", cases: 60) { rng in
                let space = try TestSpace()
                // Two authors, and a twin of the first: the same device key signing another
                // history (a copied store), so pushes can fork at every place.
                var aliceLog = BundleLog()
                var twinLog = BundleLog()
                var bobLog = BundleLog()
                let pool =
                    try makeBundles(space.alice, count: 5, log: &aliceLog) + makeBundles(space.alice, count: 3, log: &twinLog)
                    + makeBundles(space.bob, count: 5, log: &bobLog)
                let sizes = pool.map { Int64($0.bytes.count) }.sorted()
                // What the backends hold, per author: the links the chain rule is asked about.
                var model: [PublicKey: [ChainRule.Link]] = [:]
                for _ in 0..<5 {
                    // Mostly chain order with a twin or a repeat mixed in; sometimes any order.
                    var push: [ChangeBundle] = []
                    let count = Int.random(in: 0...6, using: &rng)
                    let start = Int.random(in: 0..<pool.count, using: &rng)
                    for index in 0..<count {
                        let anywhere = Int.random(in: 0..<4, using: &rng) == 0
                        let pick = anywhere ? Int.random(in: 0..<pool.count, using: &rng) : (start + index) % pool.count
                        push.append(pool[pick])
                    }
                    var limits = SpaceLimits(quotaBytes: 1 << 30)
                    switch Int.random(in: 0..<6, using: &rng) {
                    case 0: limits.quotaBytes = sizes[0] * Int64.random(in: 1...8, using: &rng)
                    case 1: limits.maxAuthors = 1
                    default: break
                    }
                    let fromSQLite = await Outcome { try await sqlite.append(push, to: space.id, limits: limits) }
                    let fromPostgres = await Outcome { try await postgres.append(push, to: space.id, limits: limits) }
                    let fromRule = Self.chainRuleOutcome(of: push, over: &model, accepting: fromPostgres)
                    guard fromSQLite == fromPostgres, fromRule.agrees(with: fromPostgres) else {
                        let names = push.map { bundle in
                            "\(bundle.author == space.bob.device.publicKey ? "b" : "a")\(bundle.sequence):\(bundle.id.hex.prefix(4))"
                        }
                        throw PropertyFailureDetail(
                            "push \(names) with \(limits): SQLite \(fromSQLite), PostgreSQL \(fromPostgres), ChainRule \(fromRule)")
                    }
                }
                let held = try await sqlite.bundles(in: space.id, since: VersionVector(), afterPosition: 0, limit: 1_000).map(\.id)
                let heldThere = try await postgres.bundles(in: space.id, since: VersionVector(), afterPosition: 0, limit: 1_000).map(\.id)
                guard held == heldThere, try await sqlite.vector(of: space.id) == postgres.vector(of: space.id),
                    try await sqlite.usage(of: space.id) == postgres.usage(of: space.id)
                else {
                    throw PropertyFailureDetail("the backends hold different bundles, heads or usage after the same pushes")
                }
            }
        } catch {
            await sqlite.close()
            await postgres.close()
            throw error
        }
        await sqlite.close()
        await postgres.close()
    }

    /// What the chain rule alone decides for a push.
    enum ChainOutcome: CustomStringConvertible {
        /// Every bundle passed: `new` to store, `duplicates` already held.
        case passes(new: Int, duplicates: Int)
        /// The first failing bundle's refusal.
        case refused(RelayError.Code, String)

        /// Whether `outcome` is what this verdict allows: the same refusal, or the same
        /// bundles stored, or a refusal by a space limit (checked after the chain).
        func agrees(with outcome: Outcome) -> Bool {
            switch (self, outcome) {
            case (.passes(let new, let duplicates), .stored(let stored, let counted)): new == stored && duplicates == counted
            case (.passes, .refused(let code, _)): [.quotaExceeded, .tooManyAuthors, .tooManySpaces].contains(code)
            case (.refused(let code, let message), .refused(let other, let text)): code == other && message == text
            case (.refused, .stored): false
            }
        }

        var description: String {
            switch self {
            case .passes(let new, let duplicates): "passes (\(new) new, \(duplicates) duplicates)"
            case .refused(let code, let message): "refused \(code): \(message)"
            }
        }
    }

    /// The push judged by `ChainRule` bundle by bundle over `model` plus the push's earlier
    /// bundles, answered as the relay answers each verdict (`Specs/relay-api.md` §4). The
    /// model takes the new bundles when the backend stored them.
    static func chainRuleOutcome(of push: [ChangeBundle], over model: inout [PublicKey: [ChainRule.Link]], accepting outcome: Outcome)
        -> ChainOutcome
    {
        var chains = model
        var new = 0
        var duplicates = 0
        for bundle in push {
            let chain = chains[bundle.author] ?? []
            // The link at the bundle's place, or the head below it.
            let link = bundle.sequence <= UInt64(chain.count) ? chain[Int(bundle.sequence - 1)] : chain.last
            switch ChainRule.verdict(for: bundle, against: link) {
            case .extends:
                chains[bundle.author, default: []].append(ChainRule.Link(sequence: bundle.sequence, id: bundle.id))
                new += 1
            case .duplicate:
                duplicates += 1
            case .fork(let sequence, let existing, let claimed) where sequence > 0:
                let error = RelayError.fork(author: bundle.author, sequence: sequence, stored: existing, pushed: claimed)
                return .refused(error.code, error.message)
            case .fork:
                let error = RelayError.missingPredecessor(author: bundle.author, needed: 1, got: bundle.sequence)
                return .refused(error.code, error.message)
            case .gap(let needed):
                let error = RelayError.missingPredecessor(author: bundle.author, needed: needed, got: bundle.sequence)
                return .refused(error.code, error.message)
            }
        }
        if case .stored = outcome { model = chains }
        return .passes(new: new, duplicates: duplicates)
    }

    /// Regression: reads (the feed's, pulls) shared the pool with appends, and every
    /// append to a space holds a connection while it waits on the space's lock: ten pushes
    /// queued on one busy space held all ten connections, and the feed's read of another
    /// space's bundle waited until the lock was released. Reads now have a pool of their own.
    @Test func aReadDoesNotWaitBehindPushesQueuedOnASpaceLock() async throws {
        let storage = try await openPostgres()
        let elsewhere = try await openPostgres()
        let busy = try TestSpace()
        let quiet = try TestSpace()
        // Stored through another instance, so `storage` must read it from the database.
        let seeded = try await elsewhere.append(try makeBundles(quiet.alice, count: 1), to: quiet.id, quotaBytes: 1 << 30)
        let position = try #require(seeded.storedPositions.first)
        let first = try makeBundles(busy.alice, count: 1)
        let url = try PostgresURL(try #require(postgresTestURL))
        let readWhileLocked: Bool = try await withPostgresConnection(url) { holder, logger in
            // A push in progress on the busy space: it holds the space's lock.
            try await holder.query("BEGIN", logger: logger)
            try await holder.query("SELECT pg_advisory_xact_lock(\(PostgresRelayStorage.lockKey(busy.id)))", logger: logger)
            // More pushes than the append pool has connections, each waiting on that lock.
            let pushes = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<12 { group.addTask { _ = try? await storage.append(first, to: busy.id, quotaBytes: 1 << 30) } }
                }
            }
            var waiting = 0
            for _ in 0..<100 where waiting < 10 {
                try await Task.sleep(for: .milliseconds(100))
                // The statistics views keep one snapshot per transaction: take a fresh one.
                try await holder.query("SELECT pg_stat_clear_snapshot()", logger: logger)
                let rows = try await holder.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'", logger: logger)
                for try await count in rows.decode(Int64.self) { waiting = Int(count) }
            }
            print("pushes waiting on the space lock: \(waiting)")
            // The read, while the lock is held: done within 20 s, or it waits for the lock.
            let finished = Mutex(false)
            let read = Task {
                let bundle = try await storage.bundle(at: position)
                finished.withLock { $0 = true }
                return bundle
            }
            var answered = false
            for _ in 0..<200 where !answered {
                try await Task.sleep(for: .milliseconds(100))
                answered = finished.withLock { $0 }
            }
            try await holder.query("COMMIT", logger: logger)
            await pushes.value
            _ = try? await read.value
            return answered
        }
        #expect(readWhileLocked, "the read waited for the pushes queued on another space's lock")
        #expect(try await storage.vector(of: busy.id) == VersionVector([busy.alice.device.publicKey: 1]))
        await storage.close()
        await elsewhere.close()
    }

    /// Regression: the feed read every bundle it announced from the database, through the
    /// pool the pushes held while they waited on the space lock. A bundle this relay stored
    /// is now read from memory; the same bytes as the database's row.
    @Test func aBundleThisRelayStoredIsReadWithoutTheDatabaseAndMatchesIt() async throws {
        let writer = try await openPostgres()
        let other = try await openPostgres()
        let space = try TestSpace()
        let bundles = try makeBundles(space.alice, count: 3)
        let summary = try await writer.append(bundles, to: space.id, quotaBytes: 1 << 30)
        #expect(summary.stored == 3)
        for (position, bundle) in zip(summary.storedPositions, bundles) {
            let fromMemory = try #require(try await writer.bundle(at: position))
            let fromDatabase = try #require(try await other.bundle(at: position))
            #expect(fromMemory == fromDatabase)
            #expect(fromMemory.id == bundle.id && fromMemory.bytes == bundle.bytes && fromMemory.spaceID == space.id)
        }
        #expect(writer.recentlyStoredCount >= 3)
        await writer.close()
        await other.close()
    }
}

/// A property's counterexample, described.
struct PropertyFailureDetail: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
