import ConcordCore
import ConcordCrypto
import ConcordStore

/// What ``Replica/recover()`` did.
public struct Recovery: Sendable, CustomStringConvertible {
    /// The replica, continuing under its new device identity: use it from now on. The
    /// instance `recover()` was called on (and any other process's) refuses to write.
    public let replica: Replica
    /// The identity this device had.
    public let previousDevice: ReplicaID
    /// The identity it continues under.
    public let device: ReplicaID
    /// The previous identity's bundles that no peer or relay had acknowledged, re-issued
    /// under the new one (`nil` when there were none).
    public let reissuedBundles: ClosedRange<UInt64>?
    /// Operations re-issued: those bundles' and every unsealed one.
    public let reissuedOperations: Int
    /// Of those, operations dated beyond what peers accept, re-dated with the present time.
    public let redatedOperations: Int
    /// The bundles the new identity sealed them into.
    public let sealedBundles: Int
    /// What was wrong before.
    public let problems: [ReplicaProblem]

    /// `continues as device 3f2a9c01 (was 9b1e44d0); re-issued 12 changes …`.
    public var description: String {
        var text = "this device continues as device \(device.shortDescription) (was \(previousDevice.shortDescription))"
        if reissuedOperations == 0 {
            text += "; there was nothing to re-issue"
        } else {
            text += "; re-issued \(reissuedOperations) change\(reissuedOperations == 1 ? "" : "s")"
            if let reissuedBundles { text += " (bundles \(reissuedBundles.lowerBound)–\(reissuedBundles.upperBound) and unsealed ones)" }
            if redatedOperations > 0 { text += ", \(redatedOperations) of them with the present time" }
            text += " in \(sealedBundles) new bundle\(sealedBundles == 1 ? "" : "s")"
        }
        return text + "; sync to share them"
    }
}

