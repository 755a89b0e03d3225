import ConcordCore
import ConcordCrypto
import ConcordStore

/// Rebuilding records from the log: what a recovery and a branch switch need when bundles
/// leave a chain (`Specs/sync-protocol.md` §5). A record's state is the merge of every
/// operation on it, so it can always be computed again from the chain bundles that remain
/// and this device's unsealed operations.
extension Replica {
    /// What one pass over the log found.
    struct LogScan {
        /// The rebuilt states of the records asked for (absent: no operation left).
        var states: [RecordKey: RecordState] = [:]
        /// The newest reading of any chain bundle (header `hlc max`).
        var newest: HLCTimestamp = .zero
        /// The newest reading of any chain bundle by another author than the one excluded.
        var newestOfOthers: HLCTimestamp = .zero
    }

    /// Reads every chain bundle of the log, a page at a time, applying the operations on
    /// `keys` to fresh states; void bundles carry nothing.
    /// - Complexity: O(log): every bundle is decoded (and decrypted if any key is asked for).
    func scanLog(in tx: any StoreReader, rebuilding keys: Set<RecordKey>, excluding author: PublicKey) throws -> LogScan {
        var scan = LogScan()
        // A replica loaded from a snapshot or compacted holds no log below its floor:
        // records start from the snapshot's (its base), and bundles at or below the base's
        // vector (kept within the history horizon) are in it already.
        let baseVector = try Self.baseManifest(in: tx)?.vector ?? VersionVector()
        scan.states = try Self.baseStates(of: keys, in: tx)
        var opener = try BundleOpener(membership: membership, in: tx)
        var position: Int64 = 0
        var marks: [PublicKey: HLCTimestamp?] = [:]  // each author's chain mark so far
        while true {
            let page = try tx.bundles(after: position, limit: 256)
            for stored in page {
                let bundle = try StoreDestination.decode(stored)
                let newest = bundle.hlcRange.upperBound
                scan.newest = max(scan.newest, newest)
                if bundle.author != author { scan.newestOfOthers = max(scan.newestOfOthers, newest) }
                // The first bundle of a chain above a snapshot's floor compares with the floor's mark.
                let mark = try marks[bundle.author] ?? tx.chainMark(before: stored.sequence, of: stored.author)
                marks[bundle.author] = .some(stored.mark)
                guard stored.sequence > baseVector[stored.author] else { continue }
                guard !keys.isEmpty, case .success(let contents) = try opener.contentsOrVoid(of: bundle, after: mark) else { continue }
                for (_, _, op) in contents.placedOperations {
                    let key = RecordKey(op.collection, op.record)
                    guard keys.contains(key) else { continue }
                    scan.states[key, default: RecordState()].apply(op)
                }
            }
            guard let last = page.last, page.count == 256 else { break }
            position = last.position
        }
        return scan
    }

    /// Writes rebuilt records over the stored ones: each key's rebuilt state with `local`
    /// operations applied on top. A record a local operation touches is marked unsealed;
    /// the others keep their stored bookkeeping.
    /// - Returns: What observers see change.
    func writeRebuilt(_ keys: Set<RecordKey>, from scan: LogScan, local: [RecordOperation], in tx: any StoreWriter) throws -> [RecordChange]
    {
        var states = scan.states
        var touched: Set<RecordKey> = []
        for op in local {
            let key = RecordKey(op.collection, op.record)
            guard keys.contains(key) else { continue }
            states[key, default: RecordState()].apply(op)
            touched.insert(key)
        }
        var changes: [RecordChange] = []
        for key in keys.sorted() {
            let collection = key.collection.string
            let previous = try tx.record(key.id, in: collection)
            let state = states[key] ?? RecordState()
            let sequence = touched.contains(key) ? StoredRecord.unsealed : previous?.localSequence
            if previous?.state == state && previous?.localSequence == sequence { continue }
            try tx.putRecord(StoredRecord(state: state, localSequence: sequence), id: key.id, in: collection, previous: previous)
            if let change = RecordChange.between(previous?.state, state, collection: collection, id: key.id, origin: .local) {
                changes.append(change)
            }
        }
        return changes
    }

