import ConcordCore
import ConcordProtocol
import Logging
import NIOCore
import Synchronization

/// Framed bundles on their way to a feed connection: one or more `length | bytes`
/// frames (`Specs/relay-api.md` §5) and how many bundles they hold.
struct FeedMessage: Sendable {
    var frames: ByteBuffer
    var bundles: Int

    /// Whether a frame holds a control bundle (format 3, flag bit 1): a membership op that
    /// may remove the subscriber. Reads only the frames' lengths and two header bytes.
    var holdsControlBundle: Bool {
        var offset = frames.readerIndex
        while let length = frames.getInteger(at: offset, as: UInt32.self) {
            let start = offset + 4
            if length > 5, let version = frames.getInteger(at: start + 4, as: UInt8.self),
                let flags = frames.getInteger(at: start + 5, as: UInt8.self),
                version == ChangeBundle.memberFormatVersion, flags & 0x02 != 0
            {
                return true
            }
            offset = start + Int(length)
        }
        return false
    }
}

/// One live-feed connection's queue: bounded, so a slow reader is dropped, never
/// buffered without limit, and drained in batches, so a busy connection sends several
/// bundles per WebSocket message instead of one write per bundle (`Specs/relay-api.md` §5).
final class FeedSubscriber: Sendable {
    /// The space it follows.
    let spaceID: SpaceID
    /// Bundles it may hold before it overflows.
    let backlog: Int

    private struct State {
        var queue: [FeedMessage] = []
        var head = 0
        var bundles = 0
        var waiter: CheckedContinuation<FeedMessage?, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    private let overflowed = Atomic<Bool>(false)

    init(spaceID: SpaceID, backlog: Int) {
        self.spaceID = spaceID
        self.backlog = max(1, backlog)
    }

    /// Whether the queue overflowed; the connection is then closed with 4008.
    var hasOverflowed: Bool { overflowed.load(ordering: .acquiring) }

    /// Queues framed bundles; on overflow marks the subscriber and finishes its queue.
    /// - Returns: False when the subscriber overflowed now.
    func offer(_ message: FeedMessage) -> Bool {
        enum Action { case none, resume(CheckedContinuation<FeedMessage?, Never>), overflow }
        let action: Action = state.withLock { state in
            if state.finished { return .none }
            if let waiter = state.waiter {
                state.waiter = nil
                return .resume(waiter)
            }
            if state.bundles + message.bundles > backlog {
                state.finished = true
                state.queue = []
                state.head = 0
                state.bundles = 0
                return .overflow
            }
            state.queue.append(message)
            state.bundles += message.bundles
            return .none
        }
        switch action {
        case .none:
            return true
        case .resume(let waiter):
            waiter.resume(returning: message)
            return true
        case .overflow:
            overflowed.store(true, ordering: .releasing)
            return false
        }
    }

    /// Everything queued, oldest first, joined into one message of at most `maxBytes`
    /// (but always at least one queued message); waits when the queue is empty. Nil once
    /// finished (the connection is closing, or the subscriber overflowed). Cancellation
    /// finishes the queue.
    func nextBatch(maxBytes: Int) async -> FeedMessage? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<FeedMessage?, Never>) in
                let ready: FeedMessage?? = state.withLock { state in
                    guard state.head < state.queue.count else {
                        if state.finished { return .some(nil) }
                        state.waiter = continuation
                        return nil
                    }
                    var batch = state.queue[state.head]
                    state.head += 1
                    var joined = false
                    while state.head < state.queue.count {
                        let next = state.queue[state.head]
                        if batch.frames.readableBytes + next.frames.readableBytes > maxBytes { break }
                        if !joined {
                            // Copy before appending: the first message is shared with other subscribers.
                            var copy = ByteBufferAllocator().buffer(capacity: batch.frames.readableBytes + next.frames.readableBytes)
                            copy.writeImmutableBuffer(batch.frames)
                            batch.frames = copy
                            joined = true
                        }
                        batch.frames.writeImmutableBuffer(next.frames)
                        batch.bundles += next.bundles
                        state.head += 1
                    }
                    state.bundles -= batch.bundles
                    if state.head == state.queue.count {
                        state.queue.removeAll(keepingCapacity: true)
                        state.head = 0
                    } else if state.head > 1024 && state.head * 2 > state.queue.count {
                        state.queue.removeFirst(state.head)
                        state.head = 0
                    }
                    return .some(batch)
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Ends the queue (the connection is closing); a waiting ``nextBatch(maxBytes:)`` returns nil.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<FeedMessage?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}

/// The relay's one fan-out task: it consumes ``RelayStorage/notices()``, reads each
/// stored bundle once, and queues it for every local subscriber of its space.
///
/// Bundles are framed once and coalesced per space: when the previous delivery was more
/// than `window` ago a bundle goes out at once; otherwise it waits, with whatever else
/// arrives, until `window` after the previous delivery. An idle feed adds no delay; a busy
/// one sends every subscriber at most one message per `window`, built once and shared.
final class FeedHub: Sendable {
    private let subscribers = Mutex<[SpaceID: [ObjectIdentifier: FeedSubscriber]]>([:])
    private let closing = Atomic<Bool>(false)
    private let storage: any RelayStorage
    private let metrics: RelayMetrics
    private let logger: Logger
    private let window: Duration

    private struct Pending {
        var spaces: [SpaceID: FeedMessage] = [:]
        var order: [SpaceID] = []
        var lastDelivery: ContinuousClock.Instant?
        var timerArmed = false
    }

