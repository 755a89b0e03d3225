import Concord
@testable import ConcordRelay
import ConcordSync
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing
import WSClient

/// §5: the live feed over a real WebSocket.
@Suite struct RelayFeedTests {
    /// What the test client saw on a feed.
    final class Received: Sendable {
        let ready = Mutex<Bool>(false)
        let bundles = Mutex<[[UInt8]]>([])
        let closeCode = Mutex<Int?>(nil)
    }

    /// Connects to the feed, waits for `ready`, runs `afterReady`, then reads `expecting`
    /// binary messages and closes.
    static func follow(
        _ relay: RelayHarness, _ space: SpaceID, token: String, inQuery: Bool = false, expecting: Int,
        afterReady: @escaping @Sendable () async throws -> Void
    ) async throws -> Received {
        let received = Received()
        var address = "ws://127.0.0.1:\(relay.port)\(RelayAPI.path(space, "feed"))"
        var fields = HTTPFields()
        if inQuery { address += "?token=\(token)" } else { fields[.authorization] = "Bearer \(token)" }
        let url = address
        let headers = fields
        let frame = try await withDeadline(seconds: 30) {
            try await WebSocketClient.connect(
                url: url, configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 20, additionalHeaders: headers),
                logger: Logger(label: "feed-test")
            ) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let text) = try await messages.next() else { return }
                received.ready.withLock { $0 = text == #"{"type":"ready"}"# }
                try await afterReady()
                for _ in 0..<expecting {
                    guard case .binary(let buffer) = try await messages.next() else { return }
                    received.bundles.withLock { $0.append(Array(buffer: buffer)) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
        received.closeCode.withLock { $0 = frame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) } }
        return received
    }

    @Test(arguments: StorageBackend.all) func feedDeliversBundlesPushedAfterReady(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        var log = BundleLog()
        let a = try makeBundles(space.alice, count: 3, log: &log)
        let b = try makeBundles(space.bob, count: 1)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            let bob = try await relay.login(space.bob)
            let carol = try await relay.login(space.carol)
            _ = try await relay.push([a[0]], to: space.id, token: alice)  // before subscribing: not on the feed
            let received = try await Self.follow(relay, space.id, token: carol, expecting: 3) {
                let first = try await relay.push([a[1], a[2]], to: space.id, token: alice)
                let second = try await relay.push(b, to: space.id, token: bob)
                #expect(first.status == 200 && second.status == 200)
            }
            #expect(received.ready.withLock { $0 })
            #expect(received.bundles.withLock { $0 } == [a[1].bytes, a[2].bytes, b[0].bytes])
        }
    }

    @Test(arguments: StorageBackend.all) func feedTakesTheTokenInTheQuery(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 1)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            let received = try await Self.follow(relay, space.id, token: alice, inQuery: true, expecting: 1) {
                _ = try await relay.push(a, to: space.id, token: alice)
            }
            #expect(received.bundles.withLock { $0 } == [a[0].bytes])
        }
    }

    @Test(arguments: StorageBackend.all) func feedOfAnotherSpaceSeesNothing(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let a = try makeBundles(space.alice, count: 1)
        let m = try makeBundles(space.mallory, count: 1)
        try await RelayHarness.with(backend) { relay in
            let alice = try await relay.login(space.alice)
            let mallory = try await relay.login(space.mallory)
            let received = try await Self.follow(relay, space.id, token: alice, expecting: 1) {
                _ = try await relay.push(m, to: space.mallory.spaceID, token: mallory)
                _ = try await relay.push(a, to: space.id, token: alice)
            }
            #expect(received.bundles.withLock { $0 } == [a[0].bytes])
        }
    }

    @Test(arguments: StorageBackend.all) func feedWithoutSessionIs401(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend) { relay in
            let answer = try await relay.request(.GET, RelayAPI.path(space.id, "feed"))
            #expect(answer.status == 401)
            #expect(try answer.error().error == "unauthenticated")
        }
    }

    @Test(arguments: StorageBackend.all) func slowSubscriberOverflows(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        let subscriber = FeedSubscriber(spaceID: space.id, backlog: 2)
        #expect(subscriber.offer([1]))
        #expect(subscriber.offer([2]))
        #expect(!subscriber.offer([3]))
        #expect(subscriber.hasOverflowed)
        var seen: [[UInt8]] = []
        for await bytes in subscriber.stream { seen.append(bytes) }
        #expect(seen == [[1], [2]])
    }
}

/// Runs `body`, failing with `CancellationError` after `seconds`.
func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next(), let value = result else {
            Issue.record("timed out after \(seconds) s")
            throw CancellationError()
        }
        return value
    }
}

/// §5: a feed whose session expires is closed with 4001.
@Suite struct RelayFeedExpiryTests {
    @Test(arguments: StorageBackend.all) func expiredSessionClosesTheFeedWith4001(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        try await RelayHarness.with(backend, { $0.sessionLifetime = 4 }) { relay in
            let carol = try await relay.login(space.carol)
            let received = try await RelayFeedTests.follow(relay, space.id, token: carol, expecting: 1) {}
            #expect(received.ready.withLock { $0 })
            #expect(received.bundles.withLock { $0 }.isEmpty)
            #expect(received.closeCode.withLock { $0 } == 4001)
        }
    }
}