    /// In a space with members, recomputes `keys` as the membership reconcile's rebuild does
    /// (base, chain data bundles the state admits, denied ops left out, the resurrection
    /// guard decided last, this device's unsealed ops on top), after a ``scanLog(in:rebuilding:excluding:)``
    /// and ``writeRebuilt(_:from:local:in:)``, which apply every op they read. Does nothing
    /// in spaces without members (no decisions to replay).
    /// - Returns: What observers see change.
    func recomputeAsDecided(_ keys: Set<RecordKey>, clock: HybridLogicalClock, in tx: any StoreWriter) throws -> [RecordChange] {
        guard membership.isMemberFormat, !keys.isEmpty else { return [] }
        let stored = try StoredProgress.read(from: tx)
        var destination = StoreDestination(
            tx: tx, clock: clock, verifiedCertificateChains: verifiedCertificateChains, me: membership.device.publicKey,
            tracking: true, acknowledged: stored.acknowledged)
        destination.prunesAsWritten = options.prunesAsWritten
        let current = try MemberLedger.current(reusing: nil, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
        destination.ledger = current.ledger
        destination.decidedState = current.state
        destination.stateCache = current.state
        destination.guardDirty = keys
        destination.setMembershipReconcilePending(true)
        _ = try importer.finishMemberBatch(into: &destination)
        try destination.flush()
        return destination.changes
    }

    /// The operations of stored bundles (void ones carry none), in order: every op this
    /// device can read, scope sections included, for which `keep` (given the bundle, its
    /// contents and the op with its section and index) says yes.
    func operations(
        of bundles: [StoredBundle], in tx: any StoreReader,
        keeping keep: (StoredBundle, ChangeBundle, BundleContents, (section: Int, index: Int, operation: RecordOperation)) throws -> Bool =
            { _, _, _, _ in true }
    ) throws -> [RecordOperation] {
        var ops: [RecordOperation] = []
        var opener = try BundleOpener(membership: membership, in: tx)
        var previous: StoredBundle?
        for stored in bundles {
            let bundle = try StoreDestination.decode(stored)
            let mark =
                previous.map { $0.author == stored.author && $0.sequence + 1 == stored.sequence } == true
                ? previous?.mark : try tx.chainMark(before: stored.sequence, of: stored.author)
            previous = stored
            guard case .success(let contents) = try opener.contentsOrVoid(of: bundle, after: mark) else { continue }
            for placed in contents.placedOperations where try keep(stored, bundle, contents, placed) {
                ops.append(placed.operation)
            }
        }
        return ops
    }
}

/// The state at a version vector, for sealing and verifying snapshots (`Specs/snapshots.md`
/// §4.3, §4.6).
extension Replica {
    /// What ``replayState(through:in:)`` computed.
    struct Replay {
        /// The state of the data bundles at or below the vector (not pruned).
        var state: ReplicaState
        /// Each author's chain link at the vector.
        var links: [SnapshotManifest.Link]
        /// The membership digest of the control bundles at or below the vector.
        var membershipDigest: Digest32
    }

