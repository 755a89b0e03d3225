import ConcordCore
import ConcordCrypto

/// Format 3 (`Specs/membership.md`): creating a space, joining it, and the admin actions,
/// each as a signed control bundle. Import the returned control bundle like any other
/// (``BundleImporter``): the device's own ops go through the same evaluation as everyone's.
///
/// ```swift
/// let (admin, genesis) = try Membership.createMemberSpace(name: "Ms Dlamini's laptop", stamp: clock.now())
/// var log = BundleLog()
/// var replica = admin.makeReplica()
/// let importer = BundleImporter(membership: admin)
/// _ = importer.importBundle(genesis.bytes, into: &replica, log: &log)
///
/// let state = importer.membershipState(of: log)
/// let (inviteOp, token) = try admin.invite(role: .writer, expires: nowMs + 7 * 86_400_000, stamp: clock.now(), state: state, log: log)
/// _ = importer.importBundle(try admin.sealControl(inviteOp, log: log, stamp: clock.now()).bytes, into: &replica, log: &log)
/// // send token.text to the tablet; it joins:
/// let (tablet, join) = try Membership.joinMember(token, name: "Amina's tablet", stamp: clock.now())
/// ```
extension Membership {
    /// Creates a format-3 space: a fresh space key signs the `genesis` op naming `device`
    /// its first admin and is then dropped (no device keeps it, no invite carries it).
    /// - Parameters:
    ///   - device: This device's key; a fresh one by default.
    ///   - name: This device's name as members see it ("Ms Dlamini's laptop"), 1 to 64 bytes.
    ///   - encrypted: Whether payloads are encrypted (the default): epoch 0 is sealed to `device`.
    ///   - stamp: The genesis op's clock reading.
    /// - Returns: The membership and the genesis control bundle (this device's bundle 1).
    /// - Throws: ``ConcordError`` `.malformedBundle` for a name that is not 1 to 64 bytes of
    ///   printable UTF-8.
    public static func createMemberSpace(
        device: Identity = Identity(), name: String, encrypted: Bool = true, stamp: HLCTimestamp
    ) throws -> (membership: Membership, genesis: ChangeBundle) {
        let space = Identity()
        let spaceID = SpaceID(publicKey: space.publicKey)
        var epoch0: EpochKey?
        var field: EpochField?
        if encrypted {
            let key = EpochKey()
            epoch0 = key
            field = try EpochField.sealing(key, to: [device.publicKey])
        }
        let op = MembershipStatement.genesis(space: space, author: device.publicKey, name: name, stamp: stamp.rawValue, epoch: field)
        _ = try MembershipOp(payload: op.encoded(), encrypted: encrypted)  // checks the name
        let membership = Membership(
            memberOf: spaceID, device: device, isEncrypted: encrypted, handedEpochKeys: epoch0.map { [$0] } ?? [],
            peerSecret: try epoch0.map(peerSecret(firstEpoch:)))
        let genesis = try ChangeBundle.sealControl(op, author: device, spaceID: spaceID, previous: nil, stamp: stamp)
        return (membership, genesis)
    }

    /// Joins a format-3 space with an invite token: the `join` op, signed by the invite
    /// key, as this device's bundle 1.
    ///
    /// The token's expiry is checked here against `now` (a join through an expired invite
    /// is void everywhere, so nothing is written); whether the invite was revoked is only
    /// known to members, who decide it.
    /// - Parameters:
    ///   - token: The invite.
    ///   - device: This device's key; a fresh one by default.
    ///   - name: This device's name, 1 to 64 bytes.
    ///   - stamp: The join op's clock reading; it must be after the invite's stamp (observe
    ///     ``MemberInviteToken/inviteStamp`` first) and not after the expiry.
    /// - Returns: The membership and the join control bundle.
    /// - Throws: ``ConcordError`` `.notAllowed` for an expired invite, `.malformedBundle` for a bad name.
    public static func joinMember(
        _ token: MemberInviteToken, device: Identity = Identity(), name: String, stamp: HLCTimestamp
    ) throws -> (membership: Membership, join: ChangeBundle) {
        guard !token.isExpired(at: stamp.milliseconds) else {
            throw ConcordError(
                .notAllowed,
                "this invite expired at \(CalendarTime.text(token.expires)); ask an admin of the space for a new one")
        }
        let op = MembershipStatement.join(invite: token.inviteKey, spaceID: token.spaceID, author: device.publicKey, name: name)
        _ = try MembershipOp(payload: op.encoded(), encrypted: token.isEncrypted)
        let membership = Membership(
            memberOf: token.spaceID, device: device, isEncrypted: token.isEncrypted, inviteKeys: [token.inviteKey],
            handedEpochKeys: token.currentEpoch.map { [$0] } ?? [], peerSecret: token.peerSecret)
        let join = try ChangeBundle.sealControl(op, author: device, spaceID: token.spaceID, previous: nil, stamp: stamp)
        return (membership, join)
    }

