import ConcordCore
import ConcordCrypto
import ConcordStore

extension Replica {
    /// Imports one bundle in one store transaction: verified, then applied entirely or
    /// not at all (`Specs/wire-format.md`, section 7.7). Pending local writes are sealed
    /// first. Observers hear about the changes.
    ///
    /// ```swift
    /// switch try await replica.import(bytes) {
    /// case .rejected(let error): print(error.message)
    /// default: break
    /// }
    /// ```
    /// - Returns: The outcome; a rejection leaves the store unchanged.
    /// - Throws: `ConcordError` `.storage` when the store fails (nothing is applied).
    public func `import`(_ bytes: [UInt8]) throws -> ImportOutcome {
        try self.import(bytes, fromRelay: false)
    }

    /// ``import(_:)-([UInt8])``, saying whether the bundle came from a relay (see
    /// ``import(_:sealingFirst:fromRelay:progress:)``).
    package func `import`(_ bytes: [UInt8], fromRelay: Bool) throws -> ImportOutcome {
        var summary = ImportSummary()
        var outcome = ImportOutcome.duplicate(.zero)
        try importBatch([bytes], startingAt: 0, summary: &summary, fromRelay: fromRelay) { outcome = $1 }
        return outcome
    }

    /// Imports many bundles, in order, several per store transaction (each bundle still
    /// entirely or not at all), reporting progress after each transaction.
    ///
    /// ```swift
    /// let summary = try await replica.import(received) { print($0) }
    /// print(summary)   // applied 40, duplicate 2, held 0, fork 0, rejected 0
    /// ```
    /// - Parameters:
    ///   - bundles: The bundles' bytes.
    ///   - progress: Called after each committed transaction.
    /// - Returns: Counts of each outcome.
    /// - Throws: `ConcordError` `.storage`; bundles of the failed transaction are not applied.
    @discardableResult
    public func `import`(_ bundles: [[UInt8]], progress: (@Sendable (ImportProgress) -> Void)? = nil) throws -> ImportSummary {
        try self.import(bundles, sealingFirst: true, progress: progress)
    }

    /// ``import(_:progress:)``, optionally without sealing pending writes first: a sync
    /// that finds the relay holding more of this device's own bundles than the store (a
    /// restored backup) imports them before sealing, so the pending writes follow them
    /// instead of forking the chain (`Specs/sync-protocol.md` §5). Bundles that do not come
    /// from a relay mark their authors as not yet confirmed by one: the next relay round
    /// compares this store's head of each such author with the relay's (§5.4).
    package func `import`(
        _ bundles: [[UInt8]], sealingFirst: Bool, fromRelay: Bool = false, progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) throws -> ImportSummary {
        let bytesTotal = bundles.reduce(0) { $0 + $1.count }
        var summary = ImportSummary()
        var report = ImportProgress(bundlesDone: 0, bundlesTotal: bundles.count, bytesDone: 0, bytesTotal: bytesTotal)
        progress?(report)
        var start = 0
        while start < bundles.count {
            let done = try importBatch(
                bundles[start...], startingAt: start, summary: &summary, sealingFirst: sealingFirst, fromRelay: fromRelay
            ) { _, _ in }
            report.bundlesDone += done
            report.bytesDone += bundles[start..<(start + done)].reduce(0) { $0 + $1.count }
            start += done
            progress?(report)
        }
        return summary
    }

    /// Imports the bundles of a stream (for example another replica's
    /// ``bundles(since:pageSize:)``), a batch per store transaction, holding at most one batch in
    /// memory.
    ///
    /// ```swift
    /// try await bob.import(alice.bundles(since: await bob.versionVector()))
    /// ```
    @discardableResult
    public func `import`<S: AsyncSequence>(
        _ stream: S, bytesTotal: Int? = nil, progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) async throws -> ImportSummary where S.Element == ChangeBundle {
        var summary = ImportSummary()
        var report = ImportProgress(bundlesDone: 0, bundlesTotal: nil, bytesDone: 0, bytesTotal: bytesTotal)
        var iterator = stream.makeAsyncIterator()
        var finished = false
        while !finished {
            var chunk: [[UInt8]] = []
            var chunkBytes = 0
            while chunkBytes < Self.importChunkBytes {
                guard let bundle = try await iterator.next(isolation: #isolation) else {
                    finished = true
                    break
                }
                chunk.append(bundle.bytes)
                chunkBytes += bundle.bytes.count
            }
            var start = 0
            while start < chunk.count {
                let done = try importBatch(chunk[start...], startingAt: report.bundlesDone, summary: &summary) { _, _ in }
                report.bundlesDone += done
                report.bytesDone += chunk[start..<(start + done)].reduce(0) { $0 + $1.count }
                start += done
            }
            progress?(report)
        }
        return summary
    }