    private let pending = Mutex(Pending())

    init(storage: any RelayStorage, metrics: RelayMetrics, logger: Logger, window: Duration = .milliseconds(20)) {
        self.storage = storage
        self.metrics = metrics
        self.logger = logger
        self.window = window
    }

    /// Registers a subscriber; bundles stored from now on reach it. After ``close()`` the
    /// subscriber is finished at once (its connection closes).
    func add(_ subscriber: FeedSubscriber) {
        let open = subscribers.withLock { all -> Bool in
            guard !closing.load(ordering: .acquiring) else { return false }
            all[subscriber.spaceID, default: [:]][ObjectIdentifier(subscriber)] = subscriber
            return true
        }
        guard open else { return subscriber.finish() }
        metrics.subscribers.increment()
    }

    /// The relay is stopping: finishes every subscriber, so each feed connection sends
    /// what it has queued and closes, and refuses new ones the same way.
    func close() {
        let all = subscribers.withLock { all -> [FeedSubscriber] in
            closing.store(true, ordering: .releasing)
            return all.values.flatMap(\.values)
        }
        for subscriber in all { subscriber.finish() }
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
        await withDiscardingTaskGroup { timers in
            for await notice in notices {
                guard subscribers.withLock({ $0[notice.spaceID] != nil }) else { continue }
                guard let bundle = await read(notice) else {
                    // Never skip silently: a subscriber would miss the bundle until its
                    // next pull. Its feed ends instead; the client reconnects and pulls.
                    endFeeds(of: notice.spaceID)
                    continue
                }
                if let deadline = enqueue(bundle, of: notice.spaceID) {
                    timers.addTask {
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        self.deliverPending(now: true)
                    }
                }
            }
            deliverPending(now: true)
        }
    }

    /// Delays between attempts to read an announced bundle (a busy database can time out).
    static let readRetryDelays: [Duration] = [.milliseconds(50), .milliseconds(250), .seconds(1)]

    /// The announced bundle, read with retries; nil when it cannot be read (logged).
    private func read(_ notice: BundleNotice) async -> StoredBundle? {
        var attempt = 0
        while true {
            do {
                if let bundle = try await storage.bundle(at: notice.position) {
                    // Retention dropped its bytes meanwhile: its subscribers pull, and learn
                    // that they need the snapshot (`409 snapshot-required`).
                    guard !bundle.bytes.isEmpty else { return nil }
                    return bundle
                }
                logger.error("feed: an announced bundle is not in storage", metadata: ["position": "\(notice.position)"])
            } catch {
                logger.warning("feed could not read a stored bundle", metadata: ["position": "\(notice.position)", "attempt": "\(attempt + 1)", "error": "\(error)"])
            }
            guard attempt < Self.readRetryDelays.count, !Task.isCancelled else { break }
            metrics.feedReadRetries.increment()
            try? await Task.sleep(for: Self.readRetryDelays[attempt])
            attempt += 1
        }
        logger.error("feed gave up reading a stored bundle; closing the space's feeds so their clients pull it", metadata: ["position": "\(notice.position)"])
        return nil
    }

    /// Ends every feed of a space after what it has queued (the clients reconnect and
    /// pull, `Specs/relay-api.md` §5).
    func endFeeds(of space: SpaceID) {
        let targets = subscribers.withLock { Array(($0[space] ?? [:]).values) }
        for subscriber in targets { subscriber.finish() }
        metrics.feedReadFailures.increment()
    }

    /// Adds a bundle to its space's pending message and delivers at once when the feed
    /// was idle.
    /// - Returns: When a timer must deliver the pending messages, if one is needed now.
    private func enqueue(_ bundle: StoredBundle, of space: SpaceID) -> ContinuousClock.Instant? {
        let deadline: ContinuousClock.Instant? = pending.withLock { state in
            if state.spaces[space] == nil {
                state.spaces[space] = FeedMessage(frames: ByteBufferAllocator().buffer(capacity: 4 + bundle.bytes.count), bundles: 0)
                state.order.append(space)
            }
            state.spaces[space]!.frames.writeInteger(UInt32(bundle.bytes.count))
            state.spaces[space]!.frames.writeBytes(bundle.bytes)
            state.spaces[space]!.bundles += 1
            if state.timerArmed { return nil }
            let now = ContinuousClock.now
            if let last = state.lastDelivery, now < last + window {
                state.timerArmed = true
                return last + window
            }
            return now
        }
        guard let deadline else { return nil }
        if deadline <= ContinuousClock.now {
            deliverPending(now: false)
            return nil
        }
        return deadline
    }

    /// Hands every pending message to the subscribers of its space, in arrival order.
    /// Runs under the pending lock, so deliveries never overtake one another.
    private func deliverPending(now fromTimer: Bool) {
        pending.withLock { state in
            if fromTimer { state.timerArmed = false }
            guard !state.order.isEmpty else { return }
            state.lastDelivery = ContinuousClock.now
            for space in state.order {
                guard let message = state.spaces[space] else { continue }
                let targets = subscribers.withLock { Array(($0[space] ?? [:]).values) }
                for subscriber in targets where !subscriber.offer(message) {
                    metrics.feedOverflows.increment()
                    logger.notice("feed subscriber fell behind and is closed", metadata: ["space": "\(space.shortDescription)"])
                }
            }
            state.spaces.removeAll(keepingCapacity: true)
            state.order.removeAll(keepingCapacity: true)
        }
    }
}
