import ConcordCore
import ConcordCrypto
import ConcordProtocol
import ConcordTesting
import Testing

/// Acknowledgements, stale marks, checkpoints and the stable cut (`Specs/snapshots.md` §2,
/// §3 and §8, `Specs/crdt-semantics.md` §11.1), over seeded random histories (seeds
/// printed; `CONCORD_SEED=N` reruns one):
///
/// - the evaluated state (checkpoints, finality, stale marks, acks) and the stable cut do
///   not depend on delivery order or duplicates, and the state follows the rules of §2
///   (an oracle written here);
/// - the stable cut of a replica never moves back as bundles (acknowledgements) arrive;
/// - `finalityNeverClampsAnHonestCut`: an admin that removes a writer at the head of it
///   it holds is never clamped by a checkpoint of an honest admin that counted it.
@Suite struct StabilityProperties {
    @Test func stateAndStableCutAreOrderFreeAndFollowTheRules() throws {
        var histories = 0, checkpoints = 0, stale = 0, unstale = 0, finality = 0, voided = 0
        try PropertyRunner.check("stability: any order, duplicates, rules of snapshots.md §2", cases: 1000, baseSeed: 0x5354_4100) { rng in
            let history = MembershipHistory.generate(using: &rng, stability: true)
            let reference = history.evaluate(history.ops)
            // Acknowledgements of random bundles of every device, as a replica would hold them.
            var acks: [MembershipState.Acknowledgement] = []
            for device in history.devices where device.next > 1 {
                for _ in 0..<Int.random(in: 0...3, using: &rng) {
                    let k = UInt64.random(in: 1..<device.next, using: &rng)
                    let context = VersionVector(device.seen.mapValues { UInt64.random(in: 0...$0, using: &rng) })
                    acks.append(.init(author: device.key.publicKey, sequence: k, context: context))
                }
            }
            let held = VersionVector(history.devices.reduce(into: [PublicKey: UInt64]()) { $0[$1.key.publicKey] = $1.next - 1 })
            var tracker = StabilityTracker()
            for ack in acks { tracker.record(ack) }
            let cut = tracker.stableCut(membership: reference, held: held)
            for _ in 0..<3 {
                var input = history.ops.shuffled(using: &rng)
                for op in history.ops where rng.chance(0.2) { input.insert(op, at: Int.random(in: 0...input.count, using: &rng)) }
                let state = history.evaluate(input)
                guard state == reference else {
                    throw PropertyViolation("a permutation with duplicates of \(history.ops.count) ops evaluated differently")
                }
                var again = StabilityTracker()
                var fed = acks.shuffled(using: &rng)
                for ack in acks where rng.chance(0.3) { fed.append(ack) }
                for ack in fed { again.record(ack) }
                guard again == tracker, again.stableCut(membership: state, held: held) == cut else {
                    throw PropertyViolation("acknowledgements recorded in another order (with repeats) give another stable cut")
                }
            }
            try Self.checkRules(reference, ops: history.ops)
            histories += 1
            if !reference.checkpoints.isEmpty { checkpoints += 1 }
            if reference.members.contains(where: { $0.staleSince != nil }) { stale += 1 }
            if Self.clearedStale(reference, ops: history.ops) { unstale += 1 }
            if reference.members.contains(where: { $0.finalThrough > 0 && !$0.removals.isEmpty }) { finality += 1 }
            if reference.voidOps.contains(where: { [MembershipOp.Kind.ack, .stale, .checkpoint].contains($0.op.kind) }) { voided += 1 }
        }
        print(
            "stability histories: \(histories); with a checkpoint \(checkpoints), a stale member \(stale), a stale mark cleared by an ack \(unstale), a removed member with bundles final \(finality), a void ack/stale/checkpoint \(voided)"
        )
        if histories >= 500 {
            #expect(checkpoints * 5 >= histories, "fewer than 20% of the histories have a checkpoint")
            #expect(stale * 50 >= histories, "fewer than 2% of the histories end with a stale member (acks clear most marks)")
            #expect(unstale * 50 >= histories, "fewer than 2% of the histories clear a stale mark")
            #expect(finality * 50 >= histories, "fewer than 2% of the histories have a removed member with final bundles")
            #expect(voided * 10 >= histories, "fewer than 10% of the histories have a void stability op")
        }
    }

