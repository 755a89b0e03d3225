import ConcordCore
import ConcordCrypto

/// Where ``BundleImporter`` imports into: a bundle log (chains, held, quarantined) and a
/// replica state with its clock. Two conform: ``InMemoryDestination`` (a `LocalReplica`
/// and a ``BundleLog``) and the store-backed destination of ``Replica``, so the import
/// pipeline (`Specs/wire-format.md`, section 7.7) exists once.
///
/// Methods throw ``ConcordError`` only for a rejection (and then change nothing); any
/// other error is a storage failure that aborts the whole import.
package protocol ImportDestination {
    /// The drift bound and physical clock used to verify bundles.
    var clock: HybridLogicalClock { get }
    /// Digests of certificate chains already fully verified.
    var verifiedCertificateChains: Set<Digest32> { get }
    func contains(_ id: BundleID) throws -> Bool
    func head(of author: PublicKey) throws -> BundleLog.ChainHead?
    /// The id of the bundle at `sequence` of `author`'s chain, if the chain holds it.
    func chainBundleID(of author: PublicKey, sequence: UInt64) throws -> BundleID?
    func heldBundle(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle?
    func heldCount() throws -> Int
    /// Checks the operations' newest clock reading against the drift bound (throwing
    /// ``ConcordError`` before any change), then merges the clock and applies them, except
    /// the `set` and `add` ops `guarding` drops against their record's greatest delete as
    /// it stands (`Specs/crdt-semantics.md` §11.4). A delete that changes a record's greatest
    /// delete from or to one a checkpoint covers makes ``guardRecomputePending`` true: the
    /// record's earlier writes are decided again by the next ``rebuildState(state:contents:_:)``.
    mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle, guarding: ResurrectionGuard) throws
    /// Whether a delete received since the last rebuild changed what the resurrection guard
    /// decides for writes already applied or dropped (the importer then rebuilds).
    var guardRecomputePending: Bool { get }
    /// Records that a bundle about to enter its chain is void (nothing of it is applied).
    mutating func void(_ voided: VoidedBundle)
    mutating func append(_ bundle: ChangeBundle) throws
    mutating func hold(_ bundle: ChangeBundle) throws
    mutating func takeHeld(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle?
    /// Removes and returns a quarantined bundle of `author` that extends the chain whose
    /// head is `head` (by ``ChainRule``).
    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) throws -> ChangeBundle?
    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) throws
    mutating func trust(_ chain: CertificateChain)

    // Format 3 (`Specs/membership.md` §6, §8): the membership ops held, evidence, and the
    // rollback of bundles a new removal cuts. A destination that does not implement them
    // (the default) refuses format-3 spaces.
    /// The membership ops of the control bundles in the chains and the evidence.
    var membershipRecords: [MembershipOpRecord] { get }
    mutating func recordMembership(_ record: MembershipOpRecord, of bundle: ChangeBundle) throws
    mutating func keepAsEvidence(_ bundle: ChangeBundle) throws
    /// The control bundles kept as evidence.
    func evidenceBundles() throws -> [ChangeBundle]
    /// Takes a bundle out of the evidence (it stays known).
    mutating func takeEvidence(_ id: BundleID) throws -> ChangeBundle?
    /// The membership state of ``membershipRecords`` if this destination cached it since
    /// the op set last changed (evaluating costs O(ops) and a big space has thousands).
    func cachedMembershipState() -> MembershipState?
    mutating func cacheMembershipState(_ state: MembershipState?)
    /// Records that a data bundle entered its chain without its operations (its author may
    /// not write there, or its epoch key is not here): a later op may make it apply.
    mutating func markWithheld(_ bundle: ChangeBundle)
    /// Whether control bundles of this batch are reconciled once, by
    /// ``BundleImporter/finishMemberBatch(into:)``, instead of one by one.
    var defersMembershipReconcile: Bool { get }
    /// Whether a deferred reconcile is due.
    var membershipReconcilePending: Bool { get }
    mutating func setMembershipReconcilePending(_ pending: Bool)
    /// Merges a control bundle's stamp into the clock (after the drift check).
    mutating func observe(_ reading: HLCTimestamp) throws
    /// Authors with a chain.
    func chainAuthors() throws -> [PublicKey]
    /// Authors with held bundles.
    func heldAuthors() throws -> [PublicKey]
    /// The held bundles of `author`, in sequence order.
    func heldBundles(of author: PublicKey) throws -> [ChangeBundle]
    /// Removes `author`'s chain bundles after `cutoff`; returns them in sequence order.
    mutating func truncateChain(of author: PublicKey, after cutoff: UInt64) throws -> [ChangeBundle]
    /// Makes the replica state the merge of the chain's data bundles as `decide` says:
    /// those it answers ``MemberApplication/apply(_:)`` for (the others contribute nothing).
    /// A destination may recompute only what changed since its previous decision (under the
    /// state its op set had before); `contents` opens a bundle whatever the decision, to
    /// find the records a bundle that stops applying touched. Both are given the bundle and
    /// its chain's mark before it (``BundleLog/ChainHead/mark``), for chain monotonicity.
    mutating func rebuildState(
        state: MembershipState, contents: (ChangeBundle, HLCTimestamp?) throws -> BundleContents?,
        _ decide: (ChangeBundle, HLCTimestamp?) throws -> MemberApplication
    ) throws
    /// The epoch key `id`, from this destination's cache or computed (and then cached).
    mutating func epochKey(_ id: EpochKeyID, compute: ([MembershipOpRecord]) -> EpochKey?) -> EpochKey?
    /// The log as the permission gate reads it (`Specs/permissions.md` §6), usable while the
    /// destination is being changed.
    func permissionSource() -> any PermissionSource
    /// Records the denials of a data bundle entering its chain (replacing any earlier ones).
    mutating func recordDenials(_ denials: [DeniedOperation], of bundle: ChangeBundle) throws
}

