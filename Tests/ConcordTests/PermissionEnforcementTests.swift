import ConcordCore
import ConcordCrypto
import Testing

@testable import ConcordProtocol

/// Merge-time enforcement (`Specs/permissions.md` §6.1–6.4) in the in-memory importer: every
/// op of an applied data bundle is decided under `G(A, k)` and `role(A, k)`; denied ops are
/// not applied anywhere, the rest of the bundle is, the chain stays intact, and a policy
/// that arrives late rolls back what it forbids.
@Suite struct PermissionEnforcementTests {
    let time = ManualClock(milliseconds: t0)
    /// Before the classroom: learners may write `results` freely.
    static let lenient =
        #"{"concord_policy": 1, "roles": {"learner": {"base": "writer"}}, "collections": {"results": {"write": {"learner": "all"}}}}"#
    static let json = #"""
        {"concord_policy": 1,
         "roles": {"learner": {"base": "writer"}, "teacher": {"base": "writer"}},
         "collections": {
           "*": {"write": {"teacher": "all"}},
           "results": {"write": {"learner": {"create": "own", "update": "own", "fields": {"deny": ["grade"]}}, "teacher": "all"}}}}
        """#

    /// An admin and two learners (named role `learner`).
    func classroom(encrypted: Bool) throws -> (admin: MemberDevice, amina: MemberDevice, ben: MemberDevice) {
        var admin = try MemberDevice.create(name: "Ms Dlamini's laptop", encrypted: encrypted, time: time)
        let learner = try RoleAssignment(named: "learner", base: .writer)
        var devices: [MemberDevice] = []
        for name in ["Amina's tablet", "Ben's tablet"] {
            let stamp = admin.now()
            let (op, token) = try admin.membership.invite(
                role: learner, expires: time.nowMilliseconds() + 86_400_000, stamp: stamp, state: admin.state, log: admin.log)
            _ = admin.receive(try admin.membership.sealControl(op, log: admin.log, stamp: stamp))
            time.advance(by: 10)
            var device = try MemberDevice.join(token, name: name, time: time)
            device.pull(from: admin)
            admin.pull(from: device)
            devices.append(device)
        }
        devices[0].pull(from: admin)
        devices[1].pull(from: admin)
        return (admin, devices[0], devices[1])
    }

    func setPolicy(_ admin: inout MemberDevice, encrypted: Bool, json: String = Self.json) throws -> ChangeBundle {
        let stamp = admin.now()
        let op = try admin.membership.setPolicy(
            try Policy(json: json, encrypted: encrypted), state: admin.state, log: admin.log, stamp: stamp)
        let bundle = try admin.membership.sealControl(op, log: admin.log, stamp: stamp)
        #expect(admin.receive(bundle) == .applied([bundle.id]))
        return bundle
    }

    /// Signs `ops` as `device`'s next data bundle, below any write-time check (a tampered client).
    func tampered(_ device: inout MemberDevice, _ ops: [(RecordID, String, String)], collection: String = "results") throws -> ChangeBundle
    {
        var made: [RecordOperation] = []
        for (record, field, value) in ops {
            made.append(try device.replica.set(field, to: .string(value), record: record, in: collection))
        }
        return try device.membership.sealMember(made, appendingTo: &device.log, state: device.state)
    }

    func value(_ device: MemberDevice, _ record: RecordID, _ field: String, in collection: String = "results") -> Value? {
        device.replica.state.recordState(record, in: collection)?.register(field)?.value
    }

    @Test(arguments: [false, true])
    func forbiddenOpsAreDeniedEverywhereAndTheRestOfTheBundleApplies(encrypted: Bool) throws {
        var (admin, amina, ben) = try classroom(encrypted: encrypted)
        _ = try setPolicy(&admin, encrypted: encrypted)
        amina.pull(from: admin)
        ben.pull(from: admin)
        let mine = RecordID.owned(by: DeviceID(amina.key), in: amina.membership.spaceID)
        let bens = RecordID.owned(by: DeviceID(ben.key), in: ben.membership.spaceID)
        let bundle = try tampered(&amina, [(mine, "answer", "42"), (mine, "grade", "A"), (bens, "answer", "mine now")])
        #expect(admin.receive(bundle) == .applied([bundle.id]))
        #expect(ben.receive(bundle) == .applied([bundle.id]))
        for device in [admin, ben] {
            #expect(value(device, mine, "answer") == .string("42"))
            #expect(value(device, mine, "grade") == nil)
            #expect(value(device, bens, "answer") == nil)
            #expect(device.log.head(of: amina.key)?.id == bundle.id, "the bundle keeps its chain place")
            let denials = device.log.denials
            #expect(denials.map(\.index) == [1, 2])
            #expect(denials.map(\.denial.reason) == [.field, .createNotOwn])
            #expect(denials.first?.denial.message == "learners may not write field `grade` of collection `results`")
            #expect(denials.last?.denial.message == "learners may only create their own records in collection `results`")
            #expect(denials.allSatisfy { $0.policy == admin.state.policies.first?.by.bundleID && $0.author == amina.key })
        }
        // An admin is never denied; a learner's later op on its own record is an update (allowed).
        let teacher = try tampered(&admin, [(mine, "grade", "B")])
        _ = ben.receive(teacher)
        #expect(value(ben, mine, "grade") == .string("B"))
        let again = try tampered(&amina, [(mine, "answer", "43")])
        #expect(ben.receive(again) == .applied([again.id]))
        #expect(value(ben, mine, "answer") == .string("43"))
        #expect(ben.log.denials.count == 2)
    }

    @Test(arguments: [false, true])
    func aPolicyThatArrivesLateRollsBackWhatItForbidsAndEveryOrderAgrees(encrypted: Bool) throws {
        var (admin, amina, ben) = try classroom(encrypted: encrypted)
        _ = try setPolicy(&admin, encrypted: encrypted, json: Self.lenient)
        amina.pull(from: admin)
        ben.pull(from: admin)
        let mine = RecordID.owned(by: DeviceID(amina.key), in: amina.membership.spaceID)
        // Amina writes under the lenient policy; the admin has not seen it when it sets the classroom.
        let early = try tampered(&amina, [(mine, "answer", "1"), (mine, "grade", "A")])
        #expect(ben.receive(early) == .applied([early.id]))
        #expect(value(ben, mine, "grade") == .string("A"), "the lenient policy allows it")
        let policy = try setPolicy(&admin, encrypted: encrypted)
        // Ben gets the policy after the bundle: the grade is rolled back.
        ben.pull(from: admin)
        #expect(value(ben, mine, "grade") == nil)
        #expect(value(ben, mine, "answer") == .string("1"))
        // The admin gets the bundle after the policy: denied at once.
        #expect(admin.receive(early) == .applied([early.id]))
        #expect(value(admin, mine, "grade") == nil)
        #expect(admin.replica.state == ben.replica.state)
        #expect(admin.log.denials == ben.log.denials)
        #expect(admin.log.denials.map(\.policy) == [policy.id])
        #expect(ben.log.denials.map(\.denial.reason) == [.field])
        // A clear lifts it: the grade comes back everywhere.
        let stamp = admin.now()
        let clear = try admin.membership.sealControl(
            try admin.membership.setPolicy(nil, state: admin.state, log: admin.log, stamp: stamp), log: admin.log, stamp: stamp)
        _ = admin.receive(clear)
        ben.pull(from: admin)
        // The clear saw Amina's bundle: that bundle stays governed by the policy.
        #expect(value(ben, mine, "grade") == nil)
        #expect(admin.replica.state == ben.replica.state)
    }

    @Test func aPolicyRoleWithoutAPolicyIsDenied() throws {
        var (admin, amina, _) = try classroom(encrypted: false)
        let bundle = try tampered(&amina, [(todo, "title", "x")], collection: "todos")
        #expect(admin.receive(bundle) == .applied([bundle.id]))
        #expect(admin.log.denials.map(\.denial.reason) == [.roleNotInPolicy])
        #expect(admin.replica.state.recordState(todo, in: "todos") == nil)
    }

    @Test func aSealedPolicyWhoseKeyIsMissingMakesItsBundlesWaitNotGuess() throws {
        // Without the key, G(A, k) is unreadable: the gate answers waiting.
        var (admin, amina, _) = try classroom(encrypted: true)
        _ = try setPolicy(&admin, encrypted: true)
        amina.pull(from: admin)
        let mine = RecordID.owned(by: DeviceID(amina.key), in: amina.membership.spaceID)
        let bundle = try tampered(&amina, [(mine, "grade", "A")])
        let contents = try ChangeBundle.openData(
            bundle,
            key: admin.membership.epochKey(bundle.keyID!, records: Array(admin.log.membershipRecords.values), state: admin.state)!.key)
        var stripped = admin.state
        let bogus = try EpochKeyID(bytes: [UInt8](repeating: 9, count: 16))
        stripped.policies = stripped.policies.map {
            guard case .sealed(_, let blob) = $0.form else { return $0 }
            return MembershipState.AppliedPolicy(seen: $0.seen, form: .sealed(keyID: bogus, blob: blob), by: $0.by)
        }
        var gate = PermissionGate(membership: admin.membership, state: stripped, records: [], source: admin.log)
        guard case .waiting = try gate.decide(bundle, contents) else {
            Issue.record("decided under an unreadable policy")
            return
        }
    }
}
