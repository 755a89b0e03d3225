import ConcordCore
import ConcordCrypto
import ConcordStore

/// The import destination of a ``Replica``: the bundle log and records of its store,
/// inside one store transaction, and the replica's clock.
struct StoreDestination: ImportDestination {
    let tx: any StoreWriter
    var clock: HybridLogicalClock
    var verifiedCertificateChains: Set<Digest32>
    let me: PublicKey
    let tracking: Bool
    /// Highest own sequence a peer's causal context showed it holds.
    var acknowledged: UInt64
    var changes: [RecordChange] = []
    var operationsApplied = 0
    /// Bundles that entered their chain void in this transaction.
    var voided: [VoidedBundle] = []
    /// Ops denied by the permission decision in this transaction (new denials).
    var denied: [DeniedOperation] = []
    /// Authors of the bundles appended to chains in this transaction.
    var appendedAuthors: Set<PublicKey> = []
    /// The records this transaction's bundles touched, each read from the store once.
    /// Without observers the batch is written back once, by ``flush()`` at the end of the
    /// transaction (a record changed by several bundles is written once); with observers
    /// it is written after each bundle, so each change is reported with its author.
    var batch = RecordBatch()
    /// Format 3: the membership ledger (loaded by the replica for format-3 spaces), the
    /// state its ops had when loaded or last decided, the epoch keys opened in this
    /// transaction, and data bundles a cut removed from their chains since.
    var ledger: MemberLedger?
    var decidedState: MembershipState?
    var stateCache: MembershipState?
    /// A batch import reconciles its control bundles once, at its end.
    var defersMembershipReconcile = false
    var membershipReconcilePending = false
    var epochKeyCache: [EpochKeyID: EpochKey] = [:]
    var droppedData: [ChangeBundle] = []
    /// Pending local operations (re-applied over rebuilt records).
    var localOperations: (() throws -> [RecordOperation])?
    /// Records are written pruned at the held frontier (``Replica/Options/prunesAsWritten``).
    var prunesAsWritten = true

    /// Writes the resurrection guard dropped in this transaction (`Specs/crdt-semantics.md`
    /// §11.4), each once.
    var guarded: [GuardedOperation] = []
    /// Records whose greatest delete changed from or to one a checkpoint covers since the
    /// last rebuild: their writes are decided again by the next rebuild.
    var guardDirty: Set<RecordKey> = []

    var guardRecomputePending: Bool { !guardDirty.isEmpty }

    func contains(_ id: BundleID) throws -> Bool {
        if ledger?.evidence.contains(id) == true { return true }
        return try tx.containsBundle(id.digest)
    }

    func head(of author: PublicKey) throws -> BundleLog.ChainHead? {
        try tx.chainHead(of: author).map { BundleLog.ChainHead(sequence: $0.sequence, id: BundleID(digest: $0.id), mark: $0.mark) }
    }

    /// Below a floor the chain rule reads the floor link and the ids compaction kept
    /// (`Specs/sync-protocol.md` §7): the same id is a duplicate, another a fork.
    func chainBundleID(of author: PublicKey, sequence: UInt64) throws -> BundleID? {
        try tx.chainBundleID(of: author, sequence: sequence).map(BundleID.init(digest:))
    }

    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle? {
        try tx.heldBundle(of: author, sequence: sequence).map(Self.decode)
    }

    func heldCount() throws -> Int { try tx.heldBundles().count }

    mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle, guarding: ResurrectionGuard) throws {
        let ops = contents.operations
        guard let newest = ops.lazy.map(\.stamp.hlc).max() else { return }
        try ConcordError.mapping("\(bundle)") { try clock.observe(newest) }
        // Nothing below throws a rejection: a failure here is the store's and aborts the
        // whole transaction, so a bundle is never half-applied.
        try batch.preload(ops, from: tx)
        let mayDrop = guarding.isActive && guarding.mayDrop(author: bundle.author, sequence: bundle.sequence)
        for op in ops {
            if guarding.isActive {
                switch op.action {
                case .set, .add:
                    // Against the record's greatest delete as it stands (a delete earlier in
                    // this bundle counts: it is in the bundle's own chain, so it never guards).
                    if mayDrop, let delete = ResurrectionGuard.deleteBundle(of: try batch.state(op.collection, op.record, from: tx)),
                        guarding.drops(author: bundle.author, sequence: bundle.sequence, context: contents.context, delete: delete)
                    {
                        noteGuarded(GuardedOperation(author: bundle.author, sequence: bundle.sequence, operation: op, delete: delete))
                        continue
                    }
                case .delete:
                    let before = ResurrectionGuard.deleteBundle(of: try batch.state(op.collection, op.record, from: tx))
                    try batch.apply(op, local: false, inBundle: bundle.sequence, from: tx)
                    let after = ResurrectionGuard.deleteBundle(of: try batch.state(op.collection, op.record, from: tx))
                    if before != after, before.map(guarding.covers) == true || after.map(guarding.covers) == true {
                        guardDirty.insert(RecordKey(op.collection, op.record))
                    }
                    continue
                case .remove:
                    break
                }
            }
            try batch.apply(op, local: false, inBundle: bundle.sequence, from: tx)
        }
        if tracking {
            let author = ReplicaID(bytes: bundle.author.bytes)!
            changes += try batch.commit(to: tx, origin: .remote(author), tracking: true, prunedAt: try heldFrontier())
        }
        operationsApplied += ops.count
        let claimed = contents.context[me]
        if claimed > acknowledged {
            // A peer cannot acknowledge more than this device has sealed.
            let head = try tx.chainHead(of: me)?.sequence ?? 0
            acknowledged = max(acknowledged, min(claimed, head))
        }
    }

    /// Writes the records changed by the bundles received so far; call it before the
    /// transaction commits.
    mutating func flush() throws {
        changes += try batch.commit(to: tx, origin: .local, tracking: false, prunedAt: try heldFrontier())
        if var ledger {
            let tx = self.tx
            try ledger.save(to: tx)
            self.ledger = ledger
        }
    }

    /// The held frontier (`Specs/crdt-semantics.md` §11.2): each author's chain mark as
    /// held now. Records are written pruned at it
    /// (``RecordBatch/commit(to:origin:tracking:prunedAt:)``).
    /// `nil` when the replica does not prune as it writes (``Replica/Options/prunesAsWritten``).
    func heldFrontier() throws -> Frontier? {
        prunesAsWritten ? try Self.heldFrontier(in: tx) : nil
    }

    /// The held frontier of the store `tx` reads: each author's chain mark.
    ///
    /// Not +∞ for a removed or retired author held to its cut-off, although §11.2 allows
    /// it: that cut-off can still move up (a later checkpoint's finality raises it, a
    /// removal voided retroactively lifts it, `Specs/membership.md` §6), and the author's
    /// bundles past the old cut-off then apply after all; a tombstone of one of their tags
    /// dropped meanwhile would be missing. The chain mark is always safe: a bundle past the
    /// head starts after it.
    static func heldFrontier(in tx: any StoreReader) throws -> Frontier {
        var heads: [ReplicaID: HLCTimestamp] = [:]
        for (author, head) in try tx.chainHeads() {
            guard let id = ReplicaID(bytes: author.bytes), let mark = head.mark else { continue }
            heads[id] = mark
        }
        return Frontier(heads)
    }

    mutating func void(_ voided: VoidedBundle) { self.voided.append(voided) }

    /// Reports a write the guard dropped, once per transaction.
    mutating func noteGuarded(_ operation: GuardedOperation) {
        if !guarded.contains(operation) { guarded.append(operation) }
    }

    mutating func append(_ bundle: ChangeBundle) throws {
        try tx.appendBundle(StoredBundle(bundle))
        appendedAuthors.insert(bundle.author)
    }

    mutating func hold(_ bundle: ChangeBundle) throws { try tx.holdBundle(StoredBundle(bundle)) }

    mutating func takeHeld(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle? {
        guard let stored = try tx.heldBundle(of: author, sequence: sequence) else { return nil }
        try tx.removeHeldBundle(of: author, sequence: sequence)
        return try Self.decode(stored)
    }

    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) throws -> ChangeBundle? {
        let extends = { (stored: StoredBundle) in
            let previous = BundleID(digest: stored.previous)
            return stored.author == author && ChainRule.extends(sequence: stored.sequence, previous: previous, after: head)
        }
        guard let stored = try tx.quarantinedBundles().first(where: extends) else { return nil }
        try tx.removeQuarantinedBundle(stored.id)
        return try Self.decode(stored)
    }

    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) throws {
        guard try tx.quarantinedBundles().count < limit else { return }
        try tx.quarantineBundle(StoredBundle(bundle))
    }

    mutating func trust(_ chain: CertificateChain) { verifiedCertificateChains.insert(chain.digest) }

    /// A bundle the store holds was verified before it was stored: only its structure is
    /// read. One that does not decode means the store is damaged (`.storeDamaged`), never
    /// that some input was bad.
    static func decode(_ stored: StoredBundle) throws -> ChangeBundle {
        do {
            return try ChangeBundle(bytes: stored.bytes, limits: BundleLimits(maxBundleBytes: .max))
        } catch {
            let detail = (error as? ConcordError)?.message ?? "\(error)"
            throw ConcordError(
                .storeDamaged,
                "the store is damaged: bundle #\(stored.sequence) of device \(stored.author.hex.prefix(16)) in its log does not decode (\(detail)). Restore the replica directory's \(ReplicaDirectory.databaseName) from a backup, or move the directory away and join the space again (the data comes back from the other devices)"
            )
        }
    }
}
