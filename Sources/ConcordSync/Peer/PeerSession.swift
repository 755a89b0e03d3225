import Concord
import ConcordCrypto
import Foundation
import Logging
import NIOCore
import Synchronization

/// What one peer connection did.
///
/// ```swift
/// let summary = try await node.sync(with: PeerEndpoint("peer://192.168.1.20:7420")!)
/// print(summary)   // "peer 3f2a9c01: received 12 (applied 12, …), sent 4"
/// ```
public struct PeerSyncSummary: Sendable, Hashable, CustomStringConvertible {
    /// The peer's device key.
    public var peer: PublicKey
    /// What importing the received bundles did.
    public var received = ImportSummary()
    /// Bundles received.
    public var bundlesReceived = 0
    /// Bytes of bundles received.
    public var bytesReceived = 0
    /// Bundles sent.
    public var bundlesSent = 0
    /// Bytes of bundles sent.
    public var bytesSent = 0

    /// Creates an empty summary for `peer`.
    /// - Parameters:
    ///   - peer: The peer's device key.
    public init(peer: PublicKey) {
        self.peer = peer
    }

    /// `peer 3f2a9c01: received 12 (applied 12, duplicate 0, held 0, fork 0, rejected 0), sent 4`.
    public var description: String {
        "peer \(peer.hex.prefix(8)): received \(bundlesReceived) (applied \(received.applied), duplicate \(received.duplicates), held \(received.held), fork \(received.forks), rejected \(received.rejected.count)), sent \(bundlesSent)"
    }
}

/// Tunables of peer connections.
public struct PeerOptions: Sendable, Hashable {
    /// Largest plaintext of one bundles message (a single larger bundle travels alone).
    public var maxMessageBytes: Int
    /// Largest bundle accepted from a peer.
    public var maxBundleBytes: Int
    /// Seconds without sending anything before a ping is sent.
    public var pingInterval: Double
    /// Seconds without receiving anything before the connection is considered dead.
    public var idleTimeout: Double
    /// Seconds a handshake may take.
    public var handshakeTimeout: Double
    /// Seconds between checks of the log for bundles appended by other processes.
    public var logPollInterval: Double
    /// Seconds a connection attempt may take.
    public var connectTimeout: Double

    /// The defaults: 4 MiB messages (one import transaction each, like a relay pull's page), ping after 5 s of silence, dead after 20 s, 10 s
    /// handshakes and connects, the log checked every second.
    /// - Parameters:
    ///   - maxMessageBytes: Largest bundles message.
    ///   - maxBundleBytes: Largest bundle accepted.
    ///   - pingInterval: Seconds of silence before a ping.
    ///   - idleTimeout: Seconds without input before giving up on a connection.
    ///   - handshakeTimeout: Seconds a handshake may take.
    ///   - logPollInterval: Seconds between checks of the log.
    ///   - connectTimeout: Seconds a connection attempt may take.
    public init(
        maxMessageBytes: Int = 4 << 20, maxBundleBytes: Int = BundleLimits.defaultMaxBundleBytes, pingInterval: Double = 5,
        idleTimeout: Double = 20, handshakeTimeout: Double = 10, logPollInterval: Double = 1, connectTimeout: Double = 10
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxBundleBytes = maxBundleBytes
        self.pingInterval = pingInterval
        self.idleTimeout = idleTimeout
        self.handshakeTimeout = handshakeTimeout
        self.logPollInterval = logPollInterval
        self.connectTimeout = connectTimeout
    }
}

/// One authenticated connection running the sync exchange of `Specs/peer-protocol.md` §5,
/// the same on both ends: vectors, every bundle the other lacks, `synced`, then (live) new
/// bundles as the log grows, whoever wrote them.
struct PeerSession: Sendable {
    enum Mode: Sendable { case once, live }

    /// What a session tells its owner as it goes.
    enum Event: Sendable {
        /// Receiving the peer's backlog.
        case progress(SyncEngine.SyncProgress)
        /// Both backlogs are through and acknowledged.
        case synced
        /// Bundles arrived (and were imported).
        case received(ImportSummary, bundles: Int, bytes: Int)
    }

