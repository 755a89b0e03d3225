import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Watches one connection's HTTP exchanges, between the HTTP decoder and Hummingbird:
///
/// - a request head must arrive within `idleTimeout` of the connection opening or of the
///   previous response, and its body within `requestTimeout` of the head; otherwise the
///   client gets `408 request-timeout` (when part of a request arrived and no response has
///   started) and the connection closes; a connection on which nothing arrived is closed
///   without a word (a client may be about to reuse it, and would take an unasked 408 for
///   the answer to its request). A client that trickles bytes cannot hold a connection
///   forever.
/// - a connection over the client's limit answers its first request `429
///   too-many-connections` and closes.
/// - a refused WebSocket upgrade: Hummingbird answers every refused upgrade with an empty
///   `400`; the guard puts back the refusal the router produced (status, headers, JSON
///   body), stashed by ``RefusalMiddleware`` through ``ConnectionGuard/stash(_:on:)``.
///
/// After a successful upgrade (`101`) it only passes WebSocket bytes through; idle feeds
/// are kept honest by WebSocket pings.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Any
    typealias InboundOut = Any
    typealias OutboundIn = Any
    typealias OutboundOut = HTTPServerResponsePart

    /// The timeouts and whether connections are counted per client.
    struct Settings: Sendable {
        var idleTimeout: TimeAmount
        var requestTimeout: TimeAmount
        var limitConnections: Bool
    }

    /// Whether bytes arrived since the last complete request head or response: the
    /// difference between an idle connection and a half-sent request, which only the bytes
    /// before the HTTP decoder show.
    final class Activity {
        var bytesSinceHead = false
    }

    /// Marks ``Activity`` as bytes arrive, before the HTTP decoder buffers them.
    final class ByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let activity: Activity

        init(_ activity: Activity) { self.activity = activity }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            activity.bytesSinceHead = true
            context.fireChannelRead(data)
        }
    }

    private let settings: Settings
    private let refuseConnection: Bool
    private let client: ClientKey
    private let activity: Activity
    private let metrics: RelayMetrics
    private let logger: Logger

    /// Requests whose head was read and whose response has not ended.
    private var inFlight = 0
    /// A request's body is being read.
    private var readingBody = false
    /// The oldest request in flight has a response head on the wire.
    private var responseStarted = false
    private var upgraded = false
    private var closing = false
    private var timer: Scheduled<Void>?
    /// A refused upgrade's response, to replace Hummingbird's empty 400.
    private var stashed: HTTPRefusal?
    /// The refusal being written in place of Hummingbird's response.
    private var replacing: HTTPRefusal?

    init(settings: Settings, refuse: Bool, client: ClientKey, activity: Activity, metrics: RelayMetrics, logger: Logger) {
        self.settings = settings
        self.refuseConnection = refuse
        self.client = client
        self.activity = activity
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, settings.idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, settings.idleTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !upgraded, let part = unwrapInboundIn(data) as? HTTPServerRequestPart else {
            context.fireChannelRead(data)
            return
        }
        guard !closing else { return }
        if refuseConnection {
            // Nothing of this connection reaches the relay; its first request is answered.
            if case .head = part {
                refuse(
                    context,
                    RelayError(
                        .tooManyConnections,
                        "this address has as many connections open as the relay allows; close some (or wait for them to time out) and retry",
                        retryAfter: 1))
            }
            return
        }
        switch part {
        case .head:
            activity.bytesSinceHead = false
            inFlight += 1
            readingBody = true
            if inFlight == 1 { responseStarted = false }
            arm(context, settings.requestTimeout)
        case .body:
            break
        case .end:
            readingBody = false
            disarm()
        }
        context.fireChannelRead(data)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !upgraded, let part = unwrapOutboundIn(data) as? HTTPServerResponsePart else {
            context.write(data, promise: promise)
            return
        }
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                upgraded = true
                disarm()
            } else if head.status == .badRequest, let refusal = stashed {
                stashed = nil
                replacing = refusal
                context.write(wrapOutboundOut(.head(Self.head(of: refusal, bodyBytes: refusal.body.count))), promise: promise)
                return
            }
            responseStarted = true
        case .body:
            if replacing != nil {
                promise?.succeed()
                return
            }
        case .end:
            if let refusal = replacing {
                replacing = nil
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: refusal.body)))), promise: nil)
            }
            inFlight = max(0, inFlight - 1)
            responseStarted = false
            if inFlight == 0 && !readingBody && !closing {
                activity.bytesSinceHead = false
                arm(context, settings.idleTimeout)
            }
        }
        context.write(data, promise: promise)
    }

    // MARK: Refused upgrades

    /// Keeps `refusal` for the `400` Hummingbird is about to write for a refused upgrade on
    /// `channel`.
    static func stash(_ refusal: HTTPRefusal, on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).stashed = refusal
        }.get()
    }

    // MARK: Timeouts

    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        disarm()
        guard !upgraded, !closing else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timer = nil
            timedOut(loopBound.value)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func timedOut(_ context: ChannelHandlerContext) {
        guard !upgraded, !closing, context.channel.isActive else { return }
        let waitingForHead = !readingBody
        if waitingForHead && inFlight == 0 && !activity.bytesSinceHead {
            // Idle: nothing of a next request arrived.
            logger.debug("closing an idle connection", metadata: ["client": "\(client)"])
            closing = true
            context.close(promise: nil)
            return
        }
        logger.notice(
            "closing a connection whose \(waitingForHead ? "request head" : "request body") did not arrive in time",
            metadata: ["client": "\(client)", "code": "request-timeout"])
        let error = RelayError(
            .requestTimeout,
            waitingForHead
                ? "no complete request arrived within \(Self.seconds(settings.idleTimeout)) s; the connection is closed"
                : "the request body did not arrive within \(Self.seconds(settings.requestTimeout)) s; the connection is closed")
        if responseStarted {
            metrics.refusal("request-timeout")
            closing = true
            context.close(promise: nil)
        } else {
            refuse(context, error)
        }
    }

    /// Answers with `error` (status, headers, JSON), then closes the connection.
    private func refuse(_ context: ChannelHandlerContext, _ error: RelayError) {
        let refusal = HTTPRefusal(error)
        metrics.refusal(refusal.code)
        closing = true
        disarm()
        let body = refusal.body
        context.write(wrapOutboundOut(.head(Self.head(of: refusal, bodyBytes: body.count))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    /// The response head of a refusal, closing the connection.
    private static func head(of refusal: HTTPRefusal, bodyBytes: Int) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        for field in refusal.headers { headers.add(name: field.name.rawName, value: field.value) }
        headers.replaceOrAdd(name: "Content-Length", value: String(bodyBytes))
        headers.replaceOrAdd(name: "Connection", value: "close")
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: refusal.status.code), headers: headers)
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let seconds = Double(amount.nanoseconds) / 1e9
        return seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}
