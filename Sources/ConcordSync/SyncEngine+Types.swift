import Concord
import ConcordCrypto

extension SyncEngine {
    /// Where the engine stands (sync-protocol §3).
    ///
    /// ```swift
    /// for await status in await engine.status {
    ///     switch status {
    ///     case .synced: hideSpinner()
    ///     case .syncing(let progress): showSpinner(progress.fractionDone)
    ///     case .offline, .error: showCloudWarning(status.description)
    ///     case .attention(let problem): showBanner(problem.message)   // set the clock, or recover
    ///     }
    /// }
    /// ```
    public enum Status: Sendable, Hashable, CustomStringConvertible {
        /// Not connected: not started, stopped, or the relay (and every peer) is
        /// unreachable (retrying).
        case offline
        /// A round is running; the progress of the pull so far.
        case syncing(SyncProgress)
        /// Everything local is at the relay and everything at the relay is here (as of
        /// the last round; in live mode, kept up to date by the feed).
        case synced
        /// The relay refused the exchange; the message says why and what to do.
        case error(String)
        /// This device needs its owner: its clock is wrong or its history forked. The
        /// problem's message says what happened, with dates, and its remedy the one thing
        /// to do (set the date and time, or `Replica.recover()`); sync goes on retrying.
        case attention(ReplicaProblem)

        /// `offline`, `syncing 3/10 bundles, 4096 bytes`, `synced`, `error: …`.
        public var description: String {
            switch self {
            case .offline: return "offline"
            case .syncing(let progress): return "syncing \(progress)"
            case .synced: return "synced"
            case .error(let message): return "error: \(message)"
            case .attention(let problem): return "attention: \(problem.message)"
            }
        }

        /// Whether this is `.syncing`, whatever the progress.
        public var isSyncing: Bool {
            if case .syncing = self { return true }
            return false
        }
    }

    /// Progress of a round's pull.
    ///
    /// ```swift
    /// if case .syncing(let progress) = status, let fraction = progress.fractionDone {
    ///     bar.value = fraction
    /// }
    /// ```
    public struct SyncProgress: Sendable, Hashable, CustomStringConvertible {
        /// Bundles received and imported so far.
        public var bundlesReceived: Int
        /// Bytes of those bundles.
        public var bytesReceived: Int
        /// Bundles expected, when the relay's vector told it.
        public var bundlesTotal: Int?
        /// Bytes expected, when known.
        public var bytesTotal: Int?
        /// Chunks of a snapshot fetched so far, while an initial sync loads one
        /// (`Specs/snapshots.md` §4.5); the bundles above it come after.
        public var chunksReceived: Int
        /// The snapshot's chunks, while an initial sync loads one; nil otherwise.
        public var chunksTotal: Int?

        /// Creates a progress value.
        /// - Parameters:
        ///   - bundlesReceived: Bundles received.
        ///   - bytesReceived: Bytes received.
        ///   - bundlesTotal: Bundles expected, if known.
        ///   - bytesTotal: Bytes expected, if known.
        ///   - chunksReceived: Snapshot chunks fetched.
        ///   - chunksTotal: Snapshot chunks expected, while loading one.
        public init(
            bundlesReceived: Int = 0, bytesReceived: Int = 0, bundlesTotal: Int? = nil, bytesTotal: Int? = nil, chunksReceived: Int = 0,
            chunksTotal: Int? = nil
        ) {
            self.bundlesReceived = bundlesReceived
            self.bytesReceived = bytesReceived
            self.bundlesTotal = bundlesTotal
            self.bytesTotal = bytesTotal
            self.chunksReceived = chunksReceived
            self.chunksTotal = chunksTotal
        }

        /// Done fraction in 0...1 when a total is known (of the snapshot's chunks while
        /// they are fetched, then of the bundles).
        public var fractionDone: Double? {
            if let chunksTotal, chunksTotal > 0 { return min(1, Double(chunksReceived) / Double(chunksTotal)) }
            if let bytesTotal, bytesTotal > 0 { return min(1, Double(bytesReceived) / Double(bytesTotal)) }
            if let bundlesTotal, bundlesTotal > 0 { return min(1, Double(bundlesReceived) / Double(bundlesTotal)) }
            return nil
        }

