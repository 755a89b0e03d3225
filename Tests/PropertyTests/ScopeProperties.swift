import Concord
import ConcordCore
import ConcordCrypto
import ConcordTesting
import Testing

@testable import ConcordProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Read scopes (`Specs/permissions.md` §11, P6, with P2 for scopes): random classrooms in an
/// encrypted space where an admin sets a policy whose `notes` collection is readable by a
/// random read set, issues the scope keys it owes (§7.2), moves members into and out of
/// the scope, and members write `notes` (sealed in the scope section under the key they
/// hold) and the unscoped `results`, syncing at random. Then every bundle reaches every
/// device in random orders with duplicates.
///
/// - P6: a device never in the scope holds no key of it, and no marker value written to
///   `notes` appears in its replica's bytes or in any plaintext it can open.
/// - P2: every device agrees on `results`; every device holding every key of the scope
///   agrees with the admin on `notes`, whose values all come from the markers written.
@Suite struct ScopeProperties {
    @Test func outsidersNeverReadScopedOps() throws {
        var tally = ScopeTally()
        try PropertyRunner.check(
            "read scopes: outsiders hold no key and no plaintext; holders converge", cases: 1000, baseSeed: 0x5343_4F50
        ) {
            rng in
            var world = try ScopeWorld(rng: &rng)
            try world.run(steps: Int.random(in: 4...10, using: &rng), rng: &rng)
            try world.check(rng: &rng, tally: &tally)
        }
        print("read scopes exercised: \(tally)")
        #expect(
            getenv("CONCORD_SEED") != nil
                || (tally.withVisibleNotes * 20 >= tally.histories && tally.withUnread * 20 >= tally.histories
                    && tally.scopeChanges * 20 >= tally.histories),
            "each situation must occur in at least 5% of histories: \(tally)")
    }
}

private struct ScopeMismatch: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct ScopeTally: CustomStringConvertible {
    var histories = 0
    var withMarkers = 0
    var markers = 0
    var withUnread = 0
    var scopeChanges = 0
    var withVisibleNotes = 0
    var description: String {
        "\(histories) histories, \(withVisibleNotes) with notes visible to the scope, \(withMarkers) with scoped writes (\(markers) markers), \(withUnread) with a device holding unread sections, \(scopeChanges) with role changes into or out of the scope"
    }
}

private struct ScopeWorld {
    let time = ManualClock(milliseconds: 1_700_000_000_000)
    var nodes: [MemberNode] = []
    /// The nodes that were ever in the scope (by role) during the history.
    var everInScope: Set<Int> = [0]
    var readers: [String] = []
    var markers: [String] = []
    var scopeChanges = 0
    var records: [RecordID] = []

    static let roles: [String: RoleAssignment] = [
        "teacher": try! RoleAssignment(named: "teacher", base: .writer),
        "learner": try! RoleAssignment(named: "learner", base: .writer),
        "reader": .reader,
    ]

