import ConcordCore
import ConcordCrypto
import ConcordStore

/// Compaction on devices (`Specs/snapshots.md` §5.1): rebase the replica onto the latest
/// snapshot it sealed or verified and drop the log below it.
extension Replica {
    /// The default history horizon of ``compact(historyHorizon:dryRun:)``: 30 days.
    public static let defaultHistoryHorizon: Duration = .seconds(30 * 86_400)

    /// When a device compacts (`Specs/snapshots.md` §5.1), ``Options/compaction``.
    public enum Compaction: Hashable, Sendable {
        /// Only when asked: ``compact(historyHorizon:dryRun:)``, `concord compact`. The default.
        case off
        /// After a sync round in which this device sealed a snapshot, or verified the relay's
        /// against its log, newer than its base: ``compactIfDue()`` compacts to it, keeping
        /// the bundles within `historyHorizon`.
        case auto(historyHorizon: Duration)
    }

    /// Compacts to this device's latest snapshot when ``Options/compaction`` is `.auto`, the
    /// snapshot is verified here (sealed here, or verified against the log) and it is newer
    /// than the replica's base; `SyncEngine` calls it after each round (after verifying the
    /// relay's newer snapshot, when this device holds the log below it).
    ///
    /// ```swift
    /// var options = Replica.Options()
    /// options.compaction = .auto(historyHorizon: .seconds(30 * 86_400))
    /// let replica = try await Replica.open(at: directory, options: options)
    /// if let report = try await replica.compactIfDue() { print("\(report.bundlesDropped) bundles dropped") }
    /// ```
    /// - Returns: What was reclaimed, or nil when nothing was due.
    /// - Throws: As ``compact(historyHorizon:dryRun:)``; the store is unchanged on every error.
    public func compactIfDue() throws -> CompactionReport? {
        guard case .auto(let horizon) = options.compaction, membership.isMemberFormat else { return nil }
        let (stored, base) = try ConcordError.storage {
            try store.read { tx in (try Self.storedSnapshot(in: tx), try Self.baseManifest(in: tx)) }
        }
        guard let stored, stored.state == .verified else { return nil }
        let manifest = stored.snapshot.manifest
        guard manifest.id != base?.id, base.map({ manifest.vector.includes($0.vector) }) ?? true else { return nil }
        return try compact(historyHorizon: horizon)
    }