    /// Processing order of `Specs/membership.md` §5.1.
    static func precedes(_ a: MembershipOpRecord, _ b: MembershipOpRecord) -> Bool {
        (a.stamp, a.author, a.position, a.bundleID) < (b.stamp, b.author, b.position, b.bundleID)
    }

    /// Whether some member's applied stale op was followed by an applied ack of its own.
    static func clearedStale(_ state: MembershipState, ops: [MembershipOpRecord]) -> Bool {
        let void = Set(state.voidOps)
        let applied = ops.filter { !void.contains($0) }
        return applied.contains { s in
            guard case .stale(let target, _, _) = s.op else { return false }
            return applied.contains { a in
                if case .ack = a.op, a.author == target, precedes(s, a) { true } else { false }
            }
        }
    }

    /// The rules of `Specs/snapshots.md` §2, checked against the evaluated state.
    static func checkRules(_ state: MembershipState, ops: [MembershipOpRecord]) throws {
        let void = Set(state.voidOps), pending = Set(state.pendingOps)
        let applied = ops.filter { !void.contains($0) && !pending.contains($0) }
        var expectedFinal: [PublicKey: UInt64] = [:]
        for op in applied {
            switch op.op {
            case .ack(let held):
                guard op.position >= 2, held[op.author] == op.position - 1, case .member = state.standing(of: op.author, at: op.position)
                else {
                    throw PropertyViolation("an applied ack breaks its rule: \(op)")
                }
            case .stale(let target, _, _):
                guard op.position >= 2, state.standing(of: op.author, at: op.position) == .member(.admin), state.member(target) != nil
                else {
                    throw PropertyViolation("an applied stale op breaks its rule: \(op)")
                }
            case let .checkpoint(stable, seen, _):
                guard op.position >= 2, state.standing(of: op.author, at: op.position) == .member(.admin), seen.includes(stable),
                    seen[op.author] == op.position - 1
                else { throw PropertyViolation("an applied checkpoint breaks its rule: \(op)") }
                for (device, position) in stable.entries where state.member(device) != nil {
                    expectedFinal[device] = max(expectedFinal[device] ?? 0, position)
                }
            default: break
            }
        }
        guard state.checkpoints.map(\.by.bundleID) == applied.filter({ $0.op.kind == .checkpoint }).sorted(by: precedes).map(\.bundleID)
        else {
            throw PropertyViolation("the checkpoints are not the applied checkpoint ops in order")
        }
        for member in state.members {
            let final = expectedFinal[member.device] ?? 0
            guard member.finalThrough == final else {
                throw PropertyViolation(
                    "\(member.device.hex.prefix(8)) is final through \(member.finalThrough), the checkpoints say \(final)")
            }
            if let cut = member.cut, let lowest = member.removals.map(\.cutoff).min(), cut.cutoff != max(lowest, final) {
                throw PropertyViolation("effective cut-off \(cut.cutoff) is not max(\(lowest), \(final))")
            }
            // Stale iff an applied stale op of it has no applied ack of its own after it.
            let marks = applied.filter { if case .stale(member.device, _, _) = $0.op { true } else { false } }
            let lastMark = marks.max { precedes($0, $1) }
            let isStale =
                lastMark.map { m in !applied.contains { $0.author == member.device && $0.op.kind == .ack && precedes(m, $0) } } ?? false
            guard (member.staleSince != nil) == isStale else {
                throw PropertyViolation("\(member.device.hex.prefix(8)) stale \(member.staleSince != nil), the ops say \(isStale)")
            }
        }
    }

