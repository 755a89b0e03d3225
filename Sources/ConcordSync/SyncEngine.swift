import Concord
import Foundation
import Logging

/// Keeps a ``Replica`` in sync with a relay (`Specs/sync-protocol.md`): rounds of
/// authenticate, subscribe, pull, push; then, in live mode, bundles from the feed are
/// imported as they arrive and local writes are pushed shortly after they are made.
/// Failures are retried with exponential backoff and full jitter; every step is
/// idempotent, so a round cut anywhere and retried loses and duplicates nothing.
///
/// ```swift
/// let engine = SyncEngine(replica: replica, relay: URL(string: "https://relay.example")!)
/// await engine.start()                       // live sync until stop()
/// Task { for await status in await engine.status { print(status) } }
/// let summary = try await engine.syncNow()   // or one round on demand
/// await engine.stop()
/// ```
///
/// Call ``stop()`` before dropping the engine: the live task holds it.
public actor SyncEngine {
    /// The replica kept in sync.
    public nonisolated let replica: Replica
    /// The relay connection.
    public nonisolated let client: RelayClient
    /// The options it was created with.
    public nonisolated let options: Options
    /// The latest status (also delivered by ``status``).
    public internal(set) var currentStatus: Status = .offline
    /// Bundles received on the live feed since the engine was created.
    public internal(set) var feedBundlesReceived = 0

    let logger: Logger
    var observers: [UUID: AsyncStream<Status>.Continuation] = [:]
    var liveTask: Task<Void, Never>?
    /// Failed rounds since the last successful one.
    var attempt = 0
    /// Rounds and pushes run one at a time.
    var busy = false
    var waiters: [CheckedContinuation<Void, Never>] = []
    var roundNumber = 0

    /// Creates an engine; nothing happens until ``start()`` or ``syncNow()``.
    /// - Parameters:
    ///   - replica: The replica to keep in sync.
    ///   - relay: The relay's base URL, for example `http://127.0.0.1:8080`.
    ///   - options: Backoff, polling and client tunables.
    ///   - logger: Where debug logs go.
    public init(replica: Replica, relay: URL, options: Options = Options(), logger: Logger = Logger(label: "concord.sync")) {
        self.replica = replica
        self.options = options
        self.logger = logger
        self.client = RelayClient(replica: replica, relay: relay, options: options.client, logger: logger)
    }

    /// The status now and every change after it. Each access returns a new stream that
    /// starts with the current status; it ends when the iterating task is cancelled.
    ///
    /// ```swift
    /// for await status in await engine.status where status == .synced { break }
    /// ```
    public var status: AsyncStream<Status> {
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
    ///
    /// ```swift
    /// await engine.start()
    /// ```
    public func start() {
        guard liveTask == nil else { return }
        liveTask = Task { await self.runLive() }
    }

    /// Stops live sync, closes the feed and waits for the running round to end. The
    /// status becomes `.offline`.
    ///
    /// ```swift
    /// await engine.stop()
    /// ```
    public func stop() async {
        let task = liveTask
        liveTask = nil
        task?.cancel()
        await task?.value
        setStatus(.offline)
    }

    /// Runs one full round now (authenticate, pull, push) and returns what it did. In
    /// live mode it runs between the live work (rounds never overlap).
    ///
    /// ```swift
    /// let summary = try await engine.syncNow()
    /// print(summary)   // "pulled 4 (…), pushed 1 (…)"
    /// ```
    /// - Returns: Counts of what was pulled and pushed.
    /// - Throws: ``ConcordSyncError`` (`.unreachable`, `.cutShort`, `.relayRefused`,
    ///   `.unauthenticated`; see ``ConcordSyncError/isTransient``), ``ConcordError``.
    @discardableResult
    public func syncNow() async throws -> Summary {
        do {
            return try await round()
        } catch {
            report(error)
            throw error
        }
    }

    /// One round: vector, pull (with totals), push; `.synced` on success.
    func round() async throws -> Summary {
        await acquire()
        defer { release() }
        roundNumber += 1
        let number = roundNumber
        setStatus(.syncing(SyncProgress()))
        let relayVector = try await client.vector()
        let local = try await replica.versionVector()
        let expected = relayVector.entries.reduce(0) { $0 + Int($1.value - min($1.value, local[$1.key])) }
        let pulled = try await client.pull(bundlesTotal: expected) { [weak self] progress in
            Task { await self?.pullProgress(progress, round: number) }
        }
        let pushed = replica.role == .writer ? try await client.push() : RelayClient.PushSummary()
        succeeded()
        return Summary(pulled: pulled, pushed: pushed)
    }

    /// Pushes local writes (live mode, after a write).
    func pushRound() async throws {
        await acquire()
        defer { release() }
        setStatus(.syncing(SyncProgress()))
        try await client.push()
        succeeded()
    }

    /// A round or push finished: `.synced`, backoff reset.
    func succeeded() {
        attempt = 0
        setStatus(.synced)
    }

    /// Progress of round `round`'s pull (late reports of older rounds are dropped).
    func pullProgress(_ progress: ImportProgress, round: Int) {
        guard round == roundNumber, currentStatus.isSyncing else { return }
        setStatus(.syncing(SyncProgress(bundlesReceived: progress.bundlesDone, bytesReceived: progress.bytesDone, bundlesTotal: progress.bundlesTotal, bytesTotal: progress.bytesTotal)))
    }

    /// Reports a failure as `.offline` (the relay is unreachable) or `.error(message)`.
    func report(_ error: any Error) {
        if let error = error as? ConcordSyncError, error.code == .unreachable || error.code == .cutShort {
            setStatus(.offline)
        } else if let error = error as? ConcordSyncError {
            setStatus(.error(error.message))
        } else if let error = error as? ConcordError {
            setStatus(.error(error.message))
        } else {
            setStatus(.error("\(error)"))
        }
    }

    func setStatus(_ status: Status) {
        guard status != currentStatus else { return }
        currentStatus = status
        logger.debug("sync status", metadata: ["status": "\(status)"])
        for observer in observers.values { observer.yield(status) }
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
