import ConcordCore
import ConcordCrypto
import ConcordStore

/// Causal stability on a replica (`Specs/snapshots.md` §2-§3, `Specs/crdt-semantics.md`
/// §11.1): the store feeds a ``StabilityTracker`` from what it holds, and sync seals the
/// automatic control ops (`ack`, `stale` under the `staleAfter` policy, `checkpoint`).
///
/// ```swift
/// let stability = try await replica.stability()
/// print(stability.stableCut, stability.staleMembers.map(\.name))
/// try await replica.markStale(tablet)                 // an admin, at once (reason 01)
/// let sealed = try await replica.performStabilityDuties()   // sync calls it each round
/// ```
extension Replica {
    /// The stable cut, the counted members and the stale members as this replica sees them.
    ///
    /// Acknowledgements come from what the store holds: each author's latest `ack` op (in
    /// the membership state) and the causal context of its latest data bundle this device
    /// can open (a data bundle sealed under an epoch key it does not hold acknowledges only
    /// its author's own chain). In a space without members (format 2) nothing is counted
    /// and the cut is empty.
    ///
    /// ```swift
    /// let cut = try await replica.stability().stableCut
    /// ```
    /// - Returns: The stability status.
    /// - Throws: `ConcordError` `.storage`, `.storeDamaged`.
    public func stability() throws -> StabilityStatus {
        guard membership.isMemberFormat else {
            return StabilityStatus(
                stableCut: VersionVector(), held: try versionVector(), countedMembers: [], staleMembers: [], latestCheckpoint: nil)
        }
        let context = try memberContext()
        let tracker = try stabilityTracker()
        return Self.stabilityStatus(tracker: tracker, state: context.state, held: VersionVector(context.heads))
    }

    /// The status `tracker` gives for `state` and `held`.
    static func stabilityStatus(tracker: StabilityTracker, state: MembershipState, held: VersionVector) -> StabilityStatus {
        let stale = state.members.compactMap { member -> StabilityStatus.StaleMember? in
            guard let mark = member.staleSince, member.cut == nil, member.retired == nil else { return nil }
            return StabilityStatus.StaleMember(
                device: member.device, name: member.name, since: HLCTimestamp(rawValue: mark.by.stamp).milliseconds,
                lastSeen: mark.lastSeen, reason: mark.reason, markedBy: mark.by.author)
        }
        return StabilityStatus(
            stableCut: tracker.stableCut(membership: state, held: held), held: held,
            countedMembers: tracker.countedMembers(membership: state, held: held), staleMembers: stale,
            latestCheckpoint: state.checkpoints.max { $0.by.stamp < $1.by.stamp })
    }

    /// A tracker fed with the acknowledgements the store holds (`Specs/crdt-semantics.md`
    /// §11.1). For every author that acknowledged at least once (an `ack` op in the
    /// membership state, or a data bundle among the last ``acknowledgementLookBack`` of its
    /// chain): its chain head (a control bundle acknowledges only its author's chain) and
    /// the context of its latest data bundle this device can open (one it cannot open
    /// acknowledges only its author's chain: conservative). An author whose chain holds only
    /// control bundles and no `ack` (a device that just joined) is not recorded, so it is not
    /// counted until it acknowledges, and the stable cut never moves back when it joins.
    /// - Complexity: O(authors × look-back) bundle reads.
    func stabilityTracker() throws -> StabilityTracker {
        let state = try memberContext().state
        return try ConcordError.storage {
            try store.read { tx in
                var tracker = StabilityTracker()
                var opener = try BundleOpener(membership: membership, in: tx)
                for (author, head) in try tx.chainHeads() {
                    var acknowledged = state.member(author)?.lastAck != nil
                    var sequence = head.sequence
                    var looked = 0
                    while sequence >= 1, looked < Self.acknowledgementLookBack, let stored = try tx.bundle(of: author, sequence: sequence) {
                        let bundle = try StoreDestination.decode(stored)
                        if !bundle.isControl {
                            acknowledged = true
                            if case .success(let contents) = try opener.contentsOrVoid(of: bundle) {
                                tracker.record(
                                    MembershipState.Acknowledgement(author: author, sequence: sequence, context: contents.context))
                            }
                            break
                        }
                        sequence -= 1
                        looked += 1
                    }
                    if acknowledged {
                        tracker.record(MembershipState.Acknowledgement(author: author, sequence: head.sequence, context: VersionVector()))
                    }
                }
                return tracker
            }
        }
    }

    /// How many control bundles ``stabilityTracker()`` looks past for an author's latest
    /// data bundle (an admin's chain may end in a run of control bundles).
    static let acknowledgementLookBack = 32

