import Concord
import ConcordCrypto
import Foundation
import Logging

/// The state and the work of a ``SyncEngine``: rounds, the relay's live loop, the peers,
/// the status. The ``SyncEngine`` owns one; its live task holds only this driver, so
/// an engine nobody holds is released, and its `deinit` stops the driver.
actor SyncDriver {
    typealias Status = SyncEngine.Status
    typealias Summary = SyncEngine.Summary
    typealias Options = SyncEngine.Options
    typealias SyncProgress = SyncEngine.SyncProgress
    typealias Peering = SyncEngine.Peering

    /// The status for Observation clients (``SyncEngine/observableStatus``).
    nonisolated let observable = ObservableSyncStatus()

    /// The replica kept in sync.
    nonisolated let replica: Replica
    /// The relay connection; `nil` for an engine of peers only.
    nonisolated let client: RelayClient?
    /// The peer transport; `nil` for an engine of a relay only.
    nonisolated let peers: PeerNode?
    /// How peers are found and accepted.
    nonisolated let peering: Peering?
    /// Woken whenever the log may have grown: local writes and imports from any transport.
    nonisolated let signal: LogSignal
    /// The options it was created with.
    nonisolated let options: Options
    /// The latest status (also delivered by ``status``): the links' statuses combined
    /// (``Status`` explains how).
    var currentStatus: Status = .offline
    /// Each link's own status: `"relay"`, `"peer peer://HOST:PORT"`, `"peer 3f2a9c01"`.
    var linkStatuses: [String: Status] = [:]
    /// LAN discovery, while it runs.
    var discovery: LANDiscovery?
    var peerTasks: [Task<Void, Never>] = []
    /// Bundles received on the live feed since the engine was created.
    var feedBundlesReceived = 0
    /// When the replica last signalled a local write (the push debounce's quiet time).
    var lastLocalWrite: ContinuousClock.Instant?

    let logger: Logger
    var observers: [UUID: AsyncStream<Status>.Continuation] = [:]
    var liveTask: Task<Void, Never>?
    /// Failed rounds since the last successful one.
    var attempt = 0
    /// Rounds and pushes run one at a time.
    var busy = false
    var waiters: [CheckedContinuation<Void, Never>] = []
    var roundNumber = 0
    /// The last own snapshot offered to the relay (uploaded, found there, or refused):
    /// each is offered once per engine.
    var offeredSnapshot: Digest32?
    /// The relay's snapshot this device last tried to verify for automatic compaction
    /// (verified, refused or not downloadable): each is tried once per engine, so a
    /// snapshot that fails verification does not cost a replay of the log every round.
    var triedSnapshot: Digest32?

    /// Creates an engine; nothing happens until ``start()`` or ``syncNow()``.
    /// - Parameters:
    ///   - replica: The replica to keep in sync.
    ///   - relay: The relay's base URL, for example `http://127.0.0.1:8080`.
    ///   - options: Backoff, polling and client tunables.
    ///   - logger: Where debug logs go.
    init(replica: Replica, relay: URL, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")) {
        self.replica = replica
        self.options = options
        self.logger = logger
        self.client = RelayClient(replica: replica, relay: relay, options: options.client, logger: logger)
        self.peers = nil
        self.peering = nil
        self.signal = LogSignal()
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
    /// - Throws: ``ConcordSyncError`` `.peerProtocol` if the space's peer keys cannot be derived.
    init(
        replica: Replica, relay: URL? = nil, peering: Peering?, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")
    ) throws {
        self.replica = replica
        self.options = options
        self.logger = logger
        self.client = relay.map { RelayClient(replica: replica, relay: $0, options: options.client, logger: logger) }
        let signal = LogSignal()
        self.signal = signal
        self.peering = peering
        self.peers = try peering.map {
            try PeerNode(replica: replica, options: $0.options, authorizer: $0.authorizer, signal: signal, logger: logger)
        }
    }

    /// The status now and every change after it. Each access returns a new stream that
    /// starts with the current status; it ends when the iterating task is cancelled or
    /// the engine is released (``shutDown()``).
    var status: AsyncStream<Status> {
        let (stream, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(256))
        let id = UUID()
        observers[id] = continuation
        continuation.yield(currentStatus)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeObserver(id) }
        }
        return stream
    }

    /// Starts live sync: subscribe, pull, push, then import from the feed and push local
    /// writes, reconnecting with backoff after any failure. Does nothing if running.
    func start() {
        guard liveTask == nil else { return }
        liveTask = Task { await self.runEverything() }
    }

    /// The live work: the relay loop, the peers, and local writes waking both.
    func runEverything() async {
        await withDiscardingTaskGroup { group in
            let replica = self.replica
            let signal = self.signal
            group.addTask {
                for await _ in await replica.localWrites() { signal.notify() }
            }
            if client != nil {
                group.addTask { await self.runLive() }
            }
            if peers != nil {
                group.addTask { await self.runPeers() }
            }
        }
    }

    /// Stops live sync, closes the feed and waits for the running round to end. The
    /// status becomes `.offline`.
    func stop() async {
        let task = liveTask
        liveTask = nil
        task?.cancel()
        // Closing the peer connections ends their sessions, whatever they wait for.
        await stopPeers()
        await task?.value
        await stopPeers()
        for link in linkStatuses.keys { linkStatuses[link] = .offline }
        setStatus(.offline)
    }

    /// Stops live sync and ends every status stream: the engine was released.
    func shutDown() async {
        await stop()
        for observer in observers.values { observer.finish() }
        observers = [:]
    }

    /// One full round now (``SyncEngine/syncNow()``).
    /// - Returns: Counts of what was pulled and pushed.
    /// - Throws: ``ConcordSyncError``, `ConcordError`.
    @discardableResult
    func syncNow() async throws -> Summary {
        var summary = Summary()
        if let client {
            do {
                summary = try await round(client)
            } catch {
                report(error)
                throw error
            }
        }
        if peers != nil {
            try await syncPeersOnce(into: &summary)
        }
        return summary
    }

    /// One round: vector, pull (with totals), push; `.synced` on success, or
    /// `.attention(problem)` when the round found this device's clock wrong or its history
    /// forked (`Specs/sync-protocol.md` §5).
    func round(_ client: RelayClient) async throws -> Summary {
        await acquire()
        defer { release() }
        do {
            return try await roundSteps(client)
        } catch let error as ConcordSyncError where error.code == .relayRefused && [403, 409, 422].contains(error.httpStatus ?? 0) {
            // A refusal of this device's membership or bundles is often its clock's doing
            // (a certificate or a change dated ahead): say that, in dates, when it is.
            if let problem = try await replica.problems(realTime: await client.relayTime).first {
                throw ConcordSyncError.needsAttention(problem)
            }
            throw error
        }
    }

    /// The steps of ``round(_:)``.
    private func roundSteps(_ client: RelayClient) async throws -> Summary {
        roundNumber += 1
        let number = roundNumber
        var phases: [String: Double] = [:]
        var timer = PhaseTimer()
        setStatus(.syncing(SyncProgress()))
        let relayVector = try await client.vector()
        let realTime = await client.relayTime
        // A clock ahead of the relay's writes what everyone refuses: stop before anything
        // is sealed, so the writes can take the right time once the clock is set.
        if let problem = try await replica.problems(realTime: realTime).first(where: { $0.kind == .clockAhead }) {
            throw ConcordSyncError.needsAttention(problem)
        }
        // A newly joined device loads the relay's snapshot first, if it has one
        // (`Specs/snapshots.md` §4.5); the pull below then brings only the tail above it.
        timer.lap("vector", into: &phases)
        var loaded = try await loadSnapshotIfEmpty(client, round: number, phases: &phases)
        timer = PhaseTimer()
        let local = try await replica.versionVector()
        let me = replica.membership.device.publicKey
        // The relay holds more of this device's own bundles than the store (a restored
        // backup): import them before sealing, then re-stamp what was written since.
        let ownBehind = try await replica.mayWrite() && relayVector[me] > local[me]
        let expected = relayVector.bundlesAbove(local)
        let pulled: ImportSummary
        do {
            pulled = try await client.pull(relayVector: relayVector, bundlesTotal: expected, sealingFirst: !ownBehind) {
                [weak self] progress in
                Task { await self?.pullProgress(progress, round: number) }
            }
        } catch let error as ConcordSyncError where error.code == .snapshotRequired && loaded == nil {
            // The relay's retention dropped bundles this store lacks (`Specs/snapshots.md`
            // §5.2): the store loads the snapshot (empty, or rebased when far behind) and
            // pulls the tail; if it cannot, it is left as it is and the error says what to do.
            loaded = try await loadRequiredSnapshot(client, refusal: error, round: number)
            let after = try await replica.versionVector()
            pulled = try await client.pull(
                relayVector: relayVector, bundlesTotal: relayVector.bundlesAbove(after), sealingFirst: !ownBehind
            ) {
                [weak self] progress in
                Task { await self?.pullProgress(progress, round: number) }
            }
        }
        // Pulled bundles of other authors go on to connected peers.
        if pulled.applied > 0 { signal.notify() }
        timer.lap("pull", into: &phases)
        if try await replica.mayWrite() {
            if ownBehind {
                try await replica.restampPending(realTime: nil)
            } else if let realTime, try await replica.problems(realTime: realTime).contains(where: { $0.kind == .wroteAhead }) {
                // Written while the clock was ahead, not sealed yet, clock right now: re-date.
                try await replica.restampPending(realTime: realTime)
            }
        }
        // Acks, stale marks and checkpoints due after what the pull brought
        // (`Specs/snapshots.md` §2-§3), pushed with this round. A duty the membership
        // refuses (the device lost its role meanwhile) waits for the next round; it never
        // holds back the push of this device's writes.
        do {
            try await replica.performStabilityDuties()
        } catch let error as ConcordError where error.code == .notAllowed {
            logger.debug("a stability duty was refused", metadata: ["reason": "\(error.message)"])
        }
        timer.lap("duties", into: &phases)
        let pushed = try await pushUntilSettled(client)
        timer.lap("push", into: &phases)
        // After the push, so the relay holds the checkpoint the snapshot names.
        let uploaded = try await uploadOwnSnapshot(client)
        let compacted = try await compactAfterRound(client, round: number)
        let problems = try await replica.problems(realTime: await client.relayTime)
        var summary = Summary(pulled: pulled, pushed: pushed, problems: problems)
        summary.snapshotLoaded = loaded
        summary.snapshotUploaded = uploaded
        summary.compacted = compacted
        if ownBehind { summary.ownBundlesFromElsewhere = relayVector[me] - local[me] }
        if let problem = problems.first {
            attempt = 0
            setStatus(.attention(problem))
        } else {
            try await succeeded()
        }
        timer.lap("finish", into: &phases)
        summary.phases = phases
        return summary
    }

    /// Pushes local writes (live mode, after a write).
    func pushRound(_ client: RelayClient) async throws {
        await acquire()
        defer { release() }
        setStatus(.syncing(SyncProgress()))
        try await pushUntilSettled(client)
        try await succeeded()
    }

    /// Pushes, and pushes again (a few times at most) while the store still holds local
    /// changes the relay lacks: writes made during the push, or by another `Replica`
    /// instance on the same store (a push seals whatever the store holds pending).
    @discardableResult
    func pushUntilSettled(_ client: RelayClient) async throws -> RelayClient.PushSummary {
        guard try await replica.mayWrite() else { return RelayClient.PushSummary() }
        var total = try await client.push()
        for _ in 0..<3 where try await hasLocalChanges() {
            let more = try await client.push()
            total.stored += more.stored
            total.duplicates += more.duplicates
            total.requests += more.requests
        }
        return total
    }

    /// Whether the store holds local changes the relay does not: pending operations
    /// (whichever instance wrote them) or sealed bundles not acknowledged.
    func hasLocalChanges() async throws -> Bool {
        guard try await replica.mayWrite() else { return false }
        let status = try await replica.status()
        return status.pendingOperations > 0 || status.unacknowledgedBundles > 0
    }

    /// A round or push finished: backoff reset; `.synced` unless the store still holds
    /// local changes (the status never says synced while changes wait: live mode pushes
    /// them at its next check).
    func succeeded() async throws {
        attempt = 0
        setStatus(try await hasLocalChanges() ? .syncing(SyncProgress()) : .synced)
    }

    /// Progress of round `round`'s pull (late reports of older rounds are dropped).
    func pullProgress(_ progress: ImportProgress, round: Int) {
        guard round == roundNumber, currentStatus.isSyncing else { return }
        setStatus(
            .syncing(
                SyncProgress(
                    bundlesReceived: progress.bundlesDone, bytesReceived: progress.bytesDone, bundlesTotal: progress.bundlesTotal,
                    bytesTotal: progress.bytesTotal)))
    }

    /// Reports a failure as `.offline` (the relay is unreachable), `.attention(problem)`
    /// (this device's clock or history) or `.error(message)`.
    func report(_ error: any Error) {
        if let error = error as? ConcordSyncError, let problem = error.problem {
            setStatus(.attention(problem))
        } else if let error = error as? ConcordSyncError, error.code == .unreachable || error.code == .cutShort {
            setStatus(.offline)
        } else if let error = error as? ConcordSyncError {
            setStatus(.error(error.message))
        } else if let error = error as? ConcordError {
            setStatus(.error(error.message))
        } else {
            setStatus(.error("\(error)"))
        }
    }

    /// Sets the relay link's status (``setLinkStatus(_:_:)`` for the others).
    func setStatus(_ status: Status) {
        setLinkStatus(Self.relayLink, status)
    }

    /// The relay's entry in ``linkStatuses``.
    static let relayLink = "relay"

    /// Sets one link's status and publishes the combined status if it changed.
    func setLinkStatus(_ link: String, _ status: Status) {
        if link == Self.relayLink && client == nil && peers != nil {
            // A peers-only engine has no relay link; its own status is the peers'.
            linkStatuses[link] = nil
        } else {
            linkStatuses[link] = status
        }
        let combined = Status.combining(Array(linkStatuses.values))
        guard combined != currentStatus else { return }
        currentStatus = combined
        observable.update(combined)
        logger.debug("sync status", metadata: ["status": "\(combined)", "link": "\(link)"])
        for observer in observers.values { observer.yield(combined) }
    }

    func removeObserver(_ id: UUID) {
        observers[id] = nil
    }

    func acquire() async {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
    }

    func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
