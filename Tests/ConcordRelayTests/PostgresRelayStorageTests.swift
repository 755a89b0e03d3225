import Concord
import ConcordCrypto
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import ConcordRelay

/// The database the PostgreSQL tests run against: `Tools/postgres.sh start` prints one.
let postgresTestURL = ProcessInfo.processInfo.environment["CONCORD_TEST_POSTGRES_URL"]

/// One writing device: its membership, replica and bundle log.
struct TestAuthor {
    var membership: Membership
    var replica: LocalReplica
    var log = BundleLog()

    init(_ membership: Membership) {
        self.membership = membership
        self.replica = membership.makeReplica()
    }

    var key: PublicKey { membership.device.publicKey }

    /// Seals the device's next bundle (one field write of `text`).
    mutating func next(_ text: String = "x") throws -> ChangeBundle {
        let op = try replica.set("title", to: .string(text), record: RecordID(high: 1, low: 1), in: "notes")
        return try membership.seal([op], appendingTo: &log)
    }

    /// The next `count` bundles.
    mutating func next(_ count: Int) throws -> [ChangeBundle] {
        try (0..<count).map { try next("bundle \($0)") }
    }
}

/// A fresh space with two writers, so every test has rows of its own.
struct Fixture {
    let space: SpaceID
    var alice: TestAuthor
    var bob: TestAuthor

    init() throws {
        let founder = Membership.createSpace()
        space = founder.spaceID
        alice = TestAuthor(founder)
        bob = TestAuthor(try Membership.join(founder.writerInvite(), device: Identity()))
    }
}

/// Opens a storage instance on the test database (each stands in for one relay process).
func openPostgres() async throws -> PostgresRelayStorage {
    var logger = Logger(label: "concord.test.postgres")
    logger.logLevel = .warning
    return try await PostgresRelayStorage(url: try #require(postgresTestURL), logger: logger)
}

/// Opens a storage instance, runs `body`, closes it.
func withPostgres<R>(_ body: (PostgresRelayStorage) async throws -> R) async throws -> R {
    let storage = try await openPostgres()
    do {
        let result = try await body(storage)
        await storage.close()
        return result
    } catch {
        await storage.close()
        throw error
    }
}

/// Everything of a space a failed append must leave as it was.
struct SpaceSnapshot: Equatable {
    var vector: VersionVector
    var usage: Int64
    var bundles: [ConcordRelay.StoredBundle]

    init(_ storage: some RelayStorage, _ space: SpaceID) async throws {
        vector = try await storage.vector(of: space)
        usage = try await storage.usage(of: space)
        bundles = try await storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 10_000)
    }
}

@Suite(.enabled(if: postgresTestURL != nil, "set CONCORD_TEST_POSTGRES_URL (Tools/postgres.sh start)"), .serialized)
struct PostgresRelayStorageTests {
    let quota: Int64 = 1 << 30

