import ConcordCore
import ConcordCrypto

/// The import pipeline of format 3 (`Specs/membership.md` §6, §8): after the checks every
/// format shares (structure, space, signature, drift, duplicate, chain rule), the
/// membership state decides. A control bundle enters its author's chain and its op the
/// evaluation (past its author's cut-off it is kept as evidence); a data bundle is applied
/// if its author may write at that position (entering its chain unopened while its epoch
/// key has not reached this device, applied when the key arrives), held while its author
/// is not admitted yet, kept in its chain with nothing applied when
/// its author is not a writer there (reported as void with reason `notAWriter`), and
/// refused (`removed`, not stored) past its author's cut-off. Every op that changes the state reconciles what was imported before it:
/// held bundles it admits are applied, chain bundles past a new cut-off are dropped
/// (control ones become evidence) and the replica state is recomputed from the bundles
/// the state still admits, so a replica that applied a removed device's late bundle before
/// the removal reached it ends identical to one that never saw that bundle.
extension BundleImporter {
    /// The state of the membership ops `destination` holds.
    func membershipState<D: ImportDestination>(of destination: inout D) -> MembershipState {
        if let cached = destination.cachedMembershipState() { return cached }
        let state = MembershipState.evaluate(
            ops: destination.membershipRecords, spaceID: membership.spaceID, encrypted: membership.isEncrypted)
        destination.cacheMembershipState(state)
        return state
    }

    /// Imports a verified format-3 bundle that is not yet in `destination`.
    func runMember<D: ImportDestination>(_ bundle: ChangeBundle, verdict: ChainRule.Verdict, into destination: inout D) throws
        -> ImportOutcome
    {
        if bundle.isControl, destination.defersMembershipReconcile {
            let known = destination.cachedMembershipState()
            if known?.admission(author: bundle.author, sequence: bundle.sequence, isControl: true) != .storedAsEvidence {
                return try deferredControl(bundle, verdict: verdict, into: &destination)
            }
        }
        let state = membershipState(of: &destination)
        let admission = state.admission(author: bundle.author, sequence: bundle.sequence, isControl: bundle.isControl)
        if case .refused(let why) = admission, why != .notAWriter {
            throw Self.refusal(why, of: bundle, state: state)
        }
        if admission == .storedAsEvidence {
            let record = try bundle.membershipRecord(encrypted: membership.isEncrypted)
            try destination.keepAsEvidence(bundle)
            try destination.recordMembership(record, of: bundle)
            return .applied([bundle.id] + (try reconcile(into: &destination)))
        }
        if case .gap(let needed) = verdict {
            try holdChecked(bundle, into: &destination)
            // A control bundle's op counts as soon as it is held: the evaluation needs no
            // chain continuity (its record carries author, position and stamp), so the op
            // set, and with it the state, does not depend on arrival order.
            if bundle.isControl, let record = try? bundle.membershipRecord(encrypted: membership.isEncrypted) {
                try destination.recordMembership(record, of: bundle)
                let released = try reconcile(into: &destination)
                return released.isEmpty ? .held(waitingFor: needed) : .applied(released)
            }
            return .held(waitingFor: needed)
        }
        // Extends the chain: a control bundle always enters it; a data bundle when its
        // author is admitted there and its key is here.
        if bundle.isControl {
            try appendControl(bundle, into: &destination)
            var sawControl = true
            let released = try release(author: bundle.author, after: ChainRule.Link(bundle), into: &destination, sawControl: &sawControl)
            return .applied([bundle.id] + released + (try reconcile(into: &destination)))
        }
        if case .refused(let why) = admission {
            // Not a writer there: the bundle keeps its place in the chain (so the author's
            // later bundles, after a promotion, still link on every member) and nothing of
            // it is applied, on every member alike.
            destination.void(VoidedBundle(bundle, reason: Self.refusal(why, of: bundle, state: state)))
            try destination.append(bundle)
            destination.markWithheld(bundle)
            return .applied(
                [bundle.id] + (try releaseAndReconcile(author: bundle.author, after: ChainRule.Link(bundle), into: &destination)))
        }
        guard admission == .applied else {
            try holdChecked(bundle, into: &destination)
            return .held(waitingFor: bundle.sequence)
        }
        // A bundle whose epoch key has not reached this device still takes its place (the
        // author's later bundles, which may carry that key's history, must not wait behind
        // it); its operations apply when the key arrives (``reconcile(into:)``).
        let mark = try destination.head(of: bundle.author)?.mark
        let opened = try openMember(bundle, destination: &destination, state: state).map {
            Self.checkingMonotonicity($0, of: bundle, after: mark)
        }
        var decided = false
        if let opened { decided = try applyOpened(bundle, opened, state: state, into: &destination) }
        try destination.append(bundle)
        if !decided { destination.markWithheld(bundle) }
        return .applied([bundle.id] + (try releaseAndReconcile(author: bundle.author, after: ChainRule.Link(bundle), into: &destination)))
    }