/// A log with nothing in it, for destinations without format 3.
private struct EmptyPermissionSource: PermissionSource {
    func chainBundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { nil }
    func controlBundle(_ id: BundleID) -> ChangeBundle? { nil }
}

/// What a format-3 data bundle in a chain contributes to the replica state.
package enum MemberApplication {
    /// Its allowed operations apply (the contents without the denied ones); the denied
    /// ones are listed (`Specs/permissions.md` §6).
    case apply(BundleContents, denied: [DeniedOperation])
    /// It is void (its payload cannot be used the same way on every member): nothing, for good.
    case void
    /// Not now: its author may not write there, or its epoch key is not here. It may apply
    /// after a later membership op.
    case withheld
}

extension ImportDestination {
    /// Receives a bundle's operations with no resurrection guard (format 2 has no checkpoints).
    package mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle) throws {
        try receive(contents, of: bundle, guarding: ResurrectionGuard(checkpoints: []))
    }
    package var guardRecomputePending: Bool { false }
    package var membershipRecords: [MembershipOpRecord] { [] }
    package mutating func recordMembership(_ record: MembershipOpRecord, of bundle: ChangeBundle) throws { throw Self.noMemberFormat() }
    package mutating func keepAsEvidence(_ bundle: ChangeBundle) throws { throw Self.noMemberFormat() }
    package func evidenceBundles() throws -> [ChangeBundle] { throw Self.noMemberFormat() }
    package mutating func takeEvidence(_ id: BundleID) throws -> ChangeBundle? { throw Self.noMemberFormat() }
    package mutating func observe(_ reading: HLCTimestamp) throws { throw Self.noMemberFormat() }
    package mutating func markWithheld(_ bundle: ChangeBundle) {}
    package var defersMembershipReconcile: Bool { false }
    package var membershipReconcilePending: Bool { false }
    package mutating func setMembershipReconcilePending(_ pending: Bool) {}
    package func cachedMembershipState() -> MembershipState? { nil }
    package mutating func cacheMembershipState(_ state: MembershipState?) {}
    package func chainAuthors() throws -> [PublicKey] { throw Self.noMemberFormat() }
    package func heldAuthors() throws -> [PublicKey] { throw Self.noMemberFormat() }
    package func heldBundles(of author: PublicKey) throws -> [ChangeBundle] { throw Self.noMemberFormat() }
    package mutating func truncateChain(of author: PublicKey, after cutoff: UInt64) throws -> [ChangeBundle] { throw Self.noMemberFormat() }
    package mutating func rebuildState(
        state: MembershipState, contents: (ChangeBundle, HLCTimestamp?) throws -> BundleContents?,
        _ decide: (ChangeBundle, HLCTimestamp?) throws -> MemberApplication
    ) throws { throw Self.noMemberFormat() }
    package mutating func epochKey(_ id: EpochKeyID, compute: ([MembershipOpRecord]) -> EpochKey?) -> EpochKey? {
        compute(membershipRecords)
    }
    package func permissionSource() -> any PermissionSource { EmptyPermissionSource() }
    package mutating func recordDenials(_ denials: [DeniedOperation], of bundle: ChangeBundle) throws {}

    package static func noMemberFormat() -> ConcordError {
        ConcordError(
            .unsupportedVersion,
            "this store does not hold format-3 spaces (members and roles by control bundles) yet; "
                + "Specs/membership.md section 11, stage 2")
    }
}

