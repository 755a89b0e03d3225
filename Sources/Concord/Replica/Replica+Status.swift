import ConcordCore
import ConcordCrypto
import ConcordStore

/// A replica's sync bookkeeping at a glance.
public struct ReplicaStatus: Hashable, Sendable {
    /// Local operations not sealed into a bundle yet.
    public var pendingOperations: Int
    /// This device's bundles no peer or relay has acknowledged yet.
    public var unacknowledgedBundles: UInt64
    /// Bundles in the log, all authors.
    public var bundles: Int
    /// Bundles waiting for a missing predecessor.
    public var heldBundles: Int
    /// Bundles that forked their author's chain, kept as evidence.
    public var quarantinedBundles: Int
    /// The version vector.
    public var versionVector: VersionVector
    /// What only the device's owner can fix (a wrong clock, a forked history), most urgent
    /// first; empty when all is well. See ``Replica/problems(realTime:)``.
    public var problems: [ReplicaProblem] = []
}

extension Replica {
    /// Whether a record's local changes have reached a peer or relay.
    ///
    /// ```swift
    /// if try await replica.syncStatus(of: id, in: "todos").isPending { showCloudIcon() }
    /// ```
    public func syncStatus(of id: RecordID, in collection: String) throws -> SyncStatus {
        let (stored, acknowledged) = try ConcordError.storage {
            try store.read { (try $0.record(id, in: collection), try StoredProgress.read(from: $0).acknowledged) }
        }
        guard let sequence = stored?.localSequence else { return .synced }
        if sequence == StoredRecord.unsealed { return .unsealed }
        return sequence <= acknowledged ? .synced : .unacknowledged(sequence: sequence)
    }

    /// Counts of pending, held and quarantined work.
    public func status() throws -> ReplicaStatus {
        let me = membership.device.publicKey
        return try ConcordError.storage {
            try store.read { tx in
                let heads = try tx.chainHeads()
                let acknowledged = try StoredProgress.read(from: tx).acknowledged
                return ReplicaStatus(
                    pendingOperations: try tx.pendingOperationCount(),
                    unacknowledgedBundles: (heads[me]?.sequence ?? 0) - min(heads[me]?.sequence ?? 0, acknowledged),
                    bundles: try tx.bundleCount(), heldBundles: try tx.heldBundles().count,
                    quarantinedBundles: try tx.quarantinedBundles().count,
                    versionVector: VersionVector(heads.mapValues(\.sequence)),
                    problems: try problems(in: tx, realTime: nil))
            }
        }
    }

    /// Every write of an LWW field found in the log (and in unsealed local writes),
    /// oldest first. Writes coalesced away inside one bundle (a field written twice
    /// before sealing) are not there: only what was shared.
    ///
    /// ```swift
    /// for write in try await replica.history(of: "title", record: id, in: "todos") {
    ///     print(write)   // "Buy milk" by 3f2a9c01 at 1732200000000.0 (bundle 3)
    /// }
    /// ```
    /// - Complexity: reads and opens the bundles that touch the record (the history
    ///   index), plus, once, those appended to the log since the last call.
    public func history(of field: String, record id: RecordID, in collection: String) throws -> [FieldWrite] {
        try fieldWrites(of: field, record: id, in: collection).writes
    }

    /// ``history(of:record:in:)`` with whether history before the replica's floor is gone
    /// (``FieldHistory/truncatedBefore``): on a replica loaded from a snapshot or compacted
    /// (`Specs/snapshots.md` §5.1), the writes of bundles below the floor are not held; the
    /// one the base shows (the value at the snapshot) comes first, marked
    /// ``FieldWrite/fromBase``.
    ///
    /// ```swift
    /// let history = try await replica.fieldHistory(of: "title", record: id, in: "todos")
    /// for write in history.writes { print(write) }   // "Buy milk" by 3f2a9c01 at … (before the floor)
    /// ```
    /// - Complexity: as ``history(of:record:in:)``.
    public func fieldHistory(of field: String, record id: RecordID, in collection: String) throws -> FieldHistory {
        let found = try fieldWrites(of: field, record: id, in: collection)
        return FieldHistory(writes: found.writes, truncatedBefore: found.floor)
    }

    /// The concurrent writes that lost to an LWW field's current value: for each other
    /// author, its latest write that the winner's author had not seen when writing. An
    /// app can show them and offer a manual merge (by writing the merged value).
    ///
    /// Concurrency comes from each bundle's causal context (`Specs/wire-format.md` §7.5):
    /// a write is concurrent with the winner when the winner's bundle did not include the
    /// loser's bundle.
    ///
    /// ```swift
    /// let losers = try await replica.conflicts(of: "title", record: id, in: "todos")
    /// for loser in losers { print("also written: \(loser.value) by \(loser.author)") }
    /// ```
    /// - Returns: Losing writes, newest first; empty when there is no conflict.
    /// - Complexity: as ``history(of:record:in:)``: the bundles touching the record.
    public func conflicts(of field: String, record id: RecordID, in collection: String) throws -> [FieldWrite] {
        let (writes, contexts, deletedAt, _) = try fieldWrites(of: field, record: id, in: collection)
        guard let winner = writes.first(where: \.isCurrent) else { return [] }
        let winnerKey = try PublicKey(bytes: winner.author.bytes)
        var knowledge: VersionVector
        if let sequence = winner.sequence {
            knowledge = contexts[BundlePlace(author: winnerKey, sequence: sequence)] ?? VersionVector()
            knowledge[winnerKey] = sequence - 1
        } else {
            knowledge = try versionVector()  // unsealed local writes saw everything held now
        }
        var latest: [ReplicaID: FieldWrite] = [:]
        // A write known only from the base cannot be judged (its bundle's context is gone):
        // below the floor, conflicts show what the base shows, the current value, no losers.
        for write in writes where write.author != winner.author && !write.isCurrent && !write.fromBase {
            if let deletedAt, write.stamp <= deletedAt { continue }
            let author = try PublicKey(bytes: write.author.bytes)
            let seen = write.sequence.map { knowledge[author] >= $0 } ?? false
            guard !seen else { continue }
            if latest[write.author].map({ $0.stamp < write.stamp }) ?? true { latest[write.author] = write }
        }
        return latest.values.sorted { $0.stamp > $1.stamp }
    }

