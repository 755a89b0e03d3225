import Synchronization

/// The bundles this process stored last, by position, so the feed reads its own pushes
/// without a database round trip (``PostgresRelayStorage/bundle(at:)``).
///
/// Bounded by count and bytes; the oldest go first. A position missing here (pushed
/// through another relay, or evicted) is read from the database as before.
///
/// ```swift
/// let recent = RecentBundles(maxCount: 4_096, maxBytes: 32 << 20)
/// recent.insert(stored)
/// let bundle = recent[stored.position]
/// ```
final class RecentBundles: Sendable {
    private struct State {
        var byPosition: [Int64: StoredBundle] = [:]
        var order: [Int64] = []
        var head = 0
        var bytes = 0
    }

    private let state = Mutex(State())
    private let maxCount: Int
    private let maxBytes: Int

    /// - Parameters:
    ///   - maxCount: The most bundles kept.
    ///   - maxBytes: The most bundle bytes kept.
    init(maxCount: Int, maxBytes: Int) {
        self.maxCount = max(0, maxCount)
        self.maxBytes = max(0, maxBytes)
    }

    /// Keeps `bundle`, evicting the oldest beyond the bounds.
    func insert(_ bundle: StoredBundle) {
        guard maxCount > 0, bundle.bytes.count <= maxBytes else { return }
        state.withLock { state in
            guard state.byPosition.updateValue(bundle, forKey: bundle.position) == nil else { return }
            state.order.append(bundle.position)
            state.bytes += bundle.bytes.count
            while state.order.count - state.head > maxCount || state.bytes > maxBytes {
                let oldest = state.order[state.head]
                state.head += 1
                if let evicted = state.byPosition.removeValue(forKey: oldest) { state.bytes -= evicted.bytes.count }
            }
            if state.head > 1_024, state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// The bundle kept at `position`, if any.
    subscript(position: Int64) -> StoredBundle? {
        state.withLock { $0.byPosition[position] }
    }

    /// How many bundles are kept.
    var count: Int { state.withLock { $0.byPosition.count } }
}