    @Test func appendStoresInPositionOrderAndCountsDuplicates() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            let a = try f.alice.next(3)
            let b = try f.bob.next(2)
            let pushed = [a[0], b[0], a[1], b[1], a[2]]
            let summary = try await storage.append(pushed, to: space, quotaBytes: quota)
            #expect(summary.stored == 5)
            #expect(summary.duplicates == 0)
            #expect(summary.storedPositions == summary.storedPositions.sorted())
            let stored = try await storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 100)
            #expect(stored.map(\.bytes) == pushed.map(\.bytes))
            #expect(stored.map(\.position) == summary.storedPositions)
            #expect(stored.map(\.id) == pushed.map(\.id))
            #expect(stored.map(\.previous) == pushed.map(\.previous))
            #expect(stored.allSatisfy { $0.spaceID == space })

            // Pushing everything again, plus one new bundle: duplicates counted, the new one stored.
            let a4 = try f.alice.next()
            let again = try await storage.append(pushed + [a4], to: space, quotaBytes: quota)
            #expect(again.duplicates == 5)
            #expect(again.stored == 1)
            #expect(try await storage.vector(of: space) == VersionVector([f.alice.key: 4, f.bob.key: 2]))
            #expect(try await storage.usage(of: space) == Int64((pushed + [a4]).reduce(0) { $0 + $1.bytes.count }))
            #expect(try await storage.bundle(at: again.storedPositions[0])?.bytes == a4.bytes)
            #expect(try await storage.append([], to: space, quotaBytes: quota) == AppendSummary())
        }
    }

    @Test func forkIsRefusedAndStoresNothing() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            let first = try f.alice.next(2)
            _ = try await storage.append(first, to: space, quotaBytes: quota)
            let before = try await SpaceSnapshot(storage, space)

            var twin = TestAuthor(f.alice.membership)  // the same device key on a second machine
            let forked = try twin.next("other")
            let fresh = try f.bob.next()
            let error = await #expect(throws: RelayError.self) {
                try await storage.append([fresh, forked], to: space, quotaBytes: quota)
            }
            #expect(error == RelayError.fork(author: f.alice.key, sequence: 1, stored: first[0].id, pushed: forked.id))
            #expect(error?.code == .fork)
            #expect(try await SpaceSnapshot(storage, space) == before)
        }
    }

    @Test func forkWithinOnePushIsRefused() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            var twin = TestAuthor(f.alice.membership)
            let one = try f.alice.next("one")
            let other = try twin.next("two")
            let error = await #expect(throws: RelayError.self) {
                try await storage.append([one, other], to: space, quotaBytes: quota)
            }
            #expect(error?.code == .fork)
            #expect(try await storage.vector(of: space) == VersionVector())
        }
    }

    @Test func gapIsMissingPredecessorAndWrongPreviousIsAFork() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            let chain = try f.alice.next(4)
            _ = try await storage.append([chain[0]], to: space, quotaBytes: quota)
            let before = try await SpaceSnapshot(storage, space)

            // A gap: 3 after 1, together with a fine bundle of another author.
            let bobFirst = try f.bob.next()
            let gap = await #expect(throws: RelayError.self) {
                try await storage.append([bobFirst, chain[2]], to: space, quotaBytes: quota)
            }
            #expect(gap == RelayError.missingPredecessor(author: f.alice.key, needed: 2, got: 3))
            #expect(gap?.expected?.author == f.alice.key)
            #expect(gap?.expected?.sequence == 2)
            #expect(try await SpaceSnapshot(storage, space) == before)

            // A second-bundle whose previous is not the stored head: sequence 2 of a twin
            // whose first bundle was never stored.
            var twin = TestAuthor(f.alice.membership)
            _ = try twin.next("never pushed")
            let wrongPrevious = try twin.next("linked to the wrong head")
            let refused = await #expect(throws: RelayError.self) {
                try await storage.append([wrongPrevious], to: space, quotaBytes: quota)
            }
            #expect(refused?.code == .fork, "a bundle after another head than the stored one forks the chain")
            #expect(refused?.expected?.sequence == 1)
            #expect(try await SpaceSnapshot(storage, space) == before)

            // The right continuation is stored.
            #expect(try await storage.append(Array(chain[1...]), to: space, quotaBytes: quota).stored == 3)
        }
    }

    @Test func quotaIsCheckedAgainstStoredUsage() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            let first = try f.alice.next()
            let second = try f.alice.next()
            let quota = Int64(first.bytes.count + second.bytes.count) - 1
            _ = try await storage.append([first], to: space, quotaBytes: quota)
            let before = try await SpaceSnapshot(storage, space)
            let error = await #expect(throws: RelayError.self) {
                try await storage.append([first, second], to: space, quotaBytes: quota)
            }
            #expect(
                error
                    == RelayError.quotaExceeded(
                        spaceID: space, used: Int64(first.bytes.count), adding: Int64(second.bytes.count), quota: quota))
            #expect(error?.code == .quotaExceeded)
            #expect(try await SpaceSnapshot(storage, space) == before)
            // Duplicates alone add nothing and pass.
            #expect(try await storage.append([first], to: space, quotaBytes: quota).duplicates == 1)
            // Exactly at the quota is allowed.
            #expect(try await storage.append([second], to: space, quotaBytes: quota + 1).stored == 1)
            #expect(try await storage.usage(of: space) == quota + 1)
        }
    }

    @Test func pullPagesInPositionOrderAboveSince() async throws {
        try await withPostgres { storage in
            var f = try Fixture()
            let space = f.space
            var pushed: [ChangeBundle] = []
            for _ in 0..<5 {
                let round = [try f.alice.next(), try f.bob.next()]
                _ = try await storage.append(round, to: space, quotaBytes: quota)
                pushed += round
            }
            // Another space's bundles never show up.
            var g = try Fixture()
            let otherSpace = g.space
            _ = try await storage.append(try g.alice.next(3), to: otherSpace, quotaBytes: quota)

            func pullAll(since: VersionVector, pageSize: Int) async throws -> [ConcordRelay.StoredBundle] {
                var all: [ConcordRelay.StoredBundle] = []
                var after: Int64 = 0
                while true {
                    let page = try await storage.bundles(in: space, since: since, afterPosition: after, limit: pageSize)
                    #expect(page.count <= pageSize)
                    all += page
                    guard page.count == pageSize, let last = page.last else { return all }
                    after = last.position
                }
            }
            for pageSize in [1, 3, 100] {
                let all = try await pullAll(since: VersionVector(), pageSize: pageSize)
                #expect(all.map(\.id) == pushed.map(\.id))
                #expect(all.map(\.position) == all.map(\.position).sorted())
            }
            let since = VersionVector([f.alice.key: 3, f.bob.key: 5])
            let above = try await pullAll(since: since, pageSize: 2)
            #expect(above.map(\.id) == pushed.filter { $0.sequence > since[$0.author] }.map(\.id))
            #expect(above.map(\.sequence) == [4, 5])
            let onlyBob = try await pullAll(since: VersionVector([f.alice.key: 5]), pageSize: 4)
            #expect(onlyBob.allSatisfy { $0.author == f.bob.key } && onlyBob.count == 5)
            #expect(try await storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 0).isEmpty)
            #expect(try await storage.vector(of: space) == VersionVector([f.alice.key: 5, f.bob.key: 5]))
            #expect(try await storage.vector(of: otherSpace) == VersionVector([g.alice.key: 3]))
        }
    }

    @Test func bundleAtUnknownPositionIsNil() async throws {
        try await withPostgres { storage in
            #expect(try await storage.bundle(at: -1) == nil)
            try await storage.healthCheck()
            #expect(storage.backendName == "postgres")
        }
    }

    @Test func aBundleStoredThroughOneRelayIsAnnouncedOnTheOther() async throws {
        let first = try await openPostgres()
        let second = try await openPostgres()
        var f = try Fixture()
        let space = f.space
        let notices = try await second.notices()
        let ownNotices = try await first.notices()
        let bundle = try f.alice.next()
        let summary = try await first.append([bundle], to: space, quotaBytes: quota)
        let position = try #require(summary.storedPositions.first)

        for stream in [notices, ownNotices] {
            let notice = try await firstNotice(in: stream, for: space, within: .seconds(1))
            #expect(notice == BundleNotice(spaceID: space, position: position))
        }
        let read = try #require(try await second.bundle(at: position))
        #expect(read.bytes == bundle.bytes)
        #expect(read.spaceID == space && read.author == f.alice.key && read.sequence == 1 && read.id == bundle.id)
        await first.close()
        await second.close()
    }

    @Test func everyNoticeStreamHearsEveryBundleAndCloseEndsThem() async throws {
        let storage = try await openPostgres()
        var f = try Fixture()
        let space = f.space
        let streams = [try await storage.notices(), try await storage.notices(), try await storage.notices()]
        let summary = try await storage.append(try f.alice.next(3), to: space, quotaBytes: quota)
        for stream in streams {
            var heard: [Int64] = []
            for await notice in stream where notice.spaceID == space {
                heard.append(notice.position)
                if heard.count == 3 { break }
            }
            #expect(heard == summary.storedPositions)
        }
        let late = try await storage.notices()
        await storage.close()
        #expect(try await streamEnds(late, within: .seconds(2)))
        await #expect(throws: RelayError.self) { try await storage.notices() }
    }

    /// Regression: closing the storage cancelled the `LISTEN` task, which left its loop
    /// without closing the connection, and PostgresNIO's debug-build assertion
    /// ("PostgresConnection deinitialized before being closed") crashed the process.
    @Test func closingWhileListeningClosesTheListenConnection() async throws {
        var f = try Fixture()
        for round in 0..<12 {
            let storage = try await openPostgres()
            let stream = try await storage.notices()
            if round % 3 == 1 { _ = try await storage.append([try f.alice.next()], to: f.space, quotaBytes: quota) }
            try await Task.sleep(for: .milliseconds(round * 5))
            await storage.close()
            #expect(try await streamEnds(stream, within: .seconds(2)))
        }
    }

    @Test func listenReconnectsAndCatchesUpAfterItsConnectionDrops() async throws {
        let listener = try await openPostgres()
        let writer = try await openPostgres()
        var f = try Fixture()
        let space = f.space
        let stream = try await listener.notices()
        #expect(try await terminateListeners() >= 1)
        // Stored while the LISTEN connection is down: announced after it reconnects.
        let during = try await writer.append(try f.alice.next(2), to: space, quotaBytes: quota)
        let heard = try await collectNotices(in: stream, for: space, count: 2, within: .seconds(5))
        #expect(heard == Set(during.storedPositions))
        // And NOTIFY reaches the new connection.
        let after = try await writer.append([try f.alice.next()], to: space, quotaBytes: quota)
        let next = try await collectNotices(in: stream, for: space, count: 1, within: .seconds(5), ignoring: heard)
        #expect(next == Set(after.storedPositions))
        await listener.close()
        await writer.close()
    }

    /// Regression: a catch-up announced only positions above the highest one heard, so a
    /// push that drew a lower position but committed later, while `LISTEN` was down,
    /// never reached live subscribers. And nothing is announced twice.
    @Test func aLateCommitBelowTheHighestHeardPositionIsAnnouncedOnceAfterAReconnect() async throws {
        let listener = try await openPostgres()
        let writer = try await openPostgres()
        var f = try Fixture()
        let space = f.space
        let stream = try await listener.notices()
        do {
            try await withPostgresConnection(try PostgresURL(try #require(postgresTestURL))) { late, logger in
                // A push in flight: its row has drawn a position but is not committed.
                try await late.query("BEGIN", logger: logger)
                let junk = { ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) }) }
                let rows = try await late.query(
                    "INSERT INTO bundles (space, author, seq, id, previous, bytes) VALUES (\(ByteBuffer(bytes: space.bytes)), \(junk()), 1, \(junk()), \(junk()), \(junk())) RETURNING position",
                    logger: logger)
                var latePosition: Int64 = 0
                for try await position in rows.decode(Int64.self) { latePosition = position }
                // A later push commits first, and is heard.
                let first = try await writer.append([try f.alice.next()], to: space, quotaBytes: quota)
                #expect(try #require(first.storedPositions.first) > latePosition)
                let heard = try await collectNotices(in: stream, for: space, count: 1, within: .seconds(5))
                #expect(heard == Set(first.storedPositions))
                // LISTEN drops; the in-flight push commits meanwhile, its NOTIFY heard by nobody here.
                #expect(try await terminateListeners() >= 1)
                try await Task.sleep(for: .milliseconds(20))
                try await late.query("SELECT pg_notify(\(PostgresRelayStorage.notifyChannel), \(space.hex + ":" + String(latePosition)))", logger: logger)
                try await late.query("COMMIT", logger: logger)
                // The catch-up after the reconnect finds it below the highest position heard.
                let caught = try await collectNotices(in: stream, for: space, count: 1, within: .seconds(5), ignoring: heard)
                #expect(caught == [latePosition])
                // Nothing is announced twice: up to the next bundle, each position once.
                let after = try await writer.append([try f.alice.next()], to: space, quotaBytes: quota)
                let target = try #require(after.storedPositions.first)
                var seen: [Int64] = []
                for await notice in stream where notice.spaceID == space {
                    seen.append(notice.position)
                    if notice.position == target { break }
                }
                #expect(seen == [target], "announced again: \(seen)")
                try await late.query("DELETE FROM bundles WHERE position = \(latePosition)", logger: logger)
            }
        } catch {
            await listener.close()
            await writer.close()
            throw error
        }
        await listener.close()
        await writer.close()
    }

    @Test func racingRelaysStoreOneOfTwoForks() async throws {
        for round in 0..<5 {
            let first = try await openPostgres()
            let second = try await openPostgres()
            var f = try Fixture()
            let space = f.space
            var twin = TestAuthor(f.alice.membership)
            let one = try f.alice.next("one \(round)")
            let other = try twin.next("other \(round)")
            async let a = outcome { try await first.append([one], to: space, quotaBytes: quota) }
            async let b = outcome { try await second.append([other], to: space, quotaBytes: quota) }
            let results = await [a, b]
            let stored = results.compactMap { try? $0.get() }
            let refusals = results.compactMap { result -> RelayError? in
                if case .failure(let error) = result { return error as? RelayError }
                return nil
            }
            #expect(stored.count == 1 && stored.first?.stored == 1)
            #expect(refusals.count == 1 && refusals.first?.code == .fork)
            let rows = try await first.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 10)
            let winner = (try? results[0].get()) != nil ? one : other
            #expect(rows.map(\.id) == [winner.id])
            await first.close()
            await second.close()
        }
    }

    @Test func racingRelaysStoreTheSameBundlesOnce() async throws {
        for _ in 0..<5 {
            let first = try await openPostgres()
            let second = try await openPostgres()
            var f = try Fixture()
            let space = f.space
            let bundles = try f.alice.next(3)
            async let a = first.append(bundles, to: space, quotaBytes: quota)
            async let b = second.append(bundles, to: space, quotaBytes: quota)
            let summaries = try await [a, b]
            #expect(summaries.map(\.stored).sorted() == [0, 3])
            #expect(summaries.map(\.duplicates).sorted() == [0, 3])
            #expect(try await first.vector(of: space) == VersionVector([f.alice.key: 3]))
            #expect(try await second.usage(of: space) == Int64(bundles.reduce(0) { $0 + $1.bytes.count }))
            await first.close()
            await second.close()
        }
    }

    @Test func manyConcurrentOverlappingPushesStoreEachBundleOnce() async throws {
        let relays = [try await openPostgres(), try await openPostgres()]
        var f = try Fixture()
        let space = f.space
        let alice = try f.alice.next(10)
        let bob = try f.bob.next(10)
        let quota = self.quota
        // Every push is a prefix of one chain (so valid whatever is stored) or both chains.
        let pushes: [[ChangeBundle]] = (1...10).map { Array(alice.prefix($0)) } + (1...10).map { Array(bob.prefix($0)) } + [alice + bob]
        let summaries = await withTaskGroup(of: AppendSummary?.self) { group in
            for (index, push) in pushes.enumerated() {
                let relay = relays[index % 2]
                group.addTask { try? await relay.append(push, to: space, quotaBytes: quota) }
            }
            var all: [AppendSummary?] = []
            for await summary in group { all.append(summary) }
            return all
        }
        #expect(summaries.allSatisfy { $0 != nil })
        #expect(summaries.reduce(0) { $0 + ($1?.stored ?? 0) } == 20)
        let rows = try await relays[0].bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 100)
        #expect(Set(rows.map(\.id)) == Set((alice + bob).map(\.id)) && rows.count == 20)
        #expect(try await relays[1].vector(of: space) == VersionVector([f.alice.key: 10, f.bob.key: 10]))
        #expect(try await relays[1].usage(of: space) == Int64((alice + bob).reduce(0) { $0 + $1.bytes.count }))
        for relay in relays { await relay.close() }
    }

    @Test func racingAuthorsCannotTogetherPassTheQuota() async throws {
        let first = try await openPostgres()
        let second = try await openPostgres()
        var f = try Fixture()
        let space = f.space
        let fromAlice = try f.alice.next()
        let fromBob = try f.bob.next()
        // Each fits alone; both do not.
        let quota = Int64(max(fromAlice.bytes.count, fromBob.bytes.count) + min(fromAlice.bytes.count, fromBob.bytes.count) / 2)
        async let a = outcome { try await first.append([fromAlice], to: space, quotaBytes: quota) }
        async let b = outcome { try await second.append([fromBob], to: space, quotaBytes: quota) }
        let results = await [a, b]
        let refusals = results.compactMap { result -> RelayError? in
            if case .failure(let error) = result { return error as? RelayError }
            return nil
        }
        #expect(results.compactMap { try? $0.get() }.map(\.stored) == [1])
        #expect(refusals.map(\.code) == [.quotaExceeded])
        #expect(try await first.usage(of: space) <= quota)
        await first.close()
        await second.close()
    }

    @Test func twoRelaysStartingTogetherCreateTheSchemaOnce() async throws {
        async let a = openPostgres()
        async let b = openPostgres()
        async let c = openPostgres()
        for storage in try await [a, b, c] {
            try await storage.healthCheck()
            await storage.close()
        }
    }

    @Test func openParsesStorageURLs() async throws {
        var logger = Logger(label: "concord.test.open")
        logger.logLevel = .warning
        let storage = try await RelayStorageURL.open(try #require(postgresTestURL), logger: logger)
        #expect(storage.backendName == "postgres")
        await storage.close()
        let postgresql = try #require(postgresTestURL).replacingOccurrences(of: "postgres://", with: "postgresql://")
        let other = try await RelayStorageURL.open(postgresql, logger: logger)
        await other.close()
        await #expect(throws: RelayError.self) { try await RelayStorageURL.open("mysql://x", logger: logger) }
        await #expect(throws: RelayError.self) { try await RelayStorageURL.open("sqlite:", logger: logger) }
        await #expect(throws: RelayError.self) { try await RelayStorageURL.open("postgres:///nohost", logger: logger) }
    }
}

