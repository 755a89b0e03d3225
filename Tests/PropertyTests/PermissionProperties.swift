import Concord
import ConcordCore
import ConcordCrypto
import ConcordStore
import ConcordTesting
import Testing

@testable import ConcordProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Merge-time permissions (`Specs/permissions.md` §11, P1–P5 without read scopes): random
/// classrooms where two admins set, change and clear random policies (some concurrently),
/// change members' roles (to policy roles, built-in roles, and a role no policy defines),
/// while members write offline: allowed and forbidden ops alike, signed below any
/// write-time check as a tampered client would. Then every bundle reaches fresh replicas
/// in random orders with duplicates, and reaches every member too.
///
/// - P1: every replica ends with the same membership state and policy list; the fresh
///   replicas with the same denials, and every member agrees with them on the bundles of
///   other authors.
/// - P2/P3: every fresh replica's records equal the merge of exactly the ops an oracle
///   written here from §4–§6 (not calling `PolicyDecision` or `PermissionGate`) allows;
///   so no denied op is visible and (P4) nothing allowed is lost.
/// - P5: `G(A, k)` never moves back along a chain.
@Suite struct PermissionProperties {
    @Test func everyOrderDeniesExactlyWhatThePolicyForbids() async throws {
        var tally = PermissionTally()
        try await PropertyRunner.checkAsync("permissions: denials order-free and equal to the oracle", cases: 1000, baseSeed: 0x5045_524D) {
            rng in
            var world = try PermissionWorld(rng: &rng)
            try world.run(steps: Int.random(in: 10...24, using: &rng), rng: &rng)
            let reference = try world.check(rng: &rng, tally: &tally)
            // One history in four also goes through a store-backed `Replica` (batch imports,
            // the store's own rebuild): same records, same denials.
            if rng.chance(0.25) {
                try await world.checkStore(against: reference, rng: &rng)
                tally.storeChecked += 1
            }
        }
        print("permissions exercised: \(tally)")
        #expect(
            getenv("CONCORD_SEED") != nil
                || (tally.withDenials * 20 >= tally.histories && tally.latePolicies * 20 >= tally.histories
                    && tally.concurrentPolicies * 20 >= tally.histories && tally.roleChanges * 20 >= tally.histories),
            "each situation must occur in at least 5% of histories: \(tally)")
    }
}

struct PermissionTally: CustomStringConvertible {
    var histories = 0
    var withDenials = 0
    var denials = 0
    var allowed = 0
    var latePolicies = 0
    var concurrentPolicies = 0
    var roleChanges = 0
    var storeChecked = 0
    var description: String {
        "\(storeChecked) also through a store, \(histories) histories, \(withDenials) with denials (\(denials) denied, \(allowed) allowed ops), \(latePolicies) with a policy arriving after ops it governs, \(concurrentPolicies) with concurrent policies, \(roleChanges) with role changes"
    }
}

private struct PermissionWorld {
    static let collections = ["results", "notes", "misc"]
    static let fields = ["answer", "grade", "note"]
    let time = ManualClock(milliseconds: 1_700_000_000_000)
    let encrypted: Bool
    var nodes: [MemberNode] = []
    /// The policy each set-policy bundle carries (`nil`: a clear).
    var policies: [BundleID: Policy?] = [:]
    /// Records bound to a device, by record.
    var owner: [RecordID: PublicKey] = [:]
    var records: [RecordID] = []
    var roleChanges = 0
    var policyCount = 0

