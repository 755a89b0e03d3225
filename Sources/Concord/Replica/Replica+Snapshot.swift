import ConcordCore
import ConcordCrypto
import ConcordStore

/// Snapshots on a replica (`Specs/snapshots.md` §4): sealing at the latest applied
/// checkpoint's `S_C`, loading into an empty replica, and verification by recompute.
///
/// ```swift
/// if let snapshot = try await teacher.sealSnapshot() {           // an admin, after a checkpoint
///     let controls = try await teacher.controlBundles(through: snapshot.manifest)
///     let summary = try await newTablet.loadSnapshot(snapshot, controlBundles: controls)
///     try await classmate.verifySnapshot(snapshot)                // holds the log: recompute
/// }
/// ```
extension Replica {
    static let snapshotManifestKey = "snapshot.manifest"

    /// Why a space with read scopes is not snapshotted (`Specs/snapshots.md` §4.1): a
    /// snapshot's chunks are sealed under the epoch key every member holds, so scoped
    /// records in them would reach members outside the scope, and leaving them out would
    /// lose them for the scope's members that load it.
    static func scopedSpaceSnapshotRefused(space: SpaceID) -> ConcordError {
        ConcordError(
            .snapshotRefused,
            "space \(space.shortDescription) has read scopes (a policy with `read` lists): a snapshot would show scoped records to every member that loads it, or lose them for the scope's members, so such spaces are not snapshotted in this release; new devices sync the whole log"
        )
    }
    static let snapshotStateKey = "snapshot.state"
    static func snapshotChunkKey(_ index: Int) -> String { "snapshot.chunk.\(index)" }

    /// Seals a snapshot at the latest applied checkpoint's `S_C` (`Specs/snapshots.md` §4.3)
    /// and keeps it in the store as this device's latest snapshot (state `verified`: it is
    /// computed here from the log).
    ///
    /// The state at `V = S_C` is computed again from the log: every chain data bundle at or
    /// below `V`, decided as the importer decided it (void, withheld, denied ops left out),
    /// applied to an empty state, pruned at `V`'s frontier (each author's chain mark at `V`),
    /// and streamed in (collection, id) order into chunks of at most 4 MiB of plaintext.
    ///
    /// ```swift
    /// guard let snapshot = try await replica.sealSnapshot() else { return }   // no checkpoint yet
    /// print(snapshot.manifest.id, snapshot.manifest.recordCount)
    /// ```
    /// - Returns: The snapshot, or `nil` when no applied checkpoint's `S_C` is held in full
    ///   and at or above the snapshot this replica was loaded from (or the space has no members).
    /// - Throws: `ConcordError` `.notAllowed` (a reader, not admitted, removed), `.notARecipient`
    ///   (a bundle at or below `V` is sealed under an epoch key this device lacks, so its
    ///   snapshot would be incomplete), `.snapshotRefused` (the space has read scopes:
    ///   `Specs/snapshots.md` §4.1, not snapshotted in this release), `.storage`.
    /// - Complexity: O(bundles ≤ `V` + records log records).
    public func sealSnapshot() throws -> SealedSnapshot? {
        guard membership.isMemberFormat else { return nil }
        let context = try memberContext()
        let held = VersionVector(context.heads)
        // A replica loaded from a snapshot holds no log below its base: a checkpoint under
        // it (an older one, while the base's own checkpoint bundle has not come again with
        // the pull) cannot be sealed at here.
        let floor = try ConcordError.storage { try store.read { tx in try Self.baseManifest(in: tx)?.vector } } ?? VersionVector()
        guard
            let checkpoint = context.state.checkpoints.filter({
                held.includes($0.stable) && $0.stable.includes(floor) && !$0.stable.entries.isEmpty
            })
            .max(by: { $0.by.stamp < $1.by.stamp })
        else { return nil }
        let vector = checkpoint.stable
        if !context.state.scopeEpochs.isEmpty { throw Self.scopedSpaceSnapshotRefused(space: spaceID) }
        let key: EpochKey?? = try ConcordError.storage { try store.read { tx in try memberSealingKey(in: tx) } }
        guard let key else {
            throw ConcordError(
                .notAllowed,
                "this device may not seal a snapshot of space \(spaceID.shortDescription): only admins and writers that hold the current key may"
            )
        }
        let stamp = try ConcordError.mapping("snapshot clock") { try clock.now() }
        let snapshot: SealedSnapshot = try ConcordError.storage {
            try store.read { tx in
                let replay = try replayState(through: vector, in: tx)
                let frontier = Frontier(
                    Dictionary(
                        uniqueKeysWithValues: replay.links.compactMap { link in
                            link.hlcMax == .zero ? nil : (ReplicaID(bytes: link.author.bytes)!, link.hlcMax)
                        }))
                let pruned = replay.state.pruned(frontier: frontier)
                var writer = SnapshotWriter()
                for record in pruned.recordsInKeyOrder {
                    writer.append(SnapshotRecord(collection: record.collection, id: record.id, state: record.state))
                }
                return SealedSnapshot.seal(
                    space: spaceID.publicKey, madeAt: stamp, key: membership.isEncrypted ? key : nil, checkpoint: checkpoint.by.bundleID,
                    links: replay.links, membershipDigest: replay.membershipDigest, visibleDigest: pruned.digest, writer: &writer,
                    signer: membership.device)
            }
        }
        try keepSnapshot(snapshot, state: .verified)
        return snapshot
    }