    init(rng: inout SeededGenerator) throws {
        let (admin, genesis) = try Membership.createMemberSpace(
            device: Self.identity(&rng), name: "admin", encrypted: true,
            stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        var node = MemberNode(admin, time: time)
        node.receive(genesis)
        nodes = [node]
        for name in ["teacher", "learner", "reader"] {
            time.advance(by: 1)
            let stamp = try nodes[0].replica.tick()
            let (op, token) = try nodes[0].membership.invite(
                role: Self.roles[name]!, expires: time.nowMilliseconds() + 3_600_000, stamp: stamp, state: nodes[0].state, log: nodes[0].log
            )
            nodes[0].receive(try nodes[0].membership.sealControl(op, log: nodes[0].log, stamp: stamp))
            time.advance(by: 1)
            let (membership, join) = try Membership.joinMember(
                token, device: Self.identity(&rng), name: "device \(nodes.count)",
                stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
            var joined = MemberNode(membership, time: time)
            joined.receive(join)
            nodes.append(joined)
        }
        for _ in 0..<2 {
            for i in nodes.indices { for j in nodes.indices where i != j { for b in nodes[j].everything { nodes[i].receive(b) } } }
        }
        // The scope: teacher always (it writes notes), learner or reader sometimes.
        readers = ["teacher"] + ["learner", "reader"].filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }
        let notes = Policy.Entry(
            "notes", read: readers, grants: [.init("teacher", create: .any, update: .any, delete: .any, fields: .all)])
        let results = Policy.Entry(
            "results",
            grants: ["teacher", "learner"].map { .init($0, create: .any, update: .any, delete: .any, fields: .all) })
        let policy = try Policy(
            roles: [.init("teacher", base: .writer), .init("learner", base: .writer)], entries: [notes, results], encrypted: true)
        let stamp = try nodes[0].replica.tick()
        let op = try nodes[0].membership.setPolicy(policy, state: nodes[0].state, log: nodes[0].log, stamp: stamp)
        nodes[0].receive(try nodes[0].membership.sealControl(op, log: nodes[0].log, stamp: stamp))
        try adminDuties(policy)
        for i in nodes.indices { updateEverInScope(i) }
        records = (0..<4).map { RecordID(high: 0x5000, low: UInt64($0)) }
        self.policy = policy
    }

    var policy: Policy?

    static func identity(_ rng: inout SeededGenerator) -> Identity {
        try! Identity(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// The admin's scope-key and grant ops (§7.2), into its own chain.
    mutating func adminDuties(_ policy: Policy) throws {
        let stamp = try nodes[0].replica.tick()
        let context = MemberContext(log: nodes[0].log, state: nodes[0].state)
        for op in try nodes[0].membership.pendingScopeOps(context, policy: policy, stamp: stamp) {
            let s = try nodes[0].replica.tick()
            nodes[0].receive(try nodes[0].membership.sealControl(op, log: nodes[0].log, stamp: s))
        }
    }

    /// Marks `i` as in the scope if its role (in the admin's view) is listed.
    mutating func updateEverInScope(_ i: Int) {
        guard let role = nodes[0].state.member(nodes[i].key)?.role else { return }
        if role.base == .admin || readers.contains(role.description) { everInScope.insert(i) }
    }

    mutating func run(steps: Int, rng: inout SeededGenerator) throws {
        for _ in 0..<steps {
            time.advance(by: UInt64.random(in: 1...20, using: &rng))
            let i = Int.random(in: 0..<nodes.count, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45: try write(by: i, rng: &rng)
            case 45..<55: try changeRole(rng: &rng)
            default: sync(i, Int.random(in: 0..<nodes.count, using: &rng), rng: &rng)
            }
        }
    }

    /// The admin moves a learner or the reader into or out of the scope's roles, then does
    /// its duties (a rotation when someone left, grants when someone entered).
    mutating func changeRole(rng: inout SeededGenerator) throws {
        let target = Int.random(in: 1..<nodes.count, using: &rng)
        let role = Self.roles.keys.sorted().randomElement(using: &rng)!
        let boundary = max(nodes[0].log.head(of: nodes[target].key)?.sequence ?? 1, 1)
        let op = MembershipOp.setRole(target: nodes[target].key, role: Self.roles[role]!, boundary: boundary)
        let stamp = try nodes[0].replica.tick()
        nodes[0].receive(try nodes[0].membership.sealControl(op, log: nodes[0].log, stamp: stamp))
        updateEverInScope(target)
        try adminDuties(policy!)
        scopeChanges += 1
    }

    /// A writer's bundle: `results` ops in the general section, `notes` ops (unique marker
    /// values) in the scope section when it holds the scope's current key.
    mutating func write(by i: Int, rng: inout SeededGenerator) throws {
        let node = nodes[i]
        let state = node.state
        guard case .member(let role) = state.standing(of: node.key, at: (node.log.head(of: node.key)?.sequence ?? 0) + 1),
            role.base != .reader
        else { return }
        guard
            let epoch = state.currentEpoch.flatMap({
                node.membership.epochKey($0.keyID, records: node.log.membershipRecords.values, state: state)
            })
        else { return }
        // Honest writers: only admins and teachers (the roles granted `notes`) write there.
        let mayWriteNotes = role.base == .admin || role.name == "teacher"
        let scopeKey =
            mayWriteNotes
            ? node.membership.currentScopeKey(readers: readers, records: node.log.membershipRecords.values, state: state) : nil
        var general: [RecordOperation] = []
        var scoped: [RecordOperation] = []
        var written: [String] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let record = records.randomElement(using: &rng)!
            if scopeKey != nil && Bool.random(using: &rng) {
                let marker = "M\(UInt64.random(in: 0...UInt64.max, using: &rng))Z"
                scoped.append(try nodes[i].replica.set("text", to: .string(marker), record: record, in: "notes"))
                written.append(marker)
            } else {
                general.append(
                    try nodes[i].replica.set("score", to: .int(Int64.random(in: 0...100, using: &rng)), record: record, in: "results"))
            }
        }
        let bundle = try ChangeBundle.sealMember(
            general, scoped: scopeKey.map { [.init(key: $0, operations: scoped)] } ?? [], author: node.membership.device,
            spaceID: node.membership.spaceID, previous: node.log.latestBundle(of: node.key), context: node.log.versionVector, epoch: epoch)
        try nodes[i].log.appendSealed(bundle)
        markers += written
    }

    mutating func sync(_ i: Int, _ j: Int, rng: inout SeededGenerator) {
        guard i != j else { return }
        var bundles = nodes[j].everything.filter { _ in Int.random(in: 0..<10, using: &rng) < 8 }
        bundles.shuffle(using: &rng)
        for bundle in bundles { nodes[i].receive(bundle) }
    }

    mutating func check(rng: inout SeededGenerator, tally: inout ScopeTally) throws {
        var all: [BundleID: ChangeBundle] = [:]
        for node in nodes { for bundle in node.everything { all[bundle.id] = bundle } }
        let bundles = all.values.sorted { ($0.author, $0.sequence) < ($1.author, $1.sequence) }
        for i in nodes.indices {
            // One pass in a random order with duplicates: held bundles are released as
            // their gaps fill, so one pass delivers everything.
            var order = bundles + bundles.filter { _ in Bool.random(using: &rng) }
            order.shuffle(using: &rng)
            for bundle in order { nodes[i].receive(bundle) }
        }
        tally.histories += 1
        if !markers.isEmpty { tally.withMarkers += 1 }
        tally.markers += markers.count
        if scopeChanges > 0 { tally.scopeChanges += 1 }
        let state = nodes[0].state
        let scope = ScopeID(readers: readers)
        let epochs = state.scopeEpochs.filter { $0.scope == scope }
        let results = nodes[0].replica.state.records(in: "results")
        var holders: [Int] = []
        var sawUnread = false
        for (i, node) in nodes.enumerated() {
            let records = node.log.membershipRecords.values
            let held = epochs.filter { node.membership.scopeKey($0.keyID, records: records, state: node.state) != nil }
            // P6: never in the scope → no key of it, no marker anywhere in its replica.
            if !everInScope.contains(i) {
                guard held.isEmpty else { throw ScopeMismatch("device \(i) (never in the scope \(readers)) holds a scope key") }
                let bytes = node.replica.state.canonicalEncoding()
                for marker in markers where contains(bytes, Array(marker.utf8)) {
                    throw ScopeMismatch("device \(i) (never in the scope \(readers)) holds the plaintext of \(marker)")
                }
                guard node.replica.state.records(in: "notes").isEmpty else {
                    throw ScopeMismatch("device \(i) (never in the scope) has notes records")
                }
            }
            if held.count < epochs.count && !markers.isEmpty { sawUnread = true }
            // P2: everyone agrees on the unscoped collection.
            guard node.replica.state.records(in: "results") == results else {
                throw ScopeMismatch("device \(i) differs from the admin on results")
            }
            if held.count == epochs.count { holders.append(i) }
        }
        if sawUnread { tally.withUnread += 1 }
        // P2/P4 for the scope: every holder of every key agrees on notes and sees the last
        // marker of each record (it holds every section).
        let notes = nodes[0].replica.state.records(in: "notes")
        for i in holders where nodes[i].replica.state.records(in: "notes") != notes {
            throw ScopeMismatch("device \(i) (holding every key of the scope) differs from the admin on notes")
        }
        let visible = Set(
            notes.flatMap {
                $0.fields.compactMap { field -> String? in
                    if case .string(let text) = field.value { return text }
                    return nil
                }
            })
        if !visible.isEmpty { tally.withVisibleNotes += 1 }
        guard visible.allSatisfy(markers.contains) else {
            throw ScopeMismatch("the admin's notes \(visible) do not come from the markers written \(markers)")
        }
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}
