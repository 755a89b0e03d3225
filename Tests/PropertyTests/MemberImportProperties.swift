import ConcordCore
import ConcordCrypto
import ConcordTesting
import Testing

@testable import ConcordProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Format-3 import (`Specs/membership.md` §6, §10): random spaces where admins invite,
/// remove, change roles and rotate keys while members write offline and sync partially;
/// readers and removed devices also forge bundles below the public API, as a tampered
/// client would. Then every device receives every bundle ever made, in its own random
/// order with duplicates, until nothing more applies. Every device must end with the same
/// membership state, and every device still a member with the same records and version
/// vector; no operation of a bundle past its author's cut-off is visible anywhere.
@Suite struct MemberImportProperties {
    @Test func everyOrderOfEveryBundleGivesOneState() throws {
        var exercised = Counts()
        try PropertyRunner.check("format-3 import: membership and records agree in every order", cases: 1000) { rng in
            var world = World(rng: &rng)
            try world.run(steps: Int.random(in: 12...28, using: &rng), rng: &rng)
            try world.deliverEverything(rng: &rng)
            // Admins repair keys members missed (a join concurrent with a rotation), as sync does.
            for _ in 0..<3 where try world.grantMissingKeys() {
                try world.deliverEverything(rng: &rng)
            }
            try world.check(&exercised)
        }
        print("format-3 import exercised: \(exercised)")
        // The property is only as good as the situations it reaches (not checked for one seed).
        #expect(
            getenv("CONCORD_SEED") != nil
                || exercised.removals > 200 && exercised.rollbacks >= 5 && exercised.forged > 100 && exercised.refusedLate > 100)
    }
}

/// How often the interesting situations occurred, over all cases.
struct Counts: CustomStringConvertible {
    var removals = 0
    var rollbacks = 0
    var forged = 0
    var refusedLate = 0
    var unreadable = 0
    var description: String {
        "\(removals) removals, \(rollbacks) rolled-back bundles, \(forged) forged bundles, \(refusedLate) bundles refused past a cut-off, \(unreadable) bundles a member could not read (no admin held their key)"
    }
}

private struct World {
    let time = ManualClock(milliseconds: 1_700_000_000_000)
    var nodes: [MemberNode] = []
    var forged: [ChangeBundle] = []
    var removals = 0
    var rollbacks = 0
    var recordCounter: UInt64 = 0