    /// Marks a member stale at once (`concord member stale`, reason `01`): it stops being
    /// counted for stability until it acknowledges again (`Specs/snapshots.md` §3). Only
    /// admins may.
    ///
    /// ```swift
    /// try await laptop.markStale(tablet.deviceID)
    /// ```
    /// - Parameters:
    ///   - device: The member.
    /// - Throws: `ConcordError` `.notAllowed` (not an admin; not a member, or removed or
    ///   retired), `.unsupportedVersion` (a space without members), `.storage`.
    public func markStale(_ device: DeviceID) throws {
        _ = try memberContext()
        try submitControl { context, _ in try membership.markStale(device.publicKey, reason: .admin, context: context) }
    }

    /// Seals the automatic control ops of `Specs/snapshots.md` §2-§3 that are due; sync
    /// calls it once per round, after the pull.
    ///
    /// - an admin device marks stale (reason `02`) every admin or writer with no bundle held
    ///   for ``Options/staleAfter`` (0 disables);
    /// - an admin device seals a `checkpoint` when its stable cut moved past every applied
    ///   checkpoint's `S_C`, the latest checkpoint is at least ``Options/checkpointEvery``
    ///   old, and another member is counted (alone, the cut is its own chain);
    /// - an admin or writer seals an `ack` when its held vector moved past its latest
    ///   acknowledgement and it never acknowledged before (its initial sync), it is marked
    ///   stale (the `ack` un-stales it), or it sealed no `ack` for ``Options/ackInterval``
    ///   (data bundles acknowledge for devices, but a relay reads only `ack` ops, so a
    ///   device that writes every day still acknowledges once a day);
    /// - an admin device seals a snapshot at the latest checkpoint when it stands for at
    ///   least ``Options/snapshotMinBundles`` bundles more than its latest snapshot, or for
    ///   any bundle more once that snapshot is ``Options/snapshotMaxAge`` old.
    ///
    /// Readers, devices not admitted yet, removed devices and spaces without members do
    /// nothing. Times are read from ``Options/physicalClock``.
    ///
    /// ```swift
    /// let sealed = try await replica.performStabilityDuties()
    /// if sealed.checkpointed { print("checkpoint sealed") }
    /// ```
    /// - Returns: What was sealed.
    /// - Throws: `ConcordError` `.storage`, or a sealing error.
    @discardableResult
    public func performStabilityDuties() throws -> StabilityDuties {
        var duties = StabilityDuties()
        guard membership.isMemberFormat, role == .writer else { return duties }
        try seal()
        let me = membership.device.publicKey
        var context = try memberContext()
        guard let myRole = Self.standingRole(of: me, in: context), context.heads[me, default: 0] >= 1 else { return duties }
        let now = options.physicalClock.nowMilliseconds()
        if myRole.base == .admin {
            duties.markedStale = try markSilentMembersStale(context: context, now: now)
            if !duties.markedStale.isEmpty { context = try memberContext() }
            duties.checkpointed = try checkpointIfDue(context: context, now: now)
            if duties.checkpointed { context = try memberContext() }
            duties.snapshot = try sealSnapshotIfDue(context: context, now: now)
        }
        if myRole.base != .reader { duties.acknowledged = try acknowledgeIfDue(context: context, now: now) }
        return duties
    }

    /// This device's role at its next position, if it is a member there.
    private static func standingRole(of device: PublicKey, in context: MemberContext) -> RoleAssignment? {
        guard case .member(let role) = context.state.standing(of: device, at: context.heads[device, default: 0] + 1) else { return nil }
        return role
    }

    /// The `hlc max` of `author`'s chain head, in milliseconds; `nil` when none is held.
    private func headMilliseconds(of author: PublicKey) throws -> UInt64? {
        try ConcordError.storage {
            try store.read { tx -> UInt64? in
                guard let head = try tx.chainHead(of: author), let stored = try tx.bundle(of: author, sequence: head.sequence) else {
                    return nil
                }
                return try StoreDestination.decode(stored).hlcRange.upperBound.milliseconds
            }
        }
    }

    /// The `hlc max` of the bundle holding `ack`, this device's latest `ack` op, in
    /// milliseconds; `nil` when the store does not hold it. Only `ack` ops count: they are
    /// the acknowledgements a relay can read (data bundles' contexts are encrypted in
    /// encrypted spaces), so a device that writes every day must still seal an `ack` every
    /// ``Options/ackInterval`` or the relay's stable cut, and its retention, stays at its
    /// last one (`Specs/snapshots.md` §2). Compaction keeps each author's latest `ack`.
    private func ackMilliseconds(_ ack: MembershipState.Acknowledgement) throws -> UInt64? {
        try ConcordError.storage {
            try store.read { tx -> UInt64? in
                guard let stored = try tx.bundle(of: ack.author, sequence: ack.sequence) else { return nil }
                return try StoreDestination.decode(stored).hlcRange.upperBound.milliseconds
            }
        }
    }

