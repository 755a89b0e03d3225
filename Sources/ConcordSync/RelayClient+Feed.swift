import Concord
import Foundation
import Logging
import NIOWebSocket

extension RelayClient {
    /// Subscribes to the relay's live feed (relay-api §5) and imports every bundle it
    /// sends, until the connection closes or the task is cancelled.
    ///
    /// `onReady` runs once the relay confirms the subscription: from then on every
    /// bundle stored at the relay reaches this replica, so a pull started after
    /// `onReady` misses nothing.
    ///
    /// ```swift
    /// try await client.feed(onReady: { print("subscribed") }) { outcome, bytes in
    ///     print("received \(bytes) bytes: \(outcome)")
    /// }
    /// ```
    /// - Parameters:
    ///   - onReady: Called when `{"type":"ready"}` arrives.
    ///   - onBundle: Called after each received bundle was imported, with the outcome
    ///     and the bundle's size. A feed message may carry several bundles (§5); each
    ///     is imported and reported on its own.
    /// - Throws: ``ConcordSyncError`` `.unreachable` when the feed closes (the caller
    ///   reconnects and pulls to catch up), `ConcordError` `.storage`.
    public func feed(
        onReady: @escaping @Sendable () async -> Void,
        onBundle: @escaping @Sendable (ImportOutcome, Int) async -> Void = { _, _ in }
    ) async throws {
        var retried = false
        while true {
            if token == nil { try await authenticate() }
            do {
                try await runFeed(token: token ?? "", onReady: onReady, onBundle: onBundle)
            } catch let error as FeedSocket.Failure where error.kind == .upgradeRefused && !retried {
                // The relay refused the upgrade; most likely the session lapsed (a relay
                // restart forgets sessions). Authenticate again once.
                retried = true
                dropSession()
                continue
            } catch let error as FeedSocket.Failure {
                throw ConcordSyncError(.unreachable, "the relay at \(relay.absoluteString) refused the live feed (\(error)); retrying")
            }
        }
    }

    /// One WebSocket connection; returns never (throws when it ends).
    func runFeed(
        token: String, onReady: @escaping @Sendable () async -> Void,
        onBundle: @escaping @Sendable (ImportOutcome, Int) async -> Void
    ) async throws {
        let maxMessage = max(BundleStreamFraming.feedBatchBytes, options.maxBundleBytes) + 1024
        let replica = self.replica
        let maxBundleBytes = options.maxBundleBytes
        guard let url = URL(string: feedURL()) else {
            throw ConcordSyncError(.unreachable, "the relay URL \(relay.absoluteString) does not give a valid feed URL; check it")
        }
        let close: FeedSocket.Close?
        do {
            close = try await FeedSocket.run(url: url, headers: [("Authorization", "Bearer \(token)")], maxMessageBytes: maxMessage) {
                message in
                switch message {
                case .text(let text):
                    if text.contains("\"ready\"") { await onReady() }
                case .binary(let bytes):
                    // One or more framed bundles, in the relay's storage order.
                    for bundle in try ConcordSyncError.relayProtocol({
                        try BundleStreamFraming.frames(inMessage: bytes, maxFrameBytes: maxBundleBytes)
                    }) {
                        let outcome = try await replica.import(bundle, fromRelay: true)
                        await onBundle(outcome, bundle.count)
                    }
                }
            }
        } catch let error as FeedSocket.Failure {
            throw error
        } catch let error as ConcordError {
            throw error
        } catch let error as ConcordSyncError {
            throw error
        } catch {
            throw unreachable(error)
        }
        let code = close?.code.map { "\($0)" } ?? "none"
        let reason = close?.reason ?? ""
        if case .unknown(4001)? = close?.code { dropSession() }
        if case .unknown(4003)? = close?.code {
            // Removed from a space with members (Specs/membership.md §8): not a network problem.
            dropSession()
            let message = reason.isEmpty ? "this device was removed from the space" : reason
            throw ConcordSyncError.relayRefused(status: 403, relayCode: "removed", message: message)
        }
        throw ConcordSyncError(
            .unreachable,
            "the relay's live feed closed (code \(code)\(reason.isEmpty ? "" : ": \(reason)")); reconnecting and pulling to catch up")
    }

    /// `ws(s)://host:port/v1/spaces/<space>/feed`.
    nonisolated func feedURL() -> String {
        var text = url(RelayAPI.path(replica.spaceID, "feed"))
        if text.hasPrefix("https://") {
            text = "wss://" + text.dropFirst("https://".count)
        } else if text.hasPrefix("http://") {
            text = "ws://" + text.dropFirst("http://".count)
        }
        return text
    }
}
