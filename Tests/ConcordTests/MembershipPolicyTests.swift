import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// `set-policy` and named roles through real control bundles (`Specs/permissions.md` §3.1,
/// §3.2, §4.1): the builder takes the admin's heads as `seen`, seals the body in an
/// encrypted space, and every member reads the same policy or a typed unreadable or
/// broken result.
@Suite struct MembershipPolicyTests {
    let time = ManualClock(milliseconds: t0)
    static let json =
        #"{"concord_policy": 1, "roles": {"learner": {"base": "writer"}}, "collections": {"results": {"write": {"learner": {"create": "own", "update": "own"}}}}}"#

    /// An admin and a writer that wrote once; the admin holds the writer's bundle 2.
    func space(encrypted: Bool) throws -> (admin: MemberDevice, tablet: MemberDevice) {
        var admin = try MemberDevice.create(name: "office", encrypted: encrypted, time: time)
        let token = try admin.invite(.writer)
        time.advance(by: 10)
        var tablet = try MemberDevice.join(token, name: "tablet", time: time)
        tablet.pull(from: admin)
        try tablet.write("first")
        admin.pull(from: tablet)
        return (admin, tablet)
    }

    /// Seals the admin's `set-policy` for `policy` and imports it on both devices.
    func setPolicy(_ policy: Policy?, _ admin: inout MemberDevice, _ tablet: inout MemberDevice) throws -> ChangeBundle {
        let stamp = admin.now()
        let op = try admin.membership.setPolicy(policy, state: admin.state, log: admin.log, stamp: stamp)
        let bundle = try admin.membership.sealControl(op, log: admin.log, stamp: stamp)
        #expect(admin.receive(bundle) == .applied([bundle.id]))
        tablet.pull(from: admin)
        return bundle
    }