    init(rng: inout SeededGenerator) throws {
        encrypted = Bool.random(using: &rng)
        let (admin, genesis) = try Membership.createMemberSpace(
            device: Self.identity(&rng), name: "admin", encrypted: encrypted,
            stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
        var node = MemberNode(admin, time: time)
        node.receive(genesis)
        nodes = [node]
        let learner = try RoleAssignment(named: "learner", base: .writer)
        let teacher = try RoleAssignment(named: "teacher", base: .writer)
        for role in [RoleAssignment.admin, learner, learner, teacher, .writer, .reader] {
            time.advance(by: 1)
            let stamp = try nodes[0].replica.tick()
            let (op, token) = try nodes[0].membership.invite(
                role: role, expires: time.nowMilliseconds() + 3_600_000, stamp: stamp, state: nodes[0].state, log: nodes[0].log)
            nodes[0].receive(try nodes[0].membership.sealControl(op, log: nodes[0].log, stamp: stamp))
            time.advance(by: 1)
            let (membership, join) = try Membership.joinMember(
                token, device: Self.identity(&rng), name: "device \(nodes.count)",
                stamp: HLCTimestamp(milliseconds: time.nowMilliseconds(), counter: 0))
            var joined = MemberNode(membership, time: time)
            joined.receive(join)
            nodes.append(joined)
        }
        // Everyone learns everything once (joins reach the admin, the admin's ops everyone).
        for _ in 0..<2 {
            for i in nodes.indices { for j in nodes.indices where i != j { for b in nodes[j].everything { nodes[i].receive(b) } } }
        }
        for node in nodes {
            for _ in 0..<2 {
                let id = RecordID.owned(by: DeviceID(node.key), in: node.membership.spaceID, using: &rng)
                owner[id] = node.key
                records.append(id)
            }
        }
        records += [RecordID(high: 0x4000, low: 1), RecordID(high: 0x4000, low: 2)]
    }

    static func identity(_ rng: inout SeededGenerator) -> Identity {
        try! Identity(seed: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    func isAdmin(_ i: Int) -> Bool {
        let node = nodes[i]
        return node.state.standing(of: node.key, at: (node.log.head(of: node.key)?.sequence ?? 0) + 1) == .member(.admin)
    }

    mutating func run(steps: Int, rng: inout SeededGenerator) throws {
        for _ in 0..<steps {
            time.advance(by: UInt64.random(in: 1...20, using: &rng))
            let i = Int.random(in: 0..<nodes.count, using: &rng)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45: try write(by: i, rng: &rng)
            case 45..<60: try setPolicy(by: [0, 1].randomElement(using: &rng)!, rng: &rng)
            case 60..<68: try setRole(by: [0, 1].randomElement(using: &rng)!, rng: &rng)
            default: sync(i, Int.random(in: 0..<nodes.count, using: &rng), rng: &rng)
            }
        }
    }

    static func access(_ rng: inout SeededGenerator) -> Policy.Access {
        [Policy.Access.none, .own, .any].randomElement(using: &rng)!
    }

    static func randomPolicy(encrypted: Bool, rng: inout SeededGenerator) -> Policy {
        while true {
            var entries: [Policy.Entry] = []
            for collection in (collections + ["*"]) where Bool.random(using: &rng) {
                var grants: [Policy.Grant] = []
                for role in ["learner", "teacher", "writer"] where Int.random(in: 0..<3, using: &rng) > 0 {
                    let subset = fields.filter { _ in Bool.random(using: &rng) }
                    let mode = Int.random(in: 0..<3, using: &rng)
                    let fieldRule: Policy.Fields = subset.isEmpty || mode == 0 ? .all : mode == 1 ? .allow(subset) : .deny(subset)
                    let grant = Policy.Grant(
                        role, create: access(&rng), update: access(&rng), delete: access(&rng), fields: fieldRule)
                    if grant.create != .none || grant.update != .none || grant.delete != .none { grants.append(grant) }
                }
                entries.append(Policy.Entry(collection, grants: grants))
            }
            // Sometimes the teacher role is left out: its holders are then denied everything.
            var roles = [Policy.RoleDefinition("learner", base: .writer)]
            if Int.random(in: 0..<4, using: &rng) > 0 { roles.append(.init("teacher", base: .writer)) }
            let names = Set(roles.map(\.name) + ["writer"])
            entries = entries.map { e in Policy.Entry(e.collection, grants: e.grants.filter { names.contains($0.role) }) }
            if let policy = try? Policy(roles: roles, entries: entries, encrypted: encrypted) { return policy }
        }
    }

    mutating func setPolicy(by i: Int, rng: inout SeededGenerator) throws {
        guard isAdmin(i) else { return }
        let policy: Policy? = Int.random(in: 0..<5, using: &rng) == 0 ? nil : Self.randomPolicy(encrypted: encrypted, rng: &rng)
        let stamp = try nodes[i].replica.tick()
        let op = try nodes[i].membership.setPolicy(policy, state: nodes[i].state, log: nodes[i].log, stamp: stamp)
        let bundle = try nodes[i].membership.sealControl(op, log: nodes[i].log, stamp: stamp)
        policies[bundle.id] = .some(policy)
        policyCount += 1
        nodes[i].receive(bundle)
    }

    mutating func setRole(by i: Int, rng: inout SeededGenerator) throws {
        guard isAdmin(i) else { return }
        let target = nodes[Int.random(in: 2..<nodes.count, using: &rng)].key
        let roles: [RoleAssignment] = [
            .writer, .reader, try RoleAssignment(named: "learner", base: .writer), try RoleAssignment(named: "teacher", base: .writer),
            try RoleAssignment(named: "ghost", base: .writer),
        ]
        let boundary = max(nodes[i].log.head(of: target)?.sequence ?? 1, 1)
        let op = MembershipOp.setRole(target: target, role: roles.randomElement(using: &rng)!, boundary: boundary)
        let stamp = try nodes[i].replica.tick()
        nodes[i].receive(try nodes[i].membership.sealControl(op, log: nodes[i].log, stamp: stamp))
        roleChanges += 1
    }

    /// A bundle of 1–3 random ops signed below every check (allowed or not).
    mutating func write(by i: Int, rng: inout SeededGenerator) throws {
        let node = nodes[i]
        var ops: [RecordOperation] = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let record = records.randomElement(using: &rng)!
            let collection = Self.collections.randomElement(using: &rng)!
            if Int.random(in: 0..<6, using: &rng) == 0 {
                ops.append(try nodes[i].replica.delete(record: record, in: collection))
            } else {
                let value = Value.int(Int64.random(in: 0...1_000_000, using: &rng))
                ops.append(try nodes[i].replica.set(Self.fields.randomElement(using: &rng)!, to: value, record: record, in: collection))
            }
        }
        let state = node.state
        let current = state.currentEpoch.flatMap {
            node.membership.epochKey($0.keyID, records: node.log.membershipRecords.values, state: state)
        }
        guard !encrypted || current != nil else { return }
        let bundle = try ChangeBundle.sealMember(
            ops, author: node.membership.device, spaceID: node.membership.spaceID, previous: node.log.latestBundle(of: node.key),
            context: node.log.versionVector, epoch: current)
        try nodes[i].log.appendSealed(bundle)
    }

    mutating func sync(_ i: Int, _ j: Int, rng: inout SeededGenerator) {
        guard i != j else { return }
        var bundles = nodes[j].everything.filter { _ in Int.random(in: 0..<10, using: &rng) < 8 }
        bundles.shuffle(using: &rng)
        for bundle in bundles { nodes[i].receive(bundle) }
    }

    /// Every bundle made, sorted by place (ids depend on random nonces).
    var allBundles: [ChangeBundle] {
        var all: [BundleID: ChangeBundle] = [:]
        for node in nodes { for bundle in node.everything { all[bundle.id] = bundle } }
        return all.values.sorted { ($0.author, $0.sequence, $0.isControl ? 1 : 0) < ($1.author, $1.sequence, $1.isControl ? 1 : 0) }
    }

    /// Delivers `bundles` to `node` in random orders with duplicates until nothing applies.
    static func deliver(_ bundles: [ChangeBundle], to node: inout MemberNode, rng: inout SeededGenerator) -> Bool {
        var late = false
        for _ in 0..<10 {
            var order = bundles + bundles.filter { _ in Bool.random(using: &rng) }
            order.shuffle(using: &rng)
            var progressed = false
            for bundle in order {
                let denialsBefore = node.log.denials.count
                if case .applied = node.receive(bundle) {
                    progressed = true
                    if bundle.isControl && node.log.denials.count > denialsBefore { late = true }
                }
            }
            if !progressed { break }
        }
        return late
    }

    @discardableResult
    func check(rng: inout SeededGenerator, tally: inout PermissionTally) throws -> MemberNode {
        let bundles = allBundles
        // Fresh replicas with the first admin's keys (they read every epoch).
        var fresh: [MemberNode] = []
        var late = false
        for _ in 0..<3 {
            var node = MemberNode(nodes[0].membership, time: time)
            late = Self.deliver(bundles, to: &node, rng: &rng) || late
            fresh.append(node)
        }
        var members = nodes
        for i in members.indices { _ = Self.deliver(bundles, to: &members[i], rng: &rng) }
        let reference = fresh[0]
        let state = reference.state
        for node in fresh + members {
            guard node.state == state else { throw PropertyViolation("P1: membership states differ") }
        }
        for node in fresh.dropFirst() {
            guard node.log.denials == reference.log.denials else {
                throw PropertyViolation("P1: denials differ between delivery orders: \(node.log.denials) vs \(reference.log.denials)")
            }
            guard node.replica.state == reference.replica.state else {
                throw PropertyViolation("P2: records differ between delivery orders")
            }
        }
        for node in members {
            let theirs = node.log.denials.filter { $0.author != node.key }
            let expected = reference.log.denials.filter { $0.author != node.key && node.log.contains($0.bundleID) }
            guard theirs == expected else {
                throw PropertyViolation(
                    "P1: member \(node.key.hex.prefix(8)) denies \(theirs.count) ops of others, fresh replicas \(expected.count)")
            }
        }
        // The oracle (§4.1, §5, §6.2 written plainly).
        let oracle = try Oracle(state: state, policies: policies, owner: owner)
        var expectedReplica = LocalReplica(id: ReplicaID(bytes: [UInt8](repeating: 0xEE, count: 32))!)
        var expectedDenied: Set<[UInt8]> = []
        var allowed = 0
        var byAuthor: [PublicKey: [ChangeBundle]] = [:]
        for bundle in reference.log.bundles where !bundle.isControl { byAuthor[bundle.author, default: []].append(bundle) }
        for (author, chain) in byAuthor {
            var written: Set<String> = []
            for bundle in chain.sorted(by: { $0.sequence < $1.sequence }) {
                guard state.admission(author: author, sequence: bundle.sequence, isControl: false) == .applied else { continue }
                let key = bundle.keyID.flatMap {
                    nodes[0].membership.epochKey($0, records: reference.log.membershipRecords.values, state: state)
                }
                let contents = try ChangeBundle.openData(bundle, key: key?.key)
                var here: Set<String> = []
                for (index, op) in contents.operations.enumerated() {
                    let recordKey = "\(op.collection)/\(op.record)"
                    if oracle.allows(op, author: author, sequence: bundle.sequence, isCreate: !written.contains(recordKey)) {
                        _ = try expectedReplica.receive([op])
                        here.insert(recordKey)
                        allowed += 1
                    } else {
                        expectedDenied.insert(bundle.id.bytes + [UInt8(index)])
                    }
                }
                written.formUnion(here)
            }
        }
        let actualDenied = Set(reference.log.denials.map { $0.bundleID.bytes + [UInt8($0.index)] })
        guard actualDenied == expectedDenied else {
            throw PropertyViolation(
                "P3: \(actualDenied.subtracting(expectedDenied).count) ops denied that the oracle allows, \(expectedDenied.subtracting(actualDenied).count) allowed that it denies"
            )
        }
        guard reference.replica.state == expectedReplica.state else {
            throw PropertyViolation("P3/P4: the records are not the merge of exactly the allowed ops")
        }
        // P5: G is monotone along every chain.
        for (author, chain) in byAuthor {
            var last = -1
            for bundle in chain.sorted(by: { $0.sequence < $1.sequence }) {
                let index = state.governingPolicyIndex(author: author, sequence: bundle.sequence) ?? -1
                guard index >= last else { throw PropertyViolation("P5: G moved back along the chain of \(author.hex.prefix(8))") }
                last = index
            }
        }
        tally.histories += 1
        tally.denials += expectedDenied.count
        tally.allowed += allowed
        if !expectedDenied.isEmpty { tally.withDenials += 1 }
        if late { tally.latePolicies += 1 }
        if state.policies.count >= 2 && Set(state.policies.map(\.by.author)).count >= 2 { tally.concurrentPolicies += 1 }
        if roleChanges > 0 { tally.roleChanges += 1 }
        return reference
    }

    /// Every bundle into a store-backed replica (the first admin's keys), in random batches
    /// and orders with duplicates, until a pass applies nothing: its visible records and
    /// denials equal the in-memory reference's.
    func checkStore(against reference: MemberNode, rng: inout SeededGenerator) async throws {
        let replica = try Replica(store: MemoryStore(), membership: nodes[0].membership)
        let bundles = allBundles
        for _ in 0..<10 {
            var order = bundles + bundles.filter { _ in Bool.random(using: &rng) }
            order.shuffle(using: &rng)
            var applied = 0
            var start = 0
            while start < order.count {
                let end = min(order.count, start + Int.random(in: 1...12, using: &rng))
                applied += try await replica.import(order[start..<end].map(\.bytes)).applied
                start = end
            }
            if applied == 0 { break }
        }
        guard try await replica.state().digestHex == reference.replica.state.digestHex else {
            throw PropertyViolation("store: the visible records differ from the in-memory importer's")
        }
        let stored = Set(try await replica.deniedOperations().map { $0.bundleID.bytes + [UInt8($0.index)] })
        let expected = Set(reference.log.denials.map { $0.bundleID.bytes + [UInt8($0.index)] })
        guard stored == expected else {
            throw PropertyViolation("store: \(stored.count) denials, the in-memory importer \(expected.count)")
        }
    }
}

/// §4.1, §5.1 and §6.2 without read scopes, written from the spec for the test.
private struct Oracle {
    let state: MembershipState
    let policies: [BundleID: Policy?]
    let owner: [RecordID: PublicKey]

