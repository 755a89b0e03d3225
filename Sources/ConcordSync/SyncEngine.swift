import Concord
import Foundation
import Logging
import Observation
import Synchronization

/// Keeps a `Replica` in sync with a relay (`Specs/sync-protocol.md`), with peers
/// (`Specs/peer-protocol.md`), or both at once, with one status stream.
///
/// With a relay: rounds of authenticate, subscribe, pull, push; then, in live mode,
/// bundles from the feed are imported as they arrive and local writes are pushed shortly
/// after they are made. With peers: live connections to the given endpoints and (with
/// ``Peering/discover``) to the members found on the local network, each exchanging what
/// the other lacks and then forwarding whatever the log gains, whoever wrote it; with
/// ``Peering/listenPort`` it also accepts members and advertises itself. Bundles that
/// arrive through one transport are forwarded through the others (store and forward).
/// Failures are retried with exponential backoff and full jitter; every step is
/// idempotent, so a round cut anywhere and retried loses and duplicates nothing.
///
/// ```swift
/// let engine = SyncEngine(replica: replica, relay: URL(string: "https://relay.example")!)
/// await engine.start()                       // live sync until stop()
/// Task { for await status in await engine.status { print(status) } }
/// let summary = try await engine.syncNow()   // or one round on demand
/// await engine.stop()
///
/// // Peers on the LAN, and the relay when it is reachable:
/// let both = try SyncEngine(replica: replica, relay: relayURL, peering: .lan(listenPort: 7420))
/// await both.start()
/// ```
///
/// Live sync stops with ``stop()``, or when the engine is released: the live work is
/// held by an internal driver, not by the engine, so an app that drops its engine does
/// not leave a task syncing behind it. The status is `.synced` only while the store holds
/// nothing the relay lacks (writes of another `Replica` instance on the same store
/// included: pushes seal them).
public actor SyncEngine {
    /// The rounds, the live loops, the peers and the status.
    let driver: SyncDriver

    /// The replica kept in sync.
    public nonisolated var replica: Replica { driver.replica }
    /// The relay connection; `nil` for an engine of peers only.
    public nonisolated var client: RelayClient? { driver.client }
    /// The peer transport; `nil` for an engine of a relay only.
    public nonisolated var peers: PeerNode? { driver.peers }
    /// How peers are found and accepted.
    public nonisolated var peering: Peering? { driver.peering }
    /// Woken whenever the log may have grown: local writes and imports from any transport.
    public nonisolated var signal: LogSignal { driver.signal }
    /// The options it was created with.
    public nonisolated var options: Options { driver.options }
    /// The status as an `Observable` value: SwiftUI views (and any Observation client)
    /// that read ``ObservableSyncStatus/status`` update when it changes.
    ///
    /// ```swift
    /// Text(engine.observableStatus.status.description)
    /// ```
    public nonisolated var observableStatus: ObservableSyncStatus { driver.observable }

    /// Creates an engine for a relay; nothing happens until ``start()`` or ``syncNow()``.
    ///
    /// ```swift
    /// let engine = SyncEngine(replica: replica, relay: URL(string: "http://127.0.0.1:8080")!)
    /// ```
    /// - Parameters:
    ///   - replica: The replica to keep in sync.
    ///   - relay: The relay's base URL, for example `http://127.0.0.1:8080`.
    ///   - options: Backoff, polling and client tunables.
    ///   - logger: Where debug logs go.
    public init(replica: Replica, relay: URL, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")) {
        driver = SyncDriver(replica: replica, relay: relay, options: options, logger: logger)
    }

    /// Creates an engine for peers, a relay, or both; nothing happens until ``start()``
    /// or ``syncNow()``.
    ///
    /// ```swift
    /// let engine = try SyncEngine(replica: replica, peering: Peering(endpoints: [PeerEndpoint("peer://10.0.0.2:7420")!]))
    /// ```
    /// - Parameters:
    ///   - replica: The replica to keep in sync.
    ///   - relay: The relay's base URL, if any.
    ///   - peering: Which peers to dial, discover and accept, if any.
    ///   - options: Backoff, polling and client tunables.
    ///   - logger: Where debug logs go.
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` if the space's peer keys cannot be
    ///   derived (a member of an encrypted space with members that holds no peer secret).
    public init(
        replica: Replica, relay: URL? = nil, peering: Peering?, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")
    ) throws {
        driver = try SyncDriver(replica: replica, relay: relay, peering: peering, options: options, logger: logger)
    }

    /// Stops live sync when the engine is released, and ends its status streams.
    deinit {
        let driver = self.driver
        Task { await driver.shutDown() }
    }

    /// The latest status (also delivered by ``status`` and ``observableStatus``): the
    /// links' statuses combined (``Status`` explains how).
    public var currentStatus: Status {
        get async { await driver.currentStatus }
    }

    /// Each link's own status: `"relay"`, `"peer peer://HOST:PORT"`, `"peer 3f2a9c01"`.
    public var linkStatuses: [String: Status] {
        get async { await driver.linkStatuses }
    }

    /// LAN discovery, while it runs.
    public var discovery: LANDiscovery? {
        get async { await driver.discovery }
    }

    /// Bundles received on the live feed since the engine was created.
    public var feedBundlesReceived: Int {
        get async { await driver.feedBundlesReceived }
    }

    /// The status now and every change after it. Each access returns a new stream that
    /// starts with the current status; it ends when the iterating task is cancelled or
    /// the engine is released.
    ///
    /// ```swift
    /// for await status in await engine.status where status == .synced { break }
    /// ```
    public var status: AsyncStream<Status> {
        get async { await driver.status }
    }

    /// Starts live sync: subscribe, pull, push, then import from the feed and push local
    /// writes, reconnecting with backoff after any failure; with peering, the peers too.
    /// Does nothing if running. Live sync ends with ``stop()``, or when the engine is
    /// released.
    ///
    /// ```swift
    /// await engine.start()
    /// ```
    public func start() async {
        await driver.start()
    }

    /// Stops live sync, closes the feed and the peer connections and waits for the
    /// running round to end. The status becomes `.offline`.
    ///
    /// ```swift
    /// await engine.stop()
    /// ```
    public func stop() async {
        await driver.stop()
    }

    /// Runs one full round now (authenticate, pull, push; then one exchange with each
    /// peer) and returns what it did. In live mode it runs between the live work (rounds
    /// never overlap). The status is `.synced` afterwards only if the store holds no
    /// local change the relay lacks.
    ///
    /// ```swift
    /// let summary = try await engine.syncNow()
    /// print(summary)   // "pulled 4 (…), pushed 1 (…)"
    /// ```
    /// - Returns: Counts of what was pulled and pushed.
    /// - Throws: ``ConcordSyncError`` (`.unreachable`, `.cutShort`, `.relayRefused`,
    ///   `.unauthenticated`; see ``ConcordSyncError/isTransient``), `ConcordError`.
    @discardableResult
    public func syncNow() async throws -> Summary {
        try await driver.syncNow()
    }
}

/// A sync engine's status as an `Observable` value, readable from any thread.
///
/// ```swift
/// struct SyncBadge: View {
///     let status: ObservableSyncStatus
///     var body: some View { Image(systemName: status.isSynced ? "checkmark.icloud" : "icloud") }
/// }
/// ```
public final class ObservableSyncStatus: Observable, Sendable {
    private let registrar = ObservationRegistrar()
    private let stored = Mutex<SyncEngine.Status>(.offline)

    init() {}

    /// The engine's current status.
    public var status: SyncEngine.Status {
        registrar.access(self, keyPath: \.status)
        return stored.withLock { $0 }
    }

    /// Whether the status is `.synced`.
    public var isSynced: Bool { status == .synced }

    func update(_ status: SyncEngine.Status) {
        registrar.withMutation(of: self, keyPath: \.status) {
            stored.withLock { $0 = status }
        }
    }
}
