import ConcordCore
import ConcordProtocol

extension BundleNotice {
    /// Parses a `NOTIFY` payload `<space hex>:<position>`.
    init?(payload: String) {
        let parts = payload.split(separator: ":")
        guard parts.count == 2, let space = try? SpaceID(hex: String(parts[0])), let position = Int64(parts[1]) else { return nil }
        self.init(spaceID: space, position: position)
    }
}

/// The subscribers of one ``PostgresRelayStorage`` instance and its `LISTEN` task.
actor NoticeHub {
    private var subscribers: [Int: AsyncStream<BundleNotice>.Continuation] = [:]
    private var nextID = 0
    private var task: Task<Void, Never>?
    private var hasListened = false
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    private var isClosed = false
    /// The highest position announced so far.
    private(set) var lastPosition: Int64?
    /// Positions announced lately (at least the last ``capacity``), so a notice heard
    /// twice (by `NOTIFY` and by a catch-up) is announced once.
    private var recent = Set<Int64>()
    private var recentOrder: [Int64] = []
    private static let capacity = 4 * Int(PostgresRelayStorage.catchUpMargin)

    /// Registers a subscriber; the first one starts the listener and waits until it listens.
    func subscribe(start: @Sendable (NoticeHub) -> Task<Void, Never>) async throws -> AsyncStream<BundleNotice> {
        guard !isClosed else { throw RelayError.storage("the storage is closed") }
        let (stream, continuation) = AsyncStream<BundleNotice>.makeStream(bufferingPolicy: .unbounded)
        let id = nextID
        nextID += 1
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.remove(id) }
        }
        if task == nil { task = start(self) }
        if !hasListened {
            do {
                try await withCheckedThrowingContinuation { waiters.append($0) }
            } catch {
                if !hasListened {
                    task?.cancel()
                    task = nil
                }
                subscribers[id] = nil
                continuation.finish()
                throw error
            }
        }
        return stream
    }

    private func remove(_ id: Int) { subscribers[id] = nil }

    /// The listener listens; returns whether it listened before (a reconnect).
    func listening() -> Bool {
        let reconnect = hasListened
        hasListened = true
        for waiter in waiters { waiter.resume() }
        waiters = []
        return reconnect
    }

    /// The listener lost or could not open its connection.
    func failed(_ error: any Error) {
        for waiter in waiters { waiter.resume(throwing: error) }
        waiters = []
    }

    /// Records that every position up to `position` was announced or predates the listener.
    func advance(to position: Int64) { lastPosition = max(lastPosition ?? 0, position) }

    /// Announces a notice to every subscriber, unless it was announced lately.
    /// - Returns: Whether it was announced now.
    @discardableResult
    func publish(_ notice: BundleNotice) -> Bool {
        guard recent.insert(notice.position).inserted else { return false }
        recentOrder.append(notice.position)
        if recentOrder.count > 2 * Self.capacity {
            for position in recentOrder.prefix(recentOrder.count - Self.capacity) { recent.remove(position) }
            recentOrder.removeFirst(recentOrder.count - Self.capacity)
        }
        lastPosition = max(lastPosition ?? 0, notice.position)
        for continuation in subscribers.values { continuation.yield(notice) }
        return true
    }

    /// Ends every stream and cancels the listener; returns it to await its end.
    func close() -> Task<Void, Never>? {
        isClosed = true
        let listener = task
        listener?.cancel()
        task = nil
        failed(RelayError.storage("the storage is closed"))
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
        return listener
    }
}