    init(state: MembershipState, policies: [BundleID: Policy?], owner: [RecordID: PublicKey]) throws {
        self.state = state
        self.policies = policies
        self.owner = owner
    }

    func allows(_ op: RecordOperation, author: PublicKey, sequence: UInt64, isCreate: Bool) -> Bool {
        guard case .member(let role) = state.standing(of: author, at: sequence) else { return false }
        if role.base == .admin { return true }
        // G(A, k): the last applied policy whose seen vector does not hold (A, k).
        let governing = state.policies.last { sequence > $0.seen[author] }
        let policy: Policy? = governing.flatMap { policies[$0.by.bundleID] ?? nil }
        let name = role.name ?? "writer"
        guard let policy else { return role.name == nil }
        if role.name != nil && !policy.roles.contains(where: { $0.name == name && $0.base == .writer }) { return false }
        guard
            let entry = policy.entries.first(where: { $0.collection == op.collection })
                ?? policy.entries.first(where: { $0.collection == "*" }),
            let grant = entry.grants.first(where: { $0.role == name })
        else { return false }
        let right: Policy.Access
        switch op.action {
        case .delete: right = grant.delete
        case .set(let field, _), .add(let field, _), .remove(let field, _, _):
            switch grant.fields {
            case .all: break
            case .allow(let list): if !list.contains(field) { return false }
            case .deny(let list): if list.contains(field) { return false }
            }
            right = isCreate ? grant.create : grant.update
        }
        switch right {
        case .none: return false
        case .own: return owner[op.record] == author
        case .any: return true
        }
    }
}
