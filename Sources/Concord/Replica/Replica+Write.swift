import ConcordCore
import ConcordCrypto
import ConcordStore

extension Replica {
    /// Makes local writes in one transaction, durable when this returns.
    ///
    /// ```swift
    /// try await replica.write { tx in
    ///     try tx.set("done", to: true, record: id, in: "todos")
    /// }
    /// ```
    /// - Parameters:
    ///   - body: Makes the writes; throwing discards all of them.
    /// - Returns: What `body` returns.
    /// - Throws: `ConcordError` `.notAWriter` (a read-only member), `.clockFailure`,
    ///   `.storage`; or what `body` throws.
    @discardableResult
    public func write<T: Sendable>(_ body: (WriteTransaction) throws -> T) throws -> T {
        guard role == .writer else {
            throw ConcordError(.notAWriter, "this device is a \(role) of space \(spaceID.shortDescription) and cannot write; ask a writer for a writer invite")
        }
        let tracking = !observers.isEmpty
        let (result, newClock, changes, count) = try ConcordError.storage {
            try store.write { tx in
                let start = try clockResumed(from: tx)
                let transaction = WriteTransaction(reader: tx, replicaID: replicaID, clock: start, maxValueBytes: options.effectiveMaxValueBytes)
                let result = try body(transaction)
                let ops = transaction.operations
                guard !ops.isEmpty else { return (result, start, [RecordChange](), 0) }
                try tx.appendPendingOperations(ops)
                let changes = try transaction.batch.commit(to: tx, origin: .local, tracking: tracking)
                try tx.setMetadata(MetaKey.encodeUInt64(transaction.clock.last.rawValue), for: MetaKey.clock)
                return (result, transaction.clock, changes, ops.count)
            }
        }
        clock = newClock
        pendingOperationCount += count
        notify(changes)
        if count > 0 { for listener in localWriteListeners.values { listener.yield(count) } }
        if let threshold = options.autoSealOperationCount, pendingOperationCount >= threshold {
            try seal()
        }
        return result
    }

    /// Seals every pending local operation into signed bundles appended to this device's
    /// chain, ready to export or push.
    ///
    /// Runs automatically before every import and export. Each bundle carries this
    /// replica's version vector as its causal context.
    /// - Returns: The bundles sealed (empty when nothing was pending).
    /// - Throws: `ConcordError` `.storage`, or a sealing error.
    ///
    /// Seals every pending operation in the store, whichever `Replica` instance wrote it:
    /// an app and its extension (or widget) may each open the store, and whichever syncs
    /// pushes the other's writes too.
    @discardableResult
    public func seal() throws -> [ChangeBundle] {
        // Ask the store: another instance on the same store may have written.
        let pending = try ConcordError.storage { try store.read { try $0.pendingOperationCount() } }
        guard pending > 0 else {
            pendingOperationCount = 0
            return []
        }
        let bundles = try ConcordError.storage {
            try store.write { tx in try sealPending(in: tx) }
        }
        pendingOperationCount = 0
        return bundles
    }

    /// This replica's clock, moved up to the last reading stored: another `Replica`
    /// instance on the same store (an app extension) may have written since this one
    /// last did, and a later write must never be stamped before an earlier one.
    func clockResumed(from tx: any StoreReader) throws -> HybridLogicalClock {
        guard let stored = try tx.metadata(MetaKey.clock).map(MetaKey.decodeUInt64), stored > clock.last.rawValue else { return clock }
        return HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: HLCTimestamp(rawValue: stored))
    }

    /// The acknowledged sequence, as the store holds it (another instance may have raised it).
    func acknowledgedResumed(from tx: any StoreReader) throws -> UInt64 {
        max(acknowledgedSequence, try tx.metadata(MetaKey.acknowledged).map(MetaKey.decodeUInt64) ?? 0)
    }

    /// Seals the pending operations inside a store transaction.
    func sealPending(in tx: any StoreWriter) throws -> [ChangeBundle] {
        let ops = try tx.pendingOperations()
        guard !ops.isEmpty else { return [] }
        let me = membership.device.publicKey
        var previous: ChangeBundle?
        if let head = try tx.chainHead(of: me), let stored = try tx.bundle(of: me, sequence: head.sequence) {
            previous = try StoreDestination.decode(stored)
        }
        let context = VersionVector(try tx.chainHeads().mapValues(\.sequence))
        var sealed: [ChangeBundle] = []
        var queue = [ops[...]]
        while let chunk = queue.popLast() {
            let bundle: ChangeBundle
            do {
                bundle = try membership.seal(Array(chunk), previous: previous, context: context, limits: options.sealingLimits)
            } catch let error as ConcordError where error.code == .bundleTooLarge && chunk.count > 1 {
                let middle = chunk.startIndex + chunk.count / 2
                queue.append(chunk[middle...])
                queue.append(chunk[..<middle])
                continue
            }
            try tx.appendBundle(StoredBundle(bundle))
            sealed.append(bundle)
            previous = bundle
        }
        try tx.markPendingSealed(sequence: previous!.sequence)
        return sealed
    }
}

extension StoredBundle {
    /// The store's form of a verified or sealed bundle.
    init(_ bundle: ChangeBundle) {
        self.init(id: bundle.id.digest, author: bundle.author, sequence: bundle.sequence, previous: bundle.previous.digest, bytes: bundle.bytes)
    }
}