    /// Compacts this replica to its latest snapshot (`Specs/snapshots.md` §5.1): the
    /// snapshot's state at `V` becomes the replica's **base** (kept copy-on-write: only the
    /// records changed since `V` keep a second copy), and chain bundles at or below `V`
    /// whose `hlc max` is older than `historyHorizon` are dropped; their ids stay (32 bytes
    /// each), so a copy of one arriving later is still told apart from a fork.
    ///
    /// Kept: every bundle above `V`; bundles within the horizon; this device's own bundles
    /// above its acknowledged sequence; each author's latest data bundle (its causal context
    /// is the author's acknowledgement, which stability reads); every control bundle (in the
    /// membership ledger); held and quarantined bundles. The history index rows of dropped
    /// bundles go, and ``history(of:record:in:)`` before the floor shows what the base shows.
    /// Then the database is vacuumed, so the file shrinks.
    ///
    /// Rebuilds (a removal's cut, the resurrection guard deciding again, a recovery or branch
    /// switch) start from the base and the bundles above `V`.
    ///
    /// ```swift
    /// _ = try await teacher.sealSnapshot()                 // or verifySnapshot() of the relay's
    /// let report = try await teacher.compact(historyHorizon: .zero)
    /// print("\(report.bundlesDropped) bundles dropped, \(report.bytesBefore) -> \(report.bytesAfter) bytes")
    /// ```
    /// - Parameters:
    ///   - historyHorizon: Bundles whose `hlc max` is more recent than this (measured on the
    ///     replica's physical clock) are kept for history; `.zero` drops every bundle at or
    ///     below `V`. Default 30 days.
    ///   - dryRun: Compute the report without changing anything.
    /// - Returns: What was (or would be) reclaimed.
    /// - Throws: `ConcordError` `.noVerifiedSnapshot` (no snapshot sealed here or verified:
    ///   seal one with `concord snapshot seal` (admins) or verify the relay's), `.snapshotRefused`
    ///   (the snapshot is older than the replica's base), `.snapshotMismatch` (the log at `V`
    ///   no longer gives the snapshot's state), `.unsupportedVersion` (a space without
    ///   members), `.storage`. The store is unchanged on every error.
    /// - Complexity: O(bundles ≤ `V` + records): the state at `V` is replayed from the log,
    ///   then `VACUUM` copies the file.
    public func compact(historyHorizon: Duration = Replica.defaultHistoryHorizon, dryRun: Bool = false) throws -> CompactionReport {
        guard membership.isMemberFormat else {
            throw ConcordError(
                .unsupportedVersion,
                "space \(spaceID.shortDescription) has no members (bundle format 2): compaction needs snapshots (format 3)")
        }
        guard let stored = try ConcordError.storage({ try store.read { tx in try Self.storedSnapshot(in: tx) } }), stored.state == .verified
        else {
            throw ConcordError(
                .noVerifiedSnapshot,
                "this device holds no snapshot it sealed or verified, so there is nothing to compact to: seal one with `concord snapshot seal` (admins) or verify the relay's with `concord snapshot verify`"
            )
        }
        let manifest = stored.snapshot.manifest
        let before = try storageReport()
        let horizon = historyHorizon.components
        let horizonMilliseconds = UInt64(max(0, horizon.seconds)) * 1000 + UInt64(max(0, horizon.attoseconds) / 1_000_000_000_000_000)
        let now = options.physicalClock.nowMilliseconds()
        let cutoff = now > horizonMilliseconds ? now - horizonMilliseconds : 0
        let me = membership.device.publicKey
        let encrypted = membership.isEncrypted

        let body = { (tx: any StoreReader, writer: (any StoreWriter)?) throws -> CompactionReport in
            let base = try Self.baseManifest(in: tx)
            if let base, !manifest.vector.includes(base.vector) {
                throw ConcordError(
                    .snapshotRefused,
                    "snapshot \(manifest.id.hex.prefix(8)) is older than this replica's base \(base.id.hex.prefix(8)); seal or verify a newer one"
                )
            }
            // The state at V, unless the base already is this snapshot.
            var records: [BaseRecord]?
            if base?.id != manifest.id {
                let replay = try self.replayState(through: manifest.vector, in: tx)
                let frontier = Frontier(
                    Dictionary(
                        uniqueKeysWithValues: replay.links.compactMap { link in
                            link.hlcMax == .zero ? nil : (ReplicaID(bytes: link.author.bytes)!, link.hlcMax)
                        }))
                let pruned = replay.state.pruned(frontier: frontier)
                guard replay.links == manifest.links, pruned.digest == manifest.visibleDigest else {
                    throw ConcordError(
                        .snapshotMismatch,
                        "snapshot-mismatch: this device's log at the vector of snapshot \(manifest.id.hex.prefix(8)) no longer gives its state; it is not compacted (seal or verify a snapshot again)"
                    )
                }
                records = pruned.recordsInKeyOrder.map { BaseRecord(collection: $0.collection, id: $0.id, state: $0.state) }
            }
            // Per author, the new floor: at most V, this device's acknowledged sequence,
            // below its latest data bundle, and not past a bundle within the horizon.
            let acknowledged = try StoredProgress.read(from: tx).acknowledged
            var floors: [(author: PublicKey, from: UInt64, to: UInt64)] = []
            for link in manifest.links {
                let author = link.author
                let floor = try tx.chainFloor(of: author)?.sequence ?? 0
                var limit = link.sequence
                if author == me { limit = min(limit, acknowledged) }
                if let head = try tx.chainHead(of: author) {
                    // The head bundle always stays: the next bundle of the chain links to it
                    // (its author seals after it; the chain rule reads it).
                    limit = min(limit, head.sequence - 1)
                    var sequence = head.sequence
                    var looked = 0
                    while sequence > floor, looked <= Self.acknowledgementLookBack,
                        let bundle = try tx.bundle(of: author, sequence: sequence)
                    {
                        if ChangeBundle.headerClock(bundle.bytes)?.isControl == false {
                            limit = min(limit, sequence - 1)
                            break
                        }
                        sequence -= 1
                        looked += 1
                    }
                }
                guard limit > floor else { continue }
                // Chain marks only grow along a chain: the bundles older than the horizon
                // are a prefix. Find its end by bisection.
                var (low, high) = (floor, limit)  // low: known droppable (or the floor), high: candidate
                if historyHorizon > .zero {
                    while low < high {
                        let middle = low + (high - low + 1) / 2
                        let mark = try tx.bundle(of: author, sequence: middle)?.mark
                        if mark.map({ $0.milliseconds < cutoff }) ?? true { low = middle } else { high = middle - 1 }
                    }
                } else {
                    low = limit
                }
                if low > floor { floors.append((author, floor, low)) }
            }
            var dropped = DroppedBundles()
            if let writer {
                if let records {
                    try writer.setMetadata(manifest.bytes, for: Self.baseManifestKey)
                    try writer.replaceBase(with: records)
                }
                for floor in floors {
                    let result = try writer.dropChainBundles(of: floor.author, through: floor.to)
                    dropped.count += result.count
                    dropped.bytes += result.bytes
                }
            } else {
                for floor in floors {
                    for sequence in (floor.from + 1)...floor.to {
                        dropped.count += 1
                        dropped.bytes += try tx.bundle(of: floor.author, sequence: sequence)?.bytes.count ?? 0
                    }
                }
            }
            let ledger = try MemberLedger.load(from: tx, encrypted: encrypted)
            return CompactionReport(
                snapshot: manifest.id, vector: manifest.vector, madeAt: manifest.madeAt, bundlesDropped: dropped.count,
                bytesDropped: dropped.bytes,
                bundlesKept: before.counts.logBundles - dropped.count, controlBundles: ledger.controls.count - ledger.evidence.count,
                stubs: before.counts.deleteStubs, bytesBefore: before.bytesOnDisk, bytesAfter: max(0, before.bytesOnDisk - dropped.bytes),
                dryRun: dryRun)
        }
        if dryRun {
            return try ConcordError.storage { try store.read { tx in try body(tx, nil) } }
        }
        var report = try ConcordError.storage { try store.write { tx in try body(tx, tx) } }
        if let sqlite = store as? SQLiteStore { try ConcordError.storage { try sqlite.vacuum() } }
        let after = try storageReport()
        report.bytesAfter = after.bytesOnDisk
        report.tombstonesPruned = max(0, before.counts.setTombstones - after.counts.setTombstones)
        report.stubs = after.counts.deleteStubs
        return report
    }
}