        /// `3/10 bundles, 4096 bytes`, or `snapshot 2/5 chunks` while a snapshot loads.
        public var description: String {
            if let chunksTotal { return "snapshot \(chunksReceived)/\(chunksTotal) chunks" }
            return "\(bundlesReceived)\(bundlesTotal.map { "/\($0)" } ?? "") bundles, \(bytesReceived) bytes"
        }
    }

    /// What one round did.
    ///
    /// ```swift
    /// let summary = try await engine.syncNow()
    /// print(summary)   // "pulled 12 (duplicate 0, held 0), pushed 3 (duplicate 0)"
    /// ```
    public struct Summary: Sendable, Hashable, CustomStringConvertible {
        /// What the pull imported.
        public var pulled: ImportSummary
        /// What the push stored at the relay.
        public var pushed: RelayClient.PushSummary
        /// What each peer exchange did.
        public var peers: [PeerSyncSummary] = []
        /// Peers that could not be synced, with why (`peer://HOST:PORT: message`).
        public var peerFailures: [String] = []
        /// What the round found wrong with this device (its clock, a fork of its history),
        /// judged with the relay's clock as a second opinion; empty when all is well.
        public var problems: [ReplicaProblem]
        /// Bundles of this device's own chain the relay held and this store did not: it was
        /// restored from a backup, or a copy of it wrote elsewhere. They were imported
        /// before this store's unsealed writes, which now follow them
        /// (`Specs/sync-protocol.md` §5.2).
        public var ownBundlesFromElsewhere: UInt64 = 0
        /// The relay's snapshot this round loaded into an empty store before pulling
        /// (`Specs/snapshots.md` §4.5), if any.
        public var snapshotLoaded: Digest32?
        /// This device's own sealed snapshot this round uploaded to the relay, if any.
        public var snapshotUploaded: Digest32?
        /// What this round's automatic compaction reclaimed (`Replica.Options.compaction`
        /// `.auto`), if it ran.
        public var compacted: CompactionReport?
        /// Seconds per step of the round, for `concord-bench --suite new-device`
        /// (`Specs/snapshots.md` §7): `vector`; when a snapshot was loaded, `snapshot
        /// download` (manifest, control bundles, chunks) and the load's own steps
        /// (`SnapshotLoadSummary.phases`); `pull` (the bundles above the local vector,
        /// fetched and imported), `duties`, `push`, `finish`.
        @_spi(Benchmarks) public var phases: [String: Double] = [:]

        /// Creates a summary.
        /// - Parameters:
        ///   - pulled: The pull's import counts.
        ///   - pushed: The push's counts.
        ///   - problems: What is wrong with this device.
        public init(
            pulled: ImportSummary = ImportSummary(), pushed: RelayClient.PushSummary = RelayClient.PushSummary(),
            problems: [ReplicaProblem] = []
        ) {
            self.pulled = pulled
            self.pushed = pushed
            self.problems = problems
        }

        /// `pulled 12 (duplicate 0, held 0, rejected 0), pushed 3 (duplicate 0)`, then one
        /// line per peer.
        public var description: String {
            let relay =
                "pulled \(pulled.applied) (duplicate \(pulled.duplicates), held \(pulled.held), rejected \(pulled.rejected.count)"
                + (pulled.forks == 0 ? "" : ", fork \(pulled.forks)")
                + (pulled.voided.isEmpty ? "" : ", void \(pulled.voided.count)")
                + "), pushed \(pushed.stored) (duplicate \(pushed.duplicates))"
                + (snapshotLoaded.map { ", loaded snapshot \($0.hex.prefix(8))" } ?? "")
                + (snapshotUploaded.map { ", uploaded snapshot \($0.hex.prefix(8))" } ?? "")
                + (compacted.map { ", compacted (\($0.bundlesDropped) bundles dropped)" } ?? "")
            let lines = peers.map(\.description) + peerFailures.map { "failed: \($0)" }
            return lines.isEmpty ? relay : (pushed.requests > 0 || pulled.applied > 0 ? [relay] + lines : lines).joined(separator: "\n")
        }
    }

