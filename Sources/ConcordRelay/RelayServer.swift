import ConcordCore
import ConcordProtocol
import ConcordRelayProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

/// The Concord relay: stores opaque change bundles per space and passes them on
/// (`Specs/relay-api.md`). It never holds a content key; it checks what needs no secret
/// (`BundleVerifier`) and each author's hash chain.
///
/// It is a `Service`: run it in a `ServiceGroup`, which stops it gracefully on a signal.
///
/// ```swift
/// let storage = try SQLiteRelayStorage(path: "relay.sqlite")
/// let server = RelayServer(configuration: RelayConfiguration(host: "0.0.0.0", port: 8080), storage: storage)
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()            // until SIGTERM or SIGINT
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
    let clients: ClientLimits
    let bodies: BodyBudget
    /// The membership of spaces with members, learnt from their control bundles.
    let members = MemberDirectory()
    /// When each space's last retention pass ran (``RelayConfiguration/retentionPassInterval``).
    let retentionSchedule = RetentionSchedule()

    /// Creates a relay; nothing listens until ``run()``, ``run(onListening:)`` or ``start()``.
    /// - Parameters:
    ///   - configuration: Address, served spaces and limits.
    ///   - storage: The bundle store, for example ``SQLiteRelayStorage``.
    ///   - logger: Where logs go; `concord.relay` by default.
    public init(configuration: RelayConfiguration, storage: any RelayStorage, logger: Logger = Logger(label: "concord.relay")) {
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        self.metrics = RelayMetrics()
        self.sessions = SessionStore(configuration: configuration)
        self.clients = ClientLimits(configuration: configuration)
        self.bodies = BodyBudget(limit: configuration.maxInFlightBodyBytes)
    }

    /// Serves until the `ServiceGroup` it runs in shuts down gracefully, or its task is
    /// cancelled. The storage stays open (the caller owns it and closes it).
    ///
    /// A graceful shutdown stops accepting connections, ends every live feed, lets
    /// requests in flight finish for at most ``RelayConfiguration/shutdownGracePeriod``
    /// seconds, then cancels what remains and closes the socket. Cancelling the task
    /// instead cuts every connection at once.
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await group.run()
    /// ```
    /// - Parameters:
    ///   - onListening: Called once the socket is bound, with the actual port (useful
    ///     with ``RelayConfiguration/port`` 0).
    /// - Throws: When the address cannot be bound, the storage cannot give notices, or the
    ///   configuration is invalid (``RelayError`` `.configuration`).
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeServiceGroup(onListening: onListening).run()
    }

    /// The relay's services: the HTTP server, then the feed fan-out. A graceful shutdown
    /// stops them in reverse order: first the feeds end (their connections close after
    /// what was queued), then the server stops accepting and lets requests finish.
    func makeServiceGroup(onListening: @escaping @Sendable (Int) async -> Void) async throws -> ServiceGroup {
        let origins = try AcceptedOrigins(configured: configuration.publicOrigins)
        let notices = try await storage.notices()
        let hub = FeedHub(storage: storage, metrics: metrics, logger: logger, window: .milliseconds(Int(configuration.feedBatchWindow * 1000)))
        let router = makeRouter(hub: hub, origins: origins)
        let app = Application(
            router: router,
            server: serverBuilder(router: router),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "concord-relay"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                origins.listening(on: port)
                await onListening(port)
            },
            logger: logger)
        logger.info("relay starting", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)", "backend": "\(storage.backendName)"])
        if configuration.maxInFlightBodyBytes < configuration.maxRequestBytes {
            logger.warning(
                "maxInFlightBodyBytes is below maxRequestBytes: pushes larger than it are always refused 503 busy",
                metadata: ["maxInFlightBodyBytes": "\(configuration.maxInFlightBodyBytes)", "maxRequestBytes": "\(configuration.maxRequestBytes)"])
        }
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: FeedService(hub: hub, notices: notices), successTerminationBehavior: .ignore),
            ],
            logger: logger)
        group.maximumGracefulShutdownDuration = Duration.milliseconds(Int64(max(0, configuration.shutdownGracePeriod) * 1000))
        return ServiceGroup(configuration: group)
    }

    /// HTTP/1.1 with the feed's WebSocket upgrade, each connection behind a ``ConnectionGuard``.
    func serverBuilder(router: Router<RelayRequestContext>) -> HTTPServerBuilder {
        let settings = ConnectionGuard.Settings(
            idleTimeout: .nanoseconds(Int64(max(0.001, configuration.idleTimeout) * 1e9)),
            requestTimeout: .nanoseconds(Int64(max(0.001, configuration.requestTimeout) * 1e9)),
            limitConnections: configuration.maxConnectionsPerClient > 0 && configuration.clientAddressHeader == nil)
        let webSocketResponder = router.buildResponder()
        let clients = clients
        let metrics = metrics
        let logger = logger
        return HTTPServerBuilder { responder in
            RelayChildChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder,
                    configuration: HTTP1WebSocketUpgradeChannel.Configuration(
                        ws: WebSocketServerConfiguration(autoPing: .enabled(timePeriod: .seconds(30))))),
                settings: settings, clients: clients, metrics: metrics, logger: logger)
        }
    }

    /// The routes of `Specs/relay-api.md` §3.
    func makeRouter(hub: FeedHub, origins: AcceptedOrigins) -> Router<RelayRequestContext> {
        let router = Router(context: RelayRequestContext.self)
        router.add(middleware: RefusalMiddleware(metrics: metrics))
        router.get("/healthz") { _, _ in try await health() }
        router.get("/metrics") { _, _ in metricsResponse() }
        let space = router.group("/\(RelayAPI.version)/spaces/:space")
        space.post("challenge") { request, context in try challenge(request, context) }
        space.post("sessions") { request, context in try await openSession(request, context, origins: origins) }
        space.get("vector") { request, context in try await vector(request, context) }
        space.post("bundles") { request, context in try await push(request, context) }
        space.post("pull") { request, context in try await pull(request, context) }
        space.get("snapshot") { request, context in try await latestSnapshot(request, context) }
        space.put("snapshot") { request, context in try await putSnapshot(request, context) }
        space.get("snapshot/:id/chunks/:index") { request, context in try await snapshotChunk(request, context) }
        space.get("snapshot/:id/control") { request, context in try await snapshotControl(request, context) }
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
            throw RelayError(.unavailable, "the \(storage.backendName) storage does not answer")
        }
        return try json(["status": "ok", "backend": storage.backendName])
    }

    /// `GET /metrics`.
    func metricsResponse() -> Response {
        metrics.sessions.record(sessions.sessionCount)
        metrics.challenges.record(sessions.challengeCount)
        metrics.inFlightBodyBytes.record(bodies.reserved)
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

    /// The space of the path, if this relay serves it.
    /// - Throws: ``RelayError`` `.malformedRequest` unless 64 lowercase hex characters,
    ///   `.spaceNotServed` for a space the operator did not admit.
    func spaceID(_ context: some RequestContext) throws(RelayError) -> SpaceID {
        let hex = context.parameters.get("space") ?? ""
        guard hex.count == 64, hex == hex.lowercased(), let id = try? SpaceID(hex: hex) else {
            throw RelayError(.malformedRequest, "\(hex.prefix(16)) is not a space id (64 lowercase hex characters)")
        }
        guard configuration.spaces.admits(id) else {
            throw RelayError(
                .spaceNotServed,
                "this relay does not serve space \(id.shortDescription); ask its operator to add it (concord relay serve --allow-space \(id.hex))")
        }
        return id
    }

    /// The client of a request: the proxy's header when one is configured and present,
    /// else the TCP peer.
    func client(_ request: Request, _ context: RelayRequestContext) -> ClientKey {
        if let name = configuration.clientAddressHeader, let field = HTTPField.Name(name),
            let value = request.headers[values: field].last, let key = ClientKey(forwarded: value)
        {
            return key
        }
        return ClientKey(context.remoteAddress)
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

extension RelayServer: Service {
    /// Serves until graceful shutdown (see ``run(onListening:)``).
    public func run() async throws {
        try await run(onListening: { _ in })
    }
}

/// The feed fan-out as a service: on graceful shutdown it ends every live feed (the
/// connections close after what was queued) and stops.
struct FeedService: Service {
    let hub: FeedHub
    let notices: AsyncStream<BundleNotice>

    func run() async {
        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown { [hub, notices] in await hub.run(notices) }
        } onGracefulShutdown: { [hub] in
            hub.close()
        }
    }
}

extension RelayServer {
    /// A relay serving in a background task, from ``RelayServer/start()``.
    public struct Running: Sendable {
        /// The port the relay listens on (the real one when the configuration asked for 0).
        public let port: Int
        /// The serving task. ``stop()`` shuts it down gracefully; cancelling it cuts every
        /// connection at once.
        public let task: Task<Void, any Error>
        let group: ServiceGroup

        /// `http://HOST:PORT` for ``RelayClient`` and `SyncEngine`.
        public func url(host: String = "127.0.0.1") -> URL {
            URL(string: "http://\(host):\(port)")!
        }

        /// Stops serving gracefully (no new connections, live feeds ended, requests in
        /// flight finished, for at most the grace period) and waits until the socket is
        /// closed. The storage stays open.
        public func stop() async {
            await group.triggerGracefulShutdown()
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
        let group = try await makeServiceGroup { port in continuation.yield(port) }
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        for await port in ports { return Running(port: port, task: task, group: group) }
        try await task.value
        throw CancellationError()
    }
}