    let replica: Replica
    let mode: Mode
    let options: PeerOptions
    let signal: LogSignal
    let logger: Logger
    let onEvent: @Sendable (Event) -> Void

    /// State both loops touch.
    struct Shared: Sendable {
        /// What the peer holds, as far as this side knows: its vectors, what it sent, what
        /// this side sent it.
        var known = VersionVector()
        var peerVectorReceived = false
        var peerSynced = false
        var syncedSent = false
        var acks = 0
        var ackRequested = false
        var pongs: [UInt64] = []
        var lastReceived = ContinuousClock.now
        var summary: PeerSyncSummary
        var reportedSynced = false

        var isComplete: Bool { peerSynced && syncedSent && acks > 0 }
    }

    /// Runs the exchange until it completes (once), the peer closes, or the connection fails.
    /// - Returns: What was exchanged.
    /// - Throws: ``ConcordSyncError`` `.unreachable` (cut, silent peer), `.peerProtocol`
    ///   (a message failed authentication or did not parse), `.peerRefused` (the peer closed
    ///   with a refusal); `ConcordError` `.storage`.
    func run(link: inout PeerLink, channel: any Channel) async throws -> PeerSyncSummary {
        let shared = SharedState(Shared(summary: PeerSyncSummary(peer: link.established.peer)))
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let writer = PeerLinkWriter(established: link.established, outbound: link.outbound)
        let startVector = try await replica.versionVector()
        let peer = link.established.peer
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await sendLoop(writer, shared: shared, wakes: wakes, wake: wake)
                } catch {
                    if !(error is CancellationError) { channel.close(promise: nil) }
                    throw error
                }
            }
            group.addTask {
                // Forwards log growth to this session's wake-ups.
                for await _ in signal.subscribe() { wake.yield(()) }
            }
            group.addTask {
                // Watchdog: a peer that stays silent past the idle timeout is gone.
                while true {
                    try await Task.sleep(for: .seconds(min(1, options.idleTimeout / 4)))
                    let last = shared.withLock { $0.lastReceived }
                    if ContinuousClock.now - last > .seconds(options.idleTimeout) {
                        logger.debug("peer silent; closing", metadata: ["peer": "\(peer.hex.prefix(8))"])
                        channel.close(promise: nil)
                        return
                    }
                }
            }
            defer { group.cancelAll() }
            do {
                try await receiveLoop(&link, shared: shared, wake: wake, startVector: startVector)
            } catch {
                group.cancelAll()
                // A send failure closes the channel, which ends the receive loop: report it.
                while let result = await group.nextResult() {
                    if case .failure(let sendError) = result, let sendError = sendError as? ConcordSyncError, sendError.code != .unreachable {
                        throw sendError
                    }
                }
                throw error
            }
            if mode == .once {
                // The sender closes the stream once everything is acknowledged.
                try await group.next()
            }
            return shared.withLock { $0.summary }
        }
    }

    /// Receives until the peer closes or (once) the exchange is complete.
    func receiveLoop(_ link: inout PeerLink, shared: SharedState, wake: AsyncStream<Void>.Continuation, startVector: VersionVector) async throws {
        var expected: Int?
        var backlogBundles = 0
        var backlogBytes = 0
        while true {
            guard let received = try await link.receive() else {
                throw ConcordSyncError(.unreachable, "the connection to peer \(link.established.peer.hex.prefix(8)) was cut; what arrived whole was kept, sync resumes when it is back")
            }
            let (message, final) = received
            shared.withLock { $0.lastReceived = .now }
            switch message {
            case .vector(let vector):
                let first = shared.withLock { state -> Bool in
                    state.known.formMax(vector)
                    defer { state.peerVectorReceived = true }
                    if state.peerVectorReceived { state.acks += 1 }
                    return !state.peerVectorReceived
                }
                if first {
                    expected = vector.bundlesAbove(startVector)
                    onEvent(.progress(SyncEngine.SyncProgress(bundlesTotal: expected)))
                }
                try await replica.acknowledge(vector)
            case .bundles(let bundles):
                guard shared.withLock({ $0.peerVectorReceived }) else {
                    throw ConcordSyncError(.peerProtocol, "peer \(link.established.peer.hex.prefix(8)) sent bundles before its vector; dropped")
                }
                let bytes = bundles.reduce(0) { $0 + $1.count }
                let imported = try await replica.import(bundles)
                let live = shared.withLock { state -> Bool in
                    for bundle in bundles {
                        if let (author, sequence) = bundleAuthorAndSequence(bundle), sequence > state.known[author] { state.known[author] = sequence }
                    }
                    state.summary.received.add(imported)
                    state.summary.bundlesReceived += bundles.count
                    state.summary.bytesReceived += bytes
                    if state.peerSynced { state.ackRequested = true }
                    return state.peerSynced
                }
                if imported.applied > 0 { signal.notify() }
                if live {
                    wake.yield(())
                    onEvent(.received(imported, bundles: bundles.count, bytes: bytes))
                } else {
                    backlogBundles += bundles.count
                    backlogBytes += bytes
                    onEvent(.progress(SyncEngine.SyncProgress(bundlesReceived: backlogBundles, bytesReceived: backlogBytes, bundlesTotal: expected)))
                    if imported.applied > 0 { onEvent(.received(imported, bundles: bundles.count, bytes: bytes)) }
                }
                for rejection in imported.rejected {
                    logger.notice("bundle from peer rejected", metadata: ["peer": "\(link.established.peer.hex.prefix(8))", "reason": "\(rejection.error.message)"])
                }
            case .synced:
                // The peer's backlog is in: acks, stale marks and checkpoints due after it
                // (`Specs/snapshots.md` §2-§3), as a relay round does after its pull. What
                // they seal joins the log, and the send loop carries it to this peer.
                if try await performStabilityDuties(peer: link.established.peer) { signal.notify() }
                shared.withLock {
                    $0.peerSynced = true
                    $0.ackRequested = true
                }
                wake.yield(())
            case .ping(let value):
                shared.withLock { $0.pongs.append(value) }
                wake.yield(())
            case .pong:
                break
            case let .close(code, reason):
                switch code {
                case .refused:
                    throw ConcordSyncError(.peerRefused, "peer \(link.established.peer.hex.prefix(8)) refused this device: \(reason)")
                case .protocolError:
                    throw ConcordSyncError(.peerProtocol, "peer \(link.established.peer.hex.prefix(8)) closed the connection: \(reason)")
                case .duplicate, .normal:
                    return
                }
            }
            if final {
                throw ConcordSyncError(.peerProtocol, "peer \(link.established.peer.hex.prefix(8)) ended its stream without a close message; dropped")
            }
            let (complete, newlySynced) = shared.withLock { state -> (Bool, Bool) in
                let synced = state.isComplete && !state.reportedSynced
                if synced { state.reportedSynced = true }
                return (state.isComplete, synced)
            }
            if newlySynced { onEvent(.synced) }
            if complete && mode == .once {
                wake.yield(())
                return
            }
        }
    }

    /// Seals the stability duties due (`Replica.performStabilityDuties()`); a duty the
    /// membership refuses (the device lost its role meanwhile) waits for the next exchange.
    /// - Returns: Whether anything was sealed.
    func performStabilityDuties(peer: PublicKey) async throws -> Bool {
        do {
            return !(try await replica.performStabilityDuties().isEmpty)
        } catch let error as ConcordError where error.code == .notAllowed {
            logger.debug("a stability duty was refused", metadata: ["peer": "\(peer.hex.prefix(8))", "reason": "\(error.message)"])
            return false
        }
    }

    /// Sends the vector, then the backlog and `synced`, then (live) whatever the log gains,
    /// acknowledgements, pongs and pings. The only writer of the connection.
    func sendLoop(_ writer: PeerLinkWriter, shared: SharedState, wakes: AsyncStream<Void>, wake: AsyncStream<Void>.Continuation) async throws {
        try await writer.send(PeerMessage.vector(try await replica.versionVector()).encoded)
        var lastSend = ContinuousClock.now
        var iterator = wakes.makeAsyncIterator()
        // Nothing but the vector until the peer's vector says what it holds.
        while !shared.withLock({ $0.peerVectorReceived }) {
            guard await next(&iterator, wake: wake, timeout: options.pingInterval) else { return }
        }
        var cursor = LogCursor()
        while true {
            try Task.checkCancellation()
            for pong in shared.withLock({ state -> [UInt64] in defer { state.pongs = [] }; return state.pongs }) {
                try await writer.send(PeerMessage.pong(pong).encoded)
                lastSend = .now
            }
            if shared.withLock({ state -> Bool in defer { state.ackRequested = false }; return state.ackRequested }) {
                try await writer.send(PeerMessage.vector(try await replica.versionVector()).encoded)
                lastSend = .now
            }
            if replica.role == .writer { try await replica.seal() }
            if try await sendNewBundles(writer, cursor: &cursor, shared: shared) { lastSend = .now }
            if !shared.withLock({ $0.syncedSent }) {
                try await writer.send(PeerMessage.synced.encoded)
                shared.withLock { $0.syncedSent = true }
                lastSend = .now
            }
            if mode == .once && shared.withLock({ $0.isComplete }) {
                try await writer.send(PeerMessage.close(.normal, "done").encoded, final: true)
                return
            }
            if ContinuousClock.now - lastSend >= .seconds(options.pingInterval) {
                try await writer.send(PeerMessage.ping(UInt64.random(in: 0...UInt64.max)).encoded)
                lastSend = .now
            }
            guard await next(&iterator, wake: wake, timeout: min(options.logPollInterval, options.pingInterval)) else { return }
        }
    }

    /// Sends every bundle appended since the last pass that the peer lacks.
    /// - Returns: Whether anything was sent.
    func sendNewBundles(_ writer: PeerLinkWriter, cursor: inout LogCursor, shared: SharedState) async throws -> Bool {
        var batch = BundleBatcher(maxBytes: options.maxMessageBytes)
        var sentAny = false
        func flush() async throws {
            guard !batch.bundles.isEmpty else { return }
            let bytes = batch.byteCount
            let bundles = batch.take()
            try await writer.send(PeerMessage.encodeBundles(bundles, byteCount: bytes))
            shared.withLock {
                $0.summary.bundlesSent += bundles.count
                $0.summary.bytesSent += bytes
            }
            sentAny = true
        }
        while let page = try cursor.nextPage(of: replica, above: shared.withLock { $0.known }) {
            for bundle in page {
                let fresh = shared.withLock { state -> Bool in
                    guard bundle.sequence > state.known[bundle.author] else { return false }
                    state.known[bundle.author] = bundle.sequence
                    return true
                }
                guard fresh else { continue }
                if batch.wouldOverflow(adding: bundle.bytes.count) { try await flush() }
                batch.append(bundle.bytes)
            }
        }
        try await flush()
        return sentAny
    }

    /// Waits for a wake-up or `timeout` seconds; `false` when the wake stream ended.
    func next(_ iterator: inout AsyncStream<Void>.AsyncIterator, wake: AsyncStream<Void>.Continuation, timeout: Double) async -> Bool {
        let timer = Task {
            try await Task.sleep(for: .seconds(timeout))
            wake.yield(())
        }
        defer { timer.cancel() }
        return await iterator.next() != nil
    }
}

/// The state both loops of a session touch, under a lock.
final class SharedState: Sendable {
    private let mutex: Mutex<PeerSession.Shared>

    init(_ initial: PeerSession.Shared) {
        mutex = Mutex(initial)
    }

    func withLock<R: Sendable>(_ body: (inout PeerSession.Shared) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}

/// The sending half of a ``PeerLink``, usable from another task.
struct PeerLinkWriter: Sendable {
    let established: PeerHandshake.Established
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func send(_ message: [UInt8], final: Bool = false) async throws {
        let sealed = established.sender.push(message, tag: final ? .final : .message)
        do {
            try await outbound.write(framed(sealed))
        } catch {
            throw ConcordSyncError(.unreachable, "the connection to the peer failed while sending (\(error)); sync resumes when it is back")
        }
    }
}