    /// A control bundle in a batch whose reconcile is deferred (not known to be past its
    /// author's cut-off): it enters its chain (or waits for a predecessor) and its op the
    /// set, without evaluating and reconciling again for each one (a batch of n control
    /// bundles would cost O(n²)). The batch's reconcile (``finishMemberBatch(into:)``) moves
    /// it to the evidence if its author turns out to be cut there.
    private func deferredControl<D: ImportDestination>(_ bundle: ChangeBundle, verdict: ChainRule.Verdict, into destination: inout D) throws
        -> ImportOutcome
    {
        destination.setMembershipReconcilePending(true)
        if case .gap(let needed) = verdict {
            try holdChecked(bundle, into: &destination)
            if let record = try? bundle.membershipRecord(encrypted: membership.isEncrypted) {
                try destination.recordMembership(record, of: bundle)
            }
            return .held(waitingFor: needed)
        }
        try appendControl(bundle, into: &destination)
        var sawControl = true
        return .applied(
            [bundle.id] + (try release(author: bundle.author, after: ChainRule.Link(bundle), into: &destination, sawControl: &sawControl)))
    }

    /// Runs the reconcile a batch deferred (see ``ImportDestination/defersMembershipReconcile``).
    /// - Returns: The ids of held bundles it released.
    package func finishMemberBatch<D: ImportDestination>(into destination: inout D) throws -> [BundleID] {
        guard destination.membershipReconcilePending else { return [] }
        destination.setMembershipReconcilePending(false)
        return try reconcile(into: &destination)
    }

    /// Appends a control bundle to its chain and records its op (a payload that is not one
    /// well-formed op makes it void: it keeps its place, nothing is evaluated).
    private func appendControl<D: ImportDestination>(_ bundle: ChangeBundle, into destination: inout D) throws {
        try destination.observe(bundle.hlcRange.upperBound)
        do {
            try destination.recordMembership(try bundle.membershipRecord(encrypted: membership.isEncrypted), of: bundle)
        } catch let error as ConcordError where error.code == .malformedBundle {
            destination.void(VoidedBundle(bundle, reason: error))
        }
        try destination.append(bundle)
    }

    /// The contents of a data bundle: `.success`, a void reason, or `nil` when the epoch
    /// key it names is not here (the bundle waits).
    func openMember<D: ImportDestination>(
        _ bundle: ChangeBundle, destination: inout D, state: MembershipState
    ) throws -> Result<BundleContents, ConcordError>? {
        guard let keyID = bundle.keyID, bundle.isEncrypted == membership.isEncrypted else {
            return try openMember(bundle, records: [], state: state)
        }
        let membership = self.membership
        guard let key = destination.epochKey(keyID, compute: { membership.epochKey(keyID, records: $0, state: state) }) else {
            return nil
        }
        do {
            return .success(try ChangeBundle.openData(bundle, key: key.key))
        } catch let error as ConcordError where Membership.voids(error) {
            return .failure(error)
        }
    }