    /// Seals `op` as the next control bundle of this device's chain in `log`. Import it to
    /// apply it (the log is not changed here).
    /// - Parameters:
    ///   - op: The op (build admin ops with ``invite(role:expires:maxUses:stamp:context:)``,
    ///     ``removal(of:context:stamp:)``, ``rotation(context:stamp:)``, or directly).
    ///   - log: This device's bundle log.
    ///   - stamp: The op's clock reading.
    /// - Returns: The signed control bundle.
    public func sealControl(_ op: MembershipOp, log: BundleLog, stamp: HLCTimestamp) throws -> ChangeBundle {
        try ChangeBundle.sealControl(op, author: device, spaceID: spaceID, previous: log.latestBundle(of: device.publicKey), stamp: stamp)
    }

    /// Checks that this device may write its next bundle (`Specs/membership.md` §9).
    /// - Parameters:
    ///   - context: The membership state and this device's chain head.
    /// - Throws: ``ConcordError`` `.notAllowed` naming why (reader, removed, not admitted yet).
    public func checkMayWrite(_ context: MemberContext) throws {
        let state = context.state
        let me = device.publicKey
        switch state.admission(author: me, sequence: context.next(of: me), isControl: false) {
        case .applied: return
        case .held:
            throw ConcordError(
                .notAllowed,
                "this device is not admitted to space \(spaceID.shortDescription) yet (its join waits for the invite's admin to sync); write after the next sync"
            )
        case .refused(.removed(let by, let at)):
            throw ConcordError(
                .notAllowed,
                "this device was removed from the space by \(state.member(by)?.name ?? String(by.hex.prefix(8))) on \(CalendarTime.text(HLCTimestamp(rawValue: at).milliseconds)); it can no longer write"
            )
        case .refused(.retired):
            throw ConcordError(
                .notAllowed,
                "this device's chain was continued by a successor device (a copy of this store recovered); run `concord recover` "
                    + "(Replica.recover()) to continue here under a new identity: the writes of this store are re-issued, nothing is lost")
        case .refused(.notAWriter), .storedAsEvidence:
            throw ConcordError(
                .notAllowed,
                "this device is a reader of space \(spaceID.shortDescription) and cannot write; ask an admin to make it a writer")
        }
    }

    /// ``checkMayWrite(_:)`` for an in-memory log.
    public func checkMayWrite(state: MembershipState, log: BundleLog) throws {
        try checkMayWrite(MemberContext(log: log, state: state))
    }

    /// The key this device seals data with: the current epoch's (`nil` in an unencrypted space).
    /// - Throws: ``ConcordError`` `.notARecipient` when this device holds no key of the current epoch yet.
    public func sealingKey(_ context: MemberContext) throws -> EpochKey? {
        guard isEncrypted else { return nil }
        guard let current = context.state.currentEpoch, let key = epochKey(current.keyID, records: context.records, state: context.state)
        else {
            throw ConcordError(
                .notARecipient,
                "this device holds no key of the space's current epoch yet; sync with an admin (it grants the key) and write again")
        }
        return key
    }