/// URL parsing needs no database.
@Suite struct PostgresRelayStorageURLTests {
    @Test func parsesEveryPart() throws {
        let url = try PostgresURL("postgres://relay:s%40cret@db.example:6543/concord?sslmode=require")
        #expect(url.host == "db.example" && url.port == 6543 && url.user == "relay")
        #expect(url.password == "s@cret" && url.database == "concord" && url.sslMode == "require")
        let defaults = try PostgresURL("postgresql://127.0.0.1")
        #expect(defaults.port == 5432 && defaults.user == "postgres" && defaults.password == nil && defaults.database == "postgres")
        #expect(defaults.sslMode == "prefer")
        #expect(throws: RelayError.self) { try PostgresURL("postgres://h/db?sslmode=verify-full") }
        #expect(throws: RelayError.self) { try PostgresURL("http://h/db") }
        #expect(PostgresURL.redacted("postgres://u:secret@h/db").contains("secret") == false)
    }

    @Test func noticePayloadsParse() throws {
        let space = Membership.createSpace().spaceID
        #expect(BundleNotice(payload: "\(space.hex):42") == BundleNotice(spaceID: space, position: 42))
        #expect(BundleNotice(payload: "nothex:42") == nil)
        #expect(BundleNotice(payload: "\(space.hex)") == nil)
    }
}

