import AsyncHTTPClient
import Concord
@testable import ConcordRelay
import ConcordSync
import Foundation
import Logging
import NIOCore
import Testing

/// Concurrency, streaming limits, storage failures and the fan-out hub.
@Suite struct RelayServerRobustnessTests {
    /// A storage that answers nothing: every call throws.
    struct BrokenStorage: RelayStorage {
        struct Failure: Error {}
        var backendName: String { "broken" }
        func append(_ bundles: [ChangeBundle], to spaceID: SpaceID, quotaBytes: Int64) async throws -> AppendSummary { throw Failure() }
        func vector(of spaceID: SpaceID) async throws -> VersionVector { throw Failure() }
        func bundles(in spaceID: SpaceID, since: VersionVector, afterPosition: Int64, limit: Int) async throws -> [ConcordRelay.StoredBundle] { throw Failure() }
        func bundle(at position: Int64) async throws -> ConcordRelay.StoredBundle? { throw Failure() }
        func usage(of spaceID: SpaceID) async throws -> Int64 { throw Failure() }
        func notices() async throws -> AsyncStream<BundleNotice> { AsyncStream { $0.finish() } }
        func healthCheck() async throws { throw Failure() }
        func close() async {}
    }

    @Test func brokenStorageIs503OnHealthAnd500Elsewhere() async throws {
        let space = try TestSpace()
        try await RelayHarness.with(storage: { _ in BrokenStorage() }) { relay in
            let health = try await relay.request(.GET, "/healthz")
            #expect(health.status == 503)
            #expect(try health.error().error == "unavailable")
            let token = try await relay.login(space.alice)
            let vector = try await relay.request(.GET, RelayAPI.path(space.id, "vector"), token: token)
            #expect(vector.status == 500)
            let body = try vector.error()
            #expect(body.error == "internal" && !body.message.contains("Failure"))
        }
    }

    @Test func concurrentPushesOfTheSameBundlesStoreEachOnce() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 20)
        try await RelayHarness.with { relay in
            let alice = try await relay.login(space.alice)
            let bob = try await relay.login(space.bob)
            let results = try await withThrowingTaskGroup(of: RelayAPI.PushResponse.self) { group in
                for token in [alice, bob, alice, bob] {
                    group.addTask { try await relay.push(a, to: space.id, token: token).json(RelayAPI.PushResponse.self) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.map(\.stored).reduce(0, +) == 20)
            #expect(results.map(\.duplicates).reduce(0, +) == 60)
            #expect(try await relay.pull(space.id, token: alice) == a.map(\.bytes))
        }
    }

    @Test func streamedBodyAboveTheLimitIs413() async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 6, payloadBytes: 600)
        try await RelayHarness.with({ $0.maxRequestBytes = 2048 }) { relay in
            let alice = try await relay.login(space.alice)
            // No Content-Length: the relay counts bytes as they arrive.
            let stream = BundleStreamFraming.encode(a.map(\.bytes))
            var request = HTTPClientRequest(url: relay.baseURL + RelayAPI.path(space.id, "bundles"))
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(alice)")
            let chunks = stride(from: 0, to: stream.count, by: 512).map { ByteBuffer(bytes: stream[$0..<min(stream.count, $0 + 512)]) }
            request.body = .stream(chunks.async, length: .unknown)
            do {
                let response = try await relay.http.execute(request, timeout: .seconds(30))
                #expect(response.status.code == 413)
                _ = try await response.body.collect(upTo: 1 << 20)
            } catch {
                // The relay may close the connection before the client finished sending;
                // either way nothing is stored.
            }
            #expect(try await relay.snapshot(space.id).bundles.isEmpty)
            #expect(try await relay.push([a[0]], to: space.id, token: alice).status == 200)
        }
    }
}
