import ConcordCore
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

/// The Concord relay: stores opaque change bundles per space and passes them on
/// (`Specs/relay-api.md`). It never holds a content key; it checks what needs no secret
/// (`BundleVerifier`) and each author's hash chain.
///
/// ```swift
/// let storage = try SQLiteRelayStorage(path: "relay.sqlite")
/// let server = RelayServer(configuration: RelayConfiguration(host: "0.0.0.0", port: 8080), storage: storage)
/// try await server.run { port in print("listening on \(port)") }   // until cancelled
/// ```
public struct RelayServer: Sendable {
    /// Where to listen and the limits.
    public let configuration: RelayConfiguration
    /// Where bundles are kept.
    public let storage: any RelayStorage
    /// Structured logs: refusals at `notice`, forks at `warning`.
    public let logger: Logger

    let metrics: RelayMetrics
    let sessions: SessionStore

    /// Creates a relay; nothing listens until ``run(onListening:)``.
    /// - Parameters:
    ///   - configuration: Address and limits.
    ///   - storage: The bundle store, for example ``SQLiteRelayStorage``.
    ///   - logger: Where logs go; `concord.relay` by default.
    public init(configuration: RelayConfiguration, storage: any RelayStorage, logger: Logger = Logger(label: "concord.relay")) {
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        self.metrics = RelayMetrics()
        self.sessions = SessionStore(configuration: configuration)
    }

    /// Serves until the calling task is cancelled. The storage stays open (the caller
    /// owns it and closes it).
    ///
    /// ```swift
    /// let task = Task { try await server.run { port in await ready.send(port) } }
    /// …
    /// task.cancel()
    /// ```
    /// - Parameters:
    ///   - onListening: Called once the socket is bound, with the actual port (useful
    ///     with ``RelayConfiguration/port`` 0).
    /// - Throws: When the address cannot be bound or the storage cannot give notices.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let notices = try await storage.notices()
        let hub = FeedHub(storage: storage, metrics: metrics, logger: logger, window: .milliseconds(Int(configuration.feedBatchWindow * 1000)))
        let router = makeRouter(hub: hub)
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "concord-relay"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        logger.info("relay starting", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)", "backend": "\(storage.backendName)"])
        // The server runs outside this task's tree, so cancelling `run` shuts it down
        // gracefully instead of cancelling every connection mid-request: it stops
        // accepting, ends the live feeds, lets requests in flight finish (at most
        // `Self.shutdownGrace` seconds, then it is cancelled) and closes the socket.
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let serving = Task { try await services.run() }
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await hub.run(notices) }
                defer { group.cancelAll() }
                try await serving.value
            }
        } onCancel: {
            Task {
                await services.triggerGracefulShutdown()
                hub.close()
                // Whichever comes first: the server is done, or the grace period is over.
                await withTaskGroup(of: Void.self) { deadline in
                    deadline.addTask { _ = await serving.result }
                    deadline.addTask { try? await Task.sleep(for: .seconds(Self.shutdownGrace)) }
                    await deadline.next()
                    deadline.cancelAll()
                }
                serving.cancel()
            }
        }
    }

    /// Seconds a stopping relay gives requests in flight before it cancels them.
    static let shutdownGrace: Double = 5

    /// The routes of `Specs/relay-api.md` §3.
    func makeRouter(hub: FeedHub) -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.add(middleware: RefusalMiddleware(metrics: metrics))
        router.get("/healthz") { _, _ in try await health() }
        router.get("/metrics") { _, _ in metricsResponse() }
        let space = router.group("/\(RelayAPI.version)/spaces/:space")
        space.post("challenge") { _, context in try challenge(context) }
        space.post("sessions") { request, context in try await openSession(request, context) }
        space.get("vector") { request, context in try await vector(request, context) }
        space.post("bundles") { request, context in try await push(request, context) }
        space.post("pull") { request, context in try await pull(request, context) }
        space.ws("feed") { request, context in
            try shouldUpgradeFeed(request, context)
        } onUpgrade: { inbound, outbound, context in
            try await feed(inbound, outbound, context, hub: hub)
        }
        return router
    }

    /// `GET /healthz`.
    func health() async throws -> Response {
        do {
            try await withTimeout(seconds: 5) { try await storage.healthCheck() }
        } catch {
            logger.error("health check failed", metadata: ["backend": "\(storage.backendName)", "error": "\(error)"])
            throw RelayHTTPError(RelayRefusal(status: 503, code: "unavailable", message: "the \(storage.backendName) storage does not answer"))
        }
        return try json(["status": "ok", "backend": storage.backendName])
    }

    /// `GET /metrics`.
    func metricsResponse() -> Response {
        metrics.sessions.record(sessions.sessionCount)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }

    /// A `200` JSON response.
    func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// The space of the path; `400 bad-request` unless 64 lowercase hex characters.
    func spaceID(_ context: some RequestContext) throws -> SpaceID {
        let hex = context.parameters.get("space") ?? ""
        guard hex.count == 64, hex == hex.lowercased(), let id = try? SpaceID(hex: hex) else {
            throw RelayHTTPError.badRequest("\(hex.prefix(16)) is not a space id (64 lowercase hex characters)")
        }
        return id
    }

    /// The body as JSON of type `T`, at most `limit` bytes.
    func decodeJSON<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        let body = try await collect(request, limit: limit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw RelayHTTPError.badRequest("the body is not a valid \(T.self) JSON object")
        }
    }

    /// Reads the whole body; `413 too-large` past `limit` (by `Content-Length` before
    /// reading anything, else as the bytes arrive).
    func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw RelayHTTPError.tooLarge(limit: limit)
        }
        var buffer = ByteBuffer()
        for try await chunk in request.body {
            guard buffer.readableBytes + chunk.readableBytes <= limit else { throw RelayHTTPError.tooLarge(limit: limit) }
            buffer.writeImmutableBuffer(chunk)
        }
        return buffer
    }

    /// Runs `body`, throwing `CancellationError` if it takes longer than `seconds`.
    func withTimeout(seconds: Double, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await body(); return true }
            group.addTask { try await Task.sleep(for: .seconds(seconds)); return false }
            let finished = try await group.next() ?? false
            group.cancelAll()
            if !finished { throw CancellationError() }
        }
    }
}