    /// This device's latest snapshot (sealed here or loaded), if any.
    /// - Throws: `ConcordError` `.storage`, `.storeDamaged` (a stored snapshot that no longer decodes).
    public func latestSnapshot() throws -> SealedSnapshot? {
        try ConcordError.storage { try store.read { tx in try Self.storedSnapshot(in: tx)?.snapshot } }
    }

    /// What this device knows of its latest snapshot: id, signer, `provisional` or `verified`.
    /// - Throws: `ConcordError` `.storage`.
    public func snapshotStatus() throws -> SnapshotStatus? {
        try ConcordError.storage {
            try store.read { tx in
                guard let bytes = try tx.metadata(Self.snapshotManifestKey) else { return nil }
                let manifest = try SnapshotManifest.decode(bytes)
                let state = try tx.metadata(Self.snapshotStateKey).flatMap { String(decoding: $0, as: UTF8.self) }
                return SnapshotStatus(
                    id: manifest.id, signer: manifest.author, state: SnapshotStatus.State(rawValue: state ?? "") ?? .provisional,
                    vector: manifest.vector, records: manifest.recordCount, madeAt: manifest.madeAt)
            }
        }
    }

    /// The signed control bundles a loader needs before `manifest` (`Specs/snapshots.md`
    /// §4.5 step 1): every control bundle this device holds in a chain at or below the
    /// manifest's `V`, and the checkpoint's own control bundle (which lies above `V`: its
    /// author's `S_C` entry is below its own position), sorted by author and sequence.
    /// - Parameters:
    ///   - manifest: The snapshot's manifest.
    /// - Returns: The bundles' bytes.
    /// - Throws: `ConcordError` `.snapshotRefused` when this device does not hold the
    ///   checkpoint; `.storage`.
    public func controlBundles(through manifest: SnapshotManifest) throws -> [[UInt8]] {
        guard membership.isMemberFormat else { return [] }
        return try ConcordError.storage {
            try store.read { tx in
                let ledger = try MemberLedger.load(from: tx, encrypted: membership.isEncrypted)
                guard let checkpoint = ledger.controls[manifest.checkpoint], !ledger.evidence.contains(manifest.checkpoint) else {
                    throw ConcordError(
                        .snapshotRefused,
                        "this device does not hold checkpoint \(manifest.checkpoint.shortDescription) of snapshot \(manifest.id.hex.prefix(8)); sync first"
                    )
                }
                var bundles = Self.controlBundles(in: ledger, through: manifest.vector)
                bundles.append(checkpoint)
                return bundles.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }.map(\.bytes)
            }
        }
    }

    /// The chain control bundles of `ledger` at or below `vector` (evidence excluded).
    static func controlBundles(in ledger: MemberLedger, through vector: VersionVector) -> [ChangeBundle] {
        ledger.controls.values.filter { !ledger.evidence.contains($0.id) && $0.sequence <= vector[$0.author] }
    }

    /// Stores `snapshot` as this device's latest, replacing the previous one.
    func keepSnapshot(_ snapshot: SealedSnapshot, state: SnapshotStatus.State) throws {
        try ConcordError.storage {
            try store.write { tx in try Self.keepSnapshot(snapshot, state: state, in: tx) }
        }
    }

    static func keepSnapshot(_ snapshot: SealedSnapshot, state: SnapshotStatus.State, in tx: any StoreWriter) throws {
        if let old = try tx.metadata(snapshotManifestKey), let manifest = try? SnapshotManifest.decode(old) {
            for index in manifest.chunks.indices { try tx.setMetadata(nil, for: snapshotChunkKey(index)) }
        }
        try tx.setMetadata(snapshot.manifest.bytes, for: snapshotManifestKey)
        for (index, chunk) in snapshot.chunks.enumerated() { try tx.setMetadata(chunk, for: snapshotChunkKey(index)) }
        try tx.setMetadata(Array(state.rawValue.utf8), for: snapshotStateKey)
    }

    static let baseManifestKey = "snapshot.base.manifest"

    /// Makes the state at `manifest`'s vector this replica's **base**: its manifest in
    /// metadata, its records in the store's base (`base_records`, copy-on-write:
    /// `Specs/storage-schema.md` §3.12), from which a replay, a membership reconcile's
    /// rebuild and a recovery's log scan recompute records, since the log at or below its
    /// vector is not (or no longer) read.
    static func keepBase(manifest: SnapshotManifest, records: [SnapshotRecord], in tx: any StoreWriter) throws {
        try tx.setMetadata(manifest.bytes, for: baseManifestKey)
        try tx.replaceBase(with: records.map { BaseRecord(collection: $0.collection, id: $0.id, state: $0.state) })
    }

    /// The manifest of this replica's base (the snapshot it was loaded from or compacted
    /// to), if any.
    static func baseManifest(in tx: any StoreReader) throws -> SnapshotManifest? {
        guard let bytes = try tx.metadata(baseManifestKey) else { return nil }
        do {
            return try SnapshotManifest.decode(bytes)
        } catch {
            throw ConcordError(
                .storeDamaged, "the snapshot this replica's base is does not decode (\(error.message)); the store is damaged")
        }
    }

    /// The base records of the keys asked for (a key without one had no record at the base).
    static func baseStates(of keys: some Sequence<RecordKey>, in tx: any StoreReader) throws -> [RecordKey: RecordState] {
        guard try tx.hasBase() else { return [:] }
        var states: [RecordKey: RecordState] = [:]
        for key in keys {
            if let state = try tx.baseRecord(key.id, in: key.collection.string) { states[key] = state }
        }
        return states
    }

    /// The stored latest snapshot and its state.
    static func storedSnapshot(in tx: any StoreReader) throws -> (snapshot: SealedSnapshot, state: SnapshotStatus.State)? {
        guard let bytes = try tx.metadata(snapshotManifestKey) else { return nil }
        do {
            let manifest = try SnapshotManifest.decode(bytes)
            let chunks = try manifest.chunks.indices.map { index in
                guard let chunk = try tx.metadata(snapshotChunkKey(index)) else {
                    throw ConcordError(.storeDamaged, "chunk \(index) of the stored snapshot is missing; seal or load a snapshot again")
                }
                return chunk
            }
            let state = try tx.metadata(snapshotStateKey).flatMap { SnapshotStatus.State(rawValue: String(decoding: $0, as: UTF8.self)) }
            return (SealedSnapshot(manifest: manifest, chunks: chunks), state ?? .provisional)
        } catch let error as ConcordError where error.code != .storeDamaged {
            throw ConcordError(.storeDamaged, "the stored snapshot does not decode (\(error.message)); seal or load a snapshot again")
        }
    }
}