    @Test func stableCutIsMonotoneAsAcknowledgementsArrive() throws {
        var histories = 0, moves = 0
        try PropertyRunner.check("stability: the stable cut never moves back", cases: 1000, baseSeed: 0x5354_4200) { rng in
            var sim = StabilitySim(using: &rng, removals: false)
            var last = sim.stableCut(of: 0)
            for _ in 0..<Int.random(in: 20...60, using: &rng) {
                sim.step(&rng)
                let cut = sim.stableCut(of: 0)
                guard cut.includes(last) else { throw PropertyViolation("the stable cut moved back from \(last) to \(cut)") }
                guard sim.held[0].includes(cut) else { throw PropertyViolation("the stable cut \(cut) is above what is held") }
                if cut != last { moves += 1 }
                last = cut
            }
            histories += 1
        }
        print("stable cut histories: \(histories); the observer's cut moved \(moves) times")
        if histories >= 500 { #expect(moves * 2 >= histories, "the stable cut moved less than once in two histories") }
    }

    @Test func finalityNeverClampsAnHonestCut() throws {
        var histories = 0, removals = 0, covered = 0
        try PropertyRunner.check("stability: finality never clamps an honest cut", cases: 1000, baseSeed: 0x5354_4300) { rng in
            var sim = StabilitySim(using: &rng, removals: true)
            for _ in 0..<Int.random(in: 30...80, using: &rng) { sim.step(&rng) }
            let state = sim.evaluate(sim.allRecords)
            for member in state.members where !member.removals.isEmpty {
                let lowest = member.removals.map(\.cutoff).min()!
                guard member.cut?.cutoff == lowest else {
                    throw PropertyViolation(
                        "\(member.device.hex.prefix(8)) removed at \(lowest) but final through \(member.finalThrough): finality clamped an honest cut"
                    )
                }
                removals += 1
                if member.finalThrough > 0 { covered += 1 }
            }
            histories += 1
        }
        print("finality histories: \(histories); honest removals \(removals), of which under a checkpoint of the removed device \(covered)")
        if histories >= 500 {
            #expect(removals * 2 >= histories, "fewer than one honest removal in two histories")
            #expect(covered * 4 >= histories, "fewer than one removal under a checkpoint in four histories")
        }
    }
}

/// A space of two admins and two to four writers, all joined and fully synced, each having
/// acknowledged everything; then devices write data bundles (each acknowledging what its
/// device holds), seal `ack` ops, sync pairwise (dropping bundles past the cut-offs they
/// know), admins checkpoint their stable cut, and (with `removals`) remove writers at the
/// head they hold, as the CLI does.
struct StabilitySim {
    struct Bundle {
        /// What the bundle acknowledges: a data bundle's context or an ack's held vector
        /// (other control bundles: nothing but the author's own chain).
        let context: VersionVector
        let record: MembershipOpRecord?
    }

    let spaceKey: Identity
    let removals: Bool
    var keys: [Identity] = []
    var chains: [PublicKey: [Bundle]] = [:]
    var held: [VersionVector] = []
    var clock: UInt64 = 1_800_000_000_000
    var spaceID: SpaceID { SpaceID(publicKey: spaceKey.publicKey) }
    var allRecords: [MembershipOpRecord] { chains.values.flatMap { $0.compactMap(\.record) } }

    init(using rng: inout SeededGenerator, removals: Bool) {
        spaceKey = MembershipHistory.key(&rng)
        self.removals = removals
        let count = Int.random(in: 4...6, using: &rng)
        keys = (0..<count).map { _ in MembershipHistory.key(&rng) }
        held = Array(repeating: VersionVector(), count: count)
        let owner = keys[0].publicKey
        seal(
            0,
            MembershipStatement.genesis(
                space: spaceKey, author: owner, name: "owner", stamp: HLCTimestamp(milliseconds: clock + 1, counter: 0).rawValue, epoch: nil
            ), &rng)
        let adminInvite = MembershipHistory.key(&rng), writerInvite = MembershipHistory.key(&rng)
        seal(0, .invite(id: adminInvite.publicKey, role: .admin, expires: .max, maxUses: 1), &rng)
        seal(0, .invite(id: writerInvite.publicKey, role: .writer, expires: .max, maxUses: 0), &rng)
        for d in 1..<count {
            held[d] = held[0]
            seal(
                d,
                MembershipStatement.join(
                    invite: d == 1 ? adminInvite : writerInvite, spaceID: spaceID, author: keys[d].publicKey, name: "device \(d)"), &rng)
        }
        for d in 1..<count { sync(0, from: d) }
        for d in 1..<count { sync(d, from: 0) }
        for d in 0..<count { seal(d, .ack(held: held[d]), &rng) }
        for d in 1..<count { sync(0, from: d) }
        for d in 1..<count { sync(d, from: 0) }
    }

