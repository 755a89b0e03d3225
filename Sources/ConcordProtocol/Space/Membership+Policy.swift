import ConcordCore
import ConcordCrypto

/// Setting and reading the space's permission policy (`Specs/permissions.md` §3.2).
extension Membership {
    /// A `set-policy` op: `policy` (or `nil` to clear it) with this admin's `seen` vector,
    /// the chain heads it holds (its own is `k − 1`, as for ``roleChange(of:to:context:)``).
    /// In an unencrypted space the body is plaintext; in an encrypted one it is sealed
    /// under the current epoch key with XChaCha20-Poly1305, the header of the control
    /// bundle that will carry it as associated data. Seal the op at `stamp` after
    /// `previous` (``sealControl(_:log:stamp:)``), or the body will not open.
    ///
    /// ```swift
    /// let policy = try Policy(json: text, encrypted: false)
    /// let op = try membership.setPolicy(policy, context: context, previous: log.latestBundle(of: me), stamp: stamp)
    /// let bundle = try membership.sealControl(op, log: log, stamp: stamp)
    /// ```
    /// - Parameters:
    ///   - policy: The policy, or `nil` to clear it (form `00`).
    ///   - context: The membership state, the epoch keys and the chain heads.
    ///   - previous: This device's latest bundle, which the control bundle follows.
    ///   - stamp: The control bundle's stamp.
    /// - Returns: The op.
    /// - Throws: ``ConcordError`` `.notAllowed` unless this device is an admin at its next
    ///   position (2 or later); `.notARecipient` when it holds no current epoch key;
    ///   `.chainMismatch` when `previous` is not this device's.
    public func setPolicy(_ policy: Policy?, context: MemberContext, previous: ChangeBundle?, stamp: HLCTimestamp) throws -> MembershipOp {
        try setPolicy(policy, context: context, previous: previous, stamp: stamp, nonce: XChaCha20Poly1305.Nonce())
    }

    /// ``setPolicy(_:context:previous:stamp:)`` with a chosen nonce, for reproducible test
    /// vectors only.
    package func setPolicy(
        _ policy: Policy?, context: MemberContext, previous: ChangeBundle?, stamp: HLCTimestamp, nonce: XChaCha20Poly1305.Nonce
    ) throws -> MembershipOp {
        let me = device.publicKey
        guard case .member(.admin) = context.state.standing(of: me, at: context.next(of: me)), context.next(of: me) >= 2 else {
            throw ConcordError(
                .notAllowed,
                "only admins may set the policy; this device is \(context.state.member(me).map { "a \($0.role)" } ?? "not a member") of space \(spaceID.shortDescription)"
            )
        }
        let seen = VersionVector(context.heads)
        guard let policy else { return .setPolicy(seen: seen, form: .clear) }
        guard let key = try sealingKey(context) else { return .setPolicy(seen: seen, form: .plaintext(policy.body)) }
        let (sequence, link) = try ChangeBundle.nextLink(after: previous, author: me, spaceID: spaceID)
        let header = ChangeBundle.encodeMemberHeader(
            isControl: true, keyID: nil, spaceID: spaceID, author: me, sequence: sequence, previous: link, hlcRange: stamp...stamp)
        let box = XChaCha20Poly1305.seal(policy.body, using: key.key, nonce: nonce, authenticating: header)
        return .setPolicy(seen: seen, form: .sealed(keyID: key.id, blob: box.combined))
    }

    /// ``setPolicy(_:context:previous:stamp:)`` for an in-memory log.
    /// - Parameters:
    ///   - policy: The policy, or `nil` to clear it.
    ///   - state: The membership state of `log`.
    ///   - log: This device's bundle log.
    ///   - stamp: The control bundle's stamp.
    public func setPolicy(_ policy: Policy?, state: MembershipState, log: BundleLog, stamp: HLCTimestamp) throws -> MembershipOp {
        try setPolicy(
            policy, context: MemberContext(log: log, state: state), previous: log.latestBundle(of: device.publicKey), stamp: stamp)
    }

    /// Reads an applied policy with the epoch keys this device holds
    /// (``MembershipState/AppliedPolicy/open(header:key:encrypted:)``).
    ///
    /// ```swift
    /// if let governing = context.state.governingPolicy(author: author, sequence: k),
    ///    let bundle = log.bundle(governing.by.bundleID) {
    ///     let content = try membership.openPolicy(governing, bundle: bundle, context: context)
    /// }
    /// ```
    /// - Parameters:
    ///   - policy: A policy of `context.state.policies`.
    ///   - bundle: The control bundle that carries it.
    ///   - context: The membership state and the ops that hold the epoch keys.
    /// - Returns: Cleared, the policy, unreadable or broken.
    /// - Throws: ``ConcordError`` `.chainMismatch` when `bundle` is not the policy's bundle.
    public func openPolicy(_ policy: MembershipState.AppliedPolicy, bundle: ChangeBundle, context: MemberContext) throws
        -> MembershipState.PolicyContent
    {
        guard bundle.id == policy.by.bundleID else {
            throw ConcordError(
                .chainMismatch, "\(bundle) does not carry the set-policy op it was given to open; pass the op's control bundle")
        }
        var key: EpochKey?
        if case .sealed(let keyID, _) = policy.form { key = epochKey(keyID, records: context.records, state: context.state) }
        return policy.open(header: bundle.header, key: key, encrypted: isEncrypted)
    }
}