    /// Bytes of bundles read from a stream before they are imported.
    static let importChunkBytes = 8 << 20

    /// Imports a prefix of `bundles` in one store transaction, stopping once
    /// ``Options/importBatchOperationCount`` operations were applied.
    /// - Returns: How many bundles it processed.
    @discardableResult
    func importBatch(
        _ bundles: ArraySlice<[UInt8]>, startingAt firstIndex: Int, summary: inout ImportSummary, sealingFirst: Bool = true,
        fromRelay: Bool = false, each: (Int, ImportOutcome) -> Void
    ) throws -> Int {
        guard !bundles.isEmpty else { return 0 }
        if role == .writer && sealingFirst { try seal() }
        let tracking = !observers.isEmpty
        let me = membership.device.publicKey
        let limit = options.importBatchOperationCount
        let cached = memberCache
        let (destination, outcomes) = try ConcordError.storage {
            try store.write { tx -> (StoreDestination, [ImportOutcome]) in
                let stored = try StoredProgress.read(from: tx)
                var destination = StoreDestination(
                    tx: tx, clock: try currentClock(stored), verifiedCertificateChains: verifiedCertificateChains, me: me,
                    tracking: tracking, acknowledged: stored.acknowledged)
                destination.prunesAsWritten = options.prunesAsWritten
                // Room for the records this transaction may touch: at most `limit` (give or
                // take the bundle that crosses it) and at most one per 16 bytes of bundles
                // (an operation takes more), capped as the limit may be huge.
                destination.batch.reserveCapacity(min(limit, bundles.reduce(0) { $0 + $1.count } / 16, 1 << 14))
                if membership.isMemberFormat {
                    let current = try MemberLedger.current(reusing: cached, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
                    destination.ledger = current.ledger
                    destination.decidedState = current.state
                    destination.stateCache = destination.decidedState
                    destination.defersMembershipReconcile = true
                }
                var outcomes: [ImportOutcome] = []
                for bytes in bundles {
                    do {
                        let outcome = try importer.run(bytes, into: &destination)
                        if case .fork(let author, let sequence) = outcome, author == me {
                            // Another copy of this store signed this place of our chain.
                            try Self.markForked(at: sequence, stored: StoredProgress.read(from: tx), in: tx)
                        }
                        outcomes.append(outcome)
                    } catch let error as ConcordError {
                        outcomes.append(.rejected(error))
                    }
                    if destination.operationsApplied >= limit { break }
                }
                _ = try importer.finishMemberBatch(into: &destination)
                try destination.flush()
                if !fromRelay {
                    try Self.markUnconfirmed(destination.appendedAuthors.subtracting([me]), in: tx)
                }
                // Never lower what another process stored meanwhile (issue 12.1).
                try StoredProgress.raiseClock(to: destination.clock.last, in: tx)
                try StoredProgress.raiseAcknowledged(to: destination.acknowledged, in: tx)
                return (destination, outcomes)
            }
        }
        clock.resume(from: destination.clock.last)
        verifiedCertificateChains = destination.verifiedCertificateChains
        if let ledger = destination.ledger {
            memberCache = (ledger, destination.stateCache ?? ledger.state(spaceID: spaceID, encrypted: membership.isEncrypted))
        }
        for (offset, outcome) in outcomes.enumerated() {
            summary.count(outcome, index: firstIndex + offset)
            each(firstIndex + offset, outcome)
        }
        summary.operationsApplied += destination.operationsApplied
        summary.voided += destination.voided
        summary.denied += destination.denied
        summary.guarded += destination.guarded
        notify(destination.changes)
        notifyDenials(destination.denied)
        return outcomes.count
    }

    /// Records that a peer or relay holds this device's bundles up to `vector`'s entry
    /// for this device: records written before that are then ``SyncStatus/synced``.
    /// (Importing a bundle from a peer does this by itself, from its causal context.)
    public func acknowledge(_ vector: VersionVector) throws {
        let sequence = vector[membership.device.publicKey]
        guard sequence > 0 else { return }
        try ConcordError.storage {
            try store.write { tx in
                _ = try currentClock(StoredProgress.read(from: tx))
                try StoredProgress.raiseAcknowledged(to: sequence, in: tx)
            }
        }
    }

    /// The highest sequence of this device's chain a relay confirmed holding with the same
    /// bundle ids (a push it stored or counted as duplicate); the acknowledged sequence
    /// until a relay confirmed one. Never at or past a known fork.
    package func relayConfirmedSequence() throws -> UInt64 {
        try ConcordError.storage {
            try store.read { tx in
                let stored = try StoredProgress.read(from: tx)
                let confirmed = stored.relayConfirmed ?? stored.acknowledged
                return min(confirmed, (stored.forkedAt ?? .max) - 1)
            }
        }
    }

    /// Records that a relay holds this device's bundles `1...sequence` with the very ids
    /// this store has: they are confirmed and acknowledged (their records turn synced).
    package func confirmRelay(holds sequence: UInt64) throws {
        try ConcordError.storage {
            try store.write { tx in
                let stored = try StoredProgress.read(from: tx)
                _ = try currentClock(stored)
                let capped = min(sequence, (stored.forkedAt ?? .max) - 1)
                if capped > (stored.relayConfirmed ?? 0) || stored.relayConfirmed == nil {
                    try tx.setMetadata(MetaKey.encodeUInt64(max(capped, stored.relayConfirmed ?? 0)), for: MetaKey.relayConfirmed)
                }
                try StoredProgress.raiseAcknowledged(to: capped, in: tx)
            }
        }
    }

    /// Authors whose bundles this store took from elsewhere than a relay since a relay
    /// round last compared their chains with its own (`Specs/sync-protocol.md` §5.4).
    package func unconfirmedAuthors() throws -> Set<PublicKey> {
        try ConcordError.storage { try store.read { try Self.unconfirmed(in: $0) } }
    }

    /// The id of the bundle this store's chain of `author` holds at `sequence`, if any
    /// (quarantined and held bundles are not in a chain).
    package func chainBundleID(of author: PublicKey, at sequence: UInt64) throws -> BundleID? {
        try ConcordError.storage {
            try store.read { try $0.chainBundleID(of: author, sequence: sequence).map(BundleID.init(digest:)) }
        }
    }

    /// Records that a relay round compared these authors' chains with the relay's.
    package func confirmAuthors(_ authors: Set<PublicKey>) throws {
        guard !authors.isEmpty else { return }
        try ConcordError.storage {
            try store.write { tx in
                let remaining = try Self.unconfirmed(in: tx).subtracting(authors)
                try tx.setMetadata(remaining.isEmpty ? nil : remaining.sorted().flatMap(\.bytes), for: MetaKey.unconfirmedAuthors)
            }
        }
    }

    static func unconfirmed(in tx: any StoreReader) throws -> Set<PublicKey> {
        guard let bytes = try tx.metadata(MetaKey.unconfirmedAuthors) else { return [] }
        return Set(
            stride(from: 0, to: bytes.count - bytes.count % 32, by: 32).compactMap { try? PublicKey(bytes: Array(bytes[$0..<($0 + 32)])) })
    }

    static func markUnconfirmed(_ authors: Set<PublicKey>, in tx: any StoreWriter) throws {
        let current = try unconfirmed(in: tx)
        guard !authors.isSubset(of: current) else { return }
        try tx.setMetadata(current.union(authors).sorted().flatMap(\.bytes), for: MetaKey.unconfirmedAuthors)
    }
}