extension Replica {
    /// Continues this replica under a **new device identity**, re-issuing every local write
    /// the space has not acknowledged, so that nothing written is lost and no chain forks
    /// (`Specs/sync-protocol.md` §5, `Specs/hlc.md` §9).
    ///
    /// Use it when ``problems(realTime:)`` says ``ReplicaProblem/Remedy/recover``: this
    /// store's chain forked (a copy or a restored backup wrote too), or the device wrote
    /// while its clock was far ahead (and the clock is right now). In one store transaction:
    ///
    /// 1. this device's bundles after the last acknowledged one (and before a known fork)
    ///    leave its chain, and with its unsealed writes become the writes to re-issue;
    /// 2. a new device key is certified (`Membership.successor(device:issuedAt:)`);
    /// 3. the writes are re-stamped under it (each just after its old time, or at the
    ///    present time if it was dated beyond what peers accept; removes follow the new
    ///    tags; the old tags are removed) and sealed as its first bundles;
    /// 4. the records they touch are rebuilt from the log, and the store switches identity.
    ///
    /// Then the key files switch (the old key is kept as `device-<id>.retired.key`), and
    /// bundles of the other copy that were set aside as forks are imported again: they now
    /// extend the old identity's chain. Sync afterwards to share the re-issued writes.
    ///
    /// ```swift
    /// if try await replica.problems().contains(where: { $0.remedy == .recover }) {
    ///     let recovery = try await replica.recover()
    ///     replica = recovery.replica        // the same store, a new device identity
    ///     print(recovery)                   // "this device continues as device 3f2a9c01 …"
    /// }
    /// ```
    /// A replica opened on a store without a directory (``init(store:membership:options:)``)
    /// recovers the same way; keep `recovery.replica.membership.device` where the app keeps
    /// device keys.
    /// - Returns: The continued replica and what was re-issued.
    /// - Throws: `ConcordError` `.notAWriter` (a reader has nothing to re-issue: it joins
    ///   again), `.clockFailure` when this device holds changes of others dated beyond its
    ///   clock (it is behind: set the date and time first), `.identityChanged` when the
    ///   store was recovered already, `.storage`.
    public func recover() throws -> Recovery {
        let now = options.physicalClock.nowMilliseconds()
        let horizon = HybridLogicalClock.saturatingAdd(now, options.maxDrift)
        let before = try problems()
        let device = Identity()
        // Format 3: the successor op is signed inside the transaction, once the cut-off is
        // known; the new device inherits this one's role and name.
        let memberFormat = membership.isMemberFormat
        let formatTwoNext = memberFormat ? nil : try membership.successor(device: device, issuedAt: now)
        let name = memberFormat ? (try memberContext().state.member(membership.device.publicKey)?.name ?? "recovered device") : ""
        let nextID = ReplicaID(bytes: device.publicKey.bytes)!
        let layout = try directory.map { try ReplicaDirectory(existing: $0) }
        try layout?.stageDeviceKey(device)
        let me = membership.device.publicKey
        let options = self.options
        let (plan, reissued, sealed, changes, next) = try ConcordError.storage {
            try store.write { tx -> (Reissue, ClosedRange<UInt64>?, [ChangeBundle], [RecordChange], Membership) in
                let stored = try StoredProgress.read(from: tx)
                _ = try currentClock(stored)
                let head = try tx.chainHead(of: me)?.sequence ?? 0
                // Own bundles up to `keep` are held elsewhere; the rest are re-issued.
                var keep = min(stored.acknowledged, head, (stored.forkedAt ?? .max) - 1)
                if memberFormat {
                    // Its genesis or join and its membership ops stay in its chain: they are
                    // what it is a member by, and what it did as an admin.
                    let current = try MemberLedger.current(reusing: nil, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
                    let lastControl = current.ledger.records.values.filter { $0.author == me }.map(\.position).max() ?? 1
                    if let forkedAt = stored.forkedAt, forkedAt <= lastControl {
                        throw ConcordError(
                            .notAllowed,
                            "this device's chain forked at its change \(forkedAt), at or before a membership change it made (its change "
                                + "\(lastControl)); a recovery cannot keep that change. Nothing was changed: keep syncing from one copy, "
                                + "and ask another admin to make the change again if it was lost")
                    }
                    keep = max(keep, lastControl, 1)
                    // Another copy of this store recovered first: its successor op retired this
                    // chain after its cut-off, so everything after that is re-issued here.
                    if let retired = current.state.member(me)?.retired, retired < keep {
                        guard retired >= lastControl else {
                            throw ConcordError(
                                .notAllowed,
                                "another copy of this store continued this device up to its change \(retired), before a membership change "
                                    + "this copy made (its change \(lastControl)), which no device accepts any more. Nothing was changed: "
                                    + "ask another admin to make the change again, then recover")
                        }
                        keep = retired
                    }
                }
                let removed = try tx.removeChainBundles(of: me, after: keep)
                // Ops applied nowhere (denied by the policy, dropped by the resurrection guard)
                // are not re-issued: under a new identity and a fresh context they would apply.
                let old = try reissuableOperations(of: removed, in: tx) + tx.pendingOperations()
                // The other copy's bundles, kept aside as forks: they extend the old chain now.
                let setAside = try tx.quarantinedBundles().filter { $0.author == me && $0.sequence > keep }
                for bundle in setAside { try tx.removeQuarantinedBundle(bundle.id) }
                let keys = Set(old.map { RecordKey($0.collection, $0.record) })
                let scan = try scanLog(in: tx, rebuilding: keys, excluding: me)
                guard scan.newestOfOthers.milliseconds <= horizon else {
                    throw ConcordError(
                        .clockFailure,
                        "this device's clock says \(CalendarTime.text(now)), but it holds changes made at \(scan.newestOfOthers.calendarText): its clock is behind. Set the date and time first; then, if a problem remains, recover again"
                    )
                }
                // Fresh readings follow everything held, but never start beyond what peers accept.
                let floor = min(scan.newest, HLCTimestamp(milliseconds: horizon, counter: 0))
                let clock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift)
                var next: Membership
                var successorFirst: ChangeBundle?
                var planFloor = floor
                if let formatTwoNext {
                    next = formatTwoNext
                } else {
                    var stampClock = HybridLogicalClock(physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: floor)
                    let stamp = try stampClock.now()
                    (next, successorFirst) = try membership.memberSuccessor(device: device, cutoff: keep, name: name, stamp: stamp)
                    // Re-issued operations follow the successor op in the new chain.
                    planFloor = stamp
                }
                let plan = try Reissue.plan(old, as: nextID, floor: planFloor, horizon: horizon, clock: clock)
                try tx.replacePendingOperations(plan.operations)
                try tx.rebaseLocalSequences(acknowledged: keep)
                var changes = try writeRebuilt(keys, from: scan, local: plan.operations, in: tx)
                // The store now belongs to the new identity; its clock continues after the
                // re-issued readings (deliberately lower than a clock that ran ahead: a new
                // generation, so no process writes the old reading back).
                try tx.setMetadata(next.device.publicKey.bytes, for: MetaKey.device)
                try tx.setMetadata((next.certificates?.bytes ?? []), for: MetaKey.certificates)
                try tx.setMetadata(MetaKey.encodeUInt64(max(plan.last, floor).rawValue), for: MetaKey.clock)
                try tx.setMetadata(MetaKey.encodeUInt64(stored.generation + 1), for: MetaKey.clockGeneration)
                try tx.setMetadata(MetaKey.encodeUInt64(0), for: MetaKey.acknowledged)
                try tx.setMetadata(nil, for: MetaKey.relayConfirmed)
                try tx.setMetadata(nil, for: MetaKey.forkedAt)
                try tx.setMetadata(me.bytes, for: MetaKey.predecessor)
                if let successorFirst {
                    // The new device's bundle 1: its successor op, which admits it with this
                    // device's role and retires this device's chain after the cut-off.
                    var destination = StoreDestination(
                        tx: tx,
                        clock: HybridLogicalClock(
                            physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: max(plan.last, floor)),
                        verifiedCertificateChains: verifiedCertificateChains, me: next.device.publicKey, tracking: true, acknowledged: 0)
                    destination.prunesAsWritten = options.prunesAsWritten
                    let current = try MemberLedger.current(reusing: nil, from: tx, spaceID: spaceID, encrypted: membership.isEncrypted)
                    destination.ledger = current.ledger
                    destination.decidedState = current.state
                    destination.stateCache = destination.decidedState
                    destination.defersMembershipReconcile = true
                    let outcome = try importer.run(successorFirst.bytes, into: &destination)
                    guard case .applied = outcome else {
                        throw ConcordError(.storeDamaged, "the recovery's successor op was not taken (\(outcome)); nothing was changed")
                    }
                    // The records rebuilt above from every op of the log are decided again as
                    // every rebuild decides them (withheld bundles, denied ops, the guard).
                    destination.guardDirty.formUnion(keys)
                    _ = try importer.finishMemberBatch(into: &destination)
                    try destination.flush()
                    changes += destination.changes
                }
                let sealed = try sealPending(in: tx, as: next)
                // The other copy's bundles extend the old identity's chain after `keep`.
                if !setAside.isEmpty {
                    var destination = StoreDestination(
                        tx: tx,
                        clock: HybridLogicalClock(
                            physicalClock: options.physicalClock, maxDrift: options.maxDrift, last: max(plan.last, floor)),
                        verifiedCertificateChains: verifiedCertificateChains, me: next.device.publicKey, tracking: true, acknowledged: 0)
                    destination.prunesAsWritten = options.prunesAsWritten
                    for bundle in setAside.sorted(by: { $0.sequence < $1.sequence }) {
                        // A rejection (it no longer verifies: say its clock) leaves it out.
                        do { _ = try importer.run(bundle.bytes, into: &destination) } catch is ConcordError {}
                    }
                    try destination.flush()
                    try StoredProgress.raiseClock(to: destination.clock.last, in: tx)
                    changes += destination.changes
                    // They came from a file or a peer, not a relay: the next relay round
                    // compares the old identity's chain with the relay's and follows the
                    // relay's branch if it holds another (`Specs/sync-protocol.md` §5.4).
                    try Self.markUnconfirmed([me], in: tx)
                }
                let reissued = removed.isEmpty ? nil : removed.first!.sequence...removed.last!.sequence
                return (plan, reissued, sealed, changes, next)
            }
        }
        try layout?.commitDeviceKey(retiring: me)
        let successor = try Replica(store: store, membership: next, options: options, directory: directory)
        notify(changes)
        return Recovery(
            replica: successor, previousDevice: replicaID, device: next.replicaID, reissuedBundles: reissued,
            reissuedOperations: plan.operations.count - plan.shadows, redatedOperations: plan.moved, sealedBundles: sealed.count,
            problems: before)
    }
}