    /// Tunables.
    public struct Options: Sendable, Hashable {
        /// The relay client's limits and timeouts.
        public var client: RelayClient.Options
        /// First retry delay bound, in seconds (full jitter: a retry waits a random time
        /// up to `min(maxDelay, baseDelay · 2^attempt)`).
        public var baseDelay: Double
        /// Largest retry delay, in seconds; also the wait after a refusal that cannot
        /// succeed by repeating it (`403`, `409 fork`, `422`).
        public var maxDelay: Double
        /// Seconds between cheap checks for local writes in live mode. Writes through
        /// this engine's `Replica` are pushed at once (`Replica.localWrites()`); the
        /// check finds writes made by other processes on the same store.
        public var localWritePollInterval: Double
        /// Quiet time before a push, in seconds: after noticing local writes the engine
        /// waits until none was made for this long, so a burst of writes is sealed into
        /// one bundle (each bundle costs every receiver one signature verification).
        public var pushDebounce: Double
        /// Longest wait between noticing local writes and pushing them, in seconds,
        /// however steadily writes keep coming (at least ``pushDebounce``).
        public var maxPushDelay: Double
        /// Seconds to wait for the feed's `ready` before the round fails.
        public var readyTimeout: Double
        /// Whether a round of an empty store loads the relay's snapshot before pulling
        /// (`Specs/snapshots.md` §4.5); `true` by default. `false` replays the whole log, for
        /// measuring what a snapshot saves (`concord-bench --suite new-device`); not for apps.
        @_spi(Benchmarks) public var loadsSnapshots = true

        /// The defaults of sync-protocol §2: 0.5 s base, 30 s cap; local writes are
        /// pushed once none was made for 0.25 s, at most 1 s after the first (other
        /// processes' writes are noticed within 1 s).
        ///
        /// ```swift
        /// // Pushes within about 0.1 s of a lone write; bursts still coalesce up to 1 s.
        /// let options = SyncEngine.Options(pushDebounce: 0.1, maxPushDelay: 1)
        /// ```
        /// - Parameters:
        ///   - client: The relay client's options.
        ///   - baseDelay: First retry delay bound, in seconds.
        ///   - maxDelay: Largest retry delay, in seconds.
        ///   - localWritePollInterval: Seconds between checks for local writes.
        ///   - pushDebounce: Seconds without a local write before pushing.
        ///   - readyTimeout: Seconds to wait for the feed to be ready.
        ///   - maxPushDelay: Longest wait, in seconds, between noticing writes and pushing.
        public init(
            client: RelayClient.Options = RelayClient.Options(), baseDelay: Double = 0.5, maxDelay: Double = 30,
            localWritePollInterval: Double = 1, pushDebounce: Double = 0.25, readyTimeout: Double = 10, maxPushDelay: Double = 1
        ) {
            self.client = client
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
            self.localWritePollInterval = localWritePollInterval
            self.pushDebounce = pushDebounce
            self.maxPushDelay = maxPushDelay
            self.readyTimeout = readyTimeout
        }

        /// The delay before retry number `attempt` (0 for the first retry): a random
        /// time up to `min(maxDelay, baseDelay · 2^attempt)`, or the relay's
        /// `Retry-After` when it gave one.
        /// - Parameters:
        ///   - attempt: Failed rounds since the last success, minus one.
        ///   - retryAfter: The relay's `Retry-After`, in seconds.
        /// - Returns: Seconds to wait.
        public func retryDelay(attempt: Int, retryAfter: Double? = nil) -> Double {
            if let retryAfter { return min(maxDelay, max(0, retryAfter)) }
            let bound = min(maxDelay, baseDelay * Double(1 << min(attempt, 30)))
            return Double.random(in: 0...bound)
        }
    }
}
