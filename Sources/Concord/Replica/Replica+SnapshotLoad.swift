import ConcordCore
import ConcordCrypto
import ConcordStore

/// Loading a snapshot into an empty replica and verifying one by recompute
/// (`Specs/snapshots.md` §4.5, §4.6).
extension Replica {
    /// Loads `snapshot` into this replica, which must be empty: a device that joined and
    /// holds nothing but its own control bundles (`Specs/snapshots.md` §4.5 steps 1-3 and 5).
    ///
    /// Every check runs before anything is written, and the write is one transaction:
    /// 1. the manifest's signature and space; each control bundle's signature and space;
    ///    the control bundles at or below `V` match the manifest's membership digest; the
    ///    checkpoint is among them (its own bundle, above `V`), applies, and its `S_C` is
    ///    `V`; the signer is a member trusted by ``Options/snapshotTrust``;
    /// 2. every chunk's id and length, the records' order, the counts, the state digest and
    ///    the visible digest;
    /// 3. then: the records, the control bundles at or below `V` (in the membership ledger;
    ///    the data bundles between them are not held), each author's floor link at `V` (so
    ///    its bundle `V[A] + 1` chains on), the clock past the greatest `hlc max` of `V`, and
    ///    the snapshot kept as `provisional` until ``verifySnapshot(_:)`` or an attestation.
    ///
    /// Then pull every bundle above `V` as usual (``versionVector()`` is `V` plus this
    /// device's own chain).
    ///
    /// ```swift
    /// let tablet = try await Replica.join(invite, at: "School.concord")
    /// let summary = try await tablet.loadSnapshot(snapshot, controlBundles: controls)
    /// print(summary.records, summary.vector)
    /// ```
    /// - Parameters:
    ///   - snapshot: The manifest and its chunks.
    ///   - controlBundles: The signed control bundles at or below `V` and the checkpoint's
    ///     (``controlBundles(through:)`` on a device that has them); others are ignored (they
    ///     come with the pull).
    /// - Returns: What was loaded.
    /// - Throws: `ConcordError`, the store unchanged: `.malformedSnapshot`, `.invalidSignature`,
    ///   `.unsupportedVersion`, `.wrongSpace`, `.decryptionFailed`, `.notARecipient` (no key
    ///   for an encrypted snapshot); `.snapshotMismatch` (counts or digests differ from the
    ///   records); `.snapshotRefused` (the replica is not empty, a control bundle is missing or
    ///   extra, the checkpoint does not apply or its `S_C` is not `V`, the signer is not
    ///   trusted); `.malformedBundle` for a control bundle that does not decode; `.storage`.
    @discardableResult
    public func loadSnapshot(_ snapshot: SealedSnapshot, controlBundles: [[UInt8]]) throws -> SnapshotLoadSummary {
        guard membership.isMemberFormat else {
            throw ConcordError(
                .unsupportedVersion, "space \(spaceID.shortDescription) has no members (bundle format 2): snapshots need format 3")
        }
        let manifest = try SnapshotManifest.decode(snapshot.manifest.bytes)
        guard manifest.space == spaceID.publicKey else {
            throw ConcordError(
                .wrongSpace,
                "snapshot \(manifest.id.hex.prefix(8)) belongs to space \(manifest.space.hex.prefix(8)), not \(spaceID.shortDescription)")
        }
        let refuse = { (why: String) in
            ConcordError(.snapshotRefused, "snapshot \(manifest.id.hex.prefix(8)) by \(manifest.author.hex.prefix(8)) is refused: \(why)")
        }
        // 1. Control bundles, membership digest, checkpoint, trust.
        var below: [BundleID: ChangeBundle] = [:]
        var checkpointBundle: ChangeBundle?
        for bytes in controlBundles {
            let bundle = try ChangeBundle(bytes: bytes, limits: options.limits, format: ChangeBundle.memberFormatVersion)
            guard bundle.isControl else { throw refuse("a data bundle (\(bundle)) was given as a control bundle") }
            guard bundle.spaceID == spaceID else { throw ConcordError(.wrongSpace, "control bundle \(bundle) belongs to another space") }
            try ConcordError.mapping("control bundle \(bundle)") { try bundle.verifySignature() }
            if bundle.id == manifest.checkpoint {
                checkpointBundle = bundle
            } else if bundle.sequence <= manifest.vector[bundle.author] {
                below[bundle.id] = bundle
            }
        }
        guard SnapshotManifest.membershipDigest(of: below.keys) == manifest.membershipDigest else {
            throw refuse(
                "the \(below.count) control bundles at or below its vector are not the ones its membership digest names; fetch every control bundle again"
            )
        }
        guard let checkpointBundle else {
            throw refuse("its checkpoint \(manifest.checkpoint.shortDescription) is not among the control bundles")
        }
        let encrypted = membership.isEncrypted
        var records: [MembershipOpRecord] = []
        for bundle in below.values.sorted(by: { ($0.author, $0.sequence) < ($1.author, $1.sequence) }) + [checkpointBundle] {
            records.append(try bundle.membershipRecord(encrypted: encrypted))
        }
        let state = MembershipState.evaluate(ops: records, spaceID: spaceID, encrypted: encrypted)
        guard let applied = state.checkpoints.first(where: { $0.by.bundleID == manifest.checkpoint }) else {
            throw refuse("its checkpoint does not apply (void under the membership state)")
        }
        guard applied.stable == manifest.vector else {
            throw refuse("its vector \(manifest.vector) is not its checkpoint's stable cut \(applied.stable)")
        }
        guard let signer = state.member(manifest.author), signer.cut == nil else { throw refuse("its signer is not a member") }
        switch (options.snapshotTrust, signer.role.base) {
        case (_, .admin), (.members, .writer): break
        default: throw refuse("its signer is a \(signer.role.base), and this replica trusts snapshots by \(options.snapshotTrust.rawValue)")
        }
        // 2. Records, counts and digests.
        var key: EpochKey?
        if let id = manifest.keyID {
            guard let found = membership.epochKey(id, records: records, state: state) else {
                throw ConcordError(
                    .notARecipient,
                    "snapshot \(manifest.id.hex.prefix(8)) is sealed under epoch key \(id.hex), which this device does not hold")
            }
            key = found
        }
        let loaded = try snapshot.records(key: key)
        var visible = ReplicaState()
        for record in loaded { visible.insertRecord(record.state, id: record.id, in: record.collection) }
        guard visible.digest == manifest.visibleDigest else {
            throw ConcordError(
                .snapshotMismatch,
                "snapshot \(manifest.id.hex.prefix(8)) by \(manifest.author.hex.prefix(8)): its records' visible digest is \(visible.digestHex.prefix(8)), its manifest says \(Hex.encode(manifest.visibleDigest).prefix(8)); it is refused"
            )
        }
        // 3. One transaction, on an empty replica.
        let me = membership.device.publicKey
        let reading = manifest.links.map(\.hlcMax).max() ?? .zero
        let last: HLCTimestamp = try ConcordError.storage {
            try store.write { tx in
                let heads = try tx.chainHeads()
                let counts = try tx.counts()
                guard heads.keys.allSatisfy({ $0 == me }), manifest.vector[me] == 0, counts.liveRecords + counts.deletedRecords == 0,
                    try tx.pendingOperationCount() == 0, try tx.metadata(Self.snapshotManifestKey) == nil
                else {
                    throw refuse(
                        "this replica is not empty (it holds records, other devices' bundles or a snapshot); load a snapshot only into a newly joined replica"
                    )
                }
                var ledger = try MemberLedger.load(from: tx, encrypted: encrypted)
                for bundle in below.values where ledger.controls[bundle.id] == nil {
                    ledger.controls[bundle.id] = bundle
                    ledger.records[bundle.id] = try bundle.membershipRecord(encrypted: encrypted)
                }
                ledger.isDirty = true
                try ledger.save(to: tx)
                for link in manifest.links {
                    try tx.setChainFloor(
                        ChainHead(sequence: link.sequence, id: link.bundle.digest, mark: link.hlcMax == .zero ? nil : link.hlcMax),
                        of: link.author)
                }
                for record in loaded {
                    try tx.putRecord(
                        StoredRecord(state: record.state, localSequence: nil), id: record.id, in: record.collection, previous: nil)
                }
                var clock = try currentClock(StoredProgress.read(from: tx))
                try ConcordError.mapping("snapshot clock") { try clock.observe(reading) }
                try StoredProgress.raiseClock(to: clock.last, in: tx)
                try Self.keepSnapshot(snapshot, state: .provisional, in: tx)
                try Self.keepBase(manifest: manifest, records: loaded, in: tx)
                return clock.last
            }
        }
        clock.resume(from: last)
        memberCache = nil
        return SnapshotLoadSummary(
            snapshot: manifest.id, signer: manifest.author, vector: manifest.vector, records: loaded.count,
            liveRecords: Int(manifest.liveRecordCount), controlBundles: below.count)
    }

