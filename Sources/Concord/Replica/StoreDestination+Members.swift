import ConcordCore
import ConcordCrypto
import ConcordStore

/// Format 3 in the store (`Specs/membership.md` §6, §8): the membership ledger, evidence,
/// chains cut by a removal, and the records recomputed when what the state admits changes.
extension StoreDestination {
    private var requireLedger: MemberLedger {
        get throws {
            guard let ledger else { throw ConcordError(.unsupportedVersion, "this replica's space is not in bundle format 3") }
            return ledger
        }
    }

    var membershipRecords: [MembershipOpRecord] { ledger.map { Array($0.records.values) } ?? [] }

    mutating func recordMembership(_ record: MembershipOpRecord, of bundle: ChangeBundle) throws {
        _ = try requireLedger
        guard ledger?.records[record.bundleID] == nil else { return }
        stateCache = nil
        ledger?.records[record.bundleID] = record
        ledger?.controls[bundle.id] = bundle
        ledger?.isDirty = true
    }

    mutating func keepAsEvidence(_ bundle: ChangeBundle) throws {
        _ = try requireLedger
        ledger?.controls[bundle.id] = bundle
        ledger?.evidence.insert(bundle.id)
        ledger?.isDirty = true
    }

    func evidenceBundles() throws -> [ChangeBundle] {
        let ledger = try requireLedger
        return ledger.evidence.compactMap { ledger.controls[$0] }.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }
    }

    mutating func takeEvidence(_ id: BundleID) throws -> ChangeBundle? {
        guard try requireLedger.evidence.contains(id) else { return nil }
        ledger?.evidence.remove(id)
        ledger?.isDirty = true
        return ledger?.controls[id]
    }

    func cachedMembershipState() -> MembershipState? { stateCache }

    mutating func setMembershipReconcilePending(_ pending: Bool) { membershipReconcilePending = pending }

    mutating func markWithheld(_ bundle: ChangeBundle) {
        ledger?.withheld.insert(BundlePlace(bundle))
        ledger?.isDirty = true
    }

    mutating func cacheMembershipState(_ state: MembershipState?) { stateCache = state }

    mutating func observe(_ reading: HLCTimestamp) throws {
        try ConcordError.mapping("control bundle clock") { try clock.observe(reading) }
    }

    func chainAuthors() throws -> [PublicKey] { try tx.chainHeads().keys.sorted() }

    func heldAuthors() throws -> [PublicKey] { Set(try tx.heldBundles().map(\.author)).sorted() }

    func heldBundles(of author: PublicKey) throws -> [ChangeBundle] {
        try tx.heldBundles().filter { $0.author == author }.sorted { $0.sequence < $1.sequence }.map(Self.decode)
    }

    mutating func truncateChain(of author: PublicKey, after cutoff: UInt64) throws -> [ChangeBundle] {
        let dropped = try tx.removeChainBundles(of: author, after: cutoff).map(Self.decode)
        for bundle in dropped where !bundle.isControl {
            droppedData.append(bundle)
        }
        return dropped
    }

    mutating func epochKey(_ id: EpochKeyID, compute: ([MembershipOpRecord]) -> EpochKey?) -> EpochKey? {
        if let cached = epochKeyCache[id] { return cached }
        let key = compute(membershipRecords)
        if let key { epochKeyCache[id] = key }
        return key
    }

    func permissionSource() -> any PermissionSource {
        StorePermissionSource(tx: tx, controls: ledger?.controls ?? [:])
    }

    mutating func recordDenials(_ denials: [DeniedOperation], of bundle: ChangeBundle) throws {
        try tx.replacePermissionDenials(ofBundle: bundle.id.digest, with: denials.map(StoredDenial.init))
        denied += denials
    }

    /// Re-decides only the chain data bundles whose decision can have changed since the
    /// last one (those withheld, and those of authors whose membership entry changed), and
    /// recomputes the records the bundles that changed side touch, from every chain bundle
    /// that applies and this device's unsealed operations.
    mutating func rebuildState(
        state: MembershipState, contents: (ChangeBundle, HLCTimestamp?) throws -> BundleContents?,
        _ decide: (ChangeBundle, HLCTimestamp?) throws -> MemberApplication
    ) throws {
        guard var ledger else { throw ConcordError(.unsupportedVersion, "this replica's space is not in bundle format 3") }
        // Records a delete changed the guard's decisions for (``receive(_:of:guarding:)``).
        var dirty: Set<RecordKey> = guardDirty
        guardDirty = []
        func touch(_ contents: BundleContents?) {
            for placed in contents?.placedOperations ?? [] { dirty.insert(RecordKey(placed.operation.collection, placed.operation.record)) }
        }
        // Bundles a cut removed: what they applied goes.
        for bundle in droppedData {
            // (Its mark is gone with its chain: at worst a bundle that never applied touches
            // records, which are then recomputed to what they are.)
            if ledger.withheld.remove(BundlePlace(bundle)) == nil { touch(try contents(bundle, nil)) }
            try tx.replacePermissionDenials(ofBundle: bundle.id.digest, with: [])
        }
        droppedData.removeAll()
        var candidates: [BundleID: ChangeBundle] = [:]
        for place in ledger.withheld {
            if let stored = try tx.bundle(of: place.author, sequence: place.sequence) {
                let bundle = try Self.decode(stored)
                candidates[bundle.id] = bundle
            } else {
                ledger.withheld.remove(place)
            }
        }
        let before = decidedState
        // Permissions (`Specs/permissions.md` §6.4, first cut): when the policy list changes,
        // or any member while a policy is in play, every data bundle is decided again.
        // A scope key arriving (or a scope epoch changing) opens sections stored unread (§7.4).
        let everything =
            before == nil || before?.policies != state.policies
            || (!state.policies.isEmpty && before?.members != state.members)
            || before?.scopeEpochs != state.scopeEpochs
        for (author, head) in try tx.chainHeads() where everything || before?.member(author) != state.member(author) {
            guard head.sequence > 0 else { continue }
            for sequence in 1...head.sequence {
                guard let stored = try tx.bundle(of: author, sequence: sequence) else { continue }
                let bundle = try Self.decode(stored)
                if !bundle.isControl { candidates[bundle.id] = bundle }
            }
        }
        // In chain order, so the permission gate's per-family memory is reused (§5.2).
        for bundle in candidates.values.sorted(by: { ($0.author, $0.sequence) < ($1.author, $1.sequence) }) {
            let place = BundlePlace(bundle)
            let wasApplied = !ledger.withheld.contains(place)
            let id = bundle.id.digest
            let mark = try tx.chainMark(before: bundle.sequence, of: bundle.author)
            switch try decide(bundle, mark) {
            case .apply(let opened, let denied):
                let old = Set(try tx.permissionDenials(ofBundle: id).map { OpPlace(section: $0.section, index: $0.index) })
                let new = Set(denied.map { OpPlace(section: $0.section, index: $0.index) })
                if !wasApplied {
                    ledger.withheld.remove(place)
                    touch(opened)
                } else if old != new || bundle.isSectioned, let all = try contents(bundle, mark) {
                    // The ops whose decision changed: their records are recomputed. In a
                    // sectioned bundle every readable op is, since a section opened by a
                    // newly arrived scope key changes nothing in the denials (§7.4).
                    let changed = old.symmetricDifference(new)
                    for placed in all.placedOperations
                    where changed.contains(OpPlace(section: placed.section, index: placed.index))
                        || (bundle.isSectioned && placed.section > 0)
                    {
                        dirty.insert(RecordKey(placed.operation.collection, placed.operation.record))
                    }
                }
                if old != new || !wasApplied {
                    try tx.replacePermissionDenials(ofBundle: id, with: denied.map(StoredDenial.init))
                    self.denied += denied.filter { !old.contains(OpPlace(section: $0.section, index: $0.index)) }
                }
            case .void:
                if !wasApplied { ledger.withheld.remove(place) }
                try tx.replacePermissionDenials(ofBundle: id, with: [])
            case .withheld:
                if wasApplied {
                    ledger.withheld.insert(place)
                    touch(try contents(bundle, mark))
                }
                try tx.replacePermissionDenials(ofBundle: id, with: [])
            }
        }
        // The resurrection guard (`Specs/crdt-semantics.md` §11.4): when the applied
        // checkpoints change, the writes of bundles some changed checkpoint had not seen
        // (`k > R_C[A]`, the only ones it can drop or have dropped) are decided again.
        let guarding = ResurrectionGuard(state: state)
        let guardedBefore = before.map { ResurrectionGuard(state: $0) } ?? ResurrectionGuard(checkpoints: [])
        if guardedBefore != guarding {
            let changed = Set(guarding.checkpoints).symmetricDifference(guardedBefore.checkpoints)
            for (author, head) in try tx.chainHeads() {
                let from = changed.map { $0.seen[author] }.min() ?? head.sequence
                guard head.sequence > from else { continue }
                for sequence in (from + 1)...head.sequence {
                    guard let stored = try tx.bundle(of: author, sequence: sequence) else { continue }
                    let bundle = try Self.decode(stored)
                    guard !bundle.isControl, !ledger.withheld.contains(BundlePlace(bundle)) else { continue }
                    let mark = try tx.chainMark(before: sequence, of: author)
                    for placed in try contents(bundle, mark)?.placedOperations ?? [] where Self.isWrite(placed.operation) {
                        dirty.insert(RecordKey(placed.operation.collection, placed.operation.record))
                    }
                }
            }
        }
        ledger.isDirty = true
        self.ledger = ledger
        decidedState = state
        guard !dirty.isEmpty else { return }
        // The records those bundles touch, from scratch: every applying chain bundle, then
        // this device's unsealed operations.
        let frontier = try heldFrontier()
        changes += try batch.commit(to: tx, origin: .local, tracking: false, prunedAt: frontier)
        batch = RecordBatch()
        // A replica loaded from a snapshot holds no log below its floor: its records start
        // from the snapshot's (`Specs/snapshots.md` §4.5).
        var states = try Replica.baseStates(of: dirty, in: tx)
        let baseVector = try Replica.baseManifest(in: tx)?.vector ?? VersionVector()
        var position: Int64 = 0
        var deniedIndexes: [Digest32: Set<OpPlace>] = [:]
        for denial in try tx.permissionDenials(ofBundle: nil) {
            deniedIndexes[denial.bundleID, default: []].insert(OpPlace(section: denial.section, index: denial.index))
        }
        var marks: [PublicKey: HLCTimestamp?] = [:]  // each author's chain mark so far (chain order within an author)
        // Writes the guard may drop wait until every other op applied: deletes are never
        // guarded, so each record's greatest delete is then final.
        var deferred: [(author: PublicKey, sequence: UInt64, context: VersionVector, operation: RecordOperation)] = []
        while true {
            let page = try tx.bundles(after: position, limit: 256)
            for stored in page {
                let bundle = try Self.decode(stored)
                let mark = marks[bundle.author] ?? nil
                marks[bundle.author] = .some(stored.mark)
                guard stored.sequence > baseVector[stored.author], !bundle.isControl, !ledger.withheld.contains(BundlePlace(bundle)),
                    let opened = try contents(bundle, mark)
                else {
                    continue
                }
                let denied = deniedIndexes[stored.id] ?? []
                let mayDrop = guarding.isActive && guarding.mayDrop(author: bundle.author, sequence: bundle.sequence)
                for (section, index, op) in opened.placedOperations where !denied.contains(OpPlace(section: section, index: index)) {
                    let key = RecordKey(op.collection, op.record)
                    guard dirty.contains(key) else { continue }
                    if mayDrop, Self.isWrite(op) {
                        deferred.append((bundle.author, bundle.sequence, opened.context, op))
                    } else {
                        states[key, default: RecordState()].apply(op, inBundle: bundle.sequence)
                    }
                }
            }
            guard let last = page.last, page.count == 256 else { break }
            position = last.position
        }
        let local = try tx.pendingOperations()
        for op in local {
            let key = RecordKey(op.collection, op.record)
            if dirty.contains(key) { states[key, default: RecordState()].apply(op) }
        }
        for (author, sequence, context, op) in deferred {
            let key = RecordKey(op.collection, op.record)
            if let delete = ResurrectionGuard.deleteBundle(of: states[key]),
                guarding.drops(author: author, sequence: sequence, context: context, delete: delete)
            {
                noteGuarded(GuardedOperation(author: author, sequence: sequence, operation: op, delete: delete))
                continue
            }
            states[key, default: RecordState()].apply(op, inBundle: sequence)
        }
        for key in dirty.sorted() {
            let collection = key.collection.string
            let previous = try tx.record(key.id, in: collection)
            let state = (frontier.map { states[key]?.pruned(frontier: $0) } ?? states[key]) ?? RecordState()
            if previous?.state == state { continue }
            try tx.putRecord(
                StoredRecord(state: state, localSequence: previous?.localSequence), id: key.id, in: collection, previous: previous)
            if let change = RecordChange.between(previous?.state, state, collection: collection, id: key.id, origin: .local) {
                changes.append(change)
            }
        }
    }
}

extension StoreDestination {
    /// Whether `op` is a `set` or an `add`, the only ops the resurrection guard drops.
    static func isWrite(_ op: RecordOperation) -> Bool {
        switch op.action {
        case .set, .add: true
        case .remove, .delete: false
        }
    }
}

/// An op's place in its bundle: section (0: general) and index.
private struct OpPlace: Hashable {
    let section: Int
    let index: Int
}

/// The store's log as the permission gate reads it: chain bundles from the transaction,
/// control bundles from the membership ledger.
struct StorePermissionSource: PermissionSource {
    let tx: any StoreWriter
    let controls: [BundleID: ChangeBundle]

    func chainBundle(of author: PublicKey, sequence: UInt64) throws -> ChangeBundle? {
        try tx.bundle(of: author, sequence: sequence).map(StoreDestination.decode)
    }

    func controlBundle(_ id: BundleID) -> ChangeBundle? { controls[id] }
}

extension StoredDenial {
    /// The row of a denial.
    init(_ denied: DeniedOperation) {
        self.init(
            bundleID: denied.bundleID.digest, section: denied.section, index: denied.index, author: denied.author,
            sequence: denied.sequence, detail: denied.detailBytes)
    }
}