    /// Replays every chain data bundle at or below `vector` into a scratch state, with the
    /// decisions the importer and the membership reconcile recorded (the same ones
    /// `StoreDestination.rebuildState` replays): control bundles carry no records; bundles
    /// withheld by the membership state (past a cut-off, a role that may not write) and
    /// void ones (undecodable, chain monotonicity broken) are left out; ops the permission
    /// gate denied are left out; writes the resurrection guard drops (`Specs/crdt-semantics.md`
    /// §11.4) are left out, decided last against each record's greatest delete, as the
    /// rebuild decides them. On a replica loaded from a snapshot, the replay starts
    /// from that snapshot's records (its base) and its floor links.
    /// - Throws: `ConcordError` `.snapshotRefused` when a bundle at or below `vector` is not
    ///   held (below a floor without a base, or not received), `.notARecipient` when one is
    ///   sealed under an epoch key (or has a scope section) this device cannot open.
    /// - Complexity: O(log): every chain bundle is read once, those at or below `vector`
    ///   decoded and opened.
    func replayState(through vector: VersionVector, in tx: any StoreReader) throws -> Replay {
        let ledger = try MemberLedger.load(from: tx, encrypted: membership.isEncrypted)
        var opener = try BundleOpener(membership: membership, in: tx)
        var state = ReplicaState()
        var floor = VersionVector()
        var floorLinks: [PublicKey: SnapshotManifest.Link] = [:]
        if let base = try Self.baseManifest(in: tx) {
            guard vector.includes(base.vector) else {
                throw ConcordError(
                    .snapshotRefused,
                    "this replica starts at snapshot \(base.id.hex.prefix(8)), above the vector asked for: it does not hold that log"
                )
            }
            for record in try tx.baseRecords() { state.insertRecord(record.state, id: record.id, in: record.collection) }
            floor = base.vector
            for link in base.links { floorLinks[link.author] = link }
        }
        var denied: [Digest32: Set<[Int]>] = [:]
        for denial in try tx.permissionDenials(ofBundle: nil) {
            denied[denial.bundleID, default: []].insert([denial.section, denial.index])
        }
        // The resurrection guard decides as the store's rebuild does: writes it may drop
        // wait until every other op applied, so each record's greatest delete is final.
        let guarding = ResurrectionGuard(
            state: try Self.memberContext(in: tx, reusing: nil, spaceID: spaceID, encrypted: membership.isEncrypted).0.state)
        var deferred: [(author: PublicKey, sequence: UInt64, context: VersionVector, operation: RecordOperation)] = []
        var marks: [PublicKey: HLCTimestamp?] = floorLinks.mapValues { $0.hlcMax == .zero ? nil : $0.hlcMax }
        var links: [PublicKey: SnapshotManifest.Link] = floorLinks.filter { vector[$0.key] == $0.value.sequence }
        var position: Int64 = 0
        while true {
            let page = try tx.bundles(after: position, limit: 256)
            for stored in page where stored.sequence <= vector[stored.author] {
                let mark = marks[stored.author] ?? nil
                marks[stored.author] = .some(stored.mark)
                if stored.sequence == vector[stored.author] {
                    links[stored.author] = SnapshotManifest.Link(
                        author: stored.author, sequence: stored.sequence, bundle: BundleID(digest: stored.id), hlcMax: stored.mark ?? .zero)
                }
                guard stored.sequence > floor[stored.author] else { continue }
                let bundle = try StoreDestination.decode(stored)
                guard !bundle.isControl, !ledger.withheld.contains(BundlePlace(bundle)) else { continue }
                // Read-scoped ops cannot go into a snapshot every member reads.
                if bundle.isSectioned { throw Self.scopedSpaceSnapshotRefused(space: spaceID) }
                switch try opener.contentsOrVoid(of: bundle, after: mark) {
                case .success(let contents):
                    let refused = denied[stored.id] ?? []
                    let mayDrop = guarding.isActive && guarding.mayDrop(author: bundle.author, sequence: bundle.sequence)
                    for placed in contents.placedOperations where !refused.contains([placed.section, placed.index]) {
                        if mayDrop, StoreDestination.isWrite(placed.operation) {
                            deferred.append((bundle.author, bundle.sequence, contents.context, placed.operation))
                        } else {
                            state.apply(placed.operation, inBundle: bundle.sequence)
                        }
                    }
                case .failure(let error) where error.code == .notARecipient:
                    throw error
                case .failure:
                    continue  // void for every member
                }
            }
            guard let last = page.last, page.count == 256 else { break }
            position = last.position
        }
        for (author, sequence, context, op) in deferred {
            if let delete = ResurrectionGuard.deleteBundle(of: state.recordState(op.record, in: op.collection)),
                guarding.drops(author: author, sequence: sequence, context: context, delete: delete)
            {
                continue
            }
            state.apply(op, inBundle: sequence)
        }
        for (author, sequence) in vector.entries where links[author] == nil {
            throw ConcordError(
                .snapshotRefused,
                "this device does not hold bundle \(sequence) of \(author.hex.prefix(8)): it cannot compute the state at \(vector); sync first"
            )
        }
        let controls = Self.controlBundles(in: ledger, through: vector).map(\.id)
        return Replay(
            state: state, links: links.values.sorted { $0.author < $1.author },
            membershipDigest: SnapshotManifest.membershipDigest(of: controls))
    }
}
