import ConcordCore
import ConcordCrypto

extension Membership {
    /// The scope key named `id` (`Specs/permissions.md` §7.2), if this device can open it
    /// from the membership ops it holds: the `scope-key` op that started the epoch or a
    /// `grant` of it, sealed to this device's key or an invite key it joined with, or the
    /// history blob of another key of the same scope that it can open that way.
    ///
    /// Only epochs the evaluation applied count (``MembershipState/scopeEpochs``); a device
    /// outside a scope is never sealed a key of it, so this is `nil` there.
    ///
    /// ```swift
    /// for section in bundle.sections {
    ///     if let key = membership.scopeKey(section.keyID, records: records, state: state) {
    ///         let ops = try ChangeBundle.openSection(section, of: bundle, key: key.key)
    ///     }
    /// }
    /// ```
    /// - Parameters:
    ///   - id: The key id a section names.
    ///   - records: The membership ops held.
    ///   - state: Their evaluation.
    /// - Returns: The key, or `nil` when this device was not given it.
    public func scopeKey(_ id: EpochKeyID, records: some Collection<MembershipOpRecord>, state: MembershipState) -> EpochKey? {
        guard let epoch = state.scopeEpochs.first(where: { $0.keyID == id }) else { return nil }
        if let direct = openScopeKeyDirectly(id, records: records) { return direct }
        for other in state.scopeEpochs.reversed() where other.scope == epoch.scope && other.keyID != id {
            guard let outer = openScopeKeyDirectly(other.keyID, records: records) else { continue }
            for record in records {
                guard case .scopeKey(_, let field) = record.op, field.keyID == other.keyID,
                    let history = try? field.openHistory(with: outer)
                else { continue }
                if let found = history.first(where: { $0.id == id }) { return found }
            }
        }
        return nil
    }

    /// The current key of the scope of `readers` (§7.2): the last untainted epoch of that
    /// scope whose key this device holds; `nil` when it holds none (it is outside the scope,
    /// or no admin has issued a key yet). Writers seal scoped ops under it.
    /// - Parameters:
    ///   - readers: The scope's read set (any order).
    ///   - records: The membership ops held.
    ///   - state: Their evaluation.
    public func currentScopeKey(
        readers: [String], records: some Collection<MembershipOpRecord>, state: MembershipState
    ) -> EpochKey? {
        let scope = ScopeID(readers: readers)
        for epoch in state.scopeEpochs.reversed() where epoch.scope == scope && !epoch.isTainted {
            if let key = scopeKey(epoch.keyID, records: records, state: state) { return key }
        }
        return nil
    }

    /// The key `id` opened from a `scope-key` or `grant` box sealed to this device or one of
    /// its invite keys.
    private func openScopeKeyDirectly(_ id: EpochKeyID, records: some Collection<MembershipOpRecord>) -> EpochKey? {
        let identities = [device] + inviteKeys
        for record in records {
            let recipients: [EpochField.Recipient]
            switch record.op {
            case .grant(let keyID, let boxes) where keyID == id: recipients = boxes
            case .scopeKey(_, let field) where field.keyID == id: recipients = field.recipients
            default: continue
            }
            for identity in identities {
                if let key = try? EpochField.openSealedKey(in: recipients, keyID: id, with: identity) { return key }
            }
        }
        return nil
    }
}

extension ChangeBundle {
    /// `contents` (the general section, from ``openData(_:key:)``) with this bundle's scope
    /// sections as this device sees them (`Specs/permissions.md` §7.3–7.4): each section
    /// whose key `key` returns is opened (or found broken), the others are unread. Two
    /// sections under keys of the same scope are both broken. The ops stay undecided in
    /// ``BundleContents/sections`` until ``PermissionGate`` decides them.
    /// - Parameters:
    ///   - contents: The opened general section.
    ///   - state: The membership state (which scope each key id belongs to).
    ///   - key: The scope key of an id, when this device holds it.
    package func withSections(
        _ contents: BundleContents, state: MembershipState, key: (EpochKeyID) -> EpochKey?
    ) -> BundleContents {
        guard isSectioned else { return contents }
        var scopeCount: [ScopeID: Int] = [:]
        let epochs = sections.map { section in state.scopeEpochs.first { $0.keyID == section.keyID } }
        for epoch in epochs { if let epoch { scopeCount[epoch.scope, default: 0] += 1 } }
        let opened = zip(sections, epochs).map { section, epoch -> OpenedSection in
            func made(_ content: OpenedSection.Content) -> OpenedSection {
                OpenedSection(
                    number: section.number, keyID: section.keyID, length: section.length, readers: epoch?.readers, content: content)
            }
            guard let epoch, let scopeKey = key(section.keyID) else { return made(.unread) }
            guard scopeCount[epoch.scope] == 1 else {
                return made(.broken("two sections of \(self) are sealed under keys of the same scope"))
            }
            do {
                return made(.operations(try ChangeBundle.openSection(section, of: self, key: scopeKey.key)))
            } catch {
                return made(.broken((error as? ConcordError)?.message ?? "\(error)"))
            }
        }
        return BundleContents(context: contents.context, operations: contents.operations, sections: opened)
    }
}

