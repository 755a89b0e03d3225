import ConcordCore
import ConcordCrypto

extension MembershipState {
    /// The most successors one device may have (`Specs/membership.md` §5).
    public static let maxSuccessors = 16

    /// Evaluates a set of membership ops (`Specs/membership.md` §5).
    ///
    /// Pure and deterministic: no clock, no I/O, and neither the order of `ops` nor
    /// repeated records change the result. Ops are processed in the order of
    /// `(t, author bytes, k)` (then bundle id and payload bytes, so that even forked
    /// records have one order); a `join` waits until its `invite` op is processed, and one
    /// whose invite op is absent is pending. An op that breaks its rule is void; when an
    /// applied op lowers a role (remove, demotion, revocation, retirement), every op
    /// applied earlier in the pass that the new state refuses is voided and the pass
    /// restarts. At most one restart per op.
    ///
    /// ```swift
    /// let state = MembershipState.evaluate(ops: records, spaceID: space, encrypted: false)
    /// assert(state.member(admin)?.role == .admin)
    /// ```
    /// - Parameters:
    ///   - ops: The membership ops a device holds, in any order, duplicates allowed.
    ///   - spaceID: The space; it verifies the genesis signature.
    ///   - encrypted: Whether the space encrypts payloads; a genesis saying otherwise is void.
    /// - Returns: The membership state.
    /// - Complexity: O(p · n log n) for n ops and p passes (p ≤ n + 1, usually 1 or 2),
    ///   plus one signature check per genesis, join and successor.
    public static func evaluate(ops: some Sequence<MembershipOpRecord>, spaceID: SpaceID, encrypted: Bool) -> MembershipState {
        let entries = order(ops)
        let sound = entries.map { isSound($0.record, encoded: $0.encoded, spaceID: spaceID, encrypted: encrypted) }
        let records = entries.map(\.record)
        var voided = Set<Int>()
        while true {
            var pass = Pass(
                entries: records, sound: sound, voided: voided, state: MembershipState(spaceID: spaceID, isEncrypted: encrypted))
            guard let more = pass.run() else { return pass.finish() }
            voided.formUnion(more)
        }
    }

    /// The records sorted by `(t, author, k, bundle id, payload)`, repeats removed.
    private static func order(_ ops: some Sequence<MembershipOpRecord>) -> [(record: MembershipOpRecord, encoded: [UInt8])] {
        let unique = Array(Set(ops)).map { (record: $0, encoded: $0.op.encoded()) }
        return unique.sorted { a, b in
            let (x, y) = (a.record, b.record)
            if x.stamp != y.stamp { return x.stamp < y.stamp }
            if x.author != y.author { return x.author < y.author }
            if x.position != y.position { return x.position < y.position }
            if x.bundleID != y.bundleID { return x.bundleID < y.bundleID }
            return a.encoded.lexicographicallyPrecedes(b.encoded)
        }
    }

    /// Whether a record could ever be applied regardless of state: its op re-decodes to
    /// itself (names, sorted lists, epoch presence, positions) and its signature verifies.
    private static func isSound(_ record: MembershipOpRecord, encoded: [UInt8], spaceID: SpaceID, encrypted: Bool) -> Bool {
        guard record.position >= 1, (try? MembershipOp(payload: encoded, encrypted: encrypted)) == record.op else { return false }
        return MembershipStatement.verifies(record, spaceID: spaceID)
    }
}

/// One pass of the evaluation over the ordered records, skipping `voided`.
private struct Pass {
    let entries: [MembershipOpRecord]
    let sound: [Bool]
    let voided: Set<Int>
    var state: MembershipState
    /// Ops void in this pass.
    var passVoid = Set<Int>()
    var appliedByAuthor: [PublicKey: [Int]] = [:]
    var appliedJoinsByInvite: [PublicKey: [Int]] = [:]
    var appliedSuccessorsByPredecessor: [PublicKey: [Int]] = [:]
    var processedInvites = Set<PublicKey>()
    var waiting: [PublicKey: [Int]] = [:]

    /// Runs the pass. Returns the ops to add to `voided` before restarting, or `nil` when
    /// the pass completed.
    mutating func run() -> Set<Int>? {
        for i in entries.indices {
            if case .join(let invite, _, _) = entries[i].op, !voided.contains(i), !processedInvites.contains(invite) {
                waiting[invite, default: []].append(i)
                continue
            }
            if let restart = process(i) { return restart }
            if case .invite(let id, _, _, _) = entries[i].op, processedInvites.insert(id).inserted {
                for j in waiting.removeValue(forKey: id) ?? [] {
                    if let restart = process(j) { return restart }
                }
            }
        }
        return nil
    }