    func openMember(
        _ bundle: ChangeBundle, records: [MembershipOpRecord], state: MembershipState
    ) throws -> Result<BundleContents, ConcordError>? {
        guard bundle.isEncrypted == membership.isEncrypted else {
            return .failure(
                ConcordError(
                    .encryptionMismatch,
                    "\(bundle) is \(bundle.isEncrypted ? "encrypted" : "not encrypted") but space \(membership.spaceID.shortDescription) is \(membership.isEncrypted ? "encrypted" : "not encrypted"); its author's Concord is faulty"
                ))
        }
        var key: SymmetricKey?
        if let keyID = bundle.keyID {
            guard let epoch = membership.epochKey(keyID, records: records, state: state) else { return nil }
            key = epoch.key
        }
        do {
            return .success(try ChangeBundle.openData(bundle, key: key))
        } catch let error as ConcordError where Membership.voids(error) {
            return .failure(error)
        }
    }

    /// Applies an opened data bundle's allowed ops (`Specs/permissions.md` §6.1), records
    /// its denials, or reports it void.
    /// - Returns: `false` when the permission decision waits (an unreadable policy, §6.4):
    ///   nothing is applied and the bundle is withheld like an unreadable one.
    private func applyOpened<D: ImportDestination>(
        _ bundle: ChangeBundle, _ opened: Result<BundleContents, ConcordError>, state: MembershipState, into destination: inout D
    ) throws -> Bool {
        switch opened {
        case .success(let contents):
            // The resurrection guard (`Specs/crdt-semantics.md` §11.4) decides after the
            // permission gate, against each record's greatest delete as it stands; a later
            // delete or checkpoint that changes the decision rebuilds the record.
            let guarding = ResurrectionGuard(state: state)
            guard PermissionGate.mayDeny(author: bundle.author, sequence: bundle.sequence, state: state) || bundle.isSectioned else {
                try destination.receive(contents, of: bundle, guarding: guarding)
                return true
            }
            var gate = PermissionGate(
                membership: membership, state: state, records: destination.membershipRecords, source: destination.permissionSource())
            guard case .decided(let allowed, let denied) = try gate.decide(bundle, contents) else { return false }
            try destination.receive(allowed, of: bundle, guarding: guarding)
            try destination.recordDenials(denied, of: bundle)
            return true
        case .failure(let reason):
            destination.void(VoidedBundle(bundle, reason: reason))
            return true
        }
    }

    /// Applies the held bundles of `author` that now extend its chain (whose head is
    /// `link`) and are admitted, in order. A held data bundle the state refuses is dropped
    /// (not stored); one still waiting stays held.
    private func releaseAndReconcile<D: ImportDestination>(author: PublicKey, after link: ChainRule.Link, into destination: inout D) throws
        -> [BundleID]
    {
        var sawControl = false
        let released = try release(author: author, after: link, into: &destination, sawControl: &sawControl)
        if sawControl { return released + (try reconcile(into: &destination)) }
        // A delete changed what the resurrection guard decides for writes already decided:
        // their records are recomputed from the log (the state is unchanged, so only the
        // guard's records are).
        if destination.guardRecomputePending { try rebuild(into: &destination, state: membershipState(of: &destination)) }
        return released
    }