extension Membership {
    /// The scope-key ops an admin owes (`Specs/permissions.md` §7.2) for the policy in force
    /// `policy`: for every scope of its read lists, a `scope-key` when the scope has no key
    /// this device holds, when its current key was sealed to someone no longer in the
    /// scope (a removal, a role change, a policy that dropped the role: they keep reading
    /// what was sealed before, never what comes after), or when it is older than the current
    /// content epoch (a `rotate`: scopes rotate with the space); otherwise a `grant` of the current
    /// key to the members and pending invites in the scope that lack it (a member entering
    /// the scope). New keys carry the scope's older keys this device holds in their history
    /// blob, so whoever enters the scope reads its past.
    ///
    /// ```swift
    /// if case .policy(let policy)? = content {
    ///     for op in try admin.pendingScopeOps(context, policy: policy, stamp: clock.now()) { submit(op) }
    /// }
    /// ```
    /// - Parameters:
    ///   - context: The membership state, its ops and the chain heads.
    ///   - policy: The policy in force (its read lists name the scopes).
    ///   - stamp: The time the ops will carry (invites expired then are not sealed to).
    /// - Returns: The ops, in scope order; empty for a non-admin or an unencrypted space.
    public func pendingScopeOps(_ context: MemberContext, policy: Policy, stamp: HLCTimestamp) throws -> [MembershipOp] {
        let me = device.publicKey
        let state = context.state
        guard isEncrypted, case .member(.admin) = state.standing(of: me, at: context.next(of: me)) else { return [] }
        var scopes: [ScopeID: [String]] = [:]
        for entry in policy.entries {
            guard let read = entry.read else { continue }
            let readers = read.sorted(by: PolicyText.less)
            scopes[ScopeID(readers: readers)] = readers
        }
        var ops: [MembershipOp] = []
        for (scope, readers) in scopes.sorted(by: { $0.key < $1.key }) {
            let inScope =
                state.members.filter { $0.cut == nil && $0.retired == nil }.map(\.device)
                + state.invites.filter { !$0.isRevoked && $0.isInTime(stamp.rawValue) && $0.hasUsesLeft }.map(\.id)
            let belong = inScope.filter { state.isInScope($0, readers: readers, at: stamp.rawValue) }
            let current = state.scopeEpochs.last { $0.scope == scope && !$0.isTainted }
            let currentKey = current.flatMap { scopeKey($0.keyID, records: context.records, state: state) }
            let outsiders =
                current.map { epoch in
                    epoch.recipients.filter { !state.isInScope($0, readers: readers, at: stamp.rawValue) }
                } ?? []
            // Scopes rotate with the content key (a `remove` or `rotate` starts an epoch):
            // a scope key older than the current content epoch is replaced.
            let contentEpoch = state.currentEpoch?.startedBy.stamp ?? 0
            let rotated = current.map { $0.startedBy.stamp < contentEpoch } ?? false
            if let current, let currentKey, outsiders.isEmpty, !rotated {
                let sealedTo = Set(current.recipients)
                let missing = belong.filter { device in
                    !sealedTo.contains(device) && !(state.member(device)?.invite.map(sealedTo.contains) ?? false)
                }
                if !missing.isEmpty {
                    ops.append(.grant(keyID: currentKey.id, recipients: try EpochField.sealedKeys(currentKey, to: missing)))
                }
                continue
            }
            let history = state.scopeEpochs.filter { $0.scope == scope }.compactMap {
                scopeKey($0.keyID, records: context.records, state: state)
            }
            ops.append(.scopeKey(readers: readers, epoch: try EpochField.sealing(EpochKey(), to: belong, history: history)))
        }
        return ops
    }
}