    /// Seals this device's operations as its next format-3 data bundle in `log` (the
    /// current epoch's key in an encrypted space) and appends it, after checking that the
    /// device may write (``checkMayWrite(_:)``).
    /// - Returns: The bundle, appended to `log`.
    /// - Throws: ``ConcordError`` `.notAllowed`, `.notARecipient` (this device holds no key
    ///   of the current epoch yet), or the errors of ``ChangeBundle/sealMember(_:author:spaceID:previous:context:epoch:limits:)``.
    @discardableResult
    public func sealMember(
        _ ops: [RecordOperation], appendingTo log: inout BundleLog, state: MembershipState, limits: BundleLimits = .default
    ) throws -> ChangeBundle {
        let context = MemberContext(log: log, state: state)
        try checkMayWrite(context)
        let bundle = try ChangeBundle.sealMember(
            ops, author: device, spaceID: spaceID, previous: log.latestBundle(of: device.publicKey), context: log.versionVector,
            epoch: try sealingKey(context), limits: limits)
        try log.appendSealed(bundle)
        return bundle
    }

    /// Checks that this device is an admin now.
    private func requireAdmin(_ what: String, _ context: MemberContext) throws {
        let me = device.publicKey
        let state = context.state
        guard case .member(.admin) = state.standing(of: me, at: context.next(of: me)) else {
            throw ConcordError(
                .notAllowed,
                "only admins may \(what); this device is \(state.member(me).map { "a \($0.role)" } ?? "not a member") of space \(spaceID.shortDescription)"
            )
        }
    }

    /// An `invite` op and the token to hand to the invitee.
    /// - Parameters:
    ///   - role: The role it grants.
    ///   - expires: Its expiry in ms since the Unix epoch.
    ///   - maxUses: How many joins it admits; 0 for unlimited (the default is 1).
    ///   - stamp: The op's clock reading (seal it at this stamp).
    ///   - context: The membership state (and the ops that hold the current epoch key).
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin.
    public func invite(
        role: RoleAssignment, expires: UInt64, maxUses: UInt64 = 1, stamp: HLCTimestamp, context: MemberContext
    ) throws -> (op: MembershipOp, token: MemberInviteToken) {
        try requireAdmin("invite", context)
        let inviteKey = Identity()
        var current: EpochKey?
        if isEncrypted, let epoch = context.state.currentEpoch {
            current = epochKey(epoch.keyID, records: context.records, state: context.state)
        }
        var peer: SymmetricKey?
        if isEncrypted {
            guard let secret = try peerSecret(context) else {
                throw ConcordError(
                    .notARecipient,
                    "this device holds neither the space's peer secret nor its first epoch key, which an invite hands over; sync with another admin first"
                )
            }
            peer = secret
        }
        let token = MemberInviteToken(
            spaceID: spaceID, inviteKey: inviteKey, role: role.base, expires: expires, inviteStamp: stamp.rawValue, currentEpoch: current,
            peerSecret: peer)
        return (.invite(id: inviteKey.publicKey, role: role, expires: expires, maxUses: maxUses), token)
    }

    /// The peer secret of an encrypted space (`Specs/peer-protocol.md` §2.1):
    /// `crypto_kdf_derive_from_key(32, 1, "CCpeersc", first epoch key)`. Every member can
    /// compute it once it holds the space's first epoch key; invites carry it so that a new
    /// device can meet members on the local network before it does.
    /// - Parameters:
    ///   - firstEpoch: The epoch key of the space's `genesis`.
    /// - Returns: The secret.
    public static func peerSecret(firstEpoch: EpochKey) throws -> SymmetricKey {
        do {
            return try KeyDerivation.deriveKey(from: firstEpoch.key, id: 1, context: "CCpeersc")
        } catch {
            throw ConcordError(.malformedBundle, "cannot derive the space's peer secret: \(error)")
        }
    }

    /// This device's peer secret: the one it was handed, else the one of the first epoch key
    /// if it can open it; `nil` if neither (or in an unencrypted space).
    /// - Parameters:
    ///   - context: The membership context (its genesis names the first epoch key).
    public func peerSecret(_ context: MemberContext) throws -> SymmetricKey? {
        if let peerSecret { return peerSecret }
        guard isEncrypted, let first = context.state.epochs.first,
            let key = epochKey(first.keyID, records: context.records, state: context.state)
        else { return nil }
        return try Self.peerSecret(firstEpoch: key)
    }

