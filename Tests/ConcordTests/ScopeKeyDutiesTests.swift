import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// The admin duties of read scopes (`Specs/permissions.md` §7.2), in memory:
/// `Membership.pendingScopeOps` issues a `scope-key` when the policy in force has a scope
/// without a key, nothing once it has one, a `grant` when a member enters the scope, a new
/// `scope-key` (sealed only to those in the scope) when one leaves it or the content key
/// rotates; the keys reach exactly the members in the scope.
@Suite struct ScopeKeyDutiesTests {
    struct Node {
        var membership: Membership
        var replica: LocalReplica
        var log = BundleLog()
        var key: PublicKey { membership.device.publicKey }
        var state: MembershipState { BundleImporter(membership: membership).membershipState(of: log) }
        var context: MemberContext { MemberContext(log: log, state: state) }

        init(_ membership: Membership, clock: ManualClock) {
            self.membership = membership
            replica = membership.makeReplica(clock: HybridLogicalClock(physicalClock: clock))
        }

        mutating func receive(_ bundle: ChangeBundle) {
            _ = BundleImporter(membership: membership).importBundle(bundle.bytes, into: &replica, log: &log)
        }

        /// Seals `op` as this node's next control bundle and imports it here.
        mutating func submit(_ op: MembershipOp) throws -> ChangeBundle {
            let stamp = try replica.tick()
            let bundle = try membership.sealControl(op, log: log, stamp: stamp)
            receive(bundle)
            return bundle
        }

        /// The scope key ops an admin owes now, issued.
        mutating func duties(_ policy: Policy) throws -> [MembershipOp] {
            let ops = try membership.pendingScopeOps(context, policy: policy, stamp: try replica.tick())
            for op in ops { _ = try submit(op) }
            return ops
        }
    }

    static func identity(_ byte: UInt8) -> Identity { try! Identity(seed: [UInt8](repeating: byte, count: 32)) }

    @Test func scopeKeysFollowThePolicyTheRolesAndTheContentKey() throws {
        let clock = ManualClock(milliseconds: 1_700_000_000_000)
        let (adminMembership, genesis) = try Membership.createMemberSpace(
            device: Self.identity(1), name: "office", encrypted: true,
            stamp: HLCTimestamp(milliseconds: clock.nowMilliseconds(), counter: 0))
        var admin = Node(adminMembership, clock: clock)
        admin.receive(genesis)
        let teacherRole = try RoleAssignment(named: "teacher", base: .writer)
        let learnerRole = try RoleAssignment(named: "learner", base: .writer)
        var others: [Node] = []
        for (seed, role) in [(UInt8(2), teacherRole), (3, learnerRole)] {
            clock.advance(by: 1)
            let stamp = try admin.replica.tick()
            let (op, token) = try admin.membership.invite(
                role: role, expires: clock.nowMilliseconds() + 3_600_000, stamp: stamp, state: admin.state, log: admin.log)
            admin.receive(try admin.membership.sealControl(op, log: admin.log, stamp: stamp))
            clock.advance(by: 1)
            let (membership, join) = try Membership.joinMember(
                token, device: Self.identity(seed), name: "device \(seed)",
                stamp: HLCTimestamp(milliseconds: clock.nowMilliseconds(), counter: 0))
            var node = Node(membership, clock: clock)
            node.receive(join)
            admin.receive(join)
            others.append(node)
        }
        func share() {
            for i in others.indices { for bundle in admin.log.bundles { others[i].receive(bundle) } }
        }
        let policy = try Policy(
            roles: [.init("teacher", base: .writer), .init("learner", base: .writer)],
            entries: [
                .init("notes", read: ["teacher"], grants: [.init("teacher", create: .any, update: .any, delete: .any)]),
                .init("*", grants: [.init("learner", create: .any, update: .any, delete: .any)]),
            ], encrypted: true)
        _ = try admin.submit(try admin.membership.setPolicy(policy, state: admin.state, log: admin.log, stamp: try admin.replica.tick()))

        // A scope without a key: one `scope-key`, sealed to the admin and the teacher only.
        let first = try admin.duties(policy)
        #expect(first.count == 1 && first.first?.kind == .scopeKey)
        #expect(try admin.duties(policy).isEmpty, "nothing more is owed once the scope has a key")
        share()
        func holds(_ node: Node) -> Bool {
            node.membership.currentScopeKey(readers: ["teacher"], records: node.log.membershipRecords.values, state: node.state) != nil
        }
        #expect(holds(admin) && holds(others[0]) && !holds(others[1]))

        // The learner enters the scope: a `grant` of the current key (and its history).
        _ = try admin.submit(try admin.membership.roleChange(of: others[1].key, to: teacherRole, context: admin.context))
        let entered = try admin.duties(policy)
        #expect(entered.count == 1 && entered.first?.kind == .grant)
        share()
        #expect(holds(others[1]))

        // She leaves it again: a new `scope-key` sealed without her; she keeps the old key only.
        _ = try admin.submit(try admin.membership.roleChange(of: others[1].key, to: learnerRole, context: admin.context))
        let left = try admin.duties(policy)
        #expect(left.count == 1 && left.first?.kind == .scopeKey)
        share()
        let scope = ScopeID(readers: ["teacher"])
        let newest = try #require(admin.state.scopeEpochs.last { $0.scope == scope })
        #expect(!newest.recipients.contains(others[1].key))
        func holdsNewest(_ node: Node) -> Bool {
            node.membership.scopeKey(newest.keyID, records: node.log.membershipRecords.values, state: node.state) != nil
        }
        #expect(holdsNewest(admin) && holdsNewest(others[0]) && !holdsNewest(others[1]))

        // A rotation of the content key rotates the scope too.
        clock.advance(by: 5)
        _ = try admin.submit(try admin.membership.rotation(state: admin.state, log: admin.log, stamp: try admin.replica.tick()))
        let rotated = try admin.duties(policy)
        #expect(rotated.count == 1 && rotated.first?.kind == .scopeKey)
        #expect(try admin.duties(policy).isEmpty)
    }
}
