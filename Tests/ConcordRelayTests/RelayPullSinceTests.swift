import Concord
import ConcordCrypto
import ConcordSync
import Foundation
import Testing

@testable import ConcordRelay

/// §4: a pull's `since` vector is bounded, and its authors the space does not have are
/// ignored (they cost a dictionary entry, never a scan).
@Suite struct RelayPullSinceTests {
    /// A pull request body naming `since`.
    static func pullBody(_ since: [String: UInt64]) throws -> [UInt8] {
        Array(try JSONEncoder().encode(RelayAPI.PullRequest(since: since)))
    }

    @Test(
        "regression: a since vector naming more authors than a space may hold is 413 before it is parsed, and counted",
        arguments: StorageBackend.all)
    func sinceIsBounded(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend, { $0.maxAuthorsPerSpace = 50 }) { relay in
            let alice = try await relay.login(space.alice)
            // 51 names fit the byte bound (96 bytes an entry) but not the author bound.
            let tooMany = Dictionary(uniqueKeysWithValues: (0..<51).map { _ in (Identity().publicKey.hex, UInt64(1)) })
            let counted = try await relay.request(
                .POST, RelayAPI.path(space.id, "pull"), token: alice, body: try Self.pullBody(tooMany), contentType: "application/json")
            #expect(counted.status == 413)
            #expect(try counted.error().error == "too-large")
            // Thousands of names (the 13.5 MB since of the report, scaled down) are refused by size.
            let huge = Dictionary(uniqueKeysWithValues: (0..<2000).map { _ in (Identity().publicKey.hex, UInt64.max) })
            let sized = try await relay.request(
                .POST, RelayAPI.path(space.id, "pull"), token: alice, body: try Self.pullBody(huge), contentType: "application/json")
            #expect(sized.status == 413)
            #expect(try sized.error().message.contains("at most 50 authors"))
            #expect(try await relay.request(.GET, "/metrics").text.contains(#"concord_relay_refusals_total{code="too-large"} 2"#))
        }
    }

    @Test(
        "authors of since the space does not have are ignored; the pull starts at the first bundle the client lacks",
        arguments: StorageBackend.all)
    func unknownAuthorsAreIgnored(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        var aliceLog = BundleLog()
        let a = try makeBundles(space.alice, count: 4, log: &aliceLog)
        let b = try makeBundles(space.bob, count: 2)
        try await RelayHarness.with(backend, { $0.pullPageSize = 2 }) { relay in
            let alice = try await relay.login(space.alice)
            #expect(try await relay.push([a[0], a[1], b[0], a[2], b[1], a[3]], to: space.id, token: alice).status == 200)
            var since: [String: UInt64] = [space.alice.device.publicKey.hex: 3]
            for _ in 0..<40 { since[Identity().publicKey.hex] = 7 }
            let answer = try await relay.request(
                .POST, RelayAPI.path(space.id, "pull"), token: alice, body: try Self.pullBody(since), contentType: "application/json")
            #expect(answer.status == 200)
            var decoder = BundleStreamFraming.Decoder()
            decoder.append(answer.body)
            var frames: [[UInt8]] = []
            while let frame = try decoder.next() { frames.append(frame) }
            #expect(decoder.isFinished)
            #expect(frames == [b[0], b[1], a[3]].map(\.bytes))
            // A client that holds everything gets the end marker alone.
            let full = [space.alice.device.publicKey: UInt64(4), space.bob.device.publicKey: 2]
            #expect(try await relay.pull(space.id, token: alice, since: VersionVector(full)).isEmpty)
        }
    }

    @Test(
        "pullStart: nil when the client holds everything, else one below the first bundle it lacks; unknown authors cost nothing",
        arguments: StorageBackend.all)
    func pullStartConformance(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        var aliceLog = BundleLog()
        let a = try makeBundles(space.alice, count: 3, log: &aliceLog)
        let b = try makeBundles(space.bob, count: 3)
        try await backend.with { storage in
            #expect(try await storage.pullStart(in: space.id, since: VersionVector()) == nil)
            let summary = try await storage.append([a[0], b[0], a[1], b[1], a[2], b[2]], to: space.id, quotaBytes: 1 << 30)
            let positions = summary.storedPositions
            let alice = space.alice.device.publicKey
            let bob = space.bob.device.publicKey
            #expect(try await storage.pullStart(in: space.id, since: VersionVector()) == positions[0] - 1)
            #expect(try await storage.pullStart(in: space.id, since: VersionVector([alice: 3, bob: 3])) == nil)
            #expect(try await storage.pullStart(in: space.id, since: VersionVector([alice: 2, bob: 3])) == positions[4] - 1)
            #expect(try await storage.pullStart(in: space.id, since: VersionVector([alice: 3, bob: 1])) == positions[3] - 1)
            #expect(try await storage.pullStart(in: space.id, since: VersionVector([alice: 3, bob: 3, Identity().publicKey: 9])) == nil)
            #expect(try await storage.pullStart(in: space.id, since: VersionVector([Identity().publicKey: 9])) == positions[0] - 1)
            #expect(try await storage.pullStart(in: space.mallory.spaceID, since: VersionVector([alice: 1])) == nil)
            let page = try await storage.bundles(
                in: space.id, since: VersionVector([alice: 2, bob: 3]), afterPosition: positions[4] - 1, limit: 10)
            #expect(page.map(\.bytes) == [a[2].bytes])
        }
    }

    @Test(
        "the client's since names only authors the relay's vector names, so a replica that knows more authors than the relay allows still pulls"
    )
    func clientSinceNamesOnlyTheRelaysAuthors() async throws {
        try await RelayHarness.with({ $0.maxAuthorsPerSpace = 1 }) { relay in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let x = try Replica.createWithoutMembers(at: directory.path("x"))
            let y = try Replica.join(try await x.invite(), at: directory.path("y"))
            let z = try Replica.join(try await x.invite(), at: directory.path("z"))
            for replica in [x, y, z] {
                try await replica.write { try $0.set("n", to: "from a device", record: RecordID.random(), in: "notes") }
                try await replica.seal()
            }
            // X holds Z's bundle (say, from a file); the relay only ever sees Y.
            for try await bundle in try await z.bundles() { _ = try await x.import(bundle.bytes) }
            let url = URL(string: relay.baseURL)!
            try await RelayClient(replica: y, relay: url, logger: RelayManyAuthorsTests.quietLogger).push()
            // X's own vector names X and Z: sent whole, it would pass the relay's bound.
            let summary = try await RelayClient(replica: x, relay: url, logger: RelayManyAuthorsTests.quietLogger).pull()
            #expect(summary.applied == 1)
            #expect(try await x.versionVector()[y.membership.device.publicKey] == 1)
        }
    }
}