    /// Scans the log for the writes of one field.
    private func fieldWrites(of field: String, record id: RecordID, in collection: String) throws -> (
        writes: [FieldWrite], contexts: [BundlePlace: VersionVector], deletedAt: Stamp?, floor: Digest32?
    ) {
        let name = ByteString(field)
        let collectionName = ByteString(collection)
        func matches(_ op: RecordOperation) -> Value? {
            guard op.record == id, case let .set(f, value) = op.action, ByteString(f) == name, ByteString(op.collection) == collectionName else { return nil }
            return value
        }
        let stored = try ConcordError.storage { try store.read { try $0.record(id, in: collection) } }
        let current = stored?.state.register(field)?.stamp
        var writes: [FieldWrite] = []
        var contexts: [BundlePlace: VersionVector] = [:]
        // Only the bundles the history index lists for this record are read and opened.
        try updateHistoryIndex()
        let positions = try ConcordError.storage { try store.read { try $0.indexedBundlePositions(touching: id, in: collection) } }
        var opener = try bundleOpener()
        for position in positions {
            guard let storedBundle = try ConcordError.storage({ try store.read { try $0.bundle(at: position) } }) else { continue }
            let bundle = try StoreDestination.decode(storedBundle)
            // A void bundle (wire-format §7.7) carries nothing readable.
            let mark = try ConcordError.storage {
                try store.read { try $0.chainMark(before: bundle.sequence, of: bundle.author) }
            }
            guard case .success(let contents) = try opener.contentsOrVoid(of: bundle, after: mark) else { continue }
            // Ops the permission policy denied were never applied (`Specs/permissions.md` §6).
            let denied = Set(
                try ConcordError.storage { try store.read { try $0.permissionDenials(ofBundle: storedBundle.id) } }.map(\.index))
            var found = false
            for (index, op) in contents.operations.enumerated() where !denied.contains(index) {
                guard let value = matches(op) else { continue }
                writes.append(FieldWrite(value: value, stamp: op.stamp, sequence: bundle.sequence, isCurrent: op.stamp == current))
                found = true
            }
            if found { contexts[BundlePlace(author: bundle.author, sequence: bundle.sequence)] = contents.context }
        }
        for op in try ConcordError.storage({ try store.read { try $0.pendingOperations() } }) {
            guard let value = matches(op) else { continue }
            writes.append(FieldWrite(value: value, stamp: op.stamp, sequence: nil, isCurrent: op.stamp == current))
        }
        // Below the floor (a snapshot load or compaction) the log is gone: the base shows the
        // write that held the field at the snapshot.
        let (floor, atBase) = try ConcordError.storage {
            try store.read { tx -> (Digest32?, LWWRegister?) in
                guard let manifest = try Self.baseManifest(in: tx) else { return (nil, nil) }
                return (manifest.id, try tx.baseRecord(id, in: collection)?.register(field))
            }
        }
        if let atBase, !writes.contains(where: { $0.stamp == atBase.stamp }) {
            writes.append(FieldWrite(value: atBase.value, stamp: atBase.stamp, sequence: nil, isCurrent: atBase.stamp == current, fromBase: true))
        }
        writes.sort { $0.stamp < $1.stamp }
        return (writes, contexts, stored?.state.deletedAt, floor)
    }
}

extension Replica {
    /// Bundles of the log indexed per record at a time.
    static let historyIndexPage = 64

    /// Brings the history index (`Specs/storage-schema.md` §3.10) up to the end of the
    /// log: opens each bundle appended since the last update, once, and records which
    /// records it touches. A bundle this replica cannot open is left out of the index.
    func updateHistoryIndex() throws {
        var position = try ConcordError.storage {
            try store.read { try $0.metadata(MetaKey.historyIndexed).map { Int64(bitPattern: MetaKey.decodeUInt64($0)) } ?? 0 }
        }
        while true {
            let page = try ConcordError.storage { try store.read { try $0.bundles(after: position, limit: Self.historyIndexPage) } }
            guard let last = page.last else { return }
            var entries: [(Int64, [StoredRecordKey])] = []
            var opener = try bundleOpener()
            for stored in page {
                guard let bundle = try? StoreDestination.decode(stored), let contents = try? opener.contents(of: bundle) else { continue }
                var seen = Set<StoredRecordKey>()
                for op in contents.operations { seen.insert(StoredRecordKey(collection: op.collection, id: op.record)) }
                entries.append((stored.position, Array(seen)))
            }
            try ConcordError.storage {
                try store.write { tx in
                    for (position, records) in entries { try tx.indexBundle(at: position, touching: records) }
                    // Another instance on the store may have indexed further already.
                    let stored = try tx.metadata(MetaKey.historyIndexed).map { Int64(bitPattern: MetaKey.decodeUInt64($0)) } ?? 0
                    if last.position > stored {
                        try tx.setMetadata(MetaKey.encodeUInt64(UInt64(bitPattern: last.position)), for: MetaKey.historyIndexed)
                    }
                }
            }
            position = last.position
            if page.count < Self.historyIndexPage { return }
        }
    }
}