    /// `sawControl` is set when a released bundle is a control bundle (the state changed).
    private func release<D: ImportDestination>(
        author: PublicKey, after link: ChainRule.Link, into destination: inout D, sawControl: inout Bool
    ) throws -> [BundleID] {
        var released: [BundleID] = []
        var last = link
        while last.sequence < .max {
            guard let next = try destination.takeHeld(of: author, sequence: last.sequence + 1) else { break }
            guard ChainRule.extends(sequence: next.sequence, previous: next.previous, after: last) else {
                try destination.quarantine(next, limit: limits.maxQuarantinedBundles)
                break
            }
            let state = membershipState(of: &destination)
            let admission = state.admission(author: next.author, sequence: next.sequence, isControl: next.isControl)
            if next.isControl {
                sawControl = true
                if admission == .storedAsEvidence {
                    try destination.keepAsEvidence(next)
                    if let record = try? next.membershipRecord(encrypted: membership.isEncrypted) {
                        try destination.recordMembership(record, of: next)
                    }
                    released.append(next.id)
                    break
                }
                try appendControl(next, into: &destination)
            } else {
                switch admission {
                case .refused(.notAWriter):
                    destination.void(VoidedBundle(next, reason: Self.refusal(.notAWriter, of: next, state: state)))
                    try destination.append(next)
                    destination.markWithheld(next)
                case .refused:
                    return released  // dropped: a bundle past a cut-off is not stored
                case .held, .storedAsEvidence:
                    try destination.hold(next)
                    return released
                case .applied:
                    let mark = try destination.head(of: author)?.mark
                    let opened = try openMember(next, destination: &destination, state: state).map {
                        Self.checkingMonotonicity($0, of: next, after: mark)
                    }
                    var decided = false
                    if let opened {
                        do {
                            decided = try applyOpened(next, opened, state: state, into: &destination)
                        } catch is ConcordError {
                            try destination.hold(next)  // its clock is out of bounds now; it waits
                            return released
                        }
                    }
                    try destination.append(next)
                    if !decided { destination.markWithheld(next) }
                }
            }
            released.append(next.id)
            last = ChainRule.Link(next)
        }
        return released
    }

    /// After the membership ops changed: cuts chains past their author's cut-off or
    /// retirement (control bundles there become evidence), applies held bundles the state
    /// now admits, and recomputes the replica state from the data bundles it admits.
    /// Repeats until nothing changes (a cut can drop an op that changes the state).
    /// - Returns: The ids of bundles released from the held pool.
    func reconcile<D: ImportDestination>(into destination: inout D) throws -> [BundleID] {
        var released: [BundleID] = []
        for _ in 0..<64 {
            let state = membershipState(of: &destination)
            var changed = false
            for author in try destination.chainAuthors() where author != membership.device.publicKey {
                guard let member = state.member(author),
                    let limit = [member.cut?.cutoff, member.retired].compactMap({ $0 }).min()
                else { continue }
                let dropped = try destination.truncateChain(of: author, after: limit)
                for bundle in dropped where bundle.isControl {
                    try destination.keepAsEvidence(bundle)
                }
                changed = changed || !dropped.isEmpty
            }
            // Evidence whose author is no longer cut there (the removal became void): back in
            // line for the chain.
            for bundle in try destination.evidenceBundles()
            where state.admission(author: bundle.author, sequence: bundle.sequence, isControl: true) != .storedAsEvidence {
                _ = try destination.takeEvidence(bundle.id)
                if try destination.heldBundle(of: bundle.author, sequence: bundle.sequence) == nil,
                    try destination.chainBundleID(of: bundle.author, sequence: bundle.sequence) == nil
                {
                    try destination.hold(bundle)
                }
                changed = true
            }
            // Held bundles past a new cut-off: control ones become evidence, data ones go.
            for author in try destination.heldAuthors() {
                for bundle in try destination.heldBundles(of: author) {
                    switch state.admission(author: author, sequence: bundle.sequence, isControl: bundle.isControl) {
                    case .storedAsEvidence:
                        _ = try destination.takeHeld(of: author, sequence: bundle.sequence)
                        try destination.keepAsEvidence(bundle)
                        if let record = try? bundle.membershipRecord(encrypted: membership.isEncrypted) {
                            try destination.recordMembership(record, of: bundle)
                        }
                        changed = true
                    case .refused(.removed), .refused(.retired):
                        _ = try destination.takeHeld(of: author, sequence: bundle.sequence)
                        changed = true
                    default:
                        break
                    }
                }
            }
            for author in try destination.heldAuthors() {
                let head = try destination.head(of: author)
                let link = head?.link ?? ChainRule.Link(sequence: 0, id: .zero)
                var sawControl = false
                let more = try release(author: author, after: link, into: &destination, sawControl: &sawControl)
                released += more
                changed = changed || !more.isEmpty
            }
            if !changed { break }
        }
        let final = membershipState(of: &destination)
        try rebuild(into: &destination, state: final)
        return released
    }

