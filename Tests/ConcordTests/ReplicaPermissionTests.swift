import ConcordCore
import ConcordCrypto
import Foundation
import Testing

@testable import Concord
@testable import ConcordProtocol

/// Permissions through the public `Replica` API and the SQLite store (`Specs/permissions.md`
/// §6): the write-time check refuses a forbidden write with `policyDenied` and writes
/// nothing; a tampered client's forbidden ops (written below the check) are denied by every
/// other member, stored as denials, and rolled back where they arrived before the policy.
@Suite("Replica permissions")
struct ReplicaPermissionTests {
    static let json = PermissionEnforcementTests.json

    func sync(_ from: Replica, to: Replica) async throws {
        try await to.import(try await from.bundles(since: try await to.versionVector()))
        try await to.import(try await from.bundles())
    }

    func field(_ replica: Replica, _ id: RecordID, _ name: String) async throws -> String? {
        try await replica.record(id, in: "results")?[name]?.stringValue
    }

    /// A teacher's laptop (admin) and two learners, synced.
    func classroom(_ dir: String, encrypted: Bool) async throws -> (Replica, Replica, Replica) {
        let laptop = try await Replica.create(at: dir + "/laptop", name: "Ms Dlamini's laptop", encrypted: encrypted)
        let learner = try RoleAssignment(named: "learner", base: .writer)
        let amina = try await Replica.join(try await laptop.invite(role: learner), at: dir + "/amina", name: "Amina's tablet")
        let ben = try await Replica.join(try await laptop.invite(role: learner), at: dir + "/ben", name: "Ben's tablet")
        for device in [amina, ben] {
            try await sync(laptop, to: device)
            try await sync(device, to: laptop)
        }
        return (laptop, amina, ben)
    }

