import ConcordCore
import ConcordCrypto
import ConcordStore

/// Unsealed writes re-stamped, and another device's chain switched to a relay's branch
/// (`Specs/sync-protocol.md` §5, `Specs/hlc.md` §9).
extension Replica {
    /// Re-stamps every unsealed local write with a fresh reading and rebuilds the records
    /// they touch. Unsealed writes never left this device, so this is always safe; a sync
    /// does it in two cases:
    ///
    /// - after importing bundles of this device's own that the store lacked (a restored
    ///   backup): writes made after the restore may carry readings the device had already
    ///   issued before it; re-stamped, they follow everything and no reading repeats;
    /// - when a relay's clock agrees with this device's clock but the writes are dated far
    ///   beyond it (written while the clock was ahead, then the clock was set right), and no
    ///   sealed bundle of this device is dated beyond what peers accept: the clock steps back
    ///   to the newest reading the log holds (a new `clock.generation`) and the writes get
    ///   the present time.
    /// - Parameters:
    ///   - realTime: A relay's time, when it agrees with this device's clock (ms).
    /// - Returns: How many writes were re-stamped (0: nothing to do).
    @discardableResult
    package func restampPending(realTime: UInt64?) throws -> Int {
        let now = options.physicalClock.nowMilliseconds()
        let horizon = HybridLogicalClock.saturatingAdd(now, options.maxDrift)
        let me = membership.device.publicKey
        let options = self.options
        let (count, changes) = try ConcordError.storage {
            try store.write { tx -> (Int, [RecordChange]) in
                let stored = try StoredProgress.read(from: tx)
                var current = try currentClock(stored)
                let pending = try tx.pendingOperations()
                guard !pending.isEmpty else { return (0, []) }
                let keys = Set(pending.map { RecordKey($0.collection, $0.record) })
                let scan = try scanLog(in: tx, rebuilding: keys, excluding: me)
                var generation = stored.generation
                if realTime != nil, current.last.milliseconds > horizon {
                    // Only unsealed writes may be dated beyond the horizon: sealed ones may
                    // have been handed out, and then only a recovery helps.
                    guard scan.newest.milliseconds <= horizon else { return (0, []) }
                    current = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: scan.newest)
                    generation += 1
                } else {
                    current.resume(from: scan.newest)
                }
                var newTags: [Stamp: Stamp] = [:]
                var restamped: [RecordOperation] = []
                for op in pending {
                    let stamp = Stamp(hlc: try current.now(), replica: replicaID)
                    var action = op.action
                    switch op.action {
                    case .add: newTags[op.stamp] = stamp
                    case let .remove(field, value, observed):
                        action = .remove(field: field, value: value, observed: observed.map { newTags[$0] ?? $0 })
                    case .set, .delete: break
                    }
                    restamped.append(RecordOperation(stamp: stamp, collection: op.collection, record: op.record, action: action))
                }
                try tx.replacePendingOperations(restamped)
                var changes = try writeRebuilt(keys, from: scan, local: restamped, in: tx)
                changes += try recomputeAsDecided(keys, clock: current, in: tx)
                if generation != stored.generation {
                    try tx.setMetadata(MetaKey.encodeUInt64(current.last.rawValue), for: MetaKey.clock)
                    try tx.setMetadata(MetaKey.encodeUInt64(generation), for: MetaKey.clockGeneration)
                    clockGeneration = generation
                    clock = current
                } else {
                    try StoredProgress.raiseClock(to: current.last, in: tx)
                    clock.resume(from: current.last)
                }
                return (restamped.count, changes)
            }
        }
        notify(changes)
        return count
    }

    /// Makes `author`'s chain the branch a relay holds: `bundles` are the relay's bundles of
    /// that author from its first sequence on. Where this store's chain differs (it took a
    /// copied or restored device's other branch first, for example from a shared folder),
    /// its bundles from that place leave the chain and are kept as fork evidence, the
    /// records they touched are rebuilt, and the relay's bundles are imported in their
    /// place. The relay is the arbiter: it stores one branch and refuses the other, so every
    /// replica that syncs with it ends on the same branch. This device's own chain is never
    /// switched: it recovers instead (``recover()``).
    /// - Returns: How many of this store's bundles left the chain (0: it already followed).
    @discardableResult
    package func adoptBranch(of author: PublicKey, from bundles: [[UInt8]]) throws -> Int {
        guard author != membership.device.publicKey else { return 0 }
        // Only bundles the author really signed count: a relay cannot invent a fork.
        let verifier = BundleVerifier(
            spaceID: spaceID, limits: options.limits, maxDrift: options.maxDrift, physicalClock: options.physicalClock)
        let relay = bundles.compactMap { try? verifier.verify($0) }.filter { $0.author == author }.sorted { $0.sequence < $1.sequence }
        let (removedCount, changes) = try ConcordError.storage {
            try store.write { tx -> (Int, [RecordChange]) in
                _ = try currentClock(StoredProgress.read(from: tx))
                let head = try tx.chainHead(of: author)?.sequence ?? 0
                var differs: UInt64?
                for bundle in relay where bundle.sequence <= head {
                    if try tx.bundle(of: author, sequence: bundle.sequence)?.id != bundle.id.digest {
                        differs = bundle.sequence
                        break
                    }
                }
                guard let differs else { return (0, []) }
                let removed = try tx.removeChainBundles(of: author, after: differs - 1)
                let keys = Set(try operations(of: removed, in: tx).map { RecordKey($0.collection, $0.record) })
                // The relay's bundles set aside as forks must import again.
                for stored in try tx.quarantinedBundles() where stored.author == author && stored.sequence >= differs {
                    try tx.removeQuarantinedBundle(stored.id)
                }
                for stored in removed where try tx.quarantinedBundles().count < options.limits.maxQuarantinedBundles {
                    try tx.quarantineBundle(stored)
                }
                let scan = try scanLog(in: tx, rebuilding: keys, excluding: author)
                var changes = try writeRebuilt(keys, from: scan, local: tx.pendingOperations(), in: tx)
                changes += try recomputeAsDecided(keys, clock: try currentClock(StoredProgress.read(from: tx)), in: tx)
                return (removed.count, changes)
            }
        }
        notify(changes)
        if removedCount > 0 {
            var summary = ImportSummary()
            try importBatch(relay.map(\.bytes)[...], startingAt: 0, summary: &summary) { _, _ in }
        }
        return removedCount
    }
}