    func evaluate(_ records: [MembershipOpRecord]) -> MembershipState {
        MembershipState.evaluate(ops: records, spaceID: spaceID, encrypted: false)
    }

    /// Device `d`'s membership state: the control bundles it holds.
    func view(_ d: Int) -> MembershipState {
        evaluate(held[d].entries.flatMap { author, head in chains[author]!.prefix(Int(head)).compactMap(\.record) })
    }

    /// The stable cut of device `d` from every bundle it holds.
    func stableCut(of d: Int) -> VersionVector {
        var tracker = StabilityTracker()
        for (author, head) in held[d].entries {
            for (i, bundle) in chains[author]!.prefix(Int(head)).enumerated() {
                tracker.record(.init(author: author, sequence: UInt64(i + 1), context: bundle.context))
            }
        }
        return tracker.stableCut(membership: view(d), held: held[d])
    }

    /// Device `d` seals its next bundle: a data bundle (`op` nil) or a control bundle.
    mutating func seal(_ d: Int, _ op: MembershipOp?, _ rng: inout SeededGenerator) {
        let me = keys[d].publicKey
        let k = held[d][me] + 1
        clock += 1
        var context = VersionVector()
        switch op {
        case nil: context = held[d]
        case .ack(let vector)?: context = vector
        default: break
        }
        let record = op.map {
            MembershipOpRecord(
                op: $0, author: me, position: k, stamp: HLCTimestamp(milliseconds: clock, counter: 0).rawValue,
                bundleID: BundleID(digest: try! Digest32(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })))
        }
        chains[me, default: []].append(Bundle(context: context, record: record))
        held[d][me] = k
    }

    /// `a` takes what `b` holds, then drops every chain past a cut-off it knows.
    mutating func sync(_ a: Int, from b: Int) {
        for (author, head) in held[b].entries where head > held[a][author] { held[a][author] = head }
        let state = view(a)
        for member in state.members {
            let limit = [member.cut?.cutoff, member.retired].compactMap { $0 }.min()
            if let limit, held[a][member.device] > limit { held[a][member.device] = limit }
        }
    }

    mutating func step(_ rng: inout SeededGenerator) {
        let d = Int.random(in: 0..<keys.count, using: &rng)
        let me = keys[d].publicKey
        let state = view(d)
        guard case .member(let role) = state.standing(of: me, at: held[d][me] + 1) else { return }
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<40:
            seal(d, nil, &rng)
        case 40..<48:
            seal(d, .ack(held: held[d]), &rng)
        case 48..<80:
            sync(d, from: Int.random(in: 0..<keys.count, using: &rng))
        case 80..<92 where role == .admin:
            seal(d, .checkpoint(stable: stableCut(of: d), seen: held[d], snapshot: nil), &rng)
        case 92..<100 where role == .admin && removals:
            let writers = state.members.filter { $0.role == .writer && $0.cut == nil }
            guard let target = writers.randomElement(using: &rng) else { return }
            let cutoff = max(held[d][target.device], 1)
            seal(d, .remove(target: target.device, cutoff: cutoff, keep: [], epoch: nil), &rng)
        default:
            sync(d, from: Int.random(in: 0..<keys.count, using: &rng))
        }
    }
}