    /// The `staleAfter` policy: `stale` ops (reason `02`) for admins and writers silent longer.
    private func markSilentMembersStale(context: MemberContext, now: UInt64) throws -> [PublicKey] {
        guard options.staleAfter > 0 else { return [] }
        let me = membership.device.publicKey
        var marked: [PublicKey] = []
        for member in context.state.members where member.device != me && member.cut == nil && member.retired == nil {
            guard member.staleSince == nil, let role = Self.standingRole(of: member.device, in: context), role.base != .reader,
                let seen = try headMilliseconds(of: member.device), now > seen, now - seen > options.staleAfter
            else { continue }
            try submitControl { context, _ in try membership.markStale(member.device, reason: .policy, context: context) }
            marked.append(member.device)
        }
        return marked
    }

    /// A `checkpoint` when the stable cut moved past every applied one and the latest is
    /// ``Options/checkpointEvery`` old.
    private func checkpointIfDue(context: MemberContext, now: UInt64) throws -> Bool {
        let status = Self.stabilityStatus(tracker: try stabilityTracker(), state: context.state, held: VersionVector(context.heads))
        let cut = status.stableCut
        // Alone, an admin's stable cut is its own chain: nothing to declare to anyone.
        guard !cut.entries.isEmpty, status.countedMembers.contains(where: { $0 != membership.device.publicKey }) else { return false }
        var declared: [PublicKey: UInt64] = [:]
        for checkpoint in context.state.checkpoints {
            declared.merge(checkpoint.stable.entries, uniquingKeysWith: max)
        }
        guard !VersionVector(declared).includes(cut) else { return false }
        if let latest = status.latestCheckpoint {
            let at = HLCTimestamp(rawValue: latest.by.stamp).milliseconds
            guard now >= at, now - at >= options.checkpointEvery else { return false }
        }
        try submitControl { context, _ in try membership.checkpoint(stable: cut, context: context) }
        return true
    }

    /// A snapshot at the latest held checkpoint's `S_C` when it stands for at least
    /// ``Options/snapshotMinBundles`` bundles more than this device's latest snapshot, or
    /// for any bundle more when that snapshot is older than ``Options/snapshotMaxAge``
    /// (`Specs/snapshots.md` §4.3).
    private func sealSnapshotIfDue(context: MemberContext, now: UInt64) throws -> Digest32? {
        let held = VersionVector(context.heads)
        guard
            let checkpoint = context.state.checkpoints.filter({ held.includes($0.stable) && !$0.stable.entries.isEmpty })
                .max(by: { $0.by.stamp < $1.by.stamp })
        else { return nil }
        // Spaces with read scopes are not snapshotted (`Specs/snapshots.md` §4.1).
        guard context.state.scopeEpochs.isEmpty else { return nil }
        let latest = try snapshotStatus()
        let previous = latest?.vector ?? VersionVector()
        guard !previous.includes(checkpoint.stable) else { return nil }
        let count = { (vector: VersionVector) in vector.entries.values.reduce(0, +) }
        let covered = count(checkpoint.stable) - min(count(checkpoint.stable), count(previous))
        let madeAt = latest?.madeAt.milliseconds
        let old = madeAt.map { options.snapshotMaxAge > 0 && now > $0 && now - $0 >= options.snapshotMaxAge } ?? false
        guard covered >= UInt64(max(1, options.snapshotMinBundles)) || (old && covered > 0) else { return nil }
        return try sealSnapshot()?.manifest.id
    }

    /// An `ack` when the held vector moved past this device's latest `ack` and it never
    /// acknowledged, is stale, or sealed no `ack` for ``Options/ackInterval``. Data bundles
    /// acknowledge too, for devices, but a relay reads only `ack` ops, so they do not
    /// postpone it (`Specs/snapshots.md` §2).
    private func acknowledgeIfDue(context: MemberContext, now: UInt64) throws -> Bool {
        let me = membership.device.publicKey
        guard let member = context.state.member(me) else { return false }
        var held = VersionVector(context.heads)
        held[me] = 0
        var acknowledged = member.lastAck?.vector ?? VersionVector()
        acknowledged[me] = 0
        guard !acknowledged.includes(held) else { return false }
        // Due at once when it never acknowledged (its initial sync) or is marked stale.
        var due = true
        if member.staleSince == nil, let lastAck = member.lastAck {
            due = try ackMilliseconds(lastAck).map { now >= $0 && now - $0 >= options.ackInterval } ?? true
        }
        guard due else { return false }
        try submitControl { context, _ in try membership.acknowledge(context: context) }
        return true
    }
}