extension RelayServer {
    /// A relay serving in a background task, from ``RelayServer/start()``.
    public struct Running: Sendable {
        /// The port the relay listens on (the real one when the configuration asked for 0).
        public let port: Int
        /// The serving task; ``stop()`` cancels it.
        public let task: Task<Void, any Error>

        /// `http://HOST:PORT` for ``RelayClient`` and `SyncEngine`.
        public func url(host: String = "127.0.0.1") -> URL {
            URL(string: "http://\(host):\(port)")!
        }

        /// Stops serving gracefully (no new connections, live feeds ended, requests in
        /// flight finished, for at most 5 s) and waits until the socket is closed. The
        /// storage stays open.
        public func stop() async {
            task.cancel()
            _ = await task.result
        }
    }

    /// Starts serving in a background task and returns once the socket is bound, for
    /// apps, examples and tests that embed a relay.
    ///
    /// ```swift
    /// let storage = try SQLiteRelayStorage(path: "relay.sqlite")
    /// let relay = try await RelayServer(configuration: RelayConfiguration(host: "127.0.0.1", port: 0), storage: storage).start()
    /// let engine = SyncEngine(replica: replica, relay: relay.url())
    /// …
    /// await relay.stop()
    /// await storage.close()
    /// ```
    /// - Throws: What ``run(onListening:)`` throws before the socket is bound (for
    ///   example, the address is in use).
    public func start() async throws -> Running {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            defer { continuation.finish() }
            try await run { port in continuation.yield(port) }
        }
        for await port in ports { return Running(port: port, task: task) }
        try await task.value
        throw CancellationError()
    }
}