    /// Recomputes the replica state from the chain data bundles the state admits and this
    /// device can read.
    private func rebuild<D: ImportDestination>(into destination: inout D, state: MembershipState) throws {
        let records = destination.membershipRecords
        let membership = self.membership
        var keys: [EpochKeyID: EpochKey?] = [:]
        func key(_ id: EpochKeyID) -> EpochKey? {
            if keys[id] == nil { keys[id] = .some(membership.epochKey(id, records: records, state: state)) }
            return keys[id] ?? nil
        }
        var scopeKeys: [EpochKeyID: EpochKey?] = [:]
        func scopeKey(_ id: EpochKeyID) -> EpochKey? {
            if scopeKeys[id] == nil { scopeKeys[id] = .some(membership.scopeKey(id, records: records, state: state)) }
            return scopeKeys[id] ?? nil
        }
        // Every op this device can read, scope sections included (the store recomputes
        // records from them, leaving out the denied ones by section and index). A data
        // bundle that breaks chain monotonicity never applies, whatever the state
        // (`Specs/membership.md` §6): `mark` is the chain mark before it.
        let contents = { (bundle: ChangeBundle, mark: HLCTimestamp?) -> BundleContents? in
            guard ChainRule.isMonotone(bundle, after: mark) else { return nil }
            guard let id = bundle.keyID else { return try? ChangeBundle.openData(bundle, key: nil) }
            guard let general = key(id).flatMap({ try? ChangeBundle.openData(bundle, key: $0.key) }) else { return nil }
            return bundle.withSections(general, state: state, key: scopeKey)
        }
        // Every op is decided again (`Specs/permissions.md` §6.4): a pure function of the
        // state and the log, so the order the destination asks in does not matter.
        var gate = PermissionGate(membership: membership, state: state, records: records, source: destination.permissionSource())
        try destination.rebuildState(state: state, contents: contents) { bundle, mark in
            guard ChainRule.isMonotone(bundle, after: mark) else { return .void }
            guard case .applied = state.admission(author: bundle.author, sequence: bundle.sequence, isControl: false) else {
                return .withheld
            }
            var payloadKey: SymmetricKey?
            if let id = bundle.keyID {
                guard let epoch = key(id) else { return .withheld }
                payloadKey = epoch.key
            }
            let opened: BundleContents
            do {
                opened = try ChangeBundle.openData(bundle, key: payloadKey)
            } catch let error as ConcordError where Membership.voids(error) {
                return .void
            }
            guard case .decided(let allowed, let denied) = try gate.decide(bundle, opened) else { return .withheld }
            return .apply(allowed, denied: denied)
        }
    }

    /// The typed error of a refused data bundle.
    static func refusal(_ why: MembershipState.Refusal, of bundle: ChangeBundle, state: MembershipState) -> ConcordError {
        switch why {
        case .notAWriter:
            let role = state.member(bundle.author).map { "a \($0.role)" } ?? "not a member"
            return ConcordError(
                .notAWriter,
                "\(bundle) was refused: its author is \(role) of this space at that position, not a writer; its changes are ignored on every member"
            )
        case .removed(let by, let at):
            let name = state.member(by)?.name ?? String(by.hex.prefix(8))
            return ConcordError(
                .removed,
                "\(bundle) was refused: its author was removed from the space by \(name) at \(HLCTimestamp(rawValue: at)), and this bundle is past the cut-off; its changes are ignored on every member"
            )
        case .retired(let after):
            return ConcordError(
                .removed,
                "\(bundle) was refused: its author's chain was continued by a successor device after bundle \(after) (a copy of its "
                    + "store recovered); its changes are ignored on every member, and its device re-issues them when it recovers too"
            )
        }
    }
}
