import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// `Specs/membership.md` §10: random spaces where devices with partial views (they sync
/// now and then) make concurrent admin changes, invites, joins, removals, revocations,
/// rotations, grants and successors, all really signed. The evaluation of the full op
/// set must not depend on the order or repetition of its input, and its result must be
/// one the rules accept: no applied op past its author's cut-off (but mutual removals),
/// every admin op by an admin there, invites within their expiry, uses and revocations,
/// no data admitted past a cut-off. Seeds are printed; `CONCORD_SEED=N` reruns one,
/// `CONCORD_SOAK=1` runs fifty times as many.
@Suite struct MembershipProperties {
    @Test func evaluationIsOrderAndDuplicateInsensitiveAndRespectsEveryRule() throws {
        // How many histories exercise each rule: a generator that stopped producing
        // removals or conflicts would make the property pass vacuously.
        var coverage: [String: Int] = [:]
        var histories = 0
        try PropertyRunner.check("membership: any order, duplicates, rules hold", cases: 1000, baseSeed: 0x4D45_4D00) { rng in
            let history = MembershipHistory.generate(using: &rng)
            let reference = history.evaluate(history.ops)
            for _ in 0..<4 {
                var input = history.ops.shuffled(using: &rng)
                for op in history.ops where rng.chance(0.2) { input.insert(op, at: Int.random(in: 0...input.count, using: &rng)) }
                guard history.evaluate(input) == reference else {
                    throw PropertyViolation("a permutation with duplicates of \(history.ops.count) ops evaluated differently")
                }
            }
            try checkRules(reference, ops: history.ops)
            histories += 1
            for (name, hit) in Self.features(reference, ops: history.ops) where hit { coverage[name, default: 0] += 1 }
        }
        print(
            "membership histories: \(histories); with "
                + coverage.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        if histories >= 500 {
            for name in [
                "removal", "mutual removal", "void op", "retroactive void", "revocation", "successor", "tainted epoch", "demotion",
            ] {
                #expect(coverage[name, default: 0] * 50 >= histories, "fewer than 2% of the histories have a \(name)")
            }
        }
    }

    /// Which rules a history exercised.
    static func features(_ state: MembershipState, ops: [MembershipOpRecord]) -> [String: Bool] {
        let void = Set(state.voidOps)
        let applied = ops.filter { !void.contains($0) }
        let mutual = applied.contains { op in
            if case .remove(let target, _, _, _) = op.op, target != op.author, state.standing(of: op.author, at: op.position) == .removed {
                true
            } else {
                false
            }
        }
        // An op void although its author was an admin or writer there in the final state:
        // it was voided by something other than its author's own standing, typically a restart.
        let retroactive = state.voidOps.contains { op in
            guard op.position >= 2, let member = state.member(op.author), member.cut.map({ op.position <= $0.cutoff }) ?? true else {
                return false
            }
            return member.assignments.first { $0.boundary < op.position } != nil && member.role == .admin
        }
        return [
            "removal": state.members.contains { $0.cut != nil }, "mutual removal": mutual, "void op": !state.voidOps.isEmpty,
            "retroactive void": retroactive, "revocation": state.invites.contains { $0.isRevoked },
            "successor": state.members.contains { $0.predecessor != nil }, "tainted epoch": state.epochs.contains { $0.isTainted },
            "demotion": state.members.contains { m in zip(m.assignments, m.assignments.dropFirst()).contains { $1.role.base < $0.role.base }
            },
            "pending join": !state.pendingOps.isEmpty,
            "expired join": ops.contains { op in
                guard case let .join(id, _, _) = op.op, let invite = state.invite(id) else { return false }
                return HLCTimestamp(rawValue: op.stamp).milliseconds > invite.expires
            },
        ]
    }

    /// Every op is void, pending or applied, and the applied ones are accepted by the
    /// final state at their own positions.
    func checkRules(_ state: MembershipState, ops: [MembershipOpRecord]) throws {
        let void = Set(state.voidOps), pending = Set(state.pendingOps)
        guard void.isDisjoint(with: pending) else { throw PropertyViolation("an op is both void and pending") }
        let applied = ops.filter { !void.contains($0) && !pending.contains($0) }
        for op in applied {
            let standing = state.standing(of: op.author, at: op.position)
            switch standing {
            case .removed:
                // Only a removal of itself, or a mutual removal: every cut of the author
                // below this position is by the target, and this op cuts the target below
                // each of those removals.
                guard case let .remove(target, cutoff, _, _) = op.op, let member = state.member(op.author) else {
                    throw PropertyViolation("applied \(op) is past its author's cut-off and is not a removal")
                }
                let cuts = member.removals.filter { $0.cutoff < op.position }
                let itself = target == op.author && cuts.allSatisfy { $0.by == op.reference }
                let mutual = !cuts.isEmpty && cuts.allSatisfy { $0.by.author == target && cutoff < $0.by.position }
                guard itself || mutual else {
                    throw PropertyViolation("applied \(op) is past its author's cut-off and is not a mutual removal")
                }
            case .retired:
                throw PropertyViolation("applied \(op) is past its author's retirement")
            case .member, .none:
                break
            }
            if op.op.needsAdmin {
                let assigned = state.member(op.author)?.assignments.last { $0.boundary < op.position && $0.by != op.reference }
                guard assigned?.role == .admin else { throw PropertyViolation("applied \(op) needs an admin; its author is \(standing)") }
            }
            switch op.op {
            case let .join(id, _, _):
                guard let invite = state.invite(id), HLCTimestamp(rawValue: op.stamp).milliseconds <= invite.expires,
                    invite.revocations.allSatisfy({ $0.seen.contains(op.author) })
                else { throw PropertyViolation("applied \(op) joins through an unknown, expired or revoked invite") }
            case let .successor(predecessor, _, _, _):
                guard let p = state.member(predecessor), p.successors.count <= 16, p.removals.allSatisfy({ $0.keep.contains(op.author) })
                else {
                    throw PropertyViolation("applied \(op) continues a device removed without keeping it")
                }
            default:
                break
            }
        }
        for invite in state.invites {
            let joins = applied.filter { if case .join(invite.id, _, _) = $0.op { true } else { false } }
            guard invite.uses == joins.count, invite.maxUses == 0 || invite.uses <= invite.maxUses else {
                throw PropertyViolation("invite \(invite.id) counts \(invite.uses) uses for \(joins.count) joins (max \(invite.maxUses))")
            }
        }
        for member in state.members {
            if let cut = member.cut {
                for k in cut.cutoff + 1...cut.cutoff + 3 {
                    guard case .refused(.removed) = state.admission(author: member.device, sequence: k, isControl: false) else {
                        throw PropertyViolation("data of \(member.device) at \(k) past its cut-off \(cut.cutoff) is admitted")
                    }
                }
            }
            guard member.successors.count <= MembershipState.maxSuccessors else { throw PropertyViolation("more than 16 successors") }
        }
    }
}

/// A random history: devices act on their own (partial) views of the ops.
struct MembershipHistory {
    struct Device {
        let key: Identity
        var next: UInt64 = 1
        var clock: UInt64
        /// Indices of the ops this device has seen, and the highest position it has seen
        /// of each chain (data bundles included).
        var view: Set<Int> = []
        var seen: [PublicKey: UInt64] = [:]
        var active = true
    }

