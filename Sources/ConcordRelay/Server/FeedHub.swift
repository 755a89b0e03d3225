import Concord
import Logging
import Synchronization

/// One live-feed connection's queue: bounded, so a slow reader is dropped, never
/// buffered without limit (`Specs/relay-api.md` §5).
final class FeedSubscriber: Sendable {
    /// The space it follows.
    let spaceID: SpaceID
    /// Bundle bytes to send, in order.
    let stream: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let overflowed = Atomic<Bool>(false)

    init(spaceID: SpaceID, backlog: Int) {
        self.spaceID = spaceID
        (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(max(1, backlog)))
    }

    /// Whether the queue overflowed; the connection is then closed with 4008.
    var hasOverflowed: Bool { overflowed.load(ordering: .acquiring) }

    /// Queues a bundle; on overflow marks the subscriber and ends its stream.
    /// - Returns: False when the subscriber overflowed now.
    func offer(_ bytes: [UInt8]) -> Bool {
        switch continuation.yield(bytes) {
        case .enqueued, .terminated:
            return true
        case .dropped:
            overflowed.store(true, ordering: .releasing)
            continuation.finish()
            return false
        @unknown default:
            return true
        }
    }

    /// Ends the stream (the connection is closing).
    func finish() { continuation.finish() }
}

/// The relay's one fan-out task: it consumes ``RelayStorage/notices()``, reads each
/// stored bundle once, and queues it for every local subscriber of its space.
final class FeedHub: Sendable {
    private let subscribers = Mutex<[SpaceID: [ObjectIdentifier: FeedSubscriber]]>([:])
    private let storage: any RelayStorage
    private let metrics: RelayMetrics
    private let logger: Logger

    init(storage: any RelayStorage, metrics: RelayMetrics, logger: Logger) {
        self.storage = storage
        self.metrics = metrics
        self.logger = logger
    }

    /// Registers a subscriber; bundles stored from now on reach it.
    func add(_ subscriber: FeedSubscriber) {
        subscribers.withLock { $0[subscriber.spaceID, default: [:]][ObjectIdentifier(subscriber)] = subscriber }
        metrics.subscribers.increment()
    }

    /// Unregisters a subscriber.
    func remove(_ subscriber: FeedSubscriber) {
        let removed = subscribers.withLock { all -> Bool in
            let key = ObjectIdentifier(subscriber)
            guard all[subscriber.spaceID]?[key] != nil else { return false }
            all[subscriber.spaceID]![key] = nil
            if all[subscriber.spaceID]!.isEmpty { all[subscriber.spaceID] = nil }
            return true
        }
        if removed { metrics.subscribers.decrement() }
        subscriber.finish()
    }

    /// Delivers every notice of `notices` until it ends or the task is cancelled.
    func run(_ notices: AsyncStream<BundleNotice>) async {
        for await notice in notices {
            let targets = subscribers.withLock { Array(($0[notice.spaceID] ?? [:]).values) }
            guard !targets.isEmpty else { continue }
            let bundle: StoredBundle?
            do {
                bundle = try await storage.bundle(at: notice.position)
            } catch {
                logger.error("feed could not read a stored bundle", metadata: ["position": "\(notice.position)", "error": "\(error)"])
                continue
            }
            guard let bundle else { continue }
            for subscriber in targets where !subscriber.offer(bundle.bytes) {
                metrics.feedOverflows.increment()
                logger.notice("feed subscriber fell behind and is closed", metadata: ["space": "\(notice.spaceID.shortDescription)"])
            }
        }
    }
}