    init(rng: inout SeededGenerator) {
        let encrypted = Bool.random(using: &rng)
        let (admin, genesis) = try! Membership.createMemberSpace(
            device: Self.identity(&rng), name: "admin", encrypted: encrypted,
            stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        var node = MemberNode(admin, time: time)
        node.receive(genesis)
        nodes = [node]
    }

    static func identity(_ rng: inout SeededGenerator) -> Identity {
        try! Identity(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    mutating func stamp(_ i: Int) -> HLCTimestamp { try! nodes[i].replica.tick() }

    mutating func run(steps: Int, rng: inout SeededGenerator) throws {
        for _ in 0..<steps {
            time.advance(by: UInt64.random(in: 1...50, using: &rng))
            let i = Int.random(in: 0..<nodes.count, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<14 where nodes.count < 5: try invite(by: i, rng: &rng)
            case 0..<40: try write(by: i, rng: &rng)
            case 40..<70: sync(i, Int.random(in: 0..<nodes.count, using: &rng), rng: &rng)
            case 70..<80: try remove(by: i, rng: &rng)
            case 80..<90: try setRole(by: i, rng: &rng)
            case 90..<95 where nodes[i].membership.isEncrypted: try rotate(by: i)
            default: sync(i, Int.random(in: 0..<nodes.count, using: &rng), rng: &rng)
            }
        }
    }

    func isAdmin(_ i: Int) -> Bool {
        let node = nodes[i]
        return node.state.standing(of: node.key, at: (node.log.head(of: node.key)?.sequence ?? 0) + 1) == .member(.admin)
    }

    mutating func invite(by i: Int, rng: inout SeededGenerator) throws {
        guard isAdmin(i) else { return }
        let role = [MemberRole.admin, .writer, .writer, .reader].randomElement(using: &rng)!
        let stamp = stamp(i)
        let (op, token) = try nodes[i].membership.invite(
            role: RoleAssignment(role), expires: time.nowMilliseconds() + 3_600_000, stamp: stamp, state: nodes[i].state, log: nodes[i].log)
        try nodes[i].control(op, stamp: stamp)
        time.advance(by: 1)
        let (membership, join) = try Membership.joinMember(
            token, device: Self.identity(&rng), name: "device \(nodes.count)",
            stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        var node = MemberNode(membership, time: time)
        node.receive(join)
        for bundle in nodes[i].everything { node.receive(bundle) }
        nodes.append(node)
    }

    mutating func write(by i: Int, rng: inout SeededGenerator) throws {
        recordCounter += 1
        let record = RecordID(high: 7, low: UInt64.random(in: 1...6, using: &rng))
        // The write reaches the replica only if it is sealed (or forged): a refused local
        // write must not stay in this device's state alone.
        var scratch = nodes[i].replica
        let op = try scratch.set("v", to: .int(Int64(recordCounter)), record: record, in: "items")
        let state = nodes[i].state
        do {
            try nodes[i].membership.sealMember([op], appendingTo: &nodes[i].log, state: state)
            nodes[i].replica = scratch
        } catch let error as ConcordError where error.code == .notAllowed || error.code == .notARecipient {
            guard Bool.random(using: &rng) else { return }
            // A tampered client writes anyway, below the public checks.
            let node = nodes[i]
            let current = state.currentEpoch.flatMap {
                node.membership.epochKey($0.keyID, records: node.log.membershipRecords.values, state: state)
            }
            guard !node.membership.isEncrypted || current != nil else { return }
            let bundle = try ChangeBundle.sealMember(
                [op], author: node.membership.device, spaceID: node.membership.spaceID, previous: node.log.latestBundle(of: node.key),
                context: node.log.versionVector, epoch: current)
            // The tampered client's own replica is not what is checked: the forged bundle only
            // enters its log, as it would reach everyone else.
            try nodes[i].log.appendSealed(bundle)
            forged.append(bundle)
        }
    }

    mutating func sync(_ i: Int, _ j: Int, rng: inout SeededGenerator) {
        guard i != j else { return }
        var bundles = nodes[j].everything.filter { _ in Int.random(in: 0..<10, using: &rng) < 8 }
        bundles.shuffle(using: &rng)
        for bundle in bundles {
            let before = nodes[i].log.bundles.count
            nodes[i].receive(bundle)
            if nodes[i].log.bundles.count < before { rollbacks += before - nodes[i].log.bundles.count }
        }
    }

    mutating func remove(by i: Int, rng: inout SeededGenerator) throws {
        guard isAdmin(i) else { return }
        let candidates = nodes[i].state.members.filter { $0.cut == nil && $0.device != nodes[i].key }.map(\.device)
        guard let target = candidates.randomElement(using: &rng) else { return }
        let stamp = stamp(i)
        let before = nodes[i].log.bundles.count
        try nodes[i].control(
            try nodes[i].membership.removal(of: target, state: nodes[i].state, log: nodes[i].log, stamp: stamp), stamp: stamp)
        removals += 1
        rollbacks += max(0, before + 1 - nodes[i].log.bundles.count)
    }

    mutating func setRole(by i: Int, rng: inout SeededGenerator) throws {
        guard isAdmin(i) else { return }
        let candidates = nodes[i].state.members.filter { $0.cut == nil && $0.device != nodes[i].key }.map(\.device)
        guard let target = candidates.randomElement(using: &rng) else { return }
        let role = [MemberRole.admin, .writer, .reader].randomElement(using: &rng)!
        let boundary = max(nodes[i].log.head(of: target)?.sequence ?? 1, 1)
        try nodes[i].control(.setRole(target: target, role: RoleAssignment(role), boundary: boundary), stamp: stamp(i))
    }

    mutating func rotate(by i: Int) throws {
        guard isAdmin(i) else { return }
        let stamp = stamp(i)
        try nodes[i].control(try nodes[i].membership.rotation(state: nodes[i].state, log: nodes[i].log, stamp: stamp), stamp: stamp)
    }

    /// Every admin issues the grants it sees missing. Returns whether any was issued.
    mutating func grantMissingKeys() throws -> Bool {
        var issued = false
        for i in nodes.indices where isAdmin(i) {
            for op in try nodes[i].membership.pendingGrants(state: nodes[i].state, log: nodes[i].log) {
                try nodes[i].control(op, stamp: stamp(i))
                issued = true
            }
        }
        return issued
    }

    /// Every bundle ever made, to every node, in random orders with duplicates, until a
    /// whole pass applies nothing.
    mutating func deliverEverything(rng: inout SeededGenerator) throws {
        var all: [BundleID: ChangeBundle] = [:]
        for node in nodes { for bundle in node.everything { all[bundle.id] = bundle } }
        for bundle in forged { all[bundle.id] = bundle }
        // Sorted by place, not by id (ids depend on random nonces), so a seed replays exactly.
        let bundles = all.values.sorted {
            ($0.author, $0.sequence, $0.isControl ? 1 : 0) < ($1.author, $1.sequence, $1.isControl ? 1 : 0)
        }
        for i in nodes.indices {
            for _ in 0..<8 {
                var order = bundles + bundles.filter { _ in Bool.random(using: &rng) }
                order.shuffle(using: &rng)
                var progressed = false
                for bundle in order {
                    if case .applied = nodes[i].receive(bundle) { progressed = true }
                }
                if !progressed { break }
            }
        }
    }

    func check(_ counts: inout Counts) throws {
        let reference = nodes[0].state
        for node in nodes {
            let state = node.state
            guard state == reference else {
                var probe = node
                let mine = Set(node.log.membershipRecords.keys), theirs = Set(nodes[0].log.membershipRecords.keys)
                let lacking = nodes[0].everything.filter { theirs.subtracting(mine).contains($0.id) }
                let extra = node.everything.filter { mine.subtracting(theirs).contains($0.id) }
                var outcomes = lacking.map { "\($0): \(probe.receive($0))" }
                for held in node.log.heldBundles {
                    let head = node.log.head(of: held.author)?.sequence ?? 0
                    let theirs = nodes[0].log.bundle(of: held.author, sequence: head + 1)
                    outcomes.append(
                        "head \(head) of \(held.author.hex.prefix(8)); admin's next \(String(describing: theirs)) -> \(theirs.map { probe.receive($0) }.map(String.init(describing:)) ?? "-"); admission there \(reference.admission(author: held.author, sequence: head + 1, isControl: theirs?.isControl ?? false))"
                    )
                }
                var admin = nodes[0]
                let extraOutcomes = extra.map {
                    "\($0.sequence): \(admin.receive($0)) \(reference.admission(author: $0.author, sequence: $0.sequence, isControl: true)) head \(admin.log.head(of: $0.author)?.sequence ?? 0)"
                }
                throw Mismatch(
                    "membership of \(node.key.hex.prefix(8)) and the admin: it lacks \(outcomes), has more \(extraOutcomes); held \(node.log.heldBundles.map(\.description)); member \(String(describing: reference.member(node.key)))"
                )
            }
        }
        let active = nodes.filter { node in
            guard let member = reference.member(node.key) else { return false }
            return member.cut == nil && member.retired == nil
        }
        guard let first = active.first else { return }
        for node in active.dropFirst() {
            guard node.log.versionVector == first.log.versionVector else {
                var probe = node.log.versionVector[first.key] < first.log.versionVector[first.key] ? node : first
                let other = probe.key == node.key ? first : node
                let missing = other.log.bundles.filter { !probe.log.contains($0.id) }
                let outcomes = missing.map { "\($0): \(probe.receive($0))" }
                throw Mismatch(
                    "version vectors \(node.log.versionVector) vs \(first.log.versionVector); importing what one lacks: \(outcomes)")
            }
        }
        // Records agree between members that can read the same bundles. A member may lack an
        // epoch key no admin holds any more (`Specs/membership.md` §7: it waits for a grant
        // that cannot come); those bundles stay unread there, and are counted.
        func readable(_ n: MemberNode) -> Set<BundleID> {
            let st = n.state
            let records = n.log.membershipRecords.values
            return Set(
                n.log.bundles.filter { b in
                    !b.isControl && (b.keyID.map { n.membership.epochKey($0, records: records, state: st) != nil } ?? true)
                }.map(\.id))
        }
        let views = active.map(readable)
        for (index, node) in active.enumerated() {
            counts.unreadable += views.reduce(into: Set<BundleID>()) { $0.formUnion($1) }.subtracting(views[index]).count
            for (otherIndex, other) in active.enumerated() where otherIndex > index && views[otherIndex] == views[index] {
                guard node.replica.state == other.replica.state else {
                    throw Mismatch("records of \(node.key.hex.prefix(8)) and \(other.key.hex.prefix(8)), which read the same bundles")
                }
            }
        }
        // Nothing past a cut-off is visible: every op in the state comes from an admitted bundle.
        var refusedLate = 0
        for node in nodes {
            for bundle in node.log.bundles where !bundle.isControl && bundle.author != node.key {
                if case .refused(.removed) = reference.admission(author: bundle.author, sequence: bundle.sequence, isControl: false) {
                    throw Mismatch(
                        "bundle \(bundle.sequence) of \(bundle.author.hex.prefix(8)) is past its cut-off but in a chain of \(node.key.hex.prefix(8))"
                    )
                }
            }
        }
        for node in nodes {
            for bundle in node.log.bundles where bundle.author == node.key && !bundle.isControl {
                if case .refused(.removed) = reference.admission(author: bundle.author, sequence: bundle.sequence, isControl: false) {
                    refusedLate += 1
                }
            }
        }
        counts.removals += removals
        counts.rollbacks += rollbacks
        counts.forged += forged.count
        counts.refusedLate += refusedLate
    }
}

struct Mismatch: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "devices disagree: \(what)" }
}