    /// The state of a completed pass, with its void and pending ops.
    func finish() -> MembershipState {
        var result = state
        result.voidOps = voided.union(passVoid).sorted().map { entries[$0] }
        result.pendingOps = waiting.values.flatMap { $0 }.sorted().map { entries[$0] }
        result.introduced = Set(entries.filter { $0.position == 1 && $0.op.isAdmission }.map(\.author))
        return result
    }

    private mutating func process(_ i: Int) -> Set<Int>? {
        guard !voided.contains(i) else { return nil }
        let record = entries[i]
        guard sound[i], mayAct(record), ruleHolds(record) else {
            passVoid.insert(i)
            return nil
        }
        let affected = apply(record, index: i)
        appliedByAuthor[record.author, default: []].append(i)
        let refused = affected.filter { $0 != i && wouldRefuse(entries[$0]) }
        guard refused.isEmpty else { return voided.union(passVoid).union(refused) }
        return nil
    }

    // MARK: - Rules

    /// Step 1: an author past its cut-off or retirement may not act, except a mutual removal.
    private func mayAct(_ record: MembershipOpRecord) -> Bool {
        guard let member = state.membersByDevice[record.author] else { return true }
        switch member.standing(at: record.position) {
        case .removed: return isMutualRemoval(record, by: member)
        case .retired: return false
        case .member, .none: return true
        }
    }

    /// The mutual-removal rule: `record` removes `T`, its author (an admin there,
    /// ignoring cuts) was cut below its position only by removals authored by `T`, and
    /// it cuts `T` below every one of those removals.
    private func isMutualRemoval(_ record: MembershipOpRecord, by member: MembershipState.Member) -> Bool {
        guard case let .remove(target, cutoff, _, _) = record.op else { return false }
        let k = record.position
        if let retired = member.retired, k > retired { return false }
        guard member.assignedRole(at: k) == .admin else { return false }
        let cuts = member.removals.filter { $0.cutoff < k }
        return !cuts.isEmpty && cuts.allSatisfy { $0.by.author == target && cutoff < $0.by.position }
    }

    private func isAdmin(_ record: MembershipOpRecord) -> Bool {
        state.membersByDevice[record.author]?.assignedRole(at: record.position) == .admin
    }

    /// ``isAdmin(_:)`` without the assignments `record` made itself: the state it is
    /// re-checked against is the one before it, plus what came later.
    private func wasAdmin(_ record: MembershipOpRecord) -> Bool {
        guard let member = state.membersByDevice[record.author] else { return false }
        let reference = record.reference
        return member.assignments.last { $0.boundary < record.position && $0.by != reference }?.role == .admin
    }

    /// Step 2: the op's own rule (`Specs/membership.md` §5, table).
    private func ruleHolds(_ record: MembershipOpRecord) -> Bool {
        let (k, author) = (record.position, record.author)
        switch record.op {
        case let .genesis(_, encrypted, _, epoch):
            return k == 1 && state.genesis == nil && encrypted == state.isEncrypted && epoch?.recipientKeys == (encrypted ? [author] : nil)
        case let .invite(id, _, _, _):
            return k >= 2 && isAdmin(record) && state.invitesByID[id] == nil
        case let .join(id, _, _):
            guard k == 1, state.membersByDevice[author] == nil, let invite = state.invitesByID[id] else { return false }
            return invite.admitsDespiteRevocation(author) && invite.isInTime(record.stamp) && invite.hasUsesLeft
        case let .setRole(target, _, boundary):
            guard k >= 2, isAdmin(record), let member = state.membersByDevice[target] else { return false }
            return member.cut == nil && boundary >= 1
        case let .remove(target, cutoff, _, epoch):
            return k >= 2 && isAdmin(record) && state.membersByDevice[target] != nil && cutoff >= 1 && (epoch != nil) == state.isEncrypted
        case let .revokeInvite(id, _):
            return k >= 2 && isAdmin(record) && state.invitesByID[id] != nil
        case .rotate:
            return k >= 2 && isAdmin(record) && state.isEncrypted
        case let .grant(keyID, _):
            return k >= 2 && isAdmin(record) && state.isEncrypted
                && (state.epochs.contains { $0.keyID == keyID } || state.scopeEpochs.contains { $0.keyID == keyID })
        case let .successor(predecessorKey, cutoff, _, _):
            guard k == 1, cutoff >= 1, state.membersByDevice[author] == nil, let predecessor = state.membersByDevice[predecessorKey] else {
                return false
            }
            guard !predecessor.removals.contains(where: { !$0.keep.contains(author) }),
                predecessor.successors.count < MembershipState.maxSuccessors,
                case .member = predecessor.standingIgnoringRetirement(after: cutoff)
            else { return false }
            return true
        case let .setPolicy(seen, _):
            return k >= 2 && isAdmin(record) && seen[author] == k - 1
        case .scopeKey:
            return k >= 2 && isAdmin(record) && state.isEncrypted
        case let .ack(held):
            guard k >= 2, case .member = state.standing(of: author, at: k) else { return false }
            return held[author] == k - 1
        case let .stale(target, _, _):
            guard k >= 2, isAdmin(record), let member = state.membersByDevice[target] else { return false }
            return member.cut == nil && member.retired == nil
        case let .checkpoint(stable, seen, _):
            return k >= 2 && isAdmin(record) && seen.includes(stable) && seen[author] == k - 1
        }
    }

