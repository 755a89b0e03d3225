import ConcordCore
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket

extension RelayServer {
    /// The close code for a subscriber that fell more than `maxFeedBacklog` behind.
    static let tooSlowCloseCode = WebSocketErrorCode(codeNumber: 4008)
    /// The close code for a session that expired.
    static let sessionExpiredCloseCode = WebSocketErrorCode(codeNumber: 4001)
    /// The close code for a device removed from its space (spaces with members, `Specs/membership.md` §8).
    static let removedCloseCode = WebSocketErrorCode(codeNumber: 4003)

    /// Authenticates the upgrade request of `GET …/feed`; refusals are JSON like any other.
    func shouldUpgradeFeed(_ request: Request, _ context: some RequestContext) throws -> RouterShouldUpgrade {
        _ = try authorize(request, context, allowQueryToken: true)
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw RelayError(.malformedRequest, "the feed is a WebSocket: connect with Upgrade: websocket (Specs/relay-api.md §5)")
        }
        return .upgrade([:])
    }

    /// The live feed (§5): `{"type":"ready"}` once subscribed, then binary messages of
    /// framed bundles (one or more each, in storage order), until the client leaves, falls behind (4008), its session expires (4001)
    /// or, in a space with members, its device is removed (4003).
    func feed(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter,
        _ context: WebSocketRouterContext<RelayRequestContext>, hub: FeedHub
    ) async throws {
        let session: RelaySession
        let space: SpaceID
        do {
            (space, session) = try authorize(context.request, context.requestContext, allowQueryToken: true, charge: false)
        } catch {
            try await outbound.close(Self.sessionExpiredCloseCode, reason: "session expired; authenticate again")
            return
        }
        do {
            try await recheck(session, in: space)
        } catch let error as RelayError {
            try await outbound.close(Self.removedCloseCode, reason: String(error.message.prefix(120)))
            return
        }
        let subscriber = FeedSubscriber(spaceID: space, backlog: configuration.maxFeedBacklog)
        hub.add(subscriber)
        defer { hub.remove(subscriber) }
        try await outbound.writeTextMessage(#"{"type":"ready"}"#)
        let metrics = metrics
        let logger = logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Client messages are ignored; the loop ends when the client closes.
                for try await _ in inbound {}
            }
            group.addTask {
                // Whatever queued while the previous write was in flight goes out as one
                // message: under load, fewer and larger writes instead of one per bundle.
                while let batch = await subscriber.nextBatch(maxBytes: BundleStreamFraming.feedBatchBytes) {
                    if subscriber.hasOverflowed { break }
                    // A removal reaches the removed device's feed as a control bundle: the
                    // session is checked before a batch that holds one (no storage read for
                    // the others), and closed (4003) instead of served.
                    do {
                        if batch.holdsControlBundle { try await self.recheck(session, in: space) }
                    } catch let error as RelayError {
                        logger.notice("feed closed: device removed", metadata: ["code": "removed", "space": "\(space.shortDescription)"])
                        try await outbound.close(Self.removedCloseCode, reason: String(error.message.prefix(120)))
                        return
                    }
                    try await outbound.writeBinaryMessage(batch.frames)
                    metrics.bundlesServed.increment(by: batch.bundles)
                    metrics.bytesOut.increment(by: batch.frames.readableBytes - 4 * batch.bundles)
                }
                if subscriber.hasOverflowed {
                    logger.notice("refused: feed subscriber too slow", metadata: ["code": "too-slow", "space": "\(space.shortDescription)"])
                    try await outbound.close(Self.tooSlowCloseCode, reason: "too slow; pull to catch up")
                }
            }
            group.addTask {
                try await Task.sleep(until: session.expires, clock: .continuous)
                try await outbound.close(Self.sessionExpiredCloseCode, reason: "session expired; authenticate again")
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
