import Concord
import ConcordCrypto
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The peer transport of one replica (`Specs/peer-protocol.md`): it accepts connections
/// from members, dials peers, authenticates every connection with the handshake, and runs
/// the sync exchange over it, once or live. Bundles it imports from one peer are forwarded
/// to every other connected peer (store and forward), and so are the replica's own writes.
///
/// ```swift
/// let node = try PeerNode(replica: replica)
/// let port = try await node.listen(port: 7420)            // accept members
/// let summary = try await node.sync(with: PeerEndpoint("peer://10.0.0.2:7420")!)
/// await node.stop()
/// ```
///
/// ``SyncEngine`` drives a node for apps (live connections with backoff, LAN discovery,
/// one status stream with the relay); use a node directly for one-off exchanges.
public actor PeerNode {
    /// The replica it syncs.
    public nonisolated let replica: Replica
    /// The options it was created with.
    public nonisolated let options: PeerOptions
    /// Woken whenever the log may have grown; shared with the rest of the engine.
    public nonisolated let signal: LogSignal
    nonisolated let local: PeerHandshake.Local
    nonisolated let logger: Logger
    var acceptTask: Task<Void, Never>?
    /// The bound port while listening.
    public private(set) var listeningPort: Int?
    /// Live sessions by peer device.
    var live: [PublicKey: LiveSession] = [:]
    var statusHandler: (@Sendable (String, SyncEngine.Status) -> Void)?
    var eventHandler: (@Sendable (PeerSession.Event, PublicKey) -> Void)?

    struct LiveSession {
        let id: UUID
        let initiator: PublicKey
        let channel: any Channel
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates a node; nothing listens or connects until asked.
    /// - Parameters:
    ///   - replica: The replica to sync.
    ///   - options: Limits and timeouts.
    ///   - authorizer: Who may connect; the space's certificate check by default.
    ///   - signal: The log-growth signal to share with other transports; a new one by default.
    ///   - logger: Where debug logs go.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` if the space's peer keys cannot be derived.
    public init(
        replica: Replica, options: PeerOptions = PeerOptions(), authorizer: (any PeerAuthorizer)? = nil,
        signal: LogSignal = LogSignal(), logger: Logger = Logger(label: "concord.peer")
    ) throws {
        self.replica = replica
        self.options = options
        self.signal = signal
        self.logger = logger
        if replica.membership.isMemberFormat {
            // A space with members: the proof is this device's bundle 1 (its genesis or join),
            // and the replica's membership state decides about peers.
            guard let first = try replica.ownFirstBundle() else {
                throw ConcordSyncError(
                    .peerProtocol,
                    "this replica does not hold its own first bundle (its genesis or join); it cannot prove its membership to peers")
            }
            self.local = PeerHandshake.Local(
                device: replica.membership.device, proof: first.bytes, spaceID: replica.spaceID,
                keys: try PeerSpaceKeys.derive(from: replica.membership), authorizer: authorizer ?? MemberPeerAuthorizer(replica: replica))
        } else {
            self.local = try PeerHandshake.Local(membership: replica.membership, authorizer: authorizer)
        }
    }

    /// Receives each link's status (`"peer 3f2a9c01"` → status) and session events.
    func setHandlers(status: (@Sendable (String, SyncEngine.Status) -> Void)?, events: (@Sendable (PeerSession.Event, PublicKey) -> Void)?)
    {
        statusHandler = status
        eventHandler = events
    }

    /// The devices connected live now.
    public var connectedPeers: [PublicKey] { Array(live.keys) }

    // MARK: - Listening

    /// Accepts peer connections on `host:port` in the background and syncs live with each
    /// member that completes the handshake, until ``stop()``.
    ///
    /// ```swift
    /// let port = try await node.listen(port: 0)   // any free port
    /// ```
    /// - Parameters:
    ///   - host: The address to bind; all IPv4 interfaces by default.
    ///   - port: The TCP port; 0 for any free one.
    /// - Returns: The bound port.
    /// - Throws: ``ConcordSyncError`` `.unreachable` when the address cannot be bound.
    @discardableResult
    public func listen(host: String = "0.0.0.0", port: Int = PeerEndpoint.defaultPort) async throws -> Int {
        if let listeningPort { return listeningPort }
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: Self.channelConfiguration)
                    }
                }
        } catch {
            throw ConcordSyncError(
                .unreachable, "cannot listen for peers on \(host):\(port) (\(error)); choose another port with --port, or stop what uses it"
            )
        }
        let bound = server.channel.localAddress?.port ?? port
        listeningPort = bound
        acceptTask = Task {
            try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await self.accept(connection) }
                    }
                }
            }
        }
        logger.debug("listening for peers", metadata: ["port": "\(bound)"])
        return bound
    }

    /// Stops listening and closes every live connection.
    public func stop() async {
        let task = acceptTask
        acceptTask = nil
        task?.cancel()
        for session in live.values { try? await session.channel.close() }
        await task?.value
        listeningPort = nil
    }

    /// Inbound connections: each waits at most `highWatermark` reads before the socket
    /// stops being read (backpressure).
    static let channelConfiguration = NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration(
        backPressureStrategy: .init(lowWatermark: 4, highWatermark: 32))

    /// One accepted connection: handshake as responder, then live sync.
    nonisolated func accept(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let remote = connection.channel.remoteAddress.map { "\($0)" } ?? "?"
        do {
            try await connection.executeThenClose { inbound, outbound in
                var reader = FrameReader(inbound)
                let established = try await self.handshake(connection.channel) {
                    try await PeerHandshake.runResponder(self.local, reader: &reader, outbound: outbound)
                }
                var link = PeerLink(established: established, reader: reader, outbound: outbound, maxBundleBytes: options.maxBundleBytes)
                _ = try await self.runLive(&link, channel: connection.channel, initiator: established.peer)
            }
        } catch {
            logger.info("peer connection ended", metadata: ["from": "\(remote)", "reason": "\(error)"])
        }
    }

    // MARK: - Dialling

    /// Connects to `endpoint`, authenticates, and syncs once: both sides send what the
    /// other lacks, each acknowledges, then the connection is closed.
    ///
    /// ```swift
    /// let summary = try await node.sync(with: PeerEndpoint("peer://127.0.0.1:7420")!)
    /// print(summary.received.applied)
    /// ```
    /// - Parameters:
    ///   - endpoint: Where the peer listens.
    /// - Returns: What was exchanged.
    /// - Throws: ``ConcordSyncError`` `.unreachable` (no connection, cut), `.peerProtocol`
    ///   (not a member of this space, tampered), `.peerRefused` (refused, or this device).
    @discardableResult
    public nonisolated func sync(with endpoint: PeerEndpoint) async throws -> PeerSyncSummary {
        let connection = try await connect(endpoint)
        return try await connection.executeThenClose { inbound, outbound in
            var reader = FrameReader(inbound)
            let established = try await self.handshake(connection.channel) {
                try await PeerHandshake.runInitiator(self.local, reader: &reader, outbound: outbound)
            }
            var link = PeerLink(established: established, reader: reader, outbound: outbound, maxBundleBytes: options.maxBundleBytes)
            let session = PeerSession(
                replica: replica, mode: .once, options: options, signal: signal, logger: logger, onEvent: eventRelay(established.peer))
            return try await session.run(link: &link, channel: connection.channel)
        }
    }

    /// Keeps a live connection to `endpoint` until the calling task is cancelled:
    /// reconnects after any failure with backoff (full jitter, 0.5 s doubling to 30 s; a
    /// refusal waits the longest), and stays idle while the same device is connected
    /// through another connection.
    /// - Parameters:
    ///   - endpoint: Where the peer listens.
    public nonisolated func maintain(_ endpoint: PeerEndpoint) async {
        var attempt = 0
        let name = "peer \(endpoint)"
        while !Task.isCancelled {
            await report(name, .syncing(SyncEngine.SyncProgress()))
            do {
                let connection = try await connect(endpoint)
                let outcome = try await connection.executeThenClose { inbound, outbound in
                    var reader = FrameReader(inbound)
                    let established = try await self.handshake(connection.channel) {
                        try await PeerHandshake.runInitiator(self.local, reader: &reader, outbound: outbound)
                    }
                    attempt = 0
                    var link = PeerLink(
                        established: established, reader: reader, outbound: outbound, maxBundleBytes: options.maxBundleBytes)
                    return try await self.runLive(&link, channel: connection.channel, initiator: self.local.device.publicKey, name: name)
                }
                if case .duplicate(let peer) = outcome {
                    await report(name, .synced)
                    await waitForSessionEnd(peer)
                    continue
                }
                await report(name, .offline)
            } catch {
                if Task.isCancelled { break }
                let syncError = error as? ConcordSyncError
                await report(name, syncError.map { $0.code == .unreachable ? .offline : .error($0.message) } ?? .error("\(error)"))
                logger.debug("peer connection failed", metadata: ["peer": "\(endpoint)", "error": "\(error)"])
                // A refusal cannot pass by repeating it soon: wait the longest.
                if syncError?.code == .peerRefused { attempt = 6 }
            }
            let bound = min(30, 0.5 * Double(1 << min(attempt, 6)))
            attempt += 1
            try? await Task.sleep(for: .seconds(Double.random(in: 0...bound)))
        }
        await report(name, .offline)
    }

    /// Opens a TCP connection.
    nonisolated func connect(_ endpoint: PeerEndpoint) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(Int64(options.connectTimeout * 1000)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: Self.channelConfiguration)
                    }
                }
        } catch {
            throw ConcordSyncError(
                .unreachable,
                "cannot connect to peer \(endpoint) (\(error)); check that `concord peer serve` runs there and the address is reachable")
        }
    }

    /// Runs a handshake with a deadline: a party that stalls it is dropped.
    nonisolated func handshake(_ channel: any Channel, _ body: () async throws -> PeerHandshake.Established) async throws
        -> PeerHandshake.Established
    {
        let deadline = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(options.handshakeTimeout * 1000))) {
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        // A membership authorizer reads the replica's current state (a removal that arrived
        // a moment ago counts for this handshake).
        try await local.authorizer.prepare()
        do {
            return try await body()
        } catch let error as ConcordSyncError where error.code == .unreachable {
            throw ConcordSyncError(
                .peerProtocol,
                "the peer handshake did not complete (\(error.message)): the other side is not a member of this space, refused this device, or was too slow"
            )
        }
    }

    // MARK: - Live sessions

    enum LiveOutcome { case ended, duplicate(PublicKey) }

    /// Registers a live session (one per peer device) and runs it.
    nonisolated func runLive(_ link: inout PeerLink, channel: any Channel, initiator: PublicKey, name: String? = nil) async throws
        -> LiveOutcome
    {
        let peer = link.established.peer
        let id = UUID()
        guard await register(peer, id: id, initiator: initiator, channel: channel) else {
            try? await link.send(PeerMessage.close(.duplicate, "already connected").encoded, final: true)
            return .duplicate(peer)
        }
        let label = name ?? "peer \(peer.hex.prefix(8))"
        await report(label, .syncing(SyncEngine.SyncProgress()))
        let session = PeerSession(
            replica: replica, mode: .live, options: options, signal: signal, logger: logger,
            onEvent: { [weak self] event in
                Task { await self?.sessionEvent(event, peer: peer, label: label) }
            })
        // Whenever the log grows, the membership may have removed this peer: ask again, and
        // close the connection if it did (its next handshake is refused, with the reason).
        let authorizer = local.authorizer
        let logger = self.logger
        let recheck = Task { [signal] in
            for await _ in signal.subscribe() {
                do {
                    try await authorizer.prepare()
                    try authorizer.recheck(device: peer)
                } catch {
                    logger.info("closing a peer connection", metadata: ["peer": "\(peer.hex.prefix(8))", "reason": "\(error)"])
                    channel.close(promise: nil)
                    return
                }
            }
        }
        defer { recheck.cancel() }
        do {
            _ = try await session.run(link: &link, channel: channel)
        } catch {
            await endSession(peer, id: id, label: label)
            throw error
        }
        await endSession(peer, id: id, label: label)
        return .ended
    }

    /// Records a new live session; `false` when an existing connection with the same
    /// device is kept instead (§5.4: the one dialled by the smaller device key; a redial
    /// by the same side replaces the old connection).
    func register(_ peer: PublicKey, id: UUID, initiator: PublicKey, channel: any Channel) -> Bool {
        if let existing = live[peer] {
            let keepExisting = existing.initiator != initiator && existing.initiator < initiator
            if keepExisting { return false }
            existing.channel.close(promise: nil)
            for waiter in existing.waiters { waiter.resume() }
        }
        live[peer] = LiveSession(id: id, initiator: initiator, channel: channel)
        return true
    }

    func endSession(_ peer: PublicKey, id: UUID, label: String) {
        guard let session = live[peer], session.id == id else { return }
        live[peer] = nil
        for waiter in session.waiters { waiter.resume() }
        report(label, .offline)
    }

    func waitForSessionEnd(_ peer: PublicKey) async {
        guard live[peer] != nil else { return }
        await withCheckedContinuation { live[peer]?.waiters.append($0) ?? $0.resume() }
    }

    func sessionEvent(_ event: PeerSession.Event, peer: PublicKey, label: String) {
        switch event {
        case .progress(let progress): report(label, .syncing(progress))
        case .synced: report(label, .synced)
        case .received: break
        }
        eventHandler?(event, peer)
    }

    nonisolated func eventRelay(_ peer: PublicKey) -> @Sendable (PeerSession.Event) -> Void {
        { [weak self] event in Task { await self?.forward(event, peer: peer) } }
    }

    func forward(_ event: PeerSession.Event, peer: PublicKey) {
        eventHandler?(event, peer)
    }

    func report(_ link: String, _ status: SyncEngine.Status) {
        statusHandler?(link, status)
    }
}
