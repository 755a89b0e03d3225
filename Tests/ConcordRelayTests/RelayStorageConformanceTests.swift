import Concord
import ConcordCrypto
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import ConcordRelay

/// A storage backend under test: how to open a fresh, empty one and how to dispose of it.
struct StorageBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable () async throws -> (storage: any RelayStorage, dispose: @Sendable () async -> Void)

    var testDescription: String { name }

    /// SQLite in a temporary directory.
    static let sqlite = StorageBackend(name: "sqlite") {
        let directory = try TemporaryDirectory()
        let storage = try SQLiteRelayStorage(path: directory.path("relay.sqlite"))
        return (storage, {
            await storage.close()
            directory.cleanUp()
        })
    }

    /// PostgreSQL in a database of its own, created for the test and dropped after it,
    /// so positions and notices of concurrent tests never mix.
    static let postgres = StorageBackend(name: "postgres") {
        let base = try PostgresURL(try #require(postgresTestURL))
        let database = "concord_conformance_\(UInt64.random(in: 0...UInt64.max))"
        try await postgresAdmin(base, "CREATE DATABASE \(database)")
        var url = URLComponents(string: try #require(postgresTestURL))!
        url.path = "/" + database
        var logger = Logger(label: "concord.test.conformance")
        logger.logLevel = .warning
        let storage = try await PostgresRelayStorage(url: url.string!, logger: logger)
        return (storage, {
            await storage.close()
            try? await postgresAdmin(base, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        })
    }

    /// Every backend the conformance suite runs against: SQLite always, PostgreSQL when
    /// `CONCORD_TEST_POSTGRES_URL` is set (`make test` starts one).
    static var all: [StorageBackend] { postgresTestURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// Opens a fresh storage, runs `body`, disposes of it.
    func with(_ body: (any RelayStorage) async throws -> Void) async throws {
        let (storage, dispose) = try await open()
        do {
            try await body(storage)
            await dispose()
        } catch {
            await dispose()
            throw error
        }
    }
}

/// Runs `body` on a connection of its own to `url`'s database, and closes it however
/// `body` ends (PostgresNIO asserts that a connection is closed before it is released).
func withPostgresConnection<R>(_ url: PostgresURL, _ body: (PostgresConnection, Logger) async throws -> R) async throws -> R {
    let configuration = PostgresConnection.Configuration(
        host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: .disable)
    var logger = Logger(label: "concord.test.postgres.admin")
    logger.logLevel = .warning
    let connection = try await PostgresConnection.connect(configuration: configuration, id: 98, logger: logger)
    do {
        let result = try await body(connection, logger)
        try await connection.close()
        return result
    } catch {
        try? await connection.close()
        throw error
    }
}

/// Runs one administrative statement (CREATE/DROP DATABASE) on the test cluster.
func postgresAdmin(_ url: PostgresURL, _ sql: String) async throws {
    try await withPostgresConnection(url) { connection, logger in
        _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}

/// The `RelayStorage` contract (`Specs/relay-api.md` §4, §7), run against every backend.
@Suite struct RelayStorageConformanceTests {
    static let quota: Int64 = 1 << 30

    /// Everything the storage holds for a space.
    static func everything(_ storage: any RelayStorage, _ space: SpaceID) async throws -> [ConcordRelay.StoredBundle] {
        try await storage.bundles(in: space, since: VersionVector(), afterPosition: 0, limit: 100_000)
    }

    @Test(arguments: StorageBackend.all) func appendThenReadBack(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        let b = try makeBundles(space.bob, count: 2)
        try await backend.with { storage in
            let summary = try await storage.append([a[0], b[0], a[1], a[2], b[1]], to: space.id, quotaBytes: Self.quota)
            #expect(summary.stored == 5 && summary.duplicates == 0)
            #expect(summary.storedPositions == summary.storedPositions.sorted() && Set(summary.storedPositions).count == 5)
            #expect(try await storage.vector(of: space.id) == VersionVector([space.alice.device.publicKey: 3, space.bob.device.publicKey: 2]))
            #expect(try await storage.usage(of: space.id) == Int64((a + b).reduce(0) { $0 + $1.bytes.count }))
            let stored = try await Self.everything(storage, space.id)
            #expect(stored.map(\.bytes) == [a[0], b[0], a[1], a[2], b[1]].map(\.bytes))
            #expect(stored.map(\.position) == summary.storedPositions)
            let first = try #require(try await storage.bundle(at: summary.storedPositions[0]))
            #expect(first.id == a[0].id && first.author == space.alice.device.publicKey && first.sequence == 1 && first.previous == .zero)
            #expect(first.spaceID == space.id)
            #expect(try await storage.bundle(at: summary.storedPositions.last! + 1000) == nil)
            // Another space is untouched.
            #expect(try await storage.vector(of: space.mallory.spaceID) == VersionVector())
            #expect(try await storage.usage(of: space.mallory.spaceID) == 0)
        }
    }

    @Test(arguments: StorageBackend.all) func duplicatesAreCountedNotStored(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        try await backend.with { storage in
            _ = try await storage.append(Array(a[0...1]), to: space.id, quotaBytes: Self.quota)
            let usage = try await storage.usage(of: space.id)
            let again = try await storage.append([a[0], a[1], a[2], a[2]], to: space.id, quotaBytes: Self.quota)
            #expect(again.stored == 1 && again.duplicates == 3)
            #expect(try await storage.usage(of: space.id) == usage + Int64(a[2].bytes.count))
            #expect(try await Self.everything(storage, space.id).map(\.bytes) == a.map(\.bytes))
        }
    }

    @Test(arguments: StorageBackend.all) func forkIsRefusedAndNothingIsStored(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 2)
        let other = try makeBundles(space.alice, count: 1)  // another sequence 1 of the same device
        let b = try makeBundles(space.bob, count: 1)
        try await backend.with { storage in
            _ = try await storage.append([a[0]], to: space.id, quotaBytes: Self.quota)
            let before = try await Self.everything(storage, space.id)
            let error = await #expect(throws: RelayError.self) {
                try await storage.append([b[0], other[0]], to: space.id, quotaBytes: Self.quota)
            }
            #expect(error?.code == .fork)
            #expect(error?.forkedBundle?.stored == a[0].id && error?.forkedBundle?.pushed == other[0].id)
            #expect(try await Self.everything(storage, space.id) == before)
            // A fork inside one push is refused too.
            let inPush = await #expect(throws: RelayError.self) {
                try await storage.append([b[0], a[1], b[0]] + [try makeBundles(space.bob, count: 1)[0]], to: space.id, quotaBytes: Self.quota)
            }
            #expect(inPush?.code == .fork)
            #expect(try await Self.everything(storage, space.id) == before)
        }
    }

    @Test(arguments: StorageBackend.all) func gapsNameTheExpectedSequenceAndAWrongPreviousIsAFork(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 4)
        try await backend.with { storage in
            let gap = await #expect(throws: RelayError.self) {
                try await storage.append([a[1]], to: space.id, quotaBytes: Self.quota)
            }
            #expect(gap?.code == .missingPredecessor)
            #expect(gap?.expected?.author == space.alice.device.publicKey && gap?.expected?.sequence == 1)
            _ = try await storage.append([a[0]], to: space.id, quotaBytes: Self.quota)
            let later = await #expect(throws: RelayError.self) {
                try await storage.append([a[1], a[3]], to: space.id, quotaBytes: Self.quota)
            }
            #expect(later?.expected?.sequence == 3)
            #expect(try await storage.vector(of: space.id) == VersionVector([space.alice.device.publicKey: 1]))
            // Sequence 2 whose previous is not the stored head: Alice's history forked at 1
            // (a copy of her store signed another bundle 1), not a gap (issue 12.2).
            var log = BundleLog()
            let stranger = try makeBundles(space.alice, count: 2, log: &log)
            let wrongPrevious = await #expect(throws: RelayError.self) {
                try await storage.append([stranger[1]], to: space.id, quotaBytes: Self.quota)
            }
            #expect(wrongPrevious?.code == .fork, "\(String(describing: wrongPrevious))")
            #expect(wrongPrevious?.expected?.author == space.alice.device.publicKey && wrongPrevious?.expected?.sequence == 1)
            #expect(wrongPrevious?.forkedBundle?.stored == a[0].id && wrongPrevious?.forkedBundle?.pushed == stranger[0].id)
            #expect(try await Self.everything(storage, space.id).map(\.bytes) == [a[0].bytes])
        }
    }

    @Test(arguments: StorageBackend.all) func quotaIsAllOrNothing(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        let quota = Int64(a[0].bytes.count + a[1].bytes.count)
        try await backend.with { storage in
            _ = try await storage.append([a[0]], to: space.id, quotaBytes: quota)
            let error = await #expect(throws: RelayError.self) {
                try await storage.append([a[1], a[2]], to: space.id, quotaBytes: quota)
            }
            #expect(error?.code == .quotaExceeded)
            #expect(try await storage.usage(of: space.id) == Int64(a[0].bytes.count))
            // Duplicates cost nothing; exactly reaching the quota is allowed.
            let fits = try await storage.append([a[0], a[1]], to: space.id, quotaBytes: quota)
            #expect(fits.stored == 1 && fits.duplicates == 1)
            #expect(try await storage.usage(of: space.id) == quota)
        }
    }

    @Test(arguments: StorageBackend.all) func pagesFollowSinceAndPosition(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 5)
        let b = try makeBundles(space.bob, count: 5)
        let interleaved = zip(a, b).flatMap { [$0, $1] }
        try await backend.with { storage in
            _ = try await storage.append(interleaved, to: space.id, quotaBytes: Self.quota)
            let since = VersionVector([space.alice.device.publicKey: 3])
            var pulled: [ConcordRelay.StoredBundle] = []
            var after: Int64 = 0
            while true {
                let page = try await storage.bundles(in: space.id, since: since, afterPosition: after, limit: 2)
                #expect(page.count <= 2)
                guard let last = page.last else { break }
                pulled += page
                after = last.position
            }
            let expected = interleaved.filter { $0.author != space.alice.device.publicKey || $0.sequence > 3 }
            #expect(pulled.map(\.bytes) == expected.map(\.bytes))
            #expect(pulled.map(\.position) == pulled.map(\.position).sorted())
            let none = try await storage.bundles(in: space.id, since: VersionVector([space.alice.device.publicKey: 5, space.bob.device.publicKey: 5]), afterPosition: 0, limit: 100)
            #expect(none.isEmpty)
            #expect(try await storage.bundles(in: space.mallory.spaceID, since: VersionVector(), afterPosition: 0, limit: 100).isEmpty)
        }
    }

    @Test(arguments: StorageBackend.all) func noticesFollowCommits(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 3)
        try await backend.with { storage in
            let notices = try await storage.notices()
            let refused = try await storage.notices()
            _ = refused  // a second subscriber gets its own copy
            let summary = try await storage.append(a, to: space.id, quotaBytes: Self.quota)
            _ = try? await storage.append([a[0], try makeBundles(space.alice, count: 1)[0]], to: space.id, quotaBytes: Self.quota)  // refused: no notice
            let b = try makeBundles(space.bob, count: 1)
            let second = try await storage.append(b, to: space.id, quotaBytes: Self.quota)
            var received: [BundleNotice] = []
            for await notice in notices {
                received.append(notice)
                if received.count == 4 { break }
            }
            #expect(received == (summary.storedPositions + second.storedPositions).map { BundleNotice(spaceID: space.id, position: $0) })
            var other: [BundleNotice] = []
            for await notice in refused {
                other.append(notice)
                if other.count == 4 { break }
            }
            #expect(other == received)
        }
    }
}