    let spaceKey: Identity
    let encrypted: Bool
    var ops: [MembershipOpRecord] = []
    var devices: [Device] = []
    var inviteKeys: [(key: Identity, op: Int)] = []
    /// Whether admins also set and clear policies (`Specs/permissions.md` §3.2); off for
    /// the membership properties, whose histories stay as they were.
    var policies = false
    /// Whether devices also acknowledge and admins mark devices stale and checkpoint
    /// (`Specs/snapshots.md` §2 and §3); off for the other properties, whose histories
    /// stay as they were.
    var stability = false
    var spaceID: SpaceID { SpaceID(publicKey: spaceKey.publicKey) }

    func evaluate(_ input: [MembershipOpRecord]) -> MembershipState {
        MembershipState.evaluate(ops: input, spaceID: spaceID, encrypted: encrypted)
    }

    /// The roles invites and role changes give: the built-in ones and two policy roles
    /// (`Specs/permissions.md` §3.1), which membership treats as their bases.
    static let roles: [RoleAssignment] = [
        .admin, .writer, .reader, try! RoleAssignment(named: "learner", base: .writer), try! RoleAssignment(named: "guest", base: .reader),
    ]

    static func key(_ rng: inout SeededGenerator) -> Identity {
        try! Identity(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func generate(using rng: inout SeededGenerator, policies: Bool = false, stability: Bool = false) -> MembershipHistory {
        var h = MembershipHistory(spaceKey: key(&rng), encrypted: rng.chance(0.5))
        h.policies = policies
        h.stability = stability
        let start: UInt64 = 1_800_000_000_000
        h.devices.append(Device(key: key(&rng), clock: start))
        let genesisStamp = HLCTimestamp(milliseconds: start, counter: 0).rawValue
        let creator = h.devices[0].key
        let epoch = h.encrypted ? h.epoch([creator.publicKey], &rng) : nil
        h.record(
            0,
            MembershipStatement.genesis(space: h.spaceKey, author: creator.publicKey, name: "creator", stamp: genesisStamp, epoch: epoch),
            &rng, at: start)
        for _ in 0..<Int.random(in: 8...28, using: &rng) { h.step(&rng) }
        return h
    }

    /// Appends `op` by device `d` at its next position, stamped after everything it saw.
    mutating func record(_ d: Int, _ op: MembershipOp, _ rng: inout SeededGenerator, at ms: UInt64? = nil) {
        var device = devices[d]
        let seenMax = device.view.map { HLCTimestamp(rawValue: ops[$0].stamp).milliseconds }.max() ?? 0
        device.clock = ms ?? (max(device.clock, seenMax) + UInt64.random(in: 1...3, using: &rng))
        let stamp = HLCTimestamp(milliseconds: device.clock, counter: 0).rawValue
        var id = [UInt8](repeating: 0, count: 32)
        for i in id.indices { id[i] = UInt8.random(in: 0...255, using: &rng) }
        ops.append(
            MembershipOpRecord(
                op: op, author: device.key.publicKey, position: device.next, stamp: stamp,
                bundleID: BundleID(digest: try! Digest32(bytes: id))))
        device.seen[device.key.publicKey] = device.next
        device.next += 1
        device.view.insert(ops.count - 1)
        devices[d] = device
    }

    func epoch(_ recipients: [PublicKey], _ rng: inout SeededGenerator) -> EpochField {
        let keyID = try! EpochKeyID(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let boxes = Set(recipients).sorted().map { EpochField.Recipient(key: $0, sealed: [UInt8](repeating: 0xB0, count: 80)) }
        return try! EpochField(keyID: keyID, recipients: boxes)
    }

    /// Device `d`'s view of the state.
    func state(of d: Int) -> MembershipState { evaluate(devices[d].view.map { ops[$0] }) }

    mutating func sync(_ a: Int, from b: Int) {
        devices[a].view.formUnion(devices[b].view)
        devices[a].seen.merge(devices[b].seen) { max($0, $1) }
    }

    mutating func step(_ rng: inout SeededGenerator) {
        let active = devices.indices.filter { devices[$0].active }
        let d = active.randomElement(using: &rng)!
        if rng.chance(0.4), let other = devices.indices.randomElement(using: &rng) { sync(d, from: other) }
        let me = devices[d].key
        let view = state(of: d)
        let isAdmin = view.standing(of: me.publicKey, at: devices[d].next) == .member(.admin)
        let members = view.members.filter { $0.cut == nil }
        let roll = Int.random(in: 0..<100, using: &rng)
        if stability, devices[d].next >= 2, rng.chance(0.25) {
            // An ack of what it holds; now and then with a wrong own entry (void).
            var held = devices[d].seen
            if rng.chance(0.1) { held[me.publicKey] = devices[d].next }
            return record(d, .ack(held: VersionVector(held)), &rng)
        }
        // A device acting as admin without being one (or past its cut-off) now and then.
        if isAdmin, roll < 30, let rival = view.members.first(where: { $0.device != me.publicKey && $0.cut == nil && $0.role == .admin }),
            let r = devices.firstIndex(where: { $0.key.publicKey == rival.device && $0.active })
        {
            // Two admins remove each other, neither having seen the other's removal.
            removeEachOther(d, r, &rng)
        } else if (isAdmin || rng.chance(0.1)) && roll < 70 {
            adminStep(d, view: view, members: members, roll: roll, &rng)
        } else if roll < 80, !inviteKeys.isEmpty {
            join(through: inviteKeys.randomElement(using: &rng)!, &rng)
        } else if roll < 86, view.member(me.publicKey) != nil {
            let successor = Device(key: Self.key(&rng), clock: devices[d].clock, view: devices[d].view, seen: devices[d].seen)
            let cutoff = devices[d].next - 1
            devices.append(successor)
            let op = MembershipStatement.successor(
                predecessor: me, spaceID: spaceID, author: successor.key.publicKey, cutoff: cutoff, name: "next")
            record(devices.count - 1, op, &rng)
            if rng.chance(0.7) { devices[d].active = false }
        } else {
            devices[d].seen[me.publicKey] = devices[d].next  // a data bundle
            devices[d].next += 1
        }
    }

    mutating func adminStep(_ d: Int, view: MembershipState, members: [MembershipState.Member], roll: Int, _ rng: inout SeededGenerator) {
        let me = devices[d].key.publicKey
        let now = devices[d].clock
        // Mostly another member, often another admin (so that admins remove and demote
        // each other concurrently), now and then itself.
        let others = members.filter { $0.device != me }
        let admins = others.filter { $0.role == .admin }
        let target = rng.chance(0.05) ? members.first { $0.device == me } : (rng.chance(0.5) ? admins : others).randomElement(using: &rng)
        func recipients(excluding removed: PublicKey? = nil) -> [PublicKey] {
            let devices = members.map(\.device).filter { $0 != removed }
            let invites = view.invites.filter { !$0.isRevoked && $0.expires > now && ($0.maxUses == 0 || $0.uses < $0.maxUses) }.map(\.id)
            return devices + invites
        }
        if policies, rng.chance(0.35) { return setPolicy(d, &rng) }
        if stability, rng.chance(0.4) { return stabilityStep(d, target: target?.device, &rng) }
        switch roll % 7 {
        case 0, 1:
            let key = Self.key(&rng)
            let expires = now + UInt64.random(in: 0...40, using: &rng)
            let role = Self.roles.randomElement(using: &rng)!
            record(d, .invite(id: key.publicKey, role: role, expires: expires, maxUses: UInt64.random(in: 0...2, using: &rng)), &rng)
            inviteKeys.append((key, ops.count - 1))
        case 2:
            guard let target else { return }
            let boundary = max(1, devices[d].seen[target.device] ?? 1)
            record(d, .setRole(target: target.device, role: Self.roles.randomElement(using: &rng)!, boundary: boundary), &rng)
        case 3, 4:
            guard let target else { return }
            let cutoff = max(1, devices[d].seen[target.device] ?? 1)
            let keep = target.successors.filter { _ in rng.chance(0.5) }.sorted()
            let epoch =
                encrypted
                ? self.epoch(recipients(excluding: target.device).isEmpty ? [me] : recipients(excluding: target.device), &rng) : nil
            record(d, .remove(target: target.device, cutoff: cutoff, keep: keep, epoch: epoch), &rng)
        case 5:
            guard let invite = view.invites.randomElement(using: &rng) else { return }
            let seen = invite.joined.filter { _ in rng.chance(0.7) }.sorted()
            record(d, .revokeInvite(id: invite.id, seen: seen), &rng)
        default:
            guard encrypted else { return }
            if rng.chance(0.3), let current = view.currentEpoch, let extra = members.randomElement(using: &rng) {
                let box = EpochField.Recipient(key: extra.device, sealed: [UInt8](repeating: 0xC0, count: 80))
                record(d, .grant(keyID: current.keyID, recipients: [box]), &rng)
            } else {
                let all = recipients()
                record(d, .rotate(epoch(all.isEmpty ? [me] : all, &rng)), &rng)
            }
        }
    }

    /// A `set-policy` by device `d` with what it has seen (its own entry `k − 1`; now and
    /// then `k − 2`, which makes it void), clearing or setting an opaque body.
    mutating func setPolicy(_ d: Int, _ rng: inout SeededGenerator) {
        var seen = devices[d].seen
        let me = devices[d].key.publicKey
        if rng.chance(0.1) { seen[me] = devices[d].next >= 3 ? devices[d].next - 2 : nil }
        // Forget some authors now and then: an admin's statement, trusted as given.
        for author in seen.keys where rng.chance(0.1) { seen[author] = nil }
        let body = (0..<Int.random(in: 0...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let form: MembershipOp.PolicyForm =
            rng.chance(0.2)
            ? .clear
            : encrypted ? .sealed(keyID: try! EpochKeyID(bytes: [UInt8](repeating: 0xAB, count: 16)), blob: body) : .plaintext(body)
        record(d, .setPolicy(seen: VersionVector(seen), form: form), &rng)
    }

    /// A `stale` of `target` or a `checkpoint` by device `d`: `R_C` what it holds (now and
    /// then with a wrong own entry), `S_C` at most that (now and then above it: void).
    mutating func stabilityStep(_ d: Int, target: PublicKey?, _ rng: inout SeededGenerator) {
        let me = devices[d].key.publicKey
        if rng.chance(0.6), let target {
            let reason: MembershipOp.StaleReason = rng.chance(0.5) ? .admin : .policy
            return record(d, .stale(target: target, lastSeen: devices[d].seen[target] ?? 0, reason: reason), &rng)
        }
        var seen = devices[d].seen
        if rng.chance(0.05) { seen[me] = devices[d].next }
        var stable = seen.mapValues { UInt64.random(in: 0...$0, using: &rng) }
        if rng.chance(0.05), let author = stable.keys.randomElement(using: &rng) { stable[author]! += 1 }
        let snapshot = rng.chance(0.3) ? try! Digest32(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }) : nil
        record(d, .checkpoint(stable: VersionVector(stable), seen: VersionVector(seen), snapshot: snapshot), &rng)
    }

    mutating func removeEachOther(_ a: Int, _ b: Int, _ rng: inout SeededGenerator) {
        for (author, target) in [(a, b), (b, a)] {
            let me = devices[author].key.publicKey, other = devices[target].key.publicKey
            let cutoff = max(1, devices[author].seen[other] ?? 1)
            let view = state(of: author)
            let recipients = view.members.filter { $0.cut == nil && $0.device != other }.map(\.device)
            let epoch = encrypted ? self.epoch(recipients.isEmpty ? [me] : recipients, &rng) : nil
            record(author, .remove(target: other, cutoff: cutoff, keep: [], epoch: epoch), &rng)
        }
    }

    /// A new device joins through an invite, having seen what its issuer had seen then.
    mutating func join(through invite: (key: Identity, op: Int), _ rng: inout SeededGenerator) {
        guard let issuer = devices.firstIndex(where: { $0.key.publicKey == ops[invite.op].author }) else { return }
        var device = Device(key: Self.key(&rng), clock: devices[issuer].clock, view: devices[issuer].view, seen: devices[issuer].seen)
        device.view.insert(invite.op)
        // Sometimes it joins late (past a short expiry).
        device.clock += rng.chance(0.2) ? UInt64.random(in: 10...60, using: &rng) : 0
        devices.append(device)
        let op = MembershipStatement.join(invite: invite.key, spaceID: spaceID, author: device.key.publicKey, name: "joined")
        record(devices.count - 1, op, &rng)
    }
}
