import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// The WebSocket client of the relay's live feed (RFC 6455), on SwiftNIO alone: `ws://`
/// or `wss://` (TLS through NIOSSL), an HTTP/1.1 upgrade with extra headers, fragmented
/// messages reassembled up to a size limit, pings answered, the server's close frame
/// reported. Nothing server-side is linked in, so an app using ``SyncEngine`` stays free
/// of server frameworks.
enum FeedSocket {
    /// A complete message from the server.
    enum Message: Sendable {
        case text(String)
        case binary([UInt8])
    }

    /// How the server ended the connection.
    struct Close: Sendable {
        /// The close code, when the server sent a close frame with one.
        var code: WebSocketErrorCode?
        /// The reason text of the close frame.
        var reason: String
    }

    /// Why a connection could not be used.
    struct Failure: Error, CustomStringConvertible {
        enum Kind: Sendable {
            /// The server answered the upgrade request without upgrading (a refused
            /// session, a wrong path).
            case upgradeRefused
            /// The URL is not `ws://` or `wss://` with a host.
            case badURL
        }
        var kind: Kind
        var description: String
    }

    private enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    /// One TLS context for the process (certificates are loaded once).
    private static let tlsContext: Result<NIOSSLContext, any Error> = Result {
        try NIOSSLContext(configuration: TLSConfiguration.makeClientConfiguration())
    }

    /// Connects to `url`, hands each complete message to `onMessage`, and returns when
    /// the server closes the connection (or throws when it breaks). Cancelling the task
    /// closes the connection.
    /// - Parameters:
    ///   - url: `ws://host:port/path` or `wss://…`.
    ///   - headers: Extra request headers (`Authorization`).
    ///   - maxMessageBytes: The largest message accepted, after reassembly.
    ///   - connectTimeout: Seconds to wait for the TCP connection.
    ///   - onMessage: Called for each message, in order.
    /// - Returns: The server's close frame, if it sent one.
    /// - Throws: ``Failure``, transport errors, or what `onMessage` throws.
    static func run(
        url: URL, headers: [(String, String)], maxMessageBytes: Int, connectTimeout: Double = 10,
        onMessage: (Message) async throws -> Void
    ) async throws -> Close? {
        guard let scheme = url.scheme?.lowercased(), scheme == "ws" || scheme == "wss", let host = url.host, !host.isEmpty else {
            throw Failure(kind: .badURL, description: "\(url.absoluteString) is not a ws:// or wss:// URL")
        }
        let secure = scheme == "wss"
        let port = url.port ?? (secure ? 443 : 80)
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?" + query }
        let tls: NIOSSLContext? = secure ? try tlsContext.get() : nil
        var requestHeaders = HTTPHeaders()
        requestHeaders.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        requestHeaders.add(name: "Content-Length", value: "0")
        for (name, value) in headers { requestHeaders.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: requestHeaders)

        let negotiation: EventLoopFuture<Upgrade> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(connectTimeout * 1000)))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: host))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: maxMessageBytes) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxMessageBytes)
                            )
                            return Upgrade.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                        }
                    }
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture { Upgrade.refused }
                        })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        switch try await negotiation.get() {
        case .refused:
            throw Failure(kind: .upgradeRefused, description: "the server at \(url.absoluteString) did not upgrade to a WebSocket")
        case .websocket(let channel):
            return try await channel.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    switch frame.opcode {
                    case .text:
                        try await onMessage(.text(String(buffer: frame.unmaskedData)))
                    case .binary:
                        try await onMessage(.binary(Array(frame.unmaskedData.readableBytesView)))
                    case .ping:
                        try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                    case .connectionClose:
                        var data = frame.unmaskedData
                        let code = data.readWebSocketErrorCode()
                        let reason = data.readString(length: data.readableBytes) ?? ""
                        // Echo the close (RFC 6455 §5.5.1), then the channel is closed.
                        var echo = channel.channel.allocator.buffer(capacity: 2)
                        if let code { echo.write(webSocketErrorCode: code) }
                        try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo))
                        return Close(code: code, reason: reason)
                    default:
                        break  // pongs and unknown frames
                    }
                }
                return nil
            }
        }
    }
}