extension Replica {
    /// The ops of this device's own bundles a recovery re-issues (`removed`, in chain order):
    /// every op it can read (general and scope sections), except those applied nowhere in a
    /// space with members: ops the permission policy denied (`Specs/permissions.md` §6.3) and
    /// writes the resurrection guard drops (`Specs/crdt-semantics.md` §11.4). Re-issued under
    /// a new identity, with a context that includes everything held, they would apply.
    func reissuableOperations(of removed: [StoredBundle], in tx: any StoreReader) throws -> [RecordOperation] {
        guard membership.isMemberFormat else { return try operations(of: removed, in: tx) }
        let state = try Self.memberContext(in: tx, reusing: memberCache, spaceID: spaceID, encrypted: membership.isEncrypted).0.state
        let guarding = ResurrectionGuard(state: state)
        // Own bundles only: a sequence names one.
        var denied: Set<[UInt64]> = []  // (sequence, section, op index)
        for stored in removed {
            for denial in try tx.permissionDenials(ofBundle: stored.id) {
                denied.insert([stored.sequence, UInt64(denial.section), UInt64(denial.index)])
            }
        }
        return try operations(of: removed, in: tx) { stored, bundle, contents, placed in
            guard !denied.contains([stored.sequence, UInt64(placed.section), UInt64(placed.index)]) else { return false }
            let op = placed.operation
            guard guarding.isActive, StoreDestination.isWrite(op), guarding.mayDrop(author: bundle.author, sequence: bundle.sequence),
                let delete = ResurrectionGuard.deleteBundle(of: try tx.record(op.record, in: op.collection)?.state)
            else { return true }
            return !guarding.drops(author: bundle.author, sequence: bundle.sequence, context: contents.context, delete: delete)
        }
    }
}