    /// Whether the current state refuses an op applied earlier in this pass (step 4).
    private func wouldRefuse(_ record: MembershipOpRecord) -> Bool {
        guard mayAct(record) else { return true }
        if record.op.needsAdmin && !wasAdmin(record) { return true }
        switch record.op {
        case let .join(id, _, _):
            return !(state.invitesByID[id]?.admitsDespiteRevocation(record.author) ?? false)
        case let .successor(predecessor, _, _, _):
            return state.membersByDevice[predecessor]?.removals.contains { !$0.keep.contains(record.author) } ?? false
        default:
            return false
        }
    }

    // MARK: - Effects

    /// Step 3. Returns the ops applied earlier that the effect may make refused.
    private mutating func apply(_ record: MembershipOpRecord, index: Int) -> [Int] {
        let reference = record.reference
        let author = record.author
        switch record.op {
        case let .genesis(name, _, _, epoch):
            state.genesis = reference
            state.membersByDevice[author] = MembershipState.Member(
                device: author, name: name, assignments: [.init(boundary: 0, role: .admin, by: reference)])
            if let epoch { startEpoch(epoch, record, kind: .genesis) }
            return []
        case let .invite(id, role, expires, maxUses):
            state.invitesByID[id] = MembershipState.Invite(id: id, issuedBy: reference, role: role, expires: expires, maxUses: maxUses)
            return []
        case let .join(id, name, _):
            // ruleHolds checked that the invite exists.
            let role = state.invitesByID[id]!.role
            var member = MembershipState.Member(device: author, name: name, assignments: [.init(boundary: 0, role: role, by: reference)])
            member.invite = id
            state.membersByDevice[author] = member
            state.invitesByID[id]!.uses += 1
            state.invitesByID[id]!.joined.append(author)
            appliedJoinsByInvite[id, default: []].append(index)
            return []
        case let .setRole(target, role, boundary):
            // Finality (`Specs/snapshots.md` §2): a boundary below the final position of
            // the target takes effect after it.
            let final = state.membersByDevice[target]!.finalThrough
            state.membersByDevice[target]!.assignments.append(.init(boundary: max(boundary, final), role: role, by: reference))
            return appliedByAuthor[target] ?? []
        case let .remove(target, cutoff, keep, epoch):
            var member = state.membersByDevice[target]!
            member.removals.append(.init(cutoff: cutoff, by: reference, keep: keep))
            if member.declaredCut.map({ cutoff < $0.cutoff }) ?? true { member.declaredCut = .init(cutoff: cutoff, by: reference) }
            state.membersByDevice[target] = member
            if let epoch { startEpoch(epoch, record, kind: .remove) }
            return (appliedByAuthor[target] ?? []) + (appliedSuccessorsByPredecessor[target] ?? [])
        case let .revokeInvite(id, seen):
            state.invitesByID[id]!.revocations.append(.init(by: reference, seen: seen))
            return appliedJoinsByInvite[id] ?? []
        case let .rotate(epoch):
            startEpoch(epoch, record, kind: .rotate)
            return []
        case let .grant(keyID, recipients):
            let added = recipients.map(\.key)
            // ruleHolds checked that a content epoch or a scope epoch has this key id.
            guard let e = state.epochs.firstIndex(where: { $0.keyID == keyID }) else {
                let s = state.scopeEpochs.firstIndex { $0.keyID == keyID }!
                let readers = state.scopeEpochs[s].readers
                state.scopeEpochs[s].recipients = Array(Set(state.scopeEpochs[s].recipients + added)).sorted()
                if added.contains(where: { !state.isInScope($0, readers: readers, at: record.stamp) }) {
                    state.scopeEpochs[s].isTainted = true
                }
                return []
            }
            state.epochs[e].recipients = Array(Set(state.epochs[e].recipients + added)).sorted()
            if added.contains(where: { !isSafeRecipient($0, at: record.stamp) }) { state.epochs[e].isTainted = true }
            return []
        case let .successor(predecessorKey, cutoff, name, _):
            var predecessor = state.membersByDevice[predecessorKey]!
            guard case .member(let role) = predecessor.standingIgnoringRetirement(after: cutoff) else { return [] }
            var member = MembershipState.Member(device: author, name: name, assignments: [.init(boundary: 0, role: role, by: reference)])
            member.predecessor = predecessorKey
            state.membersByDevice[author] = member
            predecessor.declaredRetired = min(predecessor.declaredRetired ?? cutoff, cutoff)
            predecessor.successors.append(author)
            state.membersByDevice[predecessorKey] = predecessor
            appliedSuccessorsByPredecessor[predecessorKey, default: []].append(index)
            return appliedByAuthor[predecessorKey] ?? []
        case let .setPolicy(seen, form):
            state.policies.append(.init(seen: seen, form: form, by: reference))
            return []
        case let .ack(held):
            var vector = held
            vector[author] = record.position
            state.membersByDevice[author]!.staleSince = nil
            if state.membersByDevice[author]!.lastAck.map({ $0.sequence < record.position }) ?? true {
                state.membersByDevice[author]!.lastAck = MembershipState.Acknowledgement(
                    author: author, sequence: record.position, vector: vector)
            }
            return []
        case let .stale(target, lastSeen, reason):
            state.membersByDevice[target]!.staleSince = .init(by: reference, lastSeen: lastSeen, reason: reason)
            return []
        case let .checkpoint(stable, seen, snapshot):
            state.checkpoints.append(.init(stable: stable, seen: seen, snapshot: snapshot, by: reference))
            for (device, position) in stable.entries where state.membersByDevice[device] != nil {
                state.membersByDevice[device]!.finalThrough = max(state.membersByDevice[device]!.finalThrough, position)
            }
            return []
        case let .scopeKey(readers, epoch):
            let recipients = epoch.recipientKeys
            let reused = state.epochs.contains { $0.keyID == epoch.keyID } || state.scopeEpochs.contains { $0.keyID == epoch.keyID }
            let tainted = reused || recipients.contains { !state.isInScope($0, readers: readers, at: record.stamp) }
            state.scopeEpochs.append(
                .init(
                    scope: ScopeID(readers: readers), readers: readers, keyID: epoch.keyID, startedBy: reference, recipients: recipients,
                    isTainted: tainted))
            return []
        }
    }

    private mutating func startEpoch(_ epoch: EpochField, _ record: MembershipOpRecord, kind: MembershipOp.Kind) {
        let recipients = epoch.recipientKeys
        let reused = state.epochs.contains { $0.keyID == epoch.keyID }
        let tainted = reused || recipients.contains { !isSafeRecipient($0, at: record.stamp) }
        state.epochs.append(.init(keyID: epoch.keyID, startedBy: record.reference, kind: kind, recipients: recipients, isTainted: tainted))
    }

    /// A recipient that may hold an epoch key sealed at `stamp`: a member not removed, or
    /// an invite neither revoked nor expired. Anyone else (a removed device, a revoked or
    /// expired invite, a key the state does not know) taints the epoch.
    private func isSafeRecipient(_ key: PublicKey, at stamp: UInt64) -> Bool {
        if let member = state.membersByDevice[key] { return member.cut == nil }
        if let invite = state.invitesByID[key] { return !invite.isRevoked && invite.isInTime(stamp) }
        return false
    }
}