    /// ``invite(role:expires:maxUses:stamp:context:)`` for an in-memory log.
    public func invite(
        role: RoleAssignment, expires: UInt64, maxUses: UInt64 = 1, stamp: HLCTimestamp, state: MembershipState, log: BundleLog
    ) throws -> (op: MembershipOp, token: MemberInviteToken) {
        try invite(role: role, expires: expires, maxUses: maxUses, stamp: stamp, context: MemberContext(log: log, state: state))
    }

    /// A `remove` op for `target` with the cut-off this device has seen of its chain; in an
    /// encrypted space it starts a new epoch sealed to every remaining member and pending
    /// invite, with the keys this device holds as history.
    /// - Parameters:
    ///   - target: The device to remove.
    ///   - context: The membership state and the chain heads (the cut-off is `target`'s).
    ///   - stamp: The op's clock reading.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin and `target` a
    ///   member not already removed.
    public func removal(of target: PublicKey, context: MemberContext, stamp: HLCTimestamp) throws -> MembershipOp {
        try requireAdmin("remove members", context)
        guard let member = context.state.member(target), member.cut == nil else {
            throw ConcordError(
                .notAllowed,
                "\(target.hex.prefix(8)) is not a member of space \(spaceID.shortDescription) (or was already removed); `concord members` lists who is"
            )
        }
        let cutoff = max(context.heads[target] ?? 1, 1)
        return .remove(target: target, cutoff: cutoff, keep: [], epoch: try newEpoch(excluding: [target], context, stamp: stamp))
    }

    /// ``removal(of:context:stamp:)`` for an in-memory log.
    public func removal(of target: PublicKey, state: MembershipState, log: BundleLog, stamp: HLCTimestamp) throws -> MembershipOp {
        try removal(of: target, context: MemberContext(log: log, state: state), stamp: stamp)
    }

    /// A `set-role` op giving `target` `role` for its bundles after the head this device holds.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin and `target` a member not removed.
    public func roleChange(of target: PublicKey, to role: RoleAssignment, context: MemberContext) throws -> MembershipOp {
        try requireAdmin("change roles", context)
        guard let member = context.state.member(target), member.cut == nil else {
            throw ConcordError(
                .notAllowed,
                "\(target.hex.prefix(8)) is not a member of space \(spaceID.shortDescription) (or was removed); `concord members` lists who is"
            )
        }
        return .setRole(target: target, role: role, boundary: max(context.heads[target] ?? 1, 1))
    }

    /// A `revoke-invite` op; joins through it that this device has seen stay.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin and the invite is known.
    public func revocation(of invite: PublicKey, context: MemberContext) throws -> MembershipOp {
        try requireAdmin("revoke invites", context)
        guard let known = context.state.invite(invite) else {
            throw ConcordError(
                .notAllowed, "no invite \(invite.hex.prefix(8)) is known in space \(spaceID.shortDescription); `concord invites` lists them"
            )
        }
        return .revokeInvite(id: invite, seen: known.joined.sorted())
    }

    /// A `rotate` op: a new epoch sealed to every member and pending invite.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin of an encrypted space.
    public func rotation(context: MemberContext, stamp: HLCTimestamp) throws -> MembershipOp {
        try requireAdmin("rotate the key", context)
        guard let field = try newEpoch(excluding: [], context, stamp: stamp) else {
            throw ConcordError(.notAllowed, "space \(spaceID.shortDescription) is not encrypted: there is no key to rotate")
        }
        return .rotate(field)
    }

    /// ``rotation(context:stamp:)`` for an in-memory log.
    public func rotation(state: MembershipState, log: BundleLog, stamp: HLCTimestamp) throws -> MembershipOp {
        try rotation(context: MemberContext(log: log, state: state), stamp: stamp)
    }