    @Test("a learner's forbidden write is refused before anything is written", arguments: [true, false])
    func writeTimeCheck(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, _) = try await classroom(dir, encrypted: encrypted)
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: encrypted))
        try await sync(laptop, to: amina)
        guard case .policy? = try await amina.policy() else {
            Issue.record("the learner cannot read the policy")
            return
        }
        let mine = RecordID.owned(by: amina.deviceID, in: amina.spaceID)
        try await amina.write { try $0.set("answer", to: "42", record: mine, in: "results") }
        let pending = await amina.pendingOperationCount
        let denied = await #expect(throws: ConcordError.self) {
            try await amina.write { tx in
                try tx.set("answer", to: "43", record: mine, in: "results")
                try tx.set("grade", to: "A", record: mine, in: "results")
            }
        }
        #expect(denied?.code == .policyDenied)
        #expect(denied?.message == "learners may not write field `grade` of collection `results`")
        #expect(denied?.denial?.reason == .field)
        #expect(await amina.pendingOperationCount == pending)
        #expect(try await field(amina, mine, "answer") == "42", "nothing of the transaction was written")
        let other = RecordID(high: 1, low: 2)
        let notOwn = await #expect(throws: ConcordError.self) {
            try await amina.write { try $0.set("answer", to: "x", record: other, in: "results") }
        }
        #expect(notOwn?.message == "learners may only create their own records in collection `results`")
        // The admin is never denied.
        try await laptop.write { try $0.set("grade", to: "A", record: mine, in: "results") }
    }

    @Test("a tampered client's ops are denied by every other member and listed", arguments: [true, false])
    func tamperedOpsAreDenied(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, ben) = try await classroom(dir, encrypted: encrypted)
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: encrypted))
        try await sync(laptop, to: amina)
        try await sync(laptop, to: ben)
        let mine = RecordID.owned(by: amina.deviceID, in: amina.spaceID)
        try await amina.writeBypassingPolicy { tx in
            try tx.set("answer", to: "42", record: mine, in: "results")
            try tx.set("grade", to: "A", record: mine, in: "results")
        }
        try await amina.seal()
        for device in [laptop, ben] {
            let summary = try await device.import(try await amina.bundles(since: try await device.versionVector()))
            #expect(summary.denied.map(\.denial.reason) == [.field])
            #expect(try await field(device, mine, "answer") == "42")
            #expect(try await field(device, mine, "grade") == nil)
            let denials = try await device.deniedOperations()
            #expect(denials.count == 1)
            #expect(denials.first?.author == amina.deviceID.publicKey && denials.first?.record == mine)
            #expect(denials.first?.denial.message == "learners may not write field `grade` of collection `results`")
            #expect(try await device.deniedOperations(by: ben.deviceID).isEmpty)
            #expect(try await device.history(of: "grade", record: mine, in: "results").isEmpty, "a denied write is no history")
        }
        // Reopened from disk, the denials are still there.
        let reopened = try Replica.open(at: dir + "/ben")
        #expect(try await reopened.deniedOperations().count == 1)
    }

    @Test("a policy that arrives after the op rolls it back; both orders end equal", arguments: [true, false])
    func latePolicyRollsBack(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, ben) = try await classroom(dir, encrypted: encrypted)
        let lenient = PermissionEnforcementTests.lenient
        try await laptop.setPolicy(try Policy(json: lenient, encrypted: encrypted))
        try await sync(laptop, to: amina)
        try await sync(laptop, to: ben)
        let mine = RecordID.owned(by: amina.deviceID, in: amina.spaceID)
        // Under the lenient policy the write passes the check.
        try await amina.write { tx in
            try tx.set("answer", to: "1", record: mine, in: "results")
            try tx.set("grade", to: "A", record: mine, in: "results")
        }
        try await amina.seal()
        try await sync(amina, to: ben)
        #expect(try await field(ben, mine, "grade") == "A")
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: encrypted))
        try await sync(laptop, to: ben)
        #expect(try await field(ben, mine, "grade") == nil, "rolled back")
        #expect(try await field(ben, mine, "answer") == "1")
        try await sync(amina, to: laptop)
        #expect(try await field(laptop, mine, "grade") == nil)
        #expect(try await ben.deniedOperations() == (try await laptop.deniedOperations()))
        #expect(try await ben.deniedOperations().count == 1)
        // Clearing the policy governs only what the admin had not seen: the grade stays denied.
        try await laptop.setPolicy(nil)
        try await sync(laptop, to: ben)
        #expect(try await field(ben, mine, "grade") == nil)
        if case .cleared? = try await ben.policy() {} else { Issue.record("not cleared") }
    }

    @Test("a device whose own writes a late policy denies is told: a problem, the denial stream", arguments: [true, false])
    func ownWritesDeniedAreReported(encrypted: Bool) async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, _) = try await classroom(dir, encrypted: encrypted)
        try await laptop.setPolicy(try Policy(json: PermissionEnforcementTests.lenient, encrypted: encrypted))
        try await sync(laptop, to: amina)
        let mine = amina.newRecordID()
        #expect(mine.isBound(to: OwnerTag(device: amina.deviceID, space: amina.spaceID)))
        #expect(amina.newRecordID() != mine)
        try await amina.write { tx in
            try tx.set("answer", to: "1", record: mine, in: "results")
            try tx.set("grade", to: "A", record: mine, in: "results")
        }
        try await amina.seal()
        #expect(try await amina.problems().isEmpty)
        let updates = await amina.deniedOperationUpdates()
        // The teacher forbids grades without having seen Amina's write: it governs it.
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: encrypted))
        try await sync(laptop, to: amina)
        #expect(try await field(amina, mine, "grade") == nil, "rolled back on the writer's own device")
        let denied = try await amina.deniedOperations(by: amina.deviceID)
        #expect(denied.count == 1)
        let problem = try #require(try await amina.problems().first { $0.kind == .writesDeniedByPolicy })
        #expect(problem.remedy == .review)
        #expect(problem.message.hasPrefix("1 change made on this device on "), "\(problem.message)")
        #expect(
            problem.message.contains(
                "was not applied: learners may not write field `grade` of collection `results` (policy set by Ms Dlamini's laptop on "),
            "\(problem.message)")
        #expect(try await amina.status().problems.contains { $0.kind == .writesDeniedByPolicy })
        #expect(try await laptop.problems().isEmpty, "the admin's own writes were not denied")
        // The stream got the denial as it was found (bounded wait: it was sent before the import returned).
        let streamed = await withTaskGroup(of: [DeniedOperation]?.self) { group in
            group.addTask {
                var iterator = updates.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(streamed?.map(\.denial.reason) == [.field], "\(String(describing: streamed))")

        // Reviewed and dismissed: not reported any more; a later denied write is.
        #expect(try await amina.dismissProblem(.writesDeniedByPolicy) == 1)
        #expect(try await amina.problems().isEmpty)
        #expect(try await amina.deniedOperations(by: amina.deviceID).count == 1, "the denial stays on record")
        try await laptop.setPolicy(try Policy(json: PermissionEnforcementTests.lenient, encrypted: encrypted))
        try await sync(laptop, to: amina)
        let again = amina.newRecordID()
        try await amina.write { tx in try tx.set("grade", to: "B", record: again, in: "results") }
        try await amina.seal()
        #expect(try await amina.problems().isEmpty)
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: encrypted))
        try await sync(laptop, to: amina)
        let later = try #require(try await amina.problems().first { $0.kind == .writesDeniedByPolicy })
        #expect(later.message.hasPrefix("1 change made on this device on "), "only the new one: \(later.message)")
    }

    @Test("a recovery re-issues the device's writes in read scopes and not those the policy denied")
    func recoveryReissuesScopedWritesAndNotDeniedOnes() async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, _) = try await classroom(dir, encrypted: true)
        try await laptop.setPolicy(try Policy(json: PermissionEnforcementTests.lenient, encrypted: true))
        try await sync(laptop, to: amina)
        let mine = amina.newRecordID()
        try await amina.write {
            try $0.set("answer", to: "1", record: mine, in: "results")
            try $0.set("grade", to: "A", record: mine, in: "results")
        }
        try await amina.seal()
        // A policy the laptop set without having seen Amina's grade denies it; it also
        // scopes `notes` to teachers and admins.
        let scoped = #"""
            {"concord_policy": 1, "roles": {"learner": {"base": "writer"}, "teacher": {"base": "writer"}},
             "collections": {"*": {"write": {"teacher": "all"}},
                             "notes": {"read": ["teacher"], "write": {"teacher": "all"}},
                             "results": {"write": {"learner": {"create": "own", "update": "own", "fields": {"deny": ["grade"]}}, "teacher": "all"}}}}
            """#
        try await laptop.setPolicy(try Policy(json: scoped, encrypted: true))
        try await sync(laptop, to: amina)
        try await sync(amina, to: laptop)
        #expect(try await field(amina, mine, "grade") == nil)
        let teacher = try await Replica.join(
            try await laptop.invite(role: try RoleAssignment(named: "teacher", base: .writer)), at: dir + "/teacher", name: "teacher")
        try await sync(laptop, to: teacher)
        try await sync(teacher, to: laptop)
        try await laptop.issueScopeKeys()
        try await sync(laptop, to: teacher)
        // The laptop writes a scoped note, then recovers before anyone acknowledged it.
        let note = RecordID(high: 9, low: 1)
        try await laptop.write { try $0.set("text", to: "for teachers", record: note, in: "notes") }
        try await laptop.seal()
        let office = try await laptop.recover().replica
        #expect(try await office.record(note, in: "notes")?["text"] == "for teachers")
        #expect(try await office.deniedOperations().count == 1)
        try await sync(office, to: teacher)
        let unread = try await teacher.unreadSections()
        #expect(unread.isEmpty, "\(unread)")
        #expect(try await teacher.record(note, in: "notes")?["text"] == "for teachers", "the scoped write is re-issued")
        // The log readers see scoped ops too: the note's history, on both teacher devices.
        for device in [teacher, office] {
            let history = try await device.history(of: "text", record: note, in: "notes")
            #expect(history.map(\.value) == [.string("for teachers")], "\(history)")
        }

        // Amina recovers too: her denied grade is not re-issued; her answer is.
        let tablet = try await amina.recover().replica
        #expect(try await field(tablet, mine, "grade") == nil, "the denied grade shows on the recovered device")
        #expect(try await field(tablet, mine, "answer") == "1")
        try await sync(tablet, to: office)
        try await sync(office, to: tablet)
        #expect(try await field(office, mine, "grade") == nil)
        #expect(try await field(office, mine, "answer") == "1")
        #expect(try await tablet.deniedOperations(by: tablet.deviceID).isEmpty, "the new identity wrote nothing denied")
        #expect(try await office.state().records(in: "results") == (try await tablet.state().records(in: "results")))
    }

    @Test("re-stamping unsealed writes recomputes their records as every rebuild does: a denied op stays out")
    func restampKeepsDeniedOpsOut() async throws {
        let dir = temporaryDirectory()
        let (laptop, amina, _) = try await classroom(dir, encrypted: false)
        try await laptop.setPolicy(try Policy(json: PermissionEnforcementTests.lenient, encrypted: false))
        try await sync(laptop, to: amina)
        let mine = amina.newRecordID()
        try await amina.write {
            try $0.set("answer", to: "1", record: mine, in: "results")
            try $0.set("grade", to: "A", record: mine, in: "results")
        }
        try await amina.seal()
        try await laptop.setPolicy(try Policy(json: Self.json, encrypted: false))
        try await sync(amina, to: laptop)
        #expect(try await field(laptop, mine, "grade") == nil)
        // The teacher comments on the record, unsealed; the writes are re-stamped (as a sync
        // does when the clock was wrong): the record is rebuilt, Amina's grade stays out.
        try await laptop.write { try $0.set("comment", to: "good", record: mine, in: "results") }
        #expect(try await laptop.restampPending(realTime: nil) == 1)
        #expect(try await field(laptop, mine, "grade") == nil, "the denied grade came back")
        #expect(try await field(laptop, mine, "comment") == "good")
    }
}
