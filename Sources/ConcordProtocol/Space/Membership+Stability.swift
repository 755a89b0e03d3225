import ConcordCore
import ConcordCrypto

/// Acknowledgements, stale marks and checkpoints (`Specs/snapshots.md` §2 and §3). Each
/// builder checks what the evaluation would check, so an op it returns is applied when
/// sealed as this device's next control bundle (``sealControl(_:log:stamp:)``).
extension Membership {
    /// An `ack` op: the chain heads this device holds (its own is `k − 1`).
    ///
    /// ```swift
    /// let op = try membership.acknowledge(context: context)
    /// let bundle = try membership.sealControl(op, log: log, stamp: stamp)
    /// ```
    /// - Parameters:
    ///   - context: The membership state and the chain heads.
    /// - Returns: The op.
    /// - Throws: ``ConcordError`` `.notAllowed` when this device is not a member at its next
    ///   position (not admitted, removed or retired) or that position is 1 (its bundle 1 is
    ///   its admission).
    public func acknowledge(context: MemberContext) throws -> MembershipOp {
        let me = device.publicKey
        let next = context.next(of: me)
        guard case .member = context.state.standing(of: me, at: next), next >= 2 else {
            throw ConcordError(
                .notAllowed,
                "this device cannot acknowledge in space \(spaceID.shortDescription): it is \(standingText(me, context)) at its next bundle \(next) (an ack needs a member's bundle 2 or later)"
            )
        }
        return .ack(held: VersionVector(context.heads))
    }

    /// ``acknowledge(context:)`` for an in-memory log.
    /// - Parameters:
    ///   - state: The membership state of `log`.
    ///   - log: This device's bundle log.
    public func acknowledge(state: MembershipState, log: BundleLog) throws -> MembershipOp {
        try acknowledge(context: MemberContext(log: log, state: state))
    }

    /// A `stale` op marking `target` stale: it stops being counted for stability until it
    /// acknowledges again (`Specs/snapshots.md` §3). Its last seen position is the head of
    /// `target` this device holds.
    ///
    /// ```swift
    /// let op = try membership.markStale(tablet, reason: .admin, context: context)
    /// ```
    /// - Parameters:
    ///   - target: The device to mark stale.
    ///   - reason: `.admin` (a person decided) or `.policy` (silent for `staleAfter`).
    ///   - context: The membership state and the chain heads.
    /// - Returns: The op.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin (at bundle 2
    ///   or later) and `target` a member neither removed nor retired.
    public func markStale(_ target: PublicKey, reason: MembershipOp.StaleReason, context: MemberContext) throws -> MembershipOp {
        try requireAdminToAct("mark devices stale", context)
        guard let member = context.state.member(target), member.cut == nil, member.retired == nil else {
            throw ConcordError(
                .notAllowed,
                "\(target.hex.prefix(8)) is not a member of space \(spaceID.shortDescription) (or was removed or continued by a successor), so it cannot be marked stale; `concord members` lists who is"
            )
        }
        return .stale(target: target, lastSeen: context.heads[target] ?? 0, reason: reason)
    }

    /// ``markStale(_:reason:context:)`` for an in-memory log.
    /// - Parameters:
    ///   - target: The device to mark stale.
    ///   - reason: Why.
    ///   - state: The membership state of `log`.
    ///   - log: This device's bundle log.
    public func markStale(_ target: PublicKey, reason: MembershipOp.StaleReason, state: MembershipState, log: BundleLog) throws
        -> MembershipOp
    {
        try markStale(target, reason: reason, context: MemberContext(log: log, state: state))
    }

    /// A `checkpoint` op: `stable` (this admin's stable cut, ``StabilityTracker``) as `S_C`,
    /// the chain heads it holds as `R_C` (its own `k − 1`), and the snapshot sealed at
    /// `stable`, if any. Bundles up to `S_C` become final (`Specs/snapshots.md` §2).
    ///
    /// ```swift
    /// let cut = tracker.stableCut(membership: context.state, held: log.versionVector)
    /// let op = try membership.checkpoint(stable: cut, context: context)
    /// ```
    /// - Parameters:
    ///   - stable: The stable cut to declare.
    ///   - snapshot: The id of the snapshot sealed at `stable`, or `nil`.
    ///   - context: The membership state and the chain heads.
    /// - Returns: The op.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin (at bundle 2
    ///   or later) and `stable` is at most what it holds for every author.
    public func checkpoint(stable: VersionVector, snapshot: Digest32? = nil, context: MemberContext) throws -> MembershipOp {
        try requireAdminToAct("issue checkpoints", context)
        let seen = VersionVector(context.heads)
        if let beyond = stable.entries.sorted(by: { $0.key < $1.key }).first(where: { seen[$0.key] < $0.value }) {
            throw ConcordError(
                .notAllowed,
                "a checkpoint cannot declare bundles of \(beyond.key.hex.prefix(8)) stable up to \(beyond.value): this device holds only \(seen[beyond.key]) of them (a stable cut is at most what is held)"
            )
        }
        return .checkpoint(stable: stable, seen: seen, snapshot: snapshot)
    }

    /// ``checkpoint(stable:snapshot:context:)`` for an in-memory log.
    /// - Parameters:
    ///   - stable: The stable cut to declare.
    ///   - snapshot: The snapshot sealed at `stable`, or `nil`.
    ///   - state: The membership state of `log`.
    ///   - log: This device's bundle log.
    public func checkpoint(stable: VersionVector, snapshot: Digest32? = nil, state: MembershipState, log: BundleLog) throws
        -> MembershipOp
    {
        try checkpoint(stable: stable, snapshot: snapshot, context: MemberContext(log: log, state: state))
    }

    /// Checks that this device is an admin at its next position, which is 2 or later.
    private func requireAdminToAct(_ what: String, _ context: MemberContext) throws {
        let me = device.publicKey
        guard case .member(.admin) = context.state.standing(of: me, at: context.next(of: me)), context.next(of: me) >= 2 else {
            throw ConcordError(
                .notAllowed,
                "only admins may \(what); this device is \(standingText(me, context)) of space \(spaceID.shortDescription)")
        }
    }

    private func standingText(_ device: PublicKey, _ context: MemberContext) -> String {
        guard let member = context.state.member(device) else { return "not a member" }
        if member.cut != nil { return "removed" }
        if member.retired != nil { return "retired" }
        return "a \(member.role)"
    }
}