/// The first notice of `space` on `stream`, or a failure after `timeout`.
func firstNotice(in stream: AsyncStream<BundleNotice>, for space: SpaceID, within timeout: Duration) async throws -> BundleNotice {
    try await withThrowingTaskGroup(of: BundleNotice?.self) { group in
        group.addTask {
            for await notice in stream where notice.spaceID == space { return notice }
            return nil
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return try #require(first, "no notice for space \(space.shortDescription) within \(timeout)")
    }
}

/// The result of an async body, its error caught.
func outcome<T: Sendable>(_ body: @Sendable () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Terminates every `LISTEN` connection to the test database, as a network failure
/// would; returns how many.
func terminateListeners() async throws -> Int {
    try await withPostgresConnection(try PostgresURL(try #require(postgresTestURL))) { connection, logger in
        var terminated = 0
        let rows = try await connection.query(
            """
            SELECT count(pg_terminate_backend(pid))::int8 FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { terminated = Int(count) }
        return terminated
    }
}

/// The distinct positions of the first `count` notices of `space` not in `ignoring`,
/// failing after `timeout`.
func collectNotices(
    in stream: AsyncStream<BundleNotice>, for space: SpaceID, count: Int, within timeout: Duration, ignoring: Set<Int64> = []
) async throws -> Set<Int64> {
    try await withThrowingTaskGroup(of: Set<Int64>?.self) { group in
        group.addTask {
            var heard: Set<Int64> = []
            for await notice in stream where notice.spaceID == space && !ignoring.contains(notice.position) {
                heard.insert(notice.position)
                if heard.count == count { return heard }
            }
            return heard
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return try #require(first, "fewer than \(count) notices for space \(space.shortDescription) within \(timeout)")
    }
}

/// Whether `stream` finishes within `timeout`.
func streamEnds(_ stream: AsyncStream<BundleNotice>, within timeout: Duration) async throws -> Bool {
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
            for await _ in stream {}
            return true
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return false
        }
        let first = try await group.next() ?? false
        group.cancelAll()
        return first
    }
}
