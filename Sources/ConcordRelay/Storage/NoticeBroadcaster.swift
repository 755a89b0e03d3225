import Synchronization

/// An in-process fan-out of ``BundleNotice``s: each ``subscribe()`` is a new
/// `AsyncStream`, removed when its consumer stops.
///
/// ```swift
/// let broadcaster = NoticeBroadcaster()
/// let notices = broadcaster.subscribe()
/// broadcaster.send(BundleNotice(spaceID: space, position: 1))
/// ```
package final class NoticeBroadcaster: Sendable {
    private struct State {
        var next = 0
        var continuations: [Int: AsyncStream<BundleNotice>.Continuation] = [:]
        var finished = false
    }

    private let state = Mutex(State())

    /// Creates a broadcaster without subscribers.
    package init() {}

    /// A new stream of every notice sent after this call. Unbounded: its consumer is the
    /// relay's one fan-out task, which only reads a row per notice.
    package func subscribe() -> AsyncStream<BundleNotice> {
        let (stream, continuation) = AsyncStream<BundleNotice>.makeStream()
        let id: Int? = state.withLock { state in
            guard !state.finished else { return nil }
            state.next += 1
            state.continuations[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    /// Delivers `notice` to every current subscriber.
    package func send(_ notice: BundleNotice) {
        let targets = state.withLock { Array($0.continuations.values) }
        for continuation in targets { continuation.yield(notice) }
    }

    /// Ends every stream; later subscriptions end at once.
    package func finishAll() {
        let targets = state.withLock { state in
            state.finished = true
            defer { state.continuations = [:] }
            return Array(state.continuations.values)
        }
        for continuation in targets { continuation.finish() }
    }

    /// The number of live subscriptions.
    package var subscriberCount: Int { state.withLock { $0.continuations.count } }
}