    @Test(arguments: [true, false])
    func anAdminsPolicyGovernsWhatItHadNotSeenAndEveryMemberReadsIt(encrypted: Bool) throws {
        var (admin, tablet) = try space(encrypted: encrypted)
        let policy = try Policy(json: Self.json, encrypted: encrypted)
        let bundle = try setPolicy(policy, &admin, &tablet)
        #expect(admin.state == tablet.state)
        let applied = try #require(tablet.state.policies.first)
        #expect(tablet.state.policies.count == 1 && applied.by.bundleID == bundle.id)
        #expect(applied.seen[admin.key] == bundle.sequence - 1 && applied.seen[tablet.key] == 2)
        switch applied.form {
        case .plaintext(let body): #expect(!encrypted && body == policy.body)
        case .sealed(let keyID, let blob):
            #expect(encrypted && keyID == tablet.state.currentEpoch?.keyID)
            #expect(!String(decoding: blob, as: UTF8.self).contains("results"), "the body is sealed")
        case .clear: Issue.record("a clear, expected a policy")
        }
        // The writer's bundle 2 was seen by the admin; 3 on is governed.
        #expect(tablet.state.governingPolicy(author: tablet.key, sequence: 2) == nil)
        #expect(tablet.state.governingPolicy(author: tablet.key, sequence: 3) == applied)
        #expect(tablet.state.governingPolicy(author: Identity().publicKey, sequence: 1) == applied)
        for device in [admin, tablet] {
            let content = try device.membership.openPolicy(
                applied, bundle: bundle, context: MemberContext(log: device.log, state: device.state))
            #expect(content == .policy(policy))
            #expect(content.governing != nil)
        }

        // A clear governs from then on; the earlier policy still governs what it covers and the clear does not.
        try tablet.write("second")
        admin.pull(from: tablet)
        let clear = try setPolicy(nil, &admin, &tablet)
        let cleared = try #require(tablet.state.policies.last)
        #expect(tablet.state.policies.count == 2 && cleared.form == .clear && cleared.by.bundleID == clear.id)
        #expect(tablet.state.governingPolicy(author: tablet.key, sequence: 3) == applied)
        #expect(tablet.state.governingPolicy(author: tablet.key, sequence: 4) == cleared)
        #expect(
            try tablet.membership.openPolicy(cleared, bundle: clear, context: MemberContext(log: tablet.log, state: tablet.state))
                == .cleared)
    }

    @Test func aSealedBodyOpensOnlyUnderItsKeyAndItsHeader() throws {
        var (admin, tablet) = try space(encrypted: true)
        let bundle = try setPolicy(try Policy(json: Self.json, encrypted: true), &admin, &tablet)
        let applied = try #require(admin.state.policies.first)
        guard case .sealed(let keyID, _) = applied.form else {
            Issue.record("not sealed")
            return
        }
        let key = try #require(admin.membership.epochKey(keyID, records: admin.log.membershipRecords.values, state: admin.state))
        #expect(applied.open(header: bundle.header, key: nil, encrypted: true) == .unreadable(keyID))
        #expect(applied.open(header: bundle.header, key: EpochKey(), encrypted: true) == .unreadable(keyID))
        var header = Array(bundle.header)
        header[header.count - 1] ^= 1
        guard case .broken = applied.open(header: header, key: key, encrypted: true) else {
            Issue.record("another header opened")
            return
        }
        let garbled = MembershipState.AppliedPolicy(seen: applied.seen, form: .sealed(keyID: keyID, blob: [1, 2, 3]), by: applied.by)
        guard case .broken = garbled.open(header: bundle.header, key: key, encrypted: true) else {
            Issue.record("a short blob opened")
            return
        }
        #expect(throws: ConcordError.self) {
            try tablet.membership.openPolicy(
                applied, bundle: tablet.log.bundles[0], context: MemberContext(log: tablet.log, state: tablet.state))
        }
    }

    @Test func aBodyThatIsNotAPolicyIsBrokenAndBrokenDeniesEveryone() throws {
        let applied = MembershipState.AppliedPolicy(
            seen: VersionVector(), form: .plaintext([0x01, 0x01]),
            by: MembershipOpReference(
                author: Identity().publicKey, position: 2, stamp: 0,
                bundleID: BundleID(digest: try Digest32(bytes: [UInt8](repeating: 0, count: 32)))))
        let content = applied.open(header: [UInt8](), key: nil, encrypted: false)
        guard case .broken = content, case .broken? = content.governing else {
            Issue.record("\(content) is not broken")
            return
        }
    }

    @Test func onlyAnAdminAtBundleTwoOrLaterSetsAPolicy() throws {
        var (_, tablet) = try space(encrypted: false)
        #expect(throws: ConcordError.self) {
            try tablet.membership.setPolicy(nil, state: tablet.state, log: tablet.log, stamp: tablet.now())
        }
    }

    @Test func namedRolesAreTheirBaseForMembership() throws {
        var admin = try MemberDevice.create(name: "office", encrypted: false, time: time)
        let learner = try RoleAssignment(named: "learner", base: .writer)
        let stamp = admin.now()
        let (op, token) = try admin.membership.invite(
            role: learner, expires: t0 + 86_400_000, stamp: stamp, state: admin.state, log: admin.log)
        _ = admin.receive(try admin.membership.sealControl(op, log: admin.log, stamp: stamp))
        #expect(token.role == .writer, "the token carries the base")
        time.advance(by: 10)
        var tablet = try MemberDevice.join(token, name: "tablet", time: time)
        tablet.pull(from: admin)
        #expect(tablet.state.member(tablet.key)?.role == learner)
        #expect(tablet.state.member(tablet.key)?.role.permissionRole == .named("learner", base: .writer))
        try tablet.write("mine")  // a writer base writes
        admin.pull(from: tablet)
        let guest = try RoleAssignment(named: "guest", base: .reader)
        try admin.control(
            try admin.membership.roleChange(of: tablet.key, to: guest, context: MemberContext(log: admin.log, state: admin.state)))
        tablet.pull(from: admin)
        #expect(throws: ConcordError.self) { try tablet.write("refused") }
        #expect(throws: ConcordError.self) { try RoleAssignment(named: "writer", base: .writer) }
        #expect(throws: ConcordError.self) { try RoleAssignment(named: "boss", base: .admin) }
        #expect("\(learner)" == "learner" && RoleAssignment.reader.permissionRole == nil)
    }
}
