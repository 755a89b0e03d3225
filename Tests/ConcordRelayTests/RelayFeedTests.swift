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
        let messages = Mutex<Int>(0)
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
                while received.bundles.withLock({ $0.count }) < expecting {
                    guard case .binary(let buffer) = try await messages.next() else { return }
                    let bundles = try BundleStreamFraming.frames(inMessage: Array(buffer: buffer))
                    received.bundles.withLock { $0 += bundles }
                    received.messages.withLock { $0 += 1 }
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

    @Test(arguments: StorageBackend.all) func aBusyFeedCoalescesAndAnIdleOneSendsAtOnce(_ backend: StorageBackend) async throws {
        let space = try TestSpace()
        var log = BundleLog()
        let burst = try makeBundles(space.alice, count: 40, log: &log)
        let late = try makeBundles(space.alice, count: 1, log: &log)
        // A window of a second: on a loaded machine a push can take longer than 0.2 s, and
        // then every bundle of the burst went out alone (seen twice under load 15-20).
        try await RelayHarness.with(backend, { $0.feedBatchWindow = 1.0 }) { relay in
            let alice = try await relay.login(space.alice)
            let carol = try await relay.login(space.carol)
            let received = try await Self.follow(relay, space.id, token: carol, expecting: 41) {
                // 40 pushes back to back: after the first goes out, the rest wait for the window.
                for bundle in burst { #expect(try await relay.push([bundle], to: space.id, token: alice).status == 200) }
                // Idle for longer than the window: the next bundle goes out at once.
                try await Task.sleep(for: .milliseconds(2_500))
                let start = ContinuousClock.now
                #expect(try await relay.push(late, to: space.id, token: alice).status == 200)
                // Printed, not asserted: a loaded machine stretches any wall-clock bound.
                // The order and batching checks below are what the window must keep.
                print("a push after an idle window was answered in \(ContinuousClock.now - start)")
            }
            #expect(received.bundles.withLock { $0 } == (burst + late).map(\.bytes), "in storage order, each once")
            let messages = received.messages.withLock { $0 }
            #expect(messages >= 2 && messages < 41, "\(messages) messages for 41 bundles")
            print("feed coalescing (\(backend.name)): 41 bundles in \(messages) messages")
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

    /// A message of `count` framed one-byte bundles, each byte `first`, `first + 1`, ….
    static func message(_ first: UInt8, count: Int = 1) -> FeedMessage {
        FeedMessage(frames: ByteBuffer(bytes: (0..<count).flatMap { BundleStreamFraming.frame([first + UInt8($0)]) }), bundles: count)
    }

    static func bundles(_ message: FeedMessage?) throws -> [[UInt8]] {
        try BundleStreamFraming.frames(inMessage: Array(buffer: try #require(message).frames))
    }

    @Test func slowSubscriberOverflows() async throws {
        let space = try TestSpace()
        let subscriber = FeedSubscriber(spaceID: space.id, backlog: 3)
        #expect(subscriber.offer(Self.message(1)))
        #expect(subscriber.offer(Self.message(2, count: 2)))
        #expect(!subscriber.offer(Self.message(4)))
        #expect(subscriber.hasOverflowed)
        // An overflowed queue sends nothing more: the connection closes with 4008.
        #expect(await subscriber.nextBatch(maxBytes: 1 << 20) == nil)
    }

    @Test func queuedMessagesGoOutJoinedWithinTheByteLimit() async throws {
        let space = try TestSpace()
        let subscriber = FeedSubscriber(spaceID: space.id, backlog: 100)
        let shared = Self.message(1)
        #expect(subscriber.offer(shared))
        #expect(subscriber.offer(Self.message(2)))
        #expect(subscriber.offer(Self.message(3, count: 3)))
        let first = await subscriber.nextBatch(maxBytes: 10)  // 5 bytes per frame: two fit
        #expect(try Self.bundles(first) == [[1], [2]] && first?.bundles == 2)
        #expect(shared.frames.readableBytes == 5, "joining must not touch the message other subscribers share")
        let rest = await subscriber.nextBatch(maxBytes: 10)  // one message larger than the limit goes alone
        #expect(try Self.bundles(rest) == [[3], [4], [5]] && rest?.bundles == 3)
    }

    @Test func aWaitingWriterWakesForTheNextMessageAndOnFinish() async throws {
        let space = try TestSpace()
        let subscriber = FeedSubscriber(spaceID: space.id, backlog: 10)
        let waiting = Task { await subscriber.nextBatch(maxBytes: 1 << 20) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(subscriber.offer(Self.message(7)))
        #expect(try Self.bundles(await waiting.value) == [[7]])
        let finished = Task { await subscriber.nextBatch(maxBytes: 1 << 20) }
        try await Task.sleep(for: .milliseconds(50))
        subscriber.finish()
        #expect(await finished.value == nil)
        let cancelled = Task { await FeedSubscriber(spaceID: space.id, backlog: 10).nextBatch(maxBytes: 1) }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
    }

    @Test func feedMessagesSplitIntoTheirFrames() throws {
        let message = BundleStreamFraming.frame([1, 2, 3]) + BundleStreamFraming.frame([4])
        #expect(try BundleStreamFraming.frames(inMessage: message) == [[1, 2, 3], [4]])
        for broken in [[], [0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 5, 1], BundleStreamFraming.frame([1]) + [0, 0]] as [[UInt8]] {
            #expect(throws: RelayProtocolError.self, "\(broken)") { try BundleStreamFraming.frames(inMessage: broken) }
        }
        #expect(throws: RelayProtocolError.self) { try BundleStreamFraming.frames(inMessage: BundleStreamFraming.frame([1, 2, 3]), maxFrameBytes: 2) }
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