    /// The `grant` ops that repair missing keys (`Specs/membership.md` §7): for each
    /// applied epoch whose key this device holds, the members (not removed or retired)
    /// neither whose device nor whose invite it was sealed to. An admin issues them during
    /// sync, so a member admitted concurrently with a rotation still reads everything.
    ///
    /// ```swift
    /// for op in try admin.pendingGrants(MemberContext(log: log, state: state)) {
    ///     let bundle = try admin.sealControl(op, log: log, stamp: try replica.tick())
    ///     _ = importer.importBundle(bundle.bytes, into: &replica, log: &log)
    /// }
    /// ```
    /// - Returns: One op per epoch that needs one; empty for a non-admin or an unencrypted space.
    public func pendingGrants(_ context: MemberContext) throws -> [MembershipOp] {
        let me = device.publicKey
        let state = context.state
        guard isEncrypted, case .member(.admin) = state.standing(of: me, at: context.next(of: me)) else { return [] }
        let active = state.members.filter { $0.cut == nil && $0.retired == nil }
        var ops: [MembershipOp] = []
        for epoch in state.epochs {
            let sealedTo = Set(epoch.recipients)
            let missing = active.filter { !sealedTo.contains($0.device) && !($0.invite.map(sealedTo.contains) ?? false) }.map(\.device)
            guard !missing.isEmpty, let key = epochKey(epoch.keyID, records: context.records, state: state) else { continue }
            ops.append(.grant(keyID: key.id, recipients: try EpochField.sealedKeys(key, to: missing)))
        }
        return ops
    }

    /// ``pendingGrants(_:)`` for an in-memory log.
    public func pendingGrants(state: MembershipState, log: BundleLog) throws -> [MembershipOp] {
        try pendingGrants(MemberContext(log: log, state: state))
    }

    /// A new epoch's field (`nil` in an unencrypted space): recipients are the members not
    /// cut and the pending invites not revoked, expired at `stamp` or used up, minus `excluded`.
    private func newEpoch(excluding excluded: Set<PublicKey>, _ context: MemberContext, stamp: HLCTimestamp) throws -> EpochField? {
        guard isEncrypted else { return nil }
        let state = context.state
        var recipients = state.members.filter { $0.cut == nil && $0.retired == nil }.map(\.device)
        recipients += state.invites.filter { !$0.isRevoked && $0.isInTime(stamp.rawValue) && $0.hasUsesLeft }.map(\.id)
        recipients.removeAll { excluded.contains($0) }
        let history = state.epochs.compactMap { epochKey($0.keyID, records: context.records, state: state) }
        return try EpochField.sealing(EpochKey(), to: recipients, history: history)
    }
}

/// What an admin action or a write check reads (format 3): the membership state, the ops it
/// was evaluated from (they carry the epoch keys), and the chain heads this device holds.
///
/// ```swift
/// let context = MemberContext(log: log, state: importer.membershipState(of: log))
/// try membership.checkMayWrite(context)
/// ```
public struct MemberContext: Sendable {
    /// The membership state.
    public var state: MembershipState
    /// The membership ops held.
    public var records: [MembershipOpRecord]
    /// The highest sequence of each author's chain held.
    public var heads: [PublicKey: UInt64]

    /// A context.
    /// - Parameters:
    ///   - state: The state of `records`.
    ///   - records: The membership ops held.
    ///   - heads: Chain heads by author.
    public init(state: MembershipState, records: [MembershipOpRecord], heads: [PublicKey: UInt64]) {
        self.state = state
        self.records = records
        self.heads = heads
    }

    /// The context of an in-memory log.
    /// - Parameters:
    ///   - log: The device's bundle log.
    ///   - state: The state of its membership ops.
    public init(log: BundleLog, state: MembershipState) {
        self.init(state: state, records: Array(log.membershipRecords.values), heads: log.versionVector.entries)
    }

    /// The sequence this device's next bundle takes.
    func next(of device: PublicKey) -> UInt64 { (heads[device] ?? 0) + 1 }
}

extension BundleImporter {
    /// The membership state of the control bundles in `log` (format 3).
    /// - Parameters:
    ///   - log: A bundle log this importer imported into.
    public func membershipState(of log: BundleLog) -> MembershipState {
        MembershipState.evaluate(ops: log.membershipRecords.values, spaceID: membership.spaceID, encrypted: membership.isEncrypted)
    }
}