/// The in-memory destination: a replica and its bundle log.
struct InMemoryDestination: ImportDestination {
    var replica: LocalReplica
    var log: BundleLog
    var stateCache: MembershipState?

    init(replica: LocalReplica, log: BundleLog) {
        self.replica = replica
        self.log = log
    }

    var clock: HybridLogicalClock { replica.clock }
    var verifiedCertificateChains: Set<Digest32> { log.verifiedCertificateChains }
    func contains(_ id: BundleID) -> Bool { log.contains(id) }
    func head(of author: PublicKey) -> BundleLog.ChainHead? { log.head(of: author) }
    func chainBundleID(of author: PublicKey, sequence: UInt64) -> BundleID? { log.bundle(of: author, sequence: sequence)?.id }
    func heldBundle(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { log.heldBundle(of: author, sequence: sequence) }
    func heldCount() -> Int { log.heldCount }

    var guardRecomputePending = false

    mutating func receive(_ contents: BundleContents, of bundle: ChangeBundle, guarding: ResurrectionGuard) throws {
        guard guarding.isActive else {
            try ConcordError.mapping("\(bundle)") { _ = try replica.receive(contents.operations) }
            return
        }
        guard let newest = contents.operations.lazy.map(\.stamp.hlc).max() else { return }
        try ConcordError.mapping("\(bundle)") { try replica.observe(newest) }
        let mayDrop = guarding.mayDrop(author: bundle.author, sequence: bundle.sequence)
        // One error context for the bundle (its description is built eagerly).
        try ConcordError.mapping("\(bundle)") {
            for op in contents.operations {
                switch op.action {
                case .set, .add:
                    if mayDrop, let delete = log.deleteBundle(of: replica.state.recordState(op.record, in: op.collection)),
                        guarding.drops(author: bundle.author, sequence: bundle.sequence, context: contents.context, delete: delete)
                    {
                        log.recordGuarded(GuardedOperation(author: bundle.author, sequence: bundle.sequence, operation: op, delete: delete))
                        continue
                    }
                case .delete:
                    let before = log.deleteBundle(of: replica.state.recordState(op.record, in: op.collection))
                    _ = try replica.receive([op])
                    // The delete is in this bundle, which is not in the log yet.
                    let after =
                        replica.state.recordState(op.record, in: op.collection)?.deletedAt == op.stamp
                        ? ResurrectionGuard.DeleteBundle(author: bundle.author, sequence: bundle.sequence) : before
                    if before != after, before.map(guarding.covers) == true || after.map(guarding.covers) == true {
                        guardRecomputePending = true
                    }
                    continue
                case .remove:
                    break
                }
                _ = try replica.receive([op])
            }
        }
    }

    mutating func void(_ voided: VoidedBundle) { log.recordVoid(voided) }
    mutating func append(_ bundle: ChangeBundle) { log.append(bundle) }
    mutating func hold(_ bundle: ChangeBundle) { log.hold(bundle) }
    mutating func takeHeld(of author: PublicKey, sequence: UInt64) -> ChangeBundle? { log.takeHeld(of: author, sequence: sequence) }
    mutating func takeQuarantined(of author: PublicKey, extending head: ChainRule.Link) -> ChangeBundle? {
        log.takeQuarantined(of: author, extending: head)
    }
    mutating func quarantine(_ bundle: ChangeBundle, limit: Int) { log.quarantine(bundle, limit: limit) }
    mutating func trust(_ chain: CertificateChain) { log.trust(chain) }

    var membershipRecords: [MembershipOpRecord] { Array(log.membershipRecords.values) }
    mutating func recordMembership(_ record: MembershipOpRecord, of bundle: ChangeBundle) {
        if log.membershipRecords[record.bundleID] == nil { stateCache = nil }
        log.recordMembership(record)
    }
    func cachedMembershipState() -> MembershipState? { stateCache }
    mutating func cacheMembershipState(_ state: MembershipState?) { stateCache = state }
    mutating func keepAsEvidence(_ bundle: ChangeBundle) { log.keepAsEvidence(bundle) }
    func evidenceBundles() -> [ChangeBundle] { log.evidence }
    mutating func takeEvidence(_ id: BundleID) -> ChangeBundle? { log.takeEvidence(id) }
    mutating func observe(_ reading: HLCTimestamp) throws {
        try ConcordError.mapping("control bundle clock") { try replica.observe(reading) }
    }
    func chainAuthors() -> [PublicKey] { log.chainAuthors }
    func heldAuthors() -> [PublicKey] { log.heldAuthors }
    func heldBundles(of author: PublicKey) -> [ChangeBundle] { log.heldBundles(of: author) }
    mutating func truncateChain(of author: PublicKey, after cutoff: UInt64) -> [ChangeBundle] {
        log.truncateChain(of: author, after: cutoff)
    }

    mutating func rebuildState(
        state: MembershipState, contents: (ChangeBundle, HLCTimestamp?) throws -> BundleContents?,
        _ decide: (ChangeBundle, HLCTimestamp?) throws -> MemberApplication
    ) throws {
        var fresh = LocalReplica(id: replica.id, clock: replica.clock)
        log.clearDenials()
        // The resurrection guard decides against each record's greatest delete over the
        // whole log: deletes are never guarded, so every op but the writes it may drop
        // applies first, then those writes are decided against the final deletes.
        let guarding = ResurrectionGuard(state: state)
        var candidates: [(bundle: ChangeBundle, context: VersionVector, operation: RecordOperation)] = []
        for bundle in log.bundles where !bundle.isControl {
            let mark = log.mark(of: bundle.author, through: bundle.sequence - 1)
            guard case .apply(let contents, let denied) = try decide(bundle, mark) else { continue }
            log.setDenials(denied, of: bundle.id)
            var ops = contents.operations
            if guarding.isActive, guarding.mayDrop(author: bundle.author, sequence: bundle.sequence) {
                ops = []
                for op in contents.operations {
                    switch op.action {
                    case .set, .add: candidates.append((bundle, contents.context, op))
                    case .delete, .remove: ops.append(op)
                    }
                }
            }
            try ConcordError.mapping("\(bundle)") { _ = try fresh.receive(ops) }
        }
        var guarded: [GuardedOperation] = []
        var kept: [RecordOperation] = []
        for (bundle, context, op) in candidates {
            if let delete = log.deleteBundle(of: fresh.state.recordState(op.record, in: op.collection)),
                guarding.drops(author: bundle.author, sequence: bundle.sequence, context: context, delete: delete)
            {
                guarded.append(GuardedOperation(author: bundle.author, sequence: bundle.sequence, operation: op, delete: delete))
            } else {
                kept.append(op)
            }
        }
        try ConcordError.mapping("writes kept by the resurrection guard") { _ = try fresh.receive(kept) }
        log.replaceGuarded(guarded)
        guardRecomputePending = false
        replica = fresh
    }

    func permissionSource() -> any PermissionSource { log }
    mutating func recordDenials(_ denials: [DeniedOperation], of bundle: ChangeBundle) { log.setDenials(denials, of: bundle.id) }
}
