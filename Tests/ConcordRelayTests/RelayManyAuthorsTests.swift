import Concord
import ConcordCrypto
import ConcordSync
import Foundation
import Logging
import Testing

@testable import ConcordRelay

/// §3, §4, §6: a space with many authors keeps syncing; authors per space are bounded; a
/// pull's `since` vector is bounded and costs nothing for authors the space lacks.
@Suite struct RelayManyAuthorsTests {
    /// `count` bundles of `count` distinct fresh device keys, claiming `space` (storage
    /// does not verify, so minting them is cheap: one key and one signature each).
    static func strangers(_ count: Int, in space: SpaceID) throws -> [ChangeBundle] {
        let certificates = Membership.createSpace().certificates!
        return try (0..<count).map { _ in try forgeBundle(spaceID: space, signer: Identity(), certificates: certificates) }
    }

    /// Appends bundles straight to storage, 2,000 per transaction.
    static func fill(_ storage: any RelayStorage, _ bundles: [ChangeBundle], space: SpaceID) async throws {
        for start in stride(from: 0, to: bundles.count, by: 2000) {
            _ = try await storage.append(Array(bundles[start..<min(bundles.count, start + 2000)]), to: space, quotaBytes: 1 << 30)
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "concord.sync.test")
        logger.logLevel = .critical
        return logger
    }

    @Test("regression: a space with 16,000 authors (a 1.2 MB vector) keeps syncing: the client reads the vector in pages and pushes")
    func sixteenThousandAuthorsKeepSyncing() async throws {
        try await RelayHarness.with({ $0.maxAuthorsPerSpace = 20_000 }) { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let replica = try Replica.createWithoutMembers(at: directory.path("device"))
            try await Self.fill(relay.storage, try Self.strangers(16_000, in: replica.spaceID), space: replica.spaceID)
            try await replica.write { try $0.set("title", to: "mine", record: RecordID.random(), in: "notes") }
            let client = RelayClient(replica: replica, relay: URL(string: relay.baseURL)!, logger: Self.quietLogger)
            // Before: GET vector answered one 1.2 MB JSON object, and the client's 1 MiB
            // read limit failed every round with NIOTooManyBytesError.
            let vector = try await client.vector()
            #expect(vector.entries.count == 16_000)
            let pushed = try await client.push()
            #expect(pushed.stored == 1)
            #expect(try await client.vector().entries.count == 16_001)
        }
    }

    @Test(
        "GET vector is paged: at most vectorPageSize authors per answer, in author order, with next; after and limit are checked",
        arguments: StorageBackend.all)
    func vectorIsPaged(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend, { $0.vectorPageSize = 3 }) { relay in
            let bundles = try Self.strangers(10, in: space.id)
            _ = try await relay.storage.append(bundles, to: space.id, quotaBytes: 1 << 30)
            let alice = try await relay.login(space.alice)
            let first = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: alice).json(RelayAPI.VectorPage.self)
            let sorted = bundles.map(\.author).sorted()
            #expect(first.vector == Dictionary(uniqueKeysWithValues: sorted.prefix(3).map { ($0.hex, UInt64(1)) }))
            #expect(first.next == sorted[2].hex)
            let limited = try await relay.request(.GET, RelayAPI.path(space.id, "vector") + "?after=\(sorted[2].hex)&limit=2", token: alice)
                .json(RelayAPI.VectorPage.self)
            #expect(limited.vector.keys.sorted() == [sorted[3].hex, sorted[4].hex] && limited.next == sorted[4].hex)
            let last = try await relay.request(.GET, RelayAPI.path(space.id, "vector") + "?after=\(sorted[8].hex)", token: alice)
                .json(RelayAPI.VectorPage.self)
            #expect(last.vector.keys.sorted() == [sorted[9].hex] && last.next == nil)
            #expect(
                try await relay.vector(space.id, token: alice)
                    == VersionVector(Dictionary(uniqueKeysWithValues: sorted.map { ($0, UInt64(1)) })))
            for query in ["?after=xyz", "?limit=0", "?limit=many"] {
                let refused = try await relay.request(.GET, RelayAPI.path(space.id, "vector") + query, token: alice)
                #expect(refused.status == 400, "\(query)")
                #expect(try refused.error().error == "bad-request")
            }
        }
    }

    @Test(
        "authors per space are bounded: a push bringing one too many is 507 too-many-authors, counted; known authors keep pushing",
        arguments: StorageBackend.all)
    func authorsPerSpaceAreBounded(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let dave = try Membership.join(try space.alice.writerInvite())
        var aliceLog = BundleLog()
        let a = try makeBundles(space.alice, count: 2, log: &aliceLog)
        let b = try makeBundles(space.bob, count: 1)
        let d = try makeBundles(dave, count: 1)
        try await RelayHarness.with(backend, { $0.maxAuthorsPerSpace = 2 }) { relay in
            let alice = try await relay.login(space.alice)
            #expect(try await relay.push([a[0]], to: space.id, token: alice).status == 200)
            #expect(try await relay.push(b, to: space.id, token: try await relay.login(space.bob)).status == 200)
            let before = try await relay.snapshot(space.id)
            let refused = try await relay.push(d, to: space.id, token: try await relay.login(dave))
            #expect(refused.status == 507)
            let body = try refused.error()
            #expect(body.error == "too-many-authors" && body.message.contains("2 devices"), "\(body.message)")
            #expect(try await relay.snapshot(space.id) == before)
            #expect(try await relay.push([a[1]], to: space.id, token: alice).status == 200)
            #expect(try await relay.request(.GET, "/metrics").text.contains(#"concord_relay_refusals_total{code="too-many-authors"} 1"#))
        }
    }

    @Test(
        "storage refuses a new author past maxAuthors with a typed error and stores nothing; known authors go on, even under a lowered limit",
        arguments: StorageBackend.all)
    func storageBoundsAuthors(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let certificates = Membership.createSpace().certificates!
        let signers = (0..<3).map { _ in Identity() }
        let first = try signers.map { try forgeBundle(spaceID: space.id, signer: $0, certificates: certificates) }
        try await backend.with { storage in
            _ = try await storage.append(first, to: space.id, limits: SpaceLimits(quotaBytes: 1 << 30, maxAuthors: 3))
            let error = await #expect(throws: RelayError.self) {
                try await storage.append(
                    try Self.strangers(1, in: space.id), to: space.id, limits: SpaceLimits(quotaBytes: 1 << 30, maxAuthors: 3))
            }
            #expect(error?.code == .tooManyAuthors)
            #expect(try await storage.vector(of: space.id).entries.count == 3)
            let second = try forgeBundle(
                spaceID: space.id, signer: signers[0], certificates: certificates, sequence: 2, previous: first[0].id)
            let summary = try await storage.append([second], to: space.id, limits: SpaceLimits(quotaBytes: 1 << 30, maxAuthors: 2))
            #expect(summary.stored == 1)
            #expect(try await storage.vector(of: space.id)[signers[0].publicKey] == 2)
        }
    }
}
