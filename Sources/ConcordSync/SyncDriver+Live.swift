import Concord
import Foundation

extension SyncDriver {
    /// The live loop: sessions until cancelled, with backoff between failed ones.
    func runLive() async {
        while !Task.isCancelled {
            do {
                try await liveSession()
            } catch {
                if Task.isCancelled { break }
                report(error)
                let delay = retryDelay(after: error)
                logger.debug("sync retries", metadata: ["in": "\(delay)s", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(delay))
            }
        }
    }

    /// How long to wait after `error`: backoff with full jitter for what may pass, the
    /// longest delay for refusals that repeating cannot fix (no tight loop).
    func retryDelay(after error: any Error) -> Double {
        let syncError = error as? ConcordSyncError
        if let syncError, !syncError.isTransient { return options.maxDelay }
        defer { attempt += 1 }
        return options.retryDelay(attempt: attempt, retryAfter: syncError?.retryAfter)
    }

    /// One connected session: feed subscribed, a round, then feed imports and pushes
    /// of local writes until something fails (which ends the session by throwing).
    func liveSession() async throws {
        guard let client else { return }
        setStatus(.syncing(SyncProgress()))
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await client.feed(onReady: { readyContinuation.yield(()) }) { [weak self] outcome, _ in
                    await self?.feedReceived(outcome)
                }
            }
            group.addTask { [options] in
                try await Self.waitForReady(ready, timeout: options.readyTimeout)
                _ = try await self.round(client)
                try await self.watchLocalWrites(client)
            }
            // Both run until they fail; the first failure ends the session.
            while try await group.next() != nil {}
        }
    }

    /// Waits for the feed's `ready`.
    static func waitForReady(_ ready: AsyncStream<Void>, timeout: Double) async throws {
        let arrived = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in ready { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        try Task.checkCancellation()
        guard arrived else {
            throw ConcordSyncError(.unreachable, "the relay's live feed did not become ready within \(timeout) s; retrying")
        }
    }

    /// Pushes local writes, debounced: woken by the replica's `Replica.localWrites()`
    /// signal at once, and by a cheap status check every `localWritePollInterval`; then
    /// waits until no local write was made for `pushDebounce` (at most `maxPushDelay` after
    /// waking), so a burst of writes is sealed into one bundle (issue 18.5): every bundle
    /// costs each receiver one signature verification.
    ///
    /// Writes made through another `Replica` instance on the same store (an app
    /// extension, another process) are not signalled; the periodic check finds them as
    /// pending operations in the store, and the push seals and sends them.
    func watchLocalWrites(_ client: RelayClient) async throws {
        // Format 2: a reader's certificate never changes. Format 3: a member's role can (a
        // reader made a writer, a join admitted later), so the watcher runs and each push
        // asks `mayWrite()` (`pushUntilSettled`).
        guard replica.role == .writer else {
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        // Bundles that peers brought (other authors') go on to the relay too.
        let peerImports = peers != nil ? signal.subscribe() : nil
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let writes = await replica.localWrites()
        // A first check at once: writes made after the round's push but before the signal
        // above was subscribed are not signalled (regression: they waited for the poll).
        wake.yield(())
        let interval = options.localWritePollInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in writes {
                    await self.noteLocalWrite()
                    wake.yield(())
                }
            }
            if let peerImports {
                group.addTask {
                    for await _ in peerImports {
                        try await Task.sleep(for: .seconds(self.options.pushDebounce))
                        let relayHolds = try await client.vector()
                        let local = try await self.replica.versionVector()
                        if !relayHolds.includes(local) { try await self.pushRound(client) }
                    }
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(interval))
                    wake.yield(())
                }
            }
            group.addTask {
                for await _ in wakes {
                    guard try await self.hasLocalChanges() else { continue }
                    try await self.waitForQuietWrites()
                    try await self.pushRound(client)
                }
            }
            defer { group.cancelAll() }
            // Runs until cancelled or a push fails; either ends all three.
            try await group.next()
        }
    }

    /// Remembers when this engine's replica last wrote (``waitForQuietWrites()``).
    func noteLocalWrite() {
        lastLocalWrite = .now
    }

    /// Waits until no local write was made for `pushDebounce` seconds, and at least that
    /// long, but at most `maxPushDelay` seconds in all: a burst of writes is pushed (and
    /// sealed) together, and a steady stream of writes is still pushed every
    /// `maxPushDelay`. The writes are durable in the store meanwhile; only their sealing
    /// waits (`Specs/sync-protocol.md` §1.6).
    func waitForQuietWrites() async throws {
        let start = ContinuousClock.now
        let deadline = start + .seconds(max(options.pushDebounce, options.maxPushDelay))
        while true {
            let quiet = max(start, lastLocalWrite ?? start) + .seconds(options.pushDebounce)
            let until = min(quiet, deadline)
            guard until > .now else { return }
            try await Task.sleep(until: until, clock: .continuous)
        }
    }

    /// A bundle arrived on the feed: counted, and (when applied) offered to the peers.
    func feedReceived(_ outcome: ImportOutcome) {
        feedBundlesReceived += 1
        if peers != nil, case .applied = outcome { signal.notify() }
    }
}