    /// Verifies a snapshot by recompute (`Specs/snapshots.md` §4.6): replays this device's
    /// log at or below its `V`, prunes at `V`, and compares the chain links, the state digest
    /// and the visible digest with the manifest's. When `snapshot` is this device's latest
    /// (or `nil`: the latest), its state becomes `verified`; a snapshot at a vector that
    /// includes the latest's (or the first one) becomes this device's latest, `verified`.
    ///
    /// ```swift
    /// let status = try await laptop.verifySnapshot(snapshot)   // .verified, or throws
    /// ```
    /// - Parameters:
    ///   - snapshot: The snapshot; `nil` for this device's latest.
    /// - Returns: The snapshot's status, `verified`.
    /// - Throws: `ConcordError` `.snapshotMismatch` (`snapshot-mismatch`: the log gives
    ///   another state; the message names the signer), `.snapshotRefused` (no snapshot, or
    ///   this device does not hold the log at or below `V`, for example because it was
    ///   loaded from this very snapshot), `.wrongSpace`, the manifest's decoding errors,
    ///   `.storage`.
    @discardableResult
    public func verifySnapshot(_ snapshot: SealedSnapshot? = nil) throws -> SnapshotStatus {
        guard let target = try snapshot ?? latestSnapshot() else {
            throw ConcordError(.snapshotRefused, "this device holds no snapshot to verify; load or seal one first")
        }
        let manifest = try SnapshotManifest.decode(target.manifest.bytes)
        guard manifest.space == spaceID.publicKey else {
            throw ConcordError(.wrongSpace, "snapshot \(manifest.id.hex.prefix(8)) belongs to another space")
        }
        let mismatch = { (what: String) in
            ConcordError(
                .snapshotMismatch,
                "snapshot-mismatch: snapshot \(manifest.id.hex.prefix(8)) signed by \(manifest.author.hex) differs from this device's log at its vector (\(what)); it is refused, do not load it, and tell the space's admins"
            )
        }
        let (replay, stored) = try ConcordError.storage {
            try store.read { tx in
                let stored = try Self.storedSnapshot(in: tx)
                if let base = try Self.baseManifest(in: tx), base.id == manifest.id {
                    throw ConcordError(
                        .snapshotRefused,
                        "this device was loaded from snapshot \(manifest.id.hex.prefix(8)): it holds no log below it to verify it against; verify on a device that holds the log"
                    )
                }
                return (try replayState(through: manifest.vector, in: tx), stored)
            }
        }
        guard replay.links == manifest.links else { throw mismatch("other chain links at its vector") }
        guard replay.membershipDigest == manifest.membershipDigest else { throw mismatch("other control bundles") }
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
        let digest = SnapshotManifest.stateDigest(vectorEncoding: manifest.vectorEncoding, plaintexts: writer.finish())
        guard digest == manifest.stateDigest else {
            throw mismatch("state digest \(digest.hex.prefix(8)), the manifest says \(manifest.stateDigest.hex.prefix(8))")
        }
        guard pruned.digest == manifest.visibleDigest else { throw mismatch("another visible digest") }
        if stored?.snapshot.manifest.id == manifest.id {
            try ConcordError.storage { try store.write { tx in try tx.setMetadata(Array("verified".utf8), for: Self.snapshotStateKey) } }
        } else if stored.map({ manifest.vector.includes($0.snapshot.manifest.vector) }) ?? true {
            // A newer snapshot than this device's latest (the relay's): kept as its latest,
            // verified, so ``compact(historyHorizon:dryRun:)`` can compact to it.
            try keepSnapshot(target, state: .verified)
        }
        return SnapshotStatus(
            id: manifest.id, signer: manifest.author, state: .verified, vector: manifest.vector, records: manifest.recordCount)
    }
}
